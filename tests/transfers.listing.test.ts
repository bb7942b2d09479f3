import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KhaiSinh } from '../src/domain/documents.js';
import { TRANSFER_TYPES } from '../src/messages/registry.js';
import { khaiSinh, khaiSinhHaNoi } from './support/fixtures.js';
import { startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';

let gateway: TestGateway;


interface Pushed {
  transferId: string;
  status: string;
  as: ClientName;
  maTinh: string;
}
const pushed: Pushed[] = [];
const ids = (filter: (item: Pushed) => boolean) => pushed.filter(filter).map((item) => item.transferId).sort();

beforeAll(async () => {
  gateway = await startTestGateway();
  const plan: Array<[ClientName, KhaiSinh, string]> = [
    ['registry08', khaiSinh(), '08'],
    ['registry08', khaiSinh({ bhyt: null }), '08'],
    ['registry08', khaiSinh(), '08'],
    ['registry08', khaiSinh({ bhyt: null }), '08'],
    ['registry08', khaiSinh(), '08'],
    ['registry08b', khaiSinh(), '08'],
    ['registry01', khaiSinhHaNoi(), '01'],
    ['registry01', khaiSinhHaNoi({ bhyt: null }), '01'],
  ];
  // One after the other, so creation order is known.
  for (const [as, doc, maTinh] of plan) {
    const response = await gateway.request(as, { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc as unknown as object });
    if (response.statusCode !== 202) throw new Error(`setup push failed: ${response.statusCode} ${response.body}`);
    const { transferId, status } = response.json();
    pushed.push({ transferId, status, as, maTinh });
  }
});
afterAll(async () => {
  await gateway?.close();
});

const list = async (as: ClientName, query = '') => {
  const response = await gateway.request(as, { method: 'GET', url: `/ngsp/v1/transfers${query ? `?${query}` : ''}` });
  expect(response.statusCode).toBe(200);
  return response.json() as { items: Array<Record<string, unknown> & { transferId: string; status: string; maTinh: string }>; nextCursor: string | null };
};
const listedIds = (page: { items: Array<{ transferId: string }> }) => page.items.map((item) => item.transferId).sort();

/** Follows nextCursor to the end; returns every page. */
async function walk(as: ClientName, query: string) {
  const pages: Array<Awaited<ReturnType<typeof list>>> = [];
  let cursor: string | null = null;
  do {
    const page = await list(as, `${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    pages.push(page);
    cursor = page.nextCursor;
    if (pages.length > 50) throw new Error('paging does not end');
  } while (cursor !== null);
  return pages;
}

describe('GET /ngsp/v1/transfers', () => {
  it('the setup made received and queued births in 08 and 01', () => {
    expect(pushed.map((item) => item.status)).toEqual(['queued', 'received', 'queued', 'received', 'queued', 'queued', 'queued', 'received']);
  });

  it('filters by status', async () => {
    const received = await list('registry08', 'status=received');
    expect(listedIds(received)).toEqual(ids((item) => item.as === 'registry08' && item.status === 'received'));
    expect(received.items.every((item) => item.status === 'received')).toBe(true);
    // Where a poller of this list resumes; nothing has changed since.
    expect(await list('registry08', `status=received&cursor=${encodeURIComponent(received.nextCursor as string)}`)).toEqual({ items: [], nextCursor: null });

    const queued = await list('registry08', 'status=queued');
    expect(listedIds(queued)).toEqual(ids((item) => item.as === 'registry08' && item.status === 'queued'));
    expect(queued.items).toHaveLength(3);

    expect((await list('registry08', 'status=returned')).items).toEqual([]);
    expect(listedIds(await list('operator', 'status=received'))).toEqual(ids((item) => item.status === 'received'));
  });

  it('filters by unit (province)', async () => {
    expect(listedIds(await list('operator', 'unit=01'))).toEqual(ids((item) => item.maTinh === '01'));
    expect(listedIds(await list('operator', 'unit=08'))).toEqual(ids((item) => item.maTinh === '08'));
    expect(listedIds(await list('operator', 'unit=08&status=queued'))).toEqual(ids((item) => item.maTinh === '08' && item.status === 'queued'));
    expect((await list('operator', 'unit=79')).items).toEqual([]);
  });

  it('filters by type: any type the message registry stores is a filter, births here being all there is', async () => {
    expect(listedIds(await list('operator', 'type=KHAI_SINH'))).toEqual(ids(() => true));
    const others = TRANSFER_TYPES.filter((type) => type !== 'KHAI_SINH');
    expect(others).not.toEqual([]);
    for (const type of others) expect((await list('operator', `type=${type}`)).items).toEqual([]);
  });

  it('documents the registry\'s types, and no others, as the type of a filter and of a listed item', async () => {
    const response = await gateway.request(null, { method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const api = response.json();
    const filter = api.paths['/ngsp/v1/transfers'].get.parameters.find((parameter: { name: string }) => parameter.name === 'type');
    expect(filter.schema.enum).toEqual(TRANSFER_TYPES);
    expect(api.components.schemas.TransferSummary.properties.type.enum).toEqual(TRANSFER_TYPES);
  });

  it('a registry client sees only its own transfers, even in its own province', async () => {
    expect(listedIds(await list('registry08'))).toEqual(ids((item) => item.as === 'registry08'));
    expect(listedIds(await list('registry08b'))).toEqual(ids((item) => item.as === 'registry08b'));
    expect(listedIds(await list('registry01'))).toEqual(ids((item) => item.as === 'registry01'));
    expect((await list('registry08', 'unit=01')).items).toEqual([]);
  });

  it('an operator or auditor with every province sees all; an operator scoped to 01 sees none of 08\'s', async () => {
    expect(listedIds(await list('operator'))).toEqual(ids(() => true));
    expect(listedIds(await list('auditor'))).toEqual(ids(() => true));
    const scoped = await list('operator01');
    expect(listedIds(scoped)).toEqual(ids((item) => item.maTinh === '01'));
    expect(scoped.items.every((item) => item.maTinh === '01')).toBe(true);
    expect((await list('operator01', 'unit=08')).items).toEqual([]);
  });

  it('a cursor walk with limit=2 returns every item exactly once, in order, ending with an empty page whose nextCursor is null', async () => {
    const pages = await walk('operator', 'limit=2');
    expect(pages).toHaveLength(5);
    for (const page of pages.slice(0, -1)) {
      expect(page.items).toHaveLength(2);
      expect(page.nextCursor).toEqual(expect.any(String));
    }
    expect(pages.at(-1)).toEqual({ items: [], nextCursor: null });
    const walked = pages.flatMap((page) => page.items.map((item) => item.transferId));
    expect(new Set(walked).size).toBe(walked.length);
    expect([...walked].sort()).toEqual(ids(() => true));
    // In the order they last changed: here, stored one after the other and not changed since.
    expect(walked).toEqual(pushed.map((item) => item.transferId));
  });

  it('paging combines with filters and scopes', async () => {
    const mine = (await walk('registry08', 'limit=2')).flatMap((page) => page.items.map((item) => item.transferId));
    expect(mine).toEqual(pushed.filter((item) => item.as === 'registry08').map((item) => item.transferId));

    const queued08 = await walk('operator', 'limit=2&status=queued&unit=08');
    expect(queued08.map((page) => page.items.length)).toEqual([2, 2, 0]);
    expect(queued08.flatMap((page) => page.items.map((item) => item.transferId)))
      .toEqual(pushed.filter((item) => item.maTinh === '08' && item.status === 'queued').map((item) => item.transferId));

    const single = await walk('operator01', 'limit=1');
    expect(single.flatMap((page) => page.items.map((item) => item.transferId))).toEqual(ids((item) => item.maTinh === '01'));
  });

  it('limit=1 and limit=500 are accepted; the default page holds everything here', async () => {
    expect((await list('operator', 'limit=1')).items).toHaveLength(1);
    expect((await list('operator', 'limit=500')).items).toHaveLength(pushed.length);
    const all = await list('operator');
    expect(all.items).toHaveLength(pushed.length);
    expect(await list('operator', `cursor=${encodeURIComponent(all.nextCursor as string)}`)).toEqual({ items: [], nextCursor: null });
  });

  it.each(['0', '501', '-1', 'abc', '2.5'])('limit=%s is 400 VALIDATION_FAILED at /querystring/limit', async (limit) => {
    const response = await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers?limit=${limit}` });
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.details).toContainEqual(expect.objectContaining({ path: '/querystring/limit' }));
  });

  it('other bad filters are 400 with their path', async () => {
    for (const [query, path] of [['status=lost', '/querystring/status'], ['unit=8', '/querystring/unit'], ['colour=red', '/querystring/colour'], ['type=CAP_THE_TE', '/querystring/type'], ['type=khai_sinh', '/querystring/type']]) {
      const response = await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers?${query}` });
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toMatchObject({ code: 'VALIDATION_FAILED', details: expect.arrayContaining([expect.objectContaining({ path })]) });
    }
  });

  it('items are summaries: no document, no BHXH document, no history', async () => {
    const page = await list('operator');
    expect(page.items.length).toBeGreaterThan(0);
    for (const item of page.items) {
      expect(item).not.toHaveProperty('document');
      expect(item).not.toHaveProperty('bhxhDocument');
      expect(item).not.toHaveProperty('history');
      expect(item).toEqual({
        transferId: expect.any(String), messageId: expect.any(String), type: 'KHAI_SINH', status: expect.stringMatching(/^(received|queued)$/),
        maTinh: expect.stringMatching(/^(01|08)$/), maDonVi: expect.any(String), maHoSo: null, missing: expect.any(Array), errors: [],
        createdAt: expect.any(String), updatedAt: expect.any(String),
      });
    }
    const received = page.items.find((item) => item.status === 'received');
    expect(received?.missing).toEqual(['/bhyt/noiDangKyKCB', '/bhyt/hinhThucNhanThe']);
  });

  it('needs a role that may read transfers', async () => {
    const none = await gateway.request(null, { method: 'GET', url: '/ngsp/v1/transfers' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('UNAUTHORIZED');
    const bhxh = await gateway.request('bhxh08', { method: 'GET', url: '/ngsp/v1/transfers' });
    expect(bhxh.statusCode).toBe(403);
    expect(bhxh.json().error.code).toBe('FORBIDDEN');
  });
});
