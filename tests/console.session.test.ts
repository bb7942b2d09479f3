import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientRegistry, sha256OfKey, type Role } from '../src/auth/clients.js';
import { html } from '../adapters/console/html.js';
import { mayChangeState, requireAccessMarked } from '../adapters/console/console-plugin.js';
import { newId } from '../src/domain/ids.js';
import { appendAuditEventsInTx } from '../src/store/audit-log.js';
import { clean, hoSoMotCua } from './support/death-fixtures.js';
import { khaiSinh, personalNumber } from './support/fixtures.js';
import { startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';

/**
 * The operators' console without a browser (docs/API.md, "Console"): its headers, its cookie, CSRF,
 * roles, sign-out and the end of a session whose key leaves the clients file. tests/console.browser.test.ts
 * drives the same pages in Chromium.
 */

let gateway: TestGateway;
let second: TestGateway | undefined;
const TEMP_KEY = 'key-temporary-operator-0123456789';
const TEMP_CLIENT = { id: 'ops-temp', keySha256: sha256OfKey(TEMP_KEY), roles: ['operator'] as Role[], units: ['*'] };
const SCHOOL_KEY = 'key-school-console-0123456789';
const SCHOOL = { id: 'thpt-console', keySha256: sha256OfKey(SCHOOL_KEY), roles: ['school'] as Role[], units: ['08'], maDonVi: 'TZ0899Z' };

beforeAll(async () => {
  gateway = await startTestGateway({ env: { TRUST_PROXY: 'on' }, clients: [TEMP_CLIENT, SCHOOL] });
});

afterAll(async () => {
  await second?.close();
  await gateway?.close();
});

const setCookies = (response: LightMyRequestResponse): string[] => {
  const header = response.headers['set-cookie'];
  return header === undefined ? [] : Array.isArray(header) ? header : [header];
};
const cookieNamed = (response: LightMyRequestResponse, name: string) => setCookies(response).find((line) => line.startsWith(`${name}=`));
const valueOf = (line: string | undefined) => line?.split(';')[0] ?? '';
const csrfIn = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

interface Signed {
  cookie: string;
  csrf: string;
  get(url: string, on?: TestGateway): Promise<LightMyRequestResponse>;
  post(url: string, fields: Record<string, string>, csrf?: string | null): Promise<LightMyRequestResponse>;
}

async function signInWith(key: string, headers: Record<string, string> = {}, on: TestGateway = gateway): Promise<{ response: LightMyRequestResponse; signed?: Signed }> {
  const signInPage = await on.app.inject({ method: 'GET', url: '/console/login', headers });
  const signInCookie = valueOf(cookieNamed(signInPage, 'lienthong_console_signin'));
  const response = await on.app.inject({
    method: 'POST', url: '/console/login', headers: { ...headers, ...FORM, cookie: signInCookie },
    payload: form({ _csrf: csrfIn(signInPage.body), key }),
  });
  const session = cookieNamed(response, 'lienthong_console');
  if (!session || response.statusCode !== 303) return { response };
  const cookie = valueOf(session);
  const get = (url: string, where: TestGateway = on) => where.app.inject({ method: 'GET', url, headers: { cookie } });
  const csrf = csrfIn((await get('/console/transfers')).body);
  return {
    response,
    signed: {
      cookie, csrf, get,
      post: (url, fields, token = csrf) => on.app.inject({
        method: 'POST', url, headers: { ...FORM, cookie }, payload: form({ ...fields, ...(token === null ? {} : { _csrf: token }) }),
      }),
    },
  };
}

async function signIn(name: ClientName): Promise<Signed> {
  const { response, signed } = await signInWith(gateway.keys[name]);
  expect(signed, response.body).toBeDefined();
  return signed as Signed;
}

async function pushBirth(): Promise<string> {
  const response = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
  expect(response.statusCode, response.body).toBe(202);
  return response.json().transferId;
}

async function pausedProvinces(): Promise<string[]> {
  return (await gateway.request('operator', { method: 'GET', url: '/ops/v1/dispatch' })).json().paused;
}

/** A transfer written as the store leaves it, in a province no other test sends to. */
async function storedTransfer(maTinh: string, status: string, createdAt?: string): Promise<string> {
  const id = newId();
  await gateway.db.query(
    `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, created_at)
     VALUES ($1, 'KHAI_SINH', 'hotich-08', $1, $2, $3, '02215', $4, '{}', '[]', '{}', COALESCE($5::timestamptz, now()))`,
    [id, status, maTinh, personalNumber(), createdAt ?? null],
  );
  return id;
}

describe('console pages and cookies', () => {
  it('every console page carries a strict Content-Security-Policy and refuses framing', async () => {
    const operator = await signIn('operator');
    for (const response of [await gateway.app.inject({ method: 'GET', url: '/console/login' }), await operator.get('/console/transfers')]) {
      expect(response.statusCode).toBe(200);
      const csp = String(response.headers['content-security-policy']);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("script-src 'none'");
      expect(response.headers['x-frame-options']).toBe('DENY');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      // Nothing from another origin: no absolute URL in any src or href.
      expect(response.body).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
      expect(response.body).not.toMatch(/<script|style="/);
      expect(response.headers['cache-control']).toBe('no-store');
    }
    const stylesheet = await gateway.app.inject({ method: 'GET', url: '/console/assets/console.css' });
    expect(stylesheet.headers['content-type']).toMatch(/^text\/css/);
    expect(stylesheet.headers['cache-control']).toBe('public, max-age=3600');
    expect(String(stylesheet.headers['content-security-policy'])).toContain("default-src 'self'");
  });

  it('the session cookie is HttpOnly and SameSite=Strict, and Secure when the request came over TLS', async () => {
    const plain = await signInWith(gateway.keys.operator);
    const overHttp = cookieNamed(plain.response, 'lienthong_console') as string;
    expect(overHttp).toMatch(/; HttpOnly/);
    expect(overHttp).toMatch(/; SameSite=Strict/);
    expect(overHttp).toMatch(/; Path=\/console\//);
    expect(overHttp).not.toMatch(/Secure/);
    const tls = await signInWith(gateway.keys.operator, { 'x-forwarded-proto': 'https' });
    expect(cookieNamed(tls.response, 'lienthong_console')).toMatch(/; HttpOnly; SameSite=Strict; Secure/);
  });

  it('refuses a wrong key, a registry key, a BHXH office\'s re-issue or change key, and a sign-in form without its token', async () => {
    for (const key of ['not-a-key', gateway.keys.registry08, gateway.keys.bhxh08, gateway.keys.reissue08, gateway.keys.correction08]) {
      const { response, signed } = await signInWith(key);
      expect(signed).toBeUndefined();
      expect(response.statusCode).toBe(401);
      expect(response.body).toContain('Khóa truy cập không đúng');
    }
    // Refusals are logged, the keys tried never.
    const logged = gateway.logLines.join('');
    expect(logged).toContain('console sign-in refused');
    for (const key of ['not-a-key', gateway.keys.registry08, gateway.keys.bhxh08, gateway.keys.reissue08]) expect(logged).not.toContain(key);
    const forged = await gateway.app.inject({ method: 'POST', url: '/console/login', headers: FORM, payload: form({ key: gateway.keys.operator }) });
    expect(forged.statusCode).toBe(403);
    expect(cookieNamed(forged, 'lienthong_console')).toBeUndefined();
  });

  it('/console opens the first page the role may see', async () => {
    expect((await gateway.app.inject({ method: 'GET', url: '/console' })).headers.location).toBe('/console/');
    for (const [name, first] of [['operator', '/console/transfers'], ['auditor', '/console/transfers']] as const) {
      const signed = await signIn(name);
      const home = await signed.get('/console/');
      expect(home.statusCode).toBe(303);
      expect(home.headers.location).toBe(first);
    }
  });

  it('a console path that names no page gets the console\'s 404 page under its headers', async () => {
    const operator = await signIn('operator');
    for (const response of [await gateway.app.inject({ method: 'GET', url: '/console/nowhere' }), await operator.get('/console/transfers/x/nowhere')]) {
      expect(response.statusCode).toBe(404);
      expect(response.headers['content-type']).toMatch(/^text\/html/);
      expect(response.body).toContain('Không có trang này.');
      expect(String(response.headers['content-security-policy'])).toContain("default-src 'self'");
      expect(response.headers['cache-control']).toBe('no-store');
    }
  });

  it('a console route that says neither its roles nor that it is public is refused when registered', () => {
    expect(() => requireAccessMarked({ url: '/console/new-page' })).toThrow(/must name its roles/);
    expect(() => requireAccessMarked({ url: '/console/new-page', config: {} })).toThrow(/must name its roles/);
    expect(() => requireAccessMarked({ url: '/console/new-page', config: { consoleRoles: ['operator'] } })).not.toThrow();
    expect(() => requireAccessMarked({ url: '/console/login', config: { consolePublic: true } })).not.toThrow();
  });

  it('refusals are said in Vietnamese, not in the API\'s English', async () => {
    const scoped = await signIn('operator01');
    const forbidden = await scoped.post('/console/dispatch/pause', { maTinh: '47' });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.body).toContain('không thuộc các tỉnh của khóa này');
    expect(forbidden.body).not.toContain('outside this operator');
    const missing = await scoped.get(`/console/transfers/${newId()}`);
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toContain('Không tìm thấy.');
    expect(missing.body).not.toMatch(/No such|not found/i);
    expect(await pausedProvinces()).not.toContain('47');
  });

  it('a page without a session sends the browser to the sign-in page', async () => {
    const response = await gateway.app.inject({ method: 'GET', url: '/console/transfers' });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/console/login');
    const forged = await gateway.app.inject({ method: 'GET', url: '/console/transfers', headers: { cookie: 'lienthong_console=made-up' } });
    expect(forged.headers.location).toBe('/console/login?notice=ended');
  });
});

describe('the transfer list', () => {
  /** Returned records of province 46, as BHXH's answer leaves them (errors with their MA_LOI). */
  async function returned(count: number, maLoi: string): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = newId();
      await gateway.db.query(
        `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, bhxh_errors)
         VALUES ($1, 'KHAI_SINH', 'hotich-08', $1, 'returned', '46', '02215', $2, '{}', '[]', '{}', $3)`,
        [id, personalNumber(), JSON.stringify([{ MA_LOI: maLoi, MO_TA: 'Sai <mã> đơn vị' }])],
      );
      ids.push(id);
    }
    return ids;
  }

  const idsOn = (body: string) => [...body.matchAll(/href="\/console\/transfers\/([^"?/]+)"/g)].map((match) => match[1]);

  it('filters by BHXH error code and pages on with the filter kept, skipping none', async () => {
    const withE17 = await returned(51, 'E17');
    const withE02 = await returned(2, 'E02');
    const operator = await signIn('operator');
    const firstPage = await operator.get('/console/transfers?status=returned&unit=46&errorCode=E17');
    expect(firstPage.statusCode).toBe(200);
    const first = idsOn(firstPage.body);
    expect(first).toHaveLength(50);
    expect(firstPage.body).toContain('bị trả về');
    // The list runs from the earliest change to the latest, and says so.
    expect(firstPage.body).toContain('Hồ sơ thay đổi sớm nhất ở trang đầu');
    expect(first[0]).toBe(withE17[0]);
    // The error's text is shown as text.
    const next = /href="(\/console\/transfers\?[^"]*cursor=[^"]+)">Trang sau/.exec(firstPage.body)?.[1];
    expect(next).toBeDefined();
    const nextUrl = (next as string).replaceAll('&amp;', '&');
    expect(nextUrl).toContain('errorCode=E17');
    const second = idsOn((await operator.get(nextUrl)).body);
    expect([...first, ...second].sort()).toEqual([...withE17].sort());
    // "Trang cuối" opens on the latest 50 changes: all but the first of the 51, and pages on from there.
    const lastLink = /href="(\/console\/transfers\?[^"]*last=1)">Trang cuối/.exec(firstPage.body)?.[1];
    expect(lastLink).toBeDefined();
    const lastPage = await operator.get((lastLink as string).replaceAll('&amp;', '&'));
    expect(idsOn(lastPage.body)).toEqual(withE17.slice(1));
    expect(lastPage.body).toContain('Trang đầu');
    const e02 = idsOn((await operator.get('/console/transfers?errorCode=E02')).body);
    expect(e02.sort()).toEqual([...withE02].sort());
    const detail = await operator.get(`/console/transfers/${withE02[0]}`);
    expect(detail.body).toContain('Sai &lt;mã&gt; đơn vị');
    expect(detail.body).toContain('>Gửi lại<');
  });

  it('names a filter it cannot use instead of failing', async () => {
    const operator = await signIn('operator');
    const response = await operator.get('/console/transfers?status=lost&unit=8&from=yesterday&cursor=not-a-cursor');
    expect(response.statusCode).toBe(200);
    for (const problem of ['Trạng thái không hợp lệ.', 'Mã tỉnh gồm 2 chữ số.', 'Ngày không hợp lệ.', 'Vị trí trang không hợp lệ']) expect(response.body).toContain(problem);
  });

  it('a repeated parameter, a year 0 or a day the calendar lacks is named on the page, not a 500', async () => {
    const operator = await signIn('operator');
    for (const url of [
      '/console/transfers?status=failed&status=returned', '/console/transfers?from=0000-01-01', '/console/transfers?to=2024-02-31',
      '/console/replay?preview=1&from=2024-13-01', '/console/replay?preview=1&unit=08&unit=09&notice=x&notice=y',
    ]) {
      const response = await operator.get(url);
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type'], url).toMatch(/^text\/html/);
    }
    expect((await operator.get('/console/transfers?from=0000-01-01')).body).toContain('Ngày không hợp lệ.');
    expect((await operator.get('/console/transfers?to=2024-02-31')).body).toContain('Ngày không hợp lệ.');
    expect((await operator.get('/console/transfers?to=2024-02-29')).body).not.toContain('Ngày không hợp lệ.');
    const repeated = await operator.get('/console/transfers?status=failed&status=returned');
    expect(repeated.body).not.toContain('class="problem"');
  });

  it('an operator of one province sees only that province\'s transfers, and is told another\'s does not exist', async () => {
    const [in46] = await returned(1, 'E03');
    const scoped = await signIn('operator01');
    expect(idsOn((await scoped.get('/console/transfers?errorCode=E03')).body)).toEqual([]);
    expect((await scoped.get(`/console/transfers/${in46}`)).statusCode).toBe(404);
  });
});

describe('state changes', () => {
  it('a form without the session\'s CSRF token is refused with 403 and changes nothing', async () => {
    const operator = await signIn('operator');
    const other = await signIn('operator');
    expect(other.csrf).not.toBe(operator.csrf);
    for (const token of [null, 'guessed', other.csrf]) {
      const refused = await operator.post('/console/dispatch/pause', { maTinh: '08' }, token);
      expect(refused.statusCode).toBe(403);
      expect(refused.body).toContain('Biểu mẫu đã hết hạn hoặc không hợp lệ');
    }
    expect(await pausedProvinces()).toEqual([]);
    const paused = await operator.post('/console/dispatch/pause', { maTinh: '08' });
    expect(paused.statusCode).toBe(303);
    expect(await pausedProvinces()).toEqual(['08']);
    expect((await operator.post('/console/dispatch/resume', { maTinh: '08' })).statusCode).toBe(303);
    expect(await pausedProvinces()).toEqual([]);
  });

  it('every method but GET and HEAD needs the CSRF token, and the bulk replay\'s form is refused without it', async () => {
    expect(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].every(mayChangeState)).toBe(true);
    expect(['GET', 'HEAD'].some(mayChangeState)).toBe(false);
    const id = await storedTransfer('48', 'failed');
    const operator = await signIn('operator');
    for (const token of [null, 'guessed']) {
      const refused = await operator.post('/console/replay', { status: 'failed', unit: '48', reason: 'forged replay' }, token);
      expect(refused.statusCode).toBe(403);
    }
    const after = (await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${id}` })).json();
    expect(after.status).toBe('failed');
  });

  it('an auditor reads transfers but cannot replay, pause or open the operators\' pages', async () => {
    const id = await pushBirth();
    const auditor = await signIn('auditor');
    const list = await auditor.get('/console/transfers?unit=08');
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain(id);
    expect(list.body).not.toContain('Gửi lại hàng loạt');
    const page = await auditor.get(`/console/transfers/${id}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain('>Gửi lại<');
    expect((await auditor.get(`/console/transfers/${id}/replay`)).statusCode).toBe(403);
    expect((await auditor.post(`/console/transfers/${id}/replay`, { reason: 'an auditor tries' })).statusCode).toBe(403);
    expect((await auditor.post('/console/dispatch/pause', { maTinh: '08' })).statusCode).toBe(403);
    for (const url of ['/console/replay', '/console/dispatch', '/console/batches', '/console/callbacks', '/console/backlog']) expect((await auditor.get(url)).statusCode).toBe(403);
    const after = (await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${id}` })).json();
    expect(after.status).toBe('queued');
    expect(after.history.map((event: { action: string }) => event.action)).not.toContain('transfer.replayed');
    expect(await pausedProvinces()).toEqual([]);
  });

  it('"Gửi ngay" queues a dispatch run, and "Thử lại ngay" makes a client\'s failing callbacks due, audited', async () => {
    const operator = await signIn('operator');
    const run = await operator.post('/console/dispatch/run', {});
    expect(run.statusCode).toBe(303);
    expect((await operator.get(run.headers.location as string)).body).toContain('Đã yêu cầu một lượt gửi ngay.');
    const retried = await operator.post('/console/callbacks/retry', { clientId: 'hotich-08' });
    expect(retried.statusCode).toBe(303);
    expect((await operator.get(retried.headers.location as string)).body).toContain('Đã cho gửi lại các thông báo lỗi.');
    const events = (await gateway.request('auditor', { method: 'GET', url: '/audit/v1/events?limit=1000' })).json().events as Array<{ action: string; actor: string; details: Record<string, unknown> }>;
    expect(events.filter((event) => event.action === 'callbacks.retried').at(-1)).toMatchObject({ actor: 'ops-all', details: { clientId: 'hotich-08', retried: 0 } });
  });

  it('replaying needs a reason, and a transfer that is not failed or returned is refused with the reason why', async () => {
    const id = await pushBirth();
    const operator = await signIn('operator');
    const noReason = await operator.post(`/console/transfers/${id}/replay`, { reason: ' ' });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.body).toContain('Cần ghi lý do');
    const notFailed = await operator.post(`/console/transfers/${id}/replay`, { reason: 'try it' });
    expect(notFailed.statusCode).toBe(409);
    expect(notFailed.body).toContain('chỉ gửi lại hồ sơ bị trả về hoặc gửi không thành công');
    expect(notFailed.body).toContain('chờ gửi');
  });
});

describe('operators\' pages', () => {
  async function batch(id: string, createdAt: string): Promise<void> {
    await gateway.db.query(
      `INSERT INTO batches (id, ma_tinh, loai, mode, status, record_count, created_at) VALUES ($1, '47', 'CAP_THE_TE', 'push', 'closed', 1, $2)`,
      [id, createdAt],
    );
  }

  it('an operator of one province sees its counts and holds on the dispatch page, not another province\'s', async () => {
    await storedTransfer('47', 'closed');
    const operator = await signIn('operator');
    expect((await operator.post('/console/dispatch/pause', { maTinh: '47' })).statusCode).toBe(303);
    try {
      const everyProvince = (await operator.get('/console/dispatch')).body;
      expect(everyProvince).toContain('đã đóng<strong>');
      expect(everyProvince).toContain('Tiếp tục 47');
      const scoped = (await (await signIn('operator01')).get('/console/dispatch')).body;
      expect(scoped).not.toContain('đã đóng<strong>');
      expect(scoped).not.toContain('Tiếp tục 47');
      expect(scoped).toContain('Không tỉnh nào.');
    } finally {
      await operator.post('/console/dispatch/resume', { maTinh: '47' });
    }
  });

  it('the callbacks page counts every failing callback of every client, within the operator\'s provinces', async () => {
    const in49 = await storedTransfer('49', 'issued');
    const in01 = await storedTransfer('01', 'issued');
    await gateway.db.transaction(async (tx) => appendAuditEventsInTx(tx, Array.from({ length: 502 }, () => ({ actor: 'test', action: 'test.callback-failing' }))));
    const { rows } = await gateway.db.query<{ seq: string }>("SELECT seq FROM audit_events WHERE action = 'test.callback-failing' ORDER BY seq");
    const seqs = rows.map((row) => row.seq);
    // More than the 500 oldest belong to one client; the last, the newest, to another.
    await gateway.db.query(
      `INSERT INTO callback_outbox (audit_seq, client_id, transfer_id, attempts, next_attempt_at, last_attempt_at, last_error)
       SELECT seq, CASE WHEN seq = $2 THEN 'hotich-late' ELSE 'hotich-busy' END, CASE WHEN seq = $2 THEN $4 ELSE $3 END,
              2, now() + interval '1 hour', now(), 'HTTP 503'
         FROM unnest($1::bigint[]) AS seq`,
      [seqs, seqs.at(-1), in49, in01],
    );
    try {
      const everyProvince = (await (await signIn('operator')).get('/console/callbacks')).body;
      expect(everyProvince).toMatch(/hotich-busy<\/td><td class="num">501<\/td>/);
      expect(everyProvince).toMatch(/hotich-late<\/td><td class="num">1<\/td>/);
      expect(everyProvince).toContain('HTTP 503');
      const scoped = (await (await signIn('operator01')).get('/console/callbacks')).body;
      expect(scoped).toMatch(/hotich-late<\/td><td class="num">1<\/td>/);
      expect(scoped).not.toContain('hotich-busy');
    } finally {
      await gateway.db.query('DELETE FROM callback_outbox WHERE audit_seq = ANY($1::bigint[])', [seqs]);
    }
  });

  it('an operator of one province previews, replays and follows bulk replays of its province only', async () => {
    const own = await storedTransfer('01', 'failed');
    const other = await storedTransfer('47', 'failed');
    const scoped = await signIn('operator01');
    const preview = (await scoped.get('/console/replay?preview=1&status=failed')).body;
    expect(preview).toContain(own);
    expect(preview).not.toContain(other);
    const otherProvince = await scoped.get('/console/replay?preview=1&status=failed&unit=47');
    expect(otherProvince.body).toContain('Tỉnh 47 không thuộc phạm vi của khóa này.');
    expect(otherProvince.body).not.toContain(other);
    const refused = await scoped.post('/console/replay', { status: 'failed', unit: '47', reason: 'not mine' });
    expect(refused.statusCode).toBe(403);
    expect(refused.body).toContain('Tỉnh 47 không thuộc phạm vi của khóa này.');
    const everyProvince = await signIn('operator');
    const started = await everyProvince.post('/console/replay', { status: 'failed', unit: '47', reason: 'resend 47' });
    expect(started.statusCode).toBe(303);
    const progress = started.headers.location as string;
    expect((await everyProvince.get(progress)).statusCode).toBe(200);
    expect((await scoped.get(progress)).statusCode).toBe(404);
  });

  it('an operator of one province sees its own province on the backlog page and chart, not others', async () => {
    await storedTransfer('47', 'queued');
    const everyProvince = (await (await signIn('operator')).get('/console/backlog')).body;
    expect(everyProvince).toContain('<td>47</td>');
    const scoped = (await (await signIn('operator01')).get('/console/backlog')).body;
    expect(scoped).not.toContain('<td>47</td>');
    expect(scoped).not.toContain('Tỉnh 47');
    expect(scoped).not.toMatch(/<h3>Tỉnh (?!01)/);
  });

  it('the re-issues page lists open requests by their due date, those past it marked, within the operator\'s provinces', async () => {
    const request = async (maTinh: string, status: string, dueOn: string) => {
      const id = newId();
      await gateway.db.query(
        `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, reason, due_on)
         VALUES ($1, 'CAP_LAI_THE', 'bhxh-08', $1, $2, $3, '02215', $4, '{}', '[]', '{}', 'mat', $5)`,
        [id, status, maTinh, personalNumber(), dueOn],
      );
      return id;
    };
    // The gateway's today is TEST_NOW's, 20/03/2025.
    const late = await request('58', 'queued', '2025-03-10');
    const notYet = await request('58', 'returned', '2025-03-25');
    const done = await request('58', 'issued', '2025-03-01');
    const own = await request('01', 'sent', '2025-03-21');
    const page = (await (await signIn('operator')).get('/console/reissues')).body;
    expect(page).toContain(late);
    expect(page).toContain(notYet);
    expect(page).not.toContain(done);
    expect(page.indexOf(late)).toBeLessThan(page.indexOf(notYet));
    const rowOf = (id: string) => new RegExp(`<tr( class="overdue")?>\\s*<td class="mono"><a href="/console/transfers/${id}"`).exec(page);
    expect(rowOf(late)?.[1]).toBe(' class="overdue"');
    expect(rowOf(notYet)).not.toBeNull();
    expect(rowOf(notYet)?.[1]).toBeUndefined();
    expect(page).toContain('10/03/2025 <strong class="late">quá hạn</strong>');
    expect(page).toContain('mất thẻ');
    const scoped = (await (await signIn('operator01')).get('/console/reissues')).body;
    expect(scoped).toContain(own);
    expect(scoped).not.toContain(late);
    expect((await (await signIn('auditor')).get('/console/reissues')).statusCode).toBe(403);
  });

  it('the lists page shows schools\' lists of the operator\'s provinces, and a list\'s rows with where each stands', async () => {
    const row = (stt: number, soDinhDanh: string, hoTen?: string) => ({
      stt, ...(hoTen ? { hoTen } : {}), soDinhDanh, ngaySinh: '15/03/2010', gioiTinh: 'Nam', diaChi: 'Phường Hà Giang 1, Tuyên Quang', noiDangKyKCB: '08001',
      ngayBienLai: '01/03/2025', soBienLai: `BL${stt}`, soTien: 884520, tuThang: '03/2025', soThang: 12, lop: '10',
    });
    const uploaded = await gateway.app.inject({
      method: 'POST', url: '/ts/v1/danh-sach?kyKeKhai=03/2025',
      headers: { authorization: `Bearer ${SCHOOL_KEY}`, 'content-type': 'application/json', 'idempotency-key': `console-${newId()}` },
      payload: JSON.stringify({ kyKeKhai: '03/2025', rows: [row(1, '008210000901', 'Nguyễn Văn An'), row(2, '008210000902')] }),
    });
    expect(uploaded.statusCode, uploaded.body).toBe(202);
    const { listId, invalid } = uploaded.json();
    expect(invalid).toBeGreaterThanOrEqual(1);
    const operator = await signIn('operator');
    const lists = (await operator.get('/console/lists?maDonVi=TZ0899Z')).body;
    expect(lists).toContain(`href="/console/lists/${listId}"`);
    expect(lists).toContain('TZ0899Z');
    expect((await (await signIn('operator01')).get('/console/lists')).body).not.toContain(listId);
    expect((await (await signIn('operator01')).get(`/console/lists/${listId}`)).statusCode).toBe(404);
    const rows = await operator.get(`/console/lists/${listId}`);
    expect(rows.statusCode).toBe(200);
    expect(rows.body).toContain('không hợp lệ<strong>');
    expect(rows.body).toContain('Cần sửa:');
    // Names stay with the school: the console shows rows by STT and status.
    expect(rows.body).not.toContain('Nguyễn Văn An');
    expect((await operator.get('/console/lists?maDonVi=%3Cb%3E')).body).toContain('Mã đơn vị gồm chữ và số');
  });

  it('the batches page lists the newest first by their time-ordered ids', async () => {
    const older = newId();
    const newer = newId();
    expect(newer).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
    expect(newer > older).toBe(true);
    // created_at says otherwise (a clock stepped back): the id's order is the one kept.
    await batch(older, '2026-01-02T00:00:00Z');
    await batch(newer, '2026-01-01T00:00:00Z');
    const page = (await (await signIn('operator')).get('/console/batches?status=closed')).body;
    expect(page.indexOf(newer)).toBeGreaterThan(0);
    expect(page.indexOf(newer)).toBeLessThan(page.indexOf(older));
  });
});

describe('one-stop dossiers that wait too long', () => {
  async function staleDossier(overrides: Parameters<typeof hoSoMotCua>[0] = {}): Promise<string> {
    const response = await gateway.request('registry08b', { method: 'POST', url: '/ngsp/v1/mot-cua', payload: hoSoMotCua(overrides) as object });
    expect(response.statusCode, response.body).toBe(202);
    const id = response.json().transferId as string;
    // Arrived long before the gateway's clock (TEST_NOW), as one that waited past STALE_DOSSIER_DAYS.
    await gateway.db.query("UPDATE transfers SET created_at = '2024-01-01T00:00:00Z' WHERE id = $1", [id]);
    return id;
  }
  const statusOf = async (id: string) => (await gateway.db.query<{ status: string }>('SELECT status FROM transfers WHERE id = $1', [id])).rows[0]?.status;

  it('are listed to operators of their province, and closed with a reason, with the CSRF token only', async () => {
    const id = await staleDossier();
    const operator = await signIn('operator');
    const list = await operator.get('/console/dossiers');
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain(id);
    expect((await (await signIn('operator01')).get('/console/dossiers')).body).not.toContain(id);
    expect((await (await signIn('auditor')).get('/console/dossiers')).statusCode).toBe(403);
    expect((await operator.get('/console/dossiers?olderThanDays=-1')).body).toContain('Số ngày là số nguyên');

    expect((await operator.post(`/console/dossiers/${id}/close`, { reason: 'no birth will come' }, null)).statusCode).toBe(403);
    const noReason = await operator.post(`/console/dossiers/${id}/close`, { reason: '' });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.body).toContain('Cần ghi lý do');
    expect((await (await signIn('operator01')).post(`/console/dossiers/${id}/close`, { reason: 'not mine' })).statusCode).toBe(404);
    expect(await statusOf(id)).toBe('received');

    const closed = await operator.post(`/console/dossiers/${id}/close`, { reason: 'registered abroad' });
    expect(closed.statusCode).toBe(303);
    const after = await operator.get(closed.headers.location as string);
    expect(after.body).toContain('Đã đóng hồ sơ một cửa.');
    expect(after.body).not.toContain(`/console/dossiers/${id}"`);
    expect(await statusOf(id)).toBe('closed');
    const events = (await gateway.request('auditor', { method: 'GET', url: `/audit/v1/events?transferId=${id}` })).json().events;
    expect(events.at(-1)).toMatchObject({ actor: 'ops-all', action: 'mot-cua.closed', details: { reason: 'registered abroad' } });
    const again = await operator.post(`/console/dossiers/${id}/close`, { reason: 'twice' });
    expect(again.statusCode).toBe(409);
    // A death's dossier can only be closed: no form to link it to a birth.
    const death = await operator.get(`/console/dossiers/${await staleDossier({ module: 'KT', fileDinhKem: [] })}`);
    expect(death.body).toContain('Đóng hồ sơ');
    expect(death.body).not.toContain('Gắn vào khai sinh');
  });

  it('are linked to their birth with a reason; a birth that does not exist is said on the form', async () => {
    const id = await staleDossier();
    const birth = await gateway.request('registry08', {
      method: 'POST', url: '/ngsp/v1/khai-sinh',
      payload: clean(khaiSinh({ bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'nguoi_di_khai', hinhThucNhanThe: 'buu_chinh' }, hoTich: { nycSoDienThoai: undefined, nycNoiCuTru: undefined } })) as object,
    });
    expect(birth.statusCode, birth.body).toBe(202);
    const birthId = birth.json().transferId as string;
    const operator = await signIn('operator');
    const form = await operator.get(`/console/dossiers/${id}`);
    expect(form.body).toContain('Gắn vào khai sinh');
    const unknown = await operator.post(`/console/dossiers/${id}/link`, { birthTransferId: newId(), reason: 'wrong number' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toContain('Không có hồ sơ khai sinh với mã này');
    expect(await statusOf(id)).toBe('received');
    const linked = await operator.post(`/console/dossiers/${id}/link`, { birthTransferId: birthId, reason: 'same family, checked by phone' });
    expect(linked.statusCode, linked.body).toBe(303);
    expect(linked.headers.location).toBe(`/console/transfers/${birthId}?notice=linked`);
    expect(await statusOf(id)).toBe('merged');
    expect(await statusOf(birthId)).toBe('queued');
    expect((await operator.get(`/console/dossiers/${birthId}`)).statusCode).toBe(404);
  });
});

describe('the end of a session', () => {
  it('a new sign-in in the same browser ends the session it had', async () => {
    const earlier = await signIn('operator');
    const signInPage = await gateway.app.inject({ method: 'GET', url: '/console/login', headers: { cookie: earlier.cookie } });
    const signInCookie = valueOf(cookieNamed(signInPage, 'lienthong_console_signin'));
    const again = await gateway.app.inject({
      method: 'POST', url: '/console/login', headers: { ...FORM, cookie: `${earlier.cookie}; ${signInCookie}` },
      payload: form({ _csrf: csrfIn(signInPage.body), key: gateway.keys.auditor }),
    });
    expect(again.statusCode).toBe(303);
    const later = valueOf(cookieNamed(again, 'lienthong_console'));
    expect(later).not.toBe(earlier.cookie);
    expect((await earlier.get('/console/transfers')).headers.location).toBe('/console/login?notice=ended');
    expect((await gateway.app.inject({ method: 'GET', url: '/console/transfers', headers: { cookie: later } })).statusCode).toBe(200);
  });

  it('signing out ends the session', async () => {
    const operator = await signIn('operator');
    const out = await operator.post('/console/logout', {});
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/console/login?notice=signedOut');
    expect(cookieNamed(out, 'lienthong_console')).toMatch(/Max-Age=0/);
    expect((await operator.get('/console/transfers')).headers.location).toBe('/console/login?notice=ended');
  });

  it('a session ends on its next request once its key is no longer in the clients file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'console-clients-'));
    const file = join(dir, 'clients.json');
    const writeClients = (clients: unknown[]) => writeFileSync(file, JSON.stringify(clients));
    writeClients([TEMP_CLIENT]);
    const registry = ClientRegistry.fromFile(file);
    const own = await startTestGateway({ schema: gateway.schema, keepSchema: true, clientRegistry: registry });
    try {
      const { signed } = await signInWith(TEMP_KEY, {}, own);
      const temp = signed as Signed;
      expect((await temp.get('/console/transfers')).statusCode).toBe(200);
      // The key is rotated in the file, as an administrator withdraws it; the reload is what SIGHUP or a change of the file runs.
      writeClients([{ ...TEMP_CLIENT, keySha256: sha256OfKey('the-next-key-0123456789') }]);
      registry.reload();
      const ended = await temp.get('/console/transfers');
      expect(ended.statusCode).toBe(303);
      expect(ended.headers.location).toBe('/console/login?notice=ended');
      // Putting the key back does not bring the ended session back.
      writeClients([TEMP_CLIENT]);
      registry.reload();
      expect((await temp.get('/console/transfers')).statusCode).toBe(303);
    } finally {
      await own.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a session ends when its time is up', async () => {
    const operator = await signIn('operator');
    expect((await operator.get('/console/transfers')).statusCode).toBe(200);
    await gateway.db.query("UPDATE console_sessions SET expires_at = now() - interval '1 second' WHERE csrf_token = $1", [operator.csrf]);
    expect((await operator.get('/console/transfers')).headers.location).toBe('/console/login?notice=ended');
    const { rows } = await gateway.db.query<{ count: string }>('SELECT count(*) AS count FROM console_sessions WHERE csrf_token = $1', [operator.csrf]);
    expect(Number(rows[0]?.count)).toBe(0);
  });

  it('a session is good on every gateway process sharing the database, and signing out on one ends it on all', async () => {
    second = await startTestGateway({ schema: gateway.schema, keepSchema: true, clients: [TEMP_CLIENT] });
    const { signed } = await signInWith(TEMP_KEY);
    const temp = signed as Signed;
    const onSecond = await temp.get('/console/transfers', second);
    expect(onSecond.statusCode).toBe(200);
    const out = await second.app.inject({
      method: 'POST', url: '/console/logout', headers: { ...FORM, cookie: temp.cookie }, payload: form({ _csrf: csrfIn(onSecond.body) }),
    });
    expect(out.statusCode).toBe(303);
    expect((await temp.get('/console/transfers')).headers.location).toBe('/console/login?notice=ended');
  });
});

describe('html', () => {
  it('escapes every interpolated value, so a name or an error text cannot become markup', () => {
    const name = '<script>alert("x")</script> & \'';
    expect(html`<td>${name}</td>`.markup).toBe('<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;</td>');
    expect(html`<ul>${[html`<li>${'<b>'}</li>`, false, null]}</ul>`.markup).toBe('<ul><li>&lt;b&gt;</li></ul>');
  });
});
