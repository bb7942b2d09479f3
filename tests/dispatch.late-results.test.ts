import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256OfKey } from '../src/auth/clients.js';
import { issueCard } from '../src/dev/bhxh-simulator.js';
import { claimIntoBatchesInTx } from '../src/store/batches.js';
import { khaiSinh } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/** Another BHXH client of Tuyên Quang (08), and one of Hà Nội (01), besides the TEST_CLIENTS' bhxh08. */
const BHXH08B_KEY = 'key-bhxh08b-for-late-results-0123456';
const BHXH01_KEY = 'key-bhxh01-for-late-results-01234567';

type BhxhClient = 'bhxh08' | 'bhxh08b' | 'bhxh01';

let gateway: TestGateway;

beforeEach(async () => {
  gateway = await startTestGateway({
    clients: [
      { id: 'bhxh-08b', keySha256: sha256OfKey(BHXH08B_KEY), roles: ['bhxh'], units: ['08'] },
      { id: 'bhxh-01', keySha256: sha256OfKey(BHXH01_KEY), roles: ['bhxh'], units: ['01'] },
    ],
  });
});
afterEach(async () => {
  await gateway?.close();
});

async function queueBirths(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
    expect(response.statusCode).toBe(202);
    ids.push(response.json().transferId);
  }
  return ids;
}

interface WaitingBatch {
  batchId: string;
  records: Array<Record<string, unknown>>;
}

/**
 * Every queued birth of 08 in the state a pushed batch is in once BHXH acknowledged it without its
 * results (a 202, or a 200 that left the records out): `delivered`, its records `sent`, and no lease
 * holder. A claim without a holder makes exactly that through the store's own functions.
 */
async function batchAwaitingLateResults(): Promise<WaitingBatch> {
  const [batch] = await gateway.db.transaction((tx) =>
    claimIntoBatchesInTx(tx, { mode: 'pull', batchSize: 100, limit: 100, maTinh: '08', loai: 'CAP_THE_TE', actor: 'test' }));
  if (!batch) throw new Error('nothing was queued');
  expect(batch).toMatchObject({ status: 'delivered', leasedBy: null, leaseExpiresAt: null });
  const { rows } = await gateway.db.query<{ document: Record<string, unknown> }>(
    `SELECT t.bhxh_document AS document FROM batch_members m JOIN transfers t ON t.id = m.transfer_id
      WHERE m.batch_id = $1 ORDER BY m.position`,
    [batch.id],
  );
  return { batchId: batch.id, records: rows.map((row) => row.document) };
}

const keyOf = (client: BhxhClient) => ({ bhxh08: gateway.keys.bhxh08, bhxh08b: BHXH08B_KEY, bhxh01: BHXH01_KEY })[client];

const postResults = (batchId: string, results: unknown[], client: BhxhClient = 'bhxh08') =>
  gateway.app.inject({
    method: 'POST', url: `/bhxh/v1/batches/${batchId}/results`, payload: { results },
    headers: { authorization: `Bearer ${keyOf(client)}` },
  });

const transfer = async (id: string) => {
  const response = await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${id}` });
  expect(response.statusCode).toBe(200);
  return response.json();
};

const batchStatusOf = async (transferId: string, batchId: string) =>
  ((await transfer(transferId)).deliveries as Array<{ batchId: string; batchStatus: string }>).find((delivery) => delivery.batchId === batchId)?.batchStatus;

const answeredEvents = async (id: string) =>
  ((await transfer(id)).history as Array<{ action: string }>).filter((event) => event.action === 'bhxh.answered');

describe('late results for a pushed batch', () => {
  it('applies them as for a pull, in as many posts as BHXH makes, from any BHXH client of the province; the last one closes the batch', async () => {
    await queueBirths(3);
    const batch = await batchAwaitingLateResults();
    const [ok, loi, last] = batch.records as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    const errors = [{ MA_LOI: 'TRUNG_NHAN_KHAU', MO_TA: 'Trùng nhân khẩu' }];

    const first = await postResults(batch.batchId, [issueCard(ok), { MA_HO_SO: loi.MA_HO_SO, KET_QUA: 'LOI', LOI: errors }]);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ accepted: 2, rejected: [] });
    expect(await transfer(String(ok.MA_HO_SO))).toMatchObject({ status: 'issued', card: { maSoBHXH: issueCard(ok).MA_SO_BHXH } });
    expect(await transfer(String(loi.MA_HO_SO))).toMatchObject({ status: 'returned', errors });
    expect((await transfer(String(last.MA_HO_SO))).status).toBe('sent');
    expect(await batchStatusOf(String(last.MA_HO_SO), batch.batchId)).toBe('delivered');

    // No one holds a pushed batch: another BHXH client of 08 may post the rest.
    const second = await postResults(batch.batchId, [issueCard(last)], 'bhxh08b');
    expect(second.json()).toEqual({ accepted: 1, rejected: [] });
    expect((await transfer(String(last.MA_HO_SO))).status).toBe('issued');
    expect(await batchStatusOf(String(last.MA_HO_SO), batch.batchId)).toBe('closed');
    expect(await answeredEvents(String(last.MA_HO_SO))).toEqual([
      expect.objectContaining({ actor: 'bhxh-08b', fromStatus: 'sent', toStatus: 'issued', details: { batchId: batch.batchId, ketQua: 'OK' } }),
    ]);
    expect((await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });

  it('rejects, with the reason, results for unknown records, final records and records not in the batch; a repeat after the batch closed too', async () => {
    await queueBirths(2);
    const batch = await batchAwaitingLateResults();
    const [answered, waiting] = batch.records as [Record<string, unknown>, Record<string, unknown>];
    const [notInBatch] = await queueBirths(1);
    expect((await postResults(batch.batchId, [issueCard(answered)])).json()).toEqual({ accepted: 1, rejected: [] });

    const response = await postResults(batch.batchId, [
      { MA_HO_SO: 'no-such-record', KET_QUA: 'OK' },
      issueCard(answered),
      { MA_HO_SO: notInBatch, KET_QUA: 'LOI', LOI: [{ MA_LOI: 'SAI_TEN' }] },
      { ...issueCard(waiting), MA_THE: 'TE1089999999999' },
    ]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      accepted: 0,
      rejected: [
        { MA_HO_SO: 'no-such-record', reason: 'not a record of this batch' },
        { MA_HO_SO: answered.MA_HO_SO, reason: 'already answered (issued)' },
        { MA_HO_SO: notInBatch, reason: 'not a record of this batch' },
        { MA_HO_SO: waiting.MA_HO_SO, reason: 'MA_THE must end with MA_SO_BHXH' },
      ],
    });
    expect((await transfer(String(waiting.MA_HO_SO))).status).toBe('sent');
    expect((await transfer(notInBatch as string)).status).toBe('queued');
    expect(await answeredEvents(String(answered.MA_HO_SO))).toHaveLength(1);

    expect((await postResults(batch.batchId, [issueCard(waiting)])).json()).toEqual({ accepted: 1, rejected: [] });
    expect(await batchStatusOf(String(waiting.MA_HO_SO), batch.batchId)).toBe('closed');
    // Closed, the batch still says of each record why nothing was applied.
    expect((await postResults(batch.batchId, [issueCard(waiting), { MA_HO_SO: 'no-such-record', KET_QUA: 'OK' }])).json()).toEqual({
      accepted: 0,
      rejected: [
        { MA_HO_SO: waiting.MA_HO_SO, reason: 'already answered (issued)' },
        { MA_HO_SO: 'no-such-record', reason: 'not a record of this batch' },
      ],
    });
    expect(await answeredEvents(String(waiting.MA_HO_SO))).toHaveLength(1);
  });

  it('applies two posts of the same results at the same moment once: the other finds them already answered', async () => {
    const ids = await queueBirths(3);
    const batch = await batchAwaitingLateResults();
    const results = batch.records.map((record) => issueCard(record));

    const answers = (await Promise.all([postResults(batch.batchId, results), postResults(batch.batchId, results, 'bhxh08b')]))
      .map((response) => {
        expect(response.statusCode).toBe(200);
        return response.json() as { accepted: number; rejected: Array<{ MA_HO_SO: string; reason: string }> };
      })
      .sort((a, b) => b.accepted - a.accepted);
    expect(answers[0]).toEqual({ accepted: 3, rejected: [] });
    expect(answers[1]?.accepted).toBe(0);
    expect(answers[1]?.rejected.map((rejection) => rejection.MA_HO_SO).sort()).toEqual([...ids].sort());
    for (const rejection of answers[1]?.rejected ?? []) expect(rejection.reason).toBe('already answered (issued)');
    for (const id of ids) expect(await answeredEvents(id)).toHaveLength(1);
    expect((await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });

  it('is a batch another province\'s client cannot see (404), and has no lease to renew (409)', async () => {
    await queueBirths(1);
    const batch = await batchAwaitingLateResults();
    const [record] = batch.records as [Record<string, unknown>];

    const foreign = await postResults(batch.batchId, [issueCard(record)], 'bhxh01');
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error.code).toBe('NOT_FOUND');
    expect((await transfer(String(record.MA_HO_SO))).status).toBe('sent');

    const renewal = await gateway.request('bhxh08', { method: 'POST', url: `/bhxh/v1/batches/${batch.batchId}/lease`, payload: { leaseSeconds: 300 } });
    expect(renewal.statusCode).toBe(409);
    expect(renewal.json().error).toMatchObject({ code: 'INVALID_STATE', message: expect.stringMatching(/not leased/) });
  });
});
