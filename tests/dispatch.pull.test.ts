import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256OfKey } from '../src/auth/clients.js';
import type { KhaiSinh } from '../src/domain/documents.js';
import { issueCard } from '../src/dev/bhxh-simulator.js';
import { khaiSinh, khaiSinhHaNoi } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/** A BHXH client for Hà Nội (01) only, besides the TEST_CLIENTS' bhxh08. */
const BHXH01_KEY = 'key-bhxh01-for-pull-tests-0123456789';
/** A second BHXH client for Tuyên Quang (08): it may see bhxh08's leases, not answer them. */
const BHXH08B_KEY = 'key-bhxh08b-for-pull-tests-012345678';

let gateway: TestGateway;

const startPullGateway = (env: Record<string, string> = {}) => startTestGateway({
  startDispatcher: true,
  // Pull only (no BHXH_PUSH_URL); leases are swept every 100 ms.
  env: { MAINTENANCE_INTERVAL_MS: '100', DISPATCH_INTERVAL_MS: '3600000', RETRY_BASE_DELAY_MS: '20', ...env },
  clients: [
    { id: 'bhxh-01', keySha256: sha256OfKey(BHXH01_KEY), roles: ['bhxh'], units: ['01'] },
    { id: 'bhxh-08b', keySha256: sha256OfKey(BHXH08B_KEY), roles: ['bhxh'], units: ['08'] },
  ],
});

// A fresh gateway (schema, queue prefix) per case: a lease takes every queued record of a province,
// so cases sharing one would take each other's records.
beforeEach(async () => {
  gateway = await startPullGateway();
});
afterEach(async () => {
  await gateway?.close();
});

interface LeasedBatch {
  batchId: string;
  maTinh: string;
  loai: string;
  records: Array<Record<string, unknown>>;
  leaseExpiresAt?: string;
}

async function push(count: number, make: () => KhaiSinh = () => khaiSinh(), as: 'registry08' | 'registry01' = 'registry08'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await gateway.request(as, { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: make() });
    expect(response.statusCode).toBe(202);
    expect(response.json().status).toBe('queued');
    ids.push(response.json().transferId);
  }
  return ids;
}

const lease = (body: Record<string, unknown>, as: 'bhxh08' | 'registry08' = 'bhxh08') =>
  gateway.request(as, { method: 'POST', url: '/bhxh/v1/batches/lease', payload: body });

async function leaseOk(body: Record<string, unknown>): Promise<LeasedBatch> {
  const response = await lease(body);
  expect(response.statusCode).toBe(200);
  return response.json() as LeasedBatch;
}

const postResults = (batchId: string, results: unknown[]) =>
  gateway.request('bhxh08', { method: 'POST', url: `/bhxh/v1/batches/${batchId}/results`, payload: { results } });

const transfer = async (id: string) => {
  const response = await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${id}` });
  expect(response.statusCode).toBe(200);
  return response.json();
};
const statusOf = async (id: string) => (await transfer(id)).status as string;
const idsOf = (batch: LeasedBatch) => batch.records.map((record) => String(record.MA_HO_SO));

describe('pull: leasing', () => {
  it('answers 204 when nothing waits', async () => {
    const response = await lease({ maTinh: '08', loai: 'CAP_THE_TE' });
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
  });

  it('leases at most `max` queued records as a batch; they become sent; a second lease never returns them', async () => {
    const ids = await push(5);

    const first = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE', max: 3, leaseSeconds: 300 });
    expect(first).toMatchObject({ batchId: expect.any(String), maTinh: '08', loai: 'CAP_THE_TE' });
    expect(first.records).toHaveLength(3);
    for (const record of first.records) {
      // The CAP_THE_TE document, keyed by the transfer.
      expect(ids).toContain(record.MA_HO_SO);
      expect(record).toMatchObject({ MA_TINH: '08', SO_DINH_DANH: expect.stringMatching(/^\d{12}$/) });
      expect(record.MA_HO_SO).toBe((await transfer(String(record.MA_HO_SO))).bhxhDocument.MA_HO_SO);
    }
    expect(new Date(String(first.leaseExpiresAt)).getTime()).toBeGreaterThan(Date.now() + 200_000);
    for (const id of idsOf(first)) expect(await statusOf(id)).toBe('sent');
    const rest = ids.filter((id) => !idsOf(first).includes(id));
    for (const id of rest) expect(await statusOf(id)).toBe('queued');

    const second = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE', max: 3 });
    expect(second.batchId).not.toBe(first.batchId);
    expect(idsOf(second).sort()).toEqual([...rest].sort());
    expect(idsOf(second).filter((id) => idsOf(first).includes(id))).toEqual([]);

    expect((await lease({ maTinh: '08', loai: 'CAP_THE_TE' })).statusCode).toBe(204);
    // Deaths are another document type: nothing of theirs waits.
    expect((await lease({ maTinh: '08', loai: 'BAO_GIAM' })).statusCode).toBe(204);

    const history = (await transfer(ids[0] as string)).history.map((event: { toStatus: string }) => event.toStatus);
    expect(history).toEqual(['queued', 'sent']);
  });

  it('serves a `max` above the gateway\'s batch size as the batch size: BHXH cannot know it', async () => {
    await gateway.close();
    gateway = await startPullGateway({ DISPATCH_BATCH_SIZE: '2' });
    const ids = await push(3);

    const first = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE', max: 1000 });
    expect(first.records).toHaveLength(2);
    const second = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE', max: 1000 });
    expect(second.records).toHaveLength(1);
    expect([...idsOf(first), ...idsOf(second)].sort()).toEqual([...ids].sort());
    // Without `max`, the batch size too.
    await push(3);
    expect((await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE' })).records).toHaveLength(2);
  });

  it('gives leases taken at the same moment disjoint records', async () => {
    const ids = await push(10);
    const answers = await Promise.all(Array.from({ length: 6 }, () => lease({ maTinh: '08', loai: 'CAP_THE_TE', max: 2 })));
    const batches = answers.filter((answer) => answer.statusCode === 200).map((answer) => answer.json() as LeasedBatch);
    const leased = batches.flatMap(idsOf);
    expect(leased).toHaveLength(new Set(leased).size);
    expect(new Set(batches.map((batch) => batch.batchId)).size).toBe(batches.length);
    for (const batch of batches) expect(batch.records.length).toBeLessThanOrEqual(2);
    // Whatever a lease skipped (rows locked by another) is still there for the next one.
    for (;;) {
      const more = await lease({ maTinh: '08', loai: 'CAP_THE_TE', max: 2 });
      if (more.statusCode === 204) break;
      leased.push(...idsOf(more.json() as LeasedBatch));
    }
    expect(leased.sort()).toEqual([...ids].sort());
  });

  it('scopes the bhxh role by province, and only the bhxh role may lease', async () => {
    await push(1, khaiSinhHaNoi, 'registry01');
    const other = await lease({ maTinh: '01', loai: 'CAP_THE_TE' });
    expect(other.statusCode).toBe(403);
    expect(other.json().error.code).toBe('FORBIDDEN');

    const notBhxh = await lease({ maTinh: '08', loai: 'CAP_THE_TE' }, 'registry08');
    expect(notBhxh.statusCode).toBe(403);

    // Still waiting for the client that may take it.
    const own = await gateway.app.inject({
      method: 'POST', url: '/bhxh/v1/batches/lease', headers: { authorization: `Bearer ${BHXH01_KEY}` },
      payload: { maTinh: '01', loai: 'CAP_THE_TE' },
    });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ maTinh: '01', records: [expect.objectContaining({ MA_TINH: '01' })] });
  });
});

describe('pull: results', () => {
  it('applies OK as issued with the card and LOI as returned with the errors', async () => {
    await push(2);
    const batch = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE' });
    const [ok, loi] = batch.records as [Record<string, unknown>, Record<string, unknown>];
    const card = issueCard(ok);
    const errors = [{ MA_LOI: 'TRUNG_NHAN_KHAU', MO_TA: 'Trùng nhân khẩu' }];

    const response = await postResults(batch.batchId, [card, { MA_HO_SO: loi.MA_HO_SO, KET_QUA: 'LOI', LOI: errors }]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ accepted: 2, rejected: [] });

    const issued = await transfer(String(ok.MA_HO_SO));
    expect(issued.status).toBe('issued');
    expect(issued.card).toEqual({ maSoBHXH: card.MA_SO_BHXH, maThe: card.MA_THE, gtTheTu: card.GT_THE_TU, gtTheDen: card.GT_THE_DEN });
    expect(issued.history.map((event: { toStatus: string }) => event.toStatus)).toEqual(['queued', 'sent', 'issued']);
    const returned = await transfer(String(loi.MA_HO_SO));
    expect(returned).toMatchObject({ status: 'returned', errors });
    expect(returned.card ?? null).toBeNull();

    // Every member answered: nothing more to lease, and the chain holds.
    expect((await lease({ maTinh: '08', loai: 'CAP_THE_TE' })).statusCode).toBe(204);
    expect((await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });

  it('rejects, without applying, results for unknown records, records of another batch, already-answered records and malformed results', async () => {
    await push(4);
    const a = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE', max: 2 });
    const b = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE', max: 2 });
    const [a1, a2] = a.records as [Record<string, unknown>, Record<string, unknown>];
    const [b1, b2] = b.records as [Record<string, unknown>, Record<string, unknown>];

    expect((await postResults(a.batchId, [issueCard(a1)])).json()).toEqual({ accepted: 1, rejected: [] });

    const response = await postResults(a.batchId, [
      { MA_HO_SO: 'no-such-transfer', KET_QUA: 'OK' },
      issueCard(b1), // belongs to batch b
      issueCard(a1), // answered already
      { MA_HO_SO: a2.MA_HO_SO, KET_QUA: 'MAYBE' },
      { ...issueCard(a2), MA_THE: undefined },
    ]);
    expect(response.statusCode).toBe(200);
    const answer = response.json() as { accepted: number; rejected: Array<{ MA_HO_SO: string | null; reason: string }> };
    expect(answer.accepted).toBe(0);
    expect(answer.rejected.map((rejection) => rejection.MA_HO_SO)).toEqual(['no-such-transfer', b1.MA_HO_SO, a1.MA_HO_SO, a2.MA_HO_SO, a2.MA_HO_SO]);
    for (const rejection of answer.rejected) expect(rejection.reason).toEqual(expect.any(String));

    // Nothing applied: a1 stays issued with its card, a2 and b1 still wait in their own batches.
    expect(await statusOf(String(a1.MA_HO_SO))).toBe('issued');
    expect((await transfer(String(a1.MA_HO_SO))).history.filter((event: { toStatus: string }) => event.toStatus === 'issued')).toHaveLength(1);
    expect(await statusOf(String(a2.MA_HO_SO))).toBe('sent');
    expect(await statusOf(String(b1.MA_HO_SO))).toBe('sent');

    // The records still waiting accept their own results in their own batches.
    expect((await postResults(b.batchId, [issueCard(b1), issueCard(b2)])).json()).toEqual({ accepted: 2, rejected: [] });
    expect((await postResults(a.batchId, [issueCard(a2)])).json()).toEqual({ accepted: 1, rejected: [] });
    // Once the batch is closed, a repeat is still only reported back.
    const repeat = (await postResults(a.batchId, [issueCard(a2)])).json();
    expect(repeat.accepted).toBe(0);
    expect(repeat.rejected).toEqual([expect.objectContaining({ MA_HO_SO: a2.MA_HO_SO })]);
    for (const record of [a1, a2, b1, b2]) expect(await statusOf(String(record.MA_HO_SO))).toBe('issued');
    expect((await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });

  it('answers 404 to a bhxh client for a batch of another province, and for no batch at all', async () => {
    await push(1, khaiSinhHaNoi, 'registry01');
    const leased = await gateway.app.inject({
      method: 'POST', url: '/bhxh/v1/batches/lease', headers: { authorization: `Bearer ${BHXH01_KEY}` },
      payload: { maTinh: '01', loai: 'CAP_THE_TE' },
    });
    expect(leased.statusCode).toBe(200);
    const batch = leased.json() as LeasedBatch;

    const foreign = await postResults(batch.batchId, [issueCard(batch.records[0] as Record<string, unknown>)]);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error.code).toBe('NOT_FOUND');
    expect(await statusOf(String(batch.records[0]?.MA_HO_SO))).toBe('sent');

    expect((await postResults('0190c0de-0000-7000-8000-000000000000', [])).statusCode).toBe(404);
  });
});

type BhxhClient = 'bhxh08' | 'bhxh08b' | 'bhxh01';
const keyOf = (client: BhxhClient) => ({ bhxh08: gateway.keys.bhxh08, bhxh08b: BHXH08B_KEY, bhxh01: BHXH01_KEY })[client];
const as = (client: BhxhClient, url: string, payload: object) =>
  gateway.app.inject({ method: 'POST', url, payload, headers: { authorization: `Bearer ${keyOf(client)}` } });

const renew = (batchId: string, body: Record<string, unknown>, client: BhxhClient = 'bhxh08') =>
  as(client, `/bhxh/v1/batches/${batchId}/lease`, body);

const leaseEnd = async (batchId: string) =>
  new Date((await gateway.db.query<{ lease_expires_at: Date }>('SELECT lease_expires_at FROM batches WHERE id = $1', [batchId])).rows[0]?.lease_expires_at as Date).toISOString();

const historyOf = async (id: string) => (await transfer(id)).history.map((event: { action: string }) => event.action) as string[];

describe('pull: only the lease holder answers', () => {
  it('refuses results from another client of the province (403, nothing applied) and hides the batch from other provinces (404)', async () => {
    await push(2);
    const batch = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE' });
    const results = batch.records.map((record) => issueCard(record));

    const notHolder = await as('bhxh08b', `/bhxh/v1/batches/${batch.batchId}/results`, { results });
    expect(notHolder.statusCode).toBe(403);
    expect(notHolder.json().error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/leased by another/) });
    const otherProvince = await as('bhxh01', `/bhxh/v1/batches/${batch.batchId}/results`, { results });
    expect(otherProvince.statusCode).toBe(404);
    expect(otherProvince.json().error.code).toBe('NOT_FOUND');
    for (const id of idsOf(batch)) {
      expect(await statusOf(id)).toBe('sent');
      expect(await historyOf(id)).toEqual(['khai-sinh.accepted', 'dispatch.leased']);
    }

    expect((await postResults(batch.batchId, results)).json()).toEqual({ accepted: 2, rejected: [] });
    for (const id of idsOf(batch)) expect(await statusOf(id)).toBe('issued');
  });
});

describe('pull: lease renewal', () => {
  it('moves the end of the lease for its holder, leaving its records sent; the sweep goes by the new end', async () => {
    await push(2);
    const batch = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE', leaseSeconds: 60 });

    const longer = await renew(batch.batchId, { leaseSeconds: 3600 });
    expect(longer.statusCode).toBe(200);
    expect(Object.keys(longer.json()).sort()).toEqual(['batchId', 'leaseExpiresAt']);
    expect(longer.json().batchId).toBe(batch.batchId);
    const end = new Date(longer.json().leaseExpiresAt).getTime();
    expect(end).toBeGreaterThan(new Date(String(batch.leaseExpiresAt)).getTime() + 3_000_000);
    expect(await leaseEnd(batch.batchId)).toBe(longer.json().leaseExpiresAt);
    for (const id of idsOf(batch)) {
      expect(await statusOf(id)).toBe('sent');
      // No record changed status, so no transfer's history gains an event.
      expect(await historyOf(id)).toEqual(['khai-sinh.accepted', 'dispatch.leased']);
    }

    // Shortened to a second, the lease runs out at the new end and its records are queued again.
    expect((await renew(batch.batchId, { leaseSeconds: 1 })).statusCode).toBe(200);
    await vi.waitFor(async () => {
      for (const id of idsOf(batch)) expect(await statusOf(id)).toBe('queued');
    }, { timeout: 10_000, interval: 50 });
    const late = await renew(batch.batchId, { leaseSeconds: 300 });
    expect(late.statusCode).toBe(409);
    expect(late.json().error).toMatchObject({ code: 'INVALID_STATE', message: expect.stringMatching(/run out/) });
  });

  it('takes leaseSeconds within the bounds of a lease, 300 by default', async () => {
    await push(1);
    const batch = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE', leaseSeconds: 60 });
    for (const leaseSeconds of [0, 86_401, 1.5, null]) {
      const refused = await renew(batch.batchId, { leaseSeconds });
      expect(refused.statusCode, String(leaseSeconds)).toBe(400);
      expect(refused.json().error.code).toBe('VALIDATION_FAILED');
    }
    expect((await renew(batch.batchId, { leaseSeconds: 60, holder: 'bhxh-08b' })).statusCode).toBe(400);

    const before = Date.now();
    const byDefault = await renew(batch.batchId, {});
    expect(byDefault.statusCode).toBe(200);
    const end = new Date(byDefault.json().leaseExpiresAt).getTime();
    expect(end).toBeGreaterThan(before + 250_000);
    expect(end).toBeLessThan(before + 350_000);
    expect((await renew(batch.batchId, { leaseSeconds: 86_400 })).statusCode).toBe(200);
  });

  it('refuses a renewal from anyone but the holder: 403 in the province, 404 outside it or for no batch', async () => {
    await push(1);
    const batch = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE' });
    const end = await leaseEnd(batch.batchId);

    const notHolder = await renew(batch.batchId, { leaseSeconds: 3600 }, 'bhxh08b');
    expect(notHolder.statusCode).toBe(403);
    expect(notHolder.json().error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/leased by another/) });
    expect((await renew(batch.batchId, { leaseSeconds: 3600 }, 'bhxh01')).statusCode).toBe(404);
    expect((await renew('0190c0de-0000-7000-8000-000000000000', { leaseSeconds: 3600 })).statusCode).toBe(404);
    const registry = await gateway.request('registry08', { method: 'POST', url: `/bhxh/v1/batches/${batch.batchId}/lease`, payload: { leaseSeconds: 3600 } });
    expect(registry.statusCode).toBe(403);
    expect(await leaseEnd(batch.batchId)).toBe(end);
  });

  it('refuses to renew a lease past its end though not yet swept, and a batch whose every record is answered (409)', async () => {
    await push(2);
    const runOut = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE', max: 1 });
    // Past its end; the sweep may or may not have come by yet: either way there is nothing to renew.
    await gateway.db.query(`UPDATE batches SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [runOut.batchId]);
    const refused = await renew(runOut.batchId, { leaseSeconds: 300 });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'INVALID_STATE', message: expect.stringMatching(/run out/) });
    await vi.waitFor(async () => expect(await statusOf(idsOf(runOut)[0] as string)).toBe('queued'), { timeout: 10_000, interval: 50 });

    const answered = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE' });
    expect((await postResults(answered.batchId, answered.records.map((record) => issueCard(record)))).json().accepted).toBe(2);
    const closed = await renew(answered.batchId, { leaseSeconds: 300 });
    expect(closed.statusCode).toBe(409);
    expect(closed.json().error).toMatchObject({ code: 'INVALID_STATE', message: expect.stringMatching(/answered/) });
  });
});

describe('pull: lease expiry', () => {
  it('puts the records of an unanswered lease back to queued, rejects late results, and leases them again', async () => {
    const ids = await push(3);
    const expiring = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE', leaseSeconds: 1 });
    expect(idsOf(expiring).sort()).toEqual([...ids].sort());
    for (const id of ids) expect(await statusOf(id)).toBe('sent');

    await vi.waitFor(async () => {
      for (const id of ids) expect(await statusOf(id)).toBe('queued');
    }, { timeout: 10_000, interval: 50 });
    for (const id of ids) {
      const events = (await gateway.request('auditor', { method: 'GET', url: `/audit/v1/events?transferId=${id}` })).json().events as Array<Record<string, unknown>>;
      expect(events.map((event) => [event.action, event.fromStatus, event.toStatus])).toEqual([
        ['khai-sinh.accepted', null, 'queued'],
        ['dispatch.leased', 'queued', 'sent'],
        ['dispatch.lease-expired', 'sent', 'queued'],
      ]);
    }

    // BHXH answering late: reported back, not applied.
    const late = await postResults(expiring.batchId, expiring.records.map((record) => issueCard(record)));
    expect(late.statusCode).toBe(200);
    expect(late.json().accepted).toBe(0);
    expect(late.json().rejected.map((rejection: { MA_HO_SO: string }) => rejection.MA_HO_SO).sort()).toEqual([...ids].sort());
    for (const id of ids) expect(await statusOf(id)).toBe('queued');

    // The same records, in a new batch, with the card this time.
    const again = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE', leaseSeconds: 300 });
    expect(again.batchId).not.toBe(expiring.batchId);
    expect(idsOf(again).sort()).toEqual([...ids].sort());
    expect((await postResults(again.batchId, again.records.map((record) => issueCard(record)))).json()).toEqual({ accepted: 3, rejected: [] });
    for (const id of ids) {
      const detail = await transfer(id);
      expect(detail.status).toBe('issued');
      expect(detail.deliveries.map((delivery: { batchId: string; outcome: string }) => [delivery.batchId, delivery.outcome])).toEqual([
        [expiring.batchId, 'expired'],
        [again.batchId, 'issued'],
      ]);
    }
    expect((await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });

  it('keeps what was answered before the lease ran out, and puts back only the rest', async () => {
    await push(2);
    const batch = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE', leaseSeconds: 1 });
    const [answered, unanswered] = batch.records as [Record<string, unknown>, Record<string, unknown>];
    expect((await postResults(batch.batchId, [issueCard(answered)])).json()).toEqual({ accepted: 1, rejected: [] });

    await vi.waitFor(async () => expect(await statusOf(String(unanswered.MA_HO_SO))).toBe('queued'), { timeout: 10_000, interval: 50 });
    expect(await statusOf(String(answered.MA_HO_SO))).toBe('issued');
    const late = (await postResults(batch.batchId, [issueCard(unanswered)])).json();
    expect(late).toMatchObject({ accepted: 0, rejected: [expect.objectContaining({ MA_HO_SO: unanswered.MA_HO_SO })] });
    const again = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE' });
    expect(idsOf(again)).toEqual([unanswered.MA_HO_SO]);
  });
});

describe('pull: results PostgreSQL could not keep', () => {
  it('rejects one result whose text holds a NUL, and applies the others of the same answer', async () => {
    const ids = await push(2);
    const batch = await leaseOk({ maTinh: '08', loai: 'CAP_THE_TE' });
    const [good, bad] = batch.records;
    const response = await postResults(batch.batchId, [
      { MA_HO_SO: bad?.MA_HO_SO, KET_QUA: 'LOI', LOI: [{ MA_LOI: 'SAI_TEN', MO_TA: 'tên\u0000sai' }] },
      issueCard(good as Record<string, unknown>),
    ]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ accepted: 1, rejected: [{ MA_HO_SO: bad?.MA_HO_SO, reason: expect.stringMatching(/malformed/) }] });
    expect(await statusOf(String(good?.MA_HO_SO))).toBe('issued');
    expect(await statusOf(String(bad?.MA_HO_SO))).toBe('sent');
    expect(ids).toHaveLength(2);
  });
});
