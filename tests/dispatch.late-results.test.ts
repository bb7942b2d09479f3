import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256OfKey } from '../src/auth/clients.js';
import { BhxhSimulator, issueCard } from '../src/dev/bhxh-simulator.js';
import { acknowledgeBatchInTx } from '../src/dispatch/batch-closing.js';
import { DISPATCH_FACTS } from '../src/messages/registry.js';
import { claimIntoBatchesInTx } from '../src/store/batches.js';
import { khaiSinh } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/** Another BHXH client of Tuyên Quang (08), and one of Hà Nội (01), besides the TEST_CLIENTS' bhxh08. */
const BHXH08B_KEY = 'key-bhxh08b-for-late-results-0123456';
const BHXH01_KEY = 'key-bhxh01-for-late-results-01234567';

type BhxhClient = 'bhxh08' | 'bhxh08b' | 'bhxh01';

const CLIENTS = [
  { id: 'bhxh-08b', keySha256: sha256OfKey(BHXH08B_KEY), roles: ['bhxh' as const], units: ['08'] },
  { id: 'bhxh-01', keySha256: sha256OfKey(BHXH01_KEY), roles: ['bhxh' as const], units: ['01'] },
];

let gateway: TestGateway;

async function queueBirths(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
    expect(response.statusCode).toBe(202);
    ids.push(response.json().transferId);
  }
  return ids;
}

interface PushedBatch {
  batchId: string;
  records: Array<Record<string, unknown>>;
}

/**
 * Every queued birth of 08 claimed into a pushed batch, as a dispatch run claims it: `open`, its
 * records `sending` until BHXH acknowledges it. No dispatcher runs here, so nothing delivers it.
 */
async function pushedBatch(): Promise<PushedBatch> {
  const [batch] = await gateway.db.transaction((tx) =>
    claimIntoBatchesInTx(tx, { mode: 'push', batchSize: 100, limit: 100, maTinh: '08', loai: 'CAP_THE_TE', actor: 'test', kinds: DISPATCH_FACTS }));
  if (!batch) throw new Error('nothing was queued');
  expect(batch).toMatchObject({ status: 'open', leasedBy: null });
  const { rows } = await gateway.db.query<{ document: Record<string, unknown> }>(
    `SELECT t.bhxh_document AS document FROM batch_members m JOIN transfers t ON t.id = m.transfer_id
      WHERE m.batch_id = $1 ORDER BY m.position`,
    [batch.id],
  );
  return { batchId: batch.id, records: rows.map((row) => row.document) };
}

/** BHXH acknowledging the batch without its results (a 202), as the dispatcher records it. */
const acknowledge = (batchId: string) => gateway.db.transaction((tx) => acknowledgeBatchInTx(tx, batchId, 202, 'test'));

/** The state a 202 leaves: the batch `delivered`, its records `sent`, no lease holder. */
async function batchAwaitingLateResults(): Promise<PushedBatch> {
  const batch = await pushedBatch();
  expect(await acknowledge(batch.batchId)).toBe(batch.records.length);
  return batch;
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
  beforeEach(async () => {
    gateway = await startTestGateway({ clients: CLIENTS });
  });
  afterEach(async () => {
    await gateway?.close();
  });

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

  it('rejects results for records BHXH has not acknowledged yet (sending), and takes them once it has', async () => {
    await queueBirths(2);
    const batch = await pushedBatch();
    const results = batch.records.map((record) => issueCard(record));

    const early = await postResults(batch.batchId, results);
    expect(early.statusCode).toBe(200);
    expect(early.json()).toEqual({
      accepted: 0,
      rejected: batch.records.map((record) => ({ MA_HO_SO: record.MA_HO_SO, reason: 'not awaiting a result (sending)' })),
    });
    for (const record of batch.records) {
      expect((await transfer(String(record.MA_HO_SO))).status).toBe('sending');
      expect(await answeredEvents(String(record.MA_HO_SO))).toEqual([]);
    }

    await acknowledge(batch.batchId);
    expect((await postResults(batch.batchId, results)).json()).toEqual({ accepted: 2, rejected: [] });
    for (const record of batch.records) expect((await transfer(String(record.MA_HO_SO))).status).toBe('issued');
    expect(await batchStatusOf(String(batch.records[0]?.MA_HO_SO), batch.batchId)).toBe('closed');
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

describe('late results after BHXH acknowledged a push', () => {
  let simulator: BhxhSimulator;

  beforeEach(async () => {
    simulator = new BhxhSimulator();
    await simulator.start();
    gateway = await startTestGateway({
      clients: CLIENTS,
      startDispatcher: true,
      env: { BHXH_PUSH_URL: simulator.url, DISPATCH_INTERVAL_MS: '3600000', RETRY_BASE_DELAY_MS: '20' },
    });
  });
  afterEach(async () => {
    await gateway?.close();
    await simulator?.close();
  });

  const runDispatch = async () => expect((await gateway.request('operator', { method: 'POST', url: '/ops/v1/dispatch/run' })).statusCode).toBe(202);

  /** Resolves once every one of `ids` was pushed and BHXH's acknowledgement left it `sent`, waiting for its result. */
  async function acknowledged(ids: string[], httpStatus: number): Promise<void> {
    await vi.waitFor(async () => {
      for (const id of ids) {
        const detail = await transfer(id);
        expect(detail.status).toBe('sent');
        expect(detail.deliveries).toEqual([
          expect.objectContaining({ mode: 'push', batchStatus: 'delivered', attempts: [expect.objectContaining({ outcome: 'answered', httpStatus })] }),
        ]);
      }
    }, { timeout: 10_000, interval: 50 });
  }

  const batchOf = async (id: string) => ((await transfer(id)).deliveries as Array<{ batchId: string }>)[0]?.batchId as string;

  it('202: the records stay sent until BHXH posts their results, which issue the cards and close the batch', async () => {
    // Scripted before anything is queued: the scheduler may run at any moment.
    simulator.setScript({ kind: 'accept' });
    const ids = await queueBirths(2);
    await runDispatch();
    await acknowledged(ids, 202);

    // However the runs split them, each batch is answered late, by the BHXH client acting for 08.
    const batches = new Map<string, Array<Record<string, unknown>>>();
    for (const id of ids) {
      const batchId = await batchOf(id);
      batches.set(batchId, [...(batches.get(batchId) ?? []), (await transfer(id)).bhxhDocument]);
    }
    for (const [batchId, records] of batches) {
      const late = await postResults(batchId, records.map((record) => issueCard(record)));
      expect(late.statusCode).toBe(200);
      expect(late.json()).toEqual({ accepted: records.length, rejected: [] });
    }
    for (const id of ids) {
      const detail = await transfer(id);
      expect(detail).toMatchObject({ status: 'issued', card: { maThe: expect.stringMatching(/^TE108\d{10}$/) } });
      expect(detail.history.map((event: { toStatus: string }) => event.toStatus)).toEqual(['queued', 'sending', 'sent', 'issued']);
      expect(await batchStatusOf(id, await batchOf(id))).toBe('closed');
    }
    // Acknowledged once, no batch was pushed again.
    expect(simulator.deliveries.map((delivery) => delivery.batchId).sort()).toEqual([...batches.keys()].sort());
    expect((await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });

  it('200 leaving a record out: the answered one is applied, the other waits in sent for its late result', async () => {
    const [now, later] = [khaiSinh(), khaiSinh()];
    const errors = [{ MA_LOI: 'TRUNG_NHAN_KHAU', MO_TA: 'Trùng nhân khẩu' }];
    simulator.setScript({
      kind: 'answer',
      result: (record) => record.SO_DINH_DANH === now.hoTich.soDinhDanh ? { MA_HO_SO: record.MA_HO_SO, KET_QUA: 'LOI', LOI: errors } : null,
    });
    const [answeredNow, answeredLater] = await Promise.all([now, later].map(async (doc) => {
      const response = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc });
      expect(response.statusCode).toBe(202);
      return response.json().transferId as string;
    })) as [string, string];
    await runDispatch();
    await acknowledged([answeredLater], 200);
    await vi.waitFor(async () => expect(await transfer(answeredNow)).toMatchObject({ status: 'returned', errors }), { timeout: 10_000, interval: 50 });

    const batchId = await batchOf(answeredLater);
    const record = (await transfer(answeredLater)).bhxhDocument as Record<string, unknown>;
    const late = await postResults(batchId, [issueCard(record), { MA_HO_SO: answeredNow, KET_QUA: 'OK' }]);
    expect(late.json()).toEqual({
      accepted: 1,
      // Answered in the 200 already, or not a record of this batch if the runs put it in another.
      rejected: [{ MA_HO_SO: answeredNow, reason: (await batchOf(answeredNow)) === batchId ? 'already answered (returned)' : 'not a record of this batch' }],
    });
    expect((await transfer(answeredLater)).status).toBe('issued');
    expect((await transfer(answeredNow)).status).toBe('returned');
    expect(await batchStatusOf(answeredLater, batchId)).toBe('closed');
    expect((await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });
});
