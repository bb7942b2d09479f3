import { afterEach, describe, expect, it, vi } from 'vitest';
import { issueCard } from '../src/dev/bhxh-simulator.js';
import { startDispatchHarness, type DispatchHarness, type DispatchHarnessOptions } from './support/dispatch-harness.js';
import { khaiSinh, khaiSinhHaNoi } from './support/fixtures.js';

/**
 * "Đã gửi" means BHXH acknowledged it (docs/API.md, "Statuses" and "Push"): a pushed record is
 * `sending` until its batch is answered 2xx; a run claims no more than BHXH can be sent at once; a
 * batch that never reached BHXH goes back to `queued`; a pause holds batches already claimed.
 */

let h: DispatchHarness | undefined;
const WAIT = { timeout: 15_000, interval: 50 };

async function start(options: DispatchHarnessOptions = {}): Promise<DispatchHarness> {
  h = await startDispatchHarness({
    ...options,
    env: { BHXH_TIMEOUT_MS: '2000', DISPATCH_BATCH_SIZE: '2', DELIVERY_CONCURRENCY: '2', MAINTENANCE_INTERVAL_MS: '200', ...options.env },
  });
  return h;
}

afterEach(async () => {
  const current = h;
  h = undefined;
  await current?.close();
});

const harness = (): DispatchHarness => {
  if (!h) throw new Error('no gateway started');
  return h;
};

async function push(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await harness().gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
    expect(response.statusCode, response.body).toBe(202);
    ids.push(response.json().transferId);
  }
  return ids;
}

interface HistoryEvent { action: string; fromStatus: string | null; toStatus: string | null; details?: Record<string, unknown> }
interface TransferView { status: string; history: HistoryEvent[]; deliveries: Array<{ batchId: string; batchStatus: string; outcome: string | null; attempts: unknown[] }> }

async function detail(id: string): Promise<TransferView> {
  const response = await harness().gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${id}` });
  expect(response.statusCode).toBe(200);
  return response.json();
}

const statuses = (ids: string[]) => Promise.all(ids.map(async (id) => (await detail(id)).status));

async function waitForStatus(ids: string[], status: string): Promise<void> {
  await vi.waitFor(async () => expect(await statuses(ids)).toEqual(ids.map(() => status)), WAIT);
}

async function countsByStatus(): Promise<Record<string, number>> {
  const { rows } = await harness().gateway.db.query<{ status: string; count: string }>('SELECT status, count(*) AS count FROM transfers GROUP BY status');
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
}

async function batchStatuses(): Promise<string[]> {
  const { rows } = await harness().gateway.db.query<{ status: string }>('SELECT status FROM batches ORDER BY created_at, id');
  return rows.map((row) => row.status);
}

/** How many times BHXH received each record (in distinct batches). */
function receivedPerRecord(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of harness().simulator.recordsReceived()) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

describe('BHXH down for a whole run', () => {
  it('leaves every record queued, none sent; once BHXH is back: sending → sent → issued, each record received once', async () => {
    const { simulator, gateway, runs } = await start({ bhxhDown: true });
    const ids = await push(5);
    await runs.run();

    // Each claimed batch was refused at connect, so released: its records are queued again, correctable.
    await vi.waitFor(async () => expect(await batchStatuses()).toEqual(['released', 'released']), WAIT);
    expect(await countsByStatus()).toEqual({ queued: 5 });
    const released = await detail(ids[0] as string);
    expect(released.history.map((event) => [event.action, event.fromStatus, event.toStatus])).toEqual([
      ['khai-sinh.accepted', null, 'queued'],
      ['dispatch.batched', 'queued', 'sending'],
      ['dispatch.released', 'sending', 'queued'],
    ]);
    expect(String(released.history[2]?.details?.reason)).toMatch(/ECONNREFUSED/);
    expect(released.deliveries).toEqual([expect.objectContaining({ batchStatus: 'released', outcome: 'released' })]);
    const patch = await gateway.request('registry08', {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${ids[0]}`, payload: { bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'buu_chinh' } },
    });
    expect(patch.statusCode, patch.body).toBe(200);

    await simulator.start(Number(new URL(simulator.url).port));
    await runs.run();
    await waitForStatus(ids, 'issued');
    expect([...receivedPerRecord().entries()].sort()).toEqual([...ids].sort().map((id) => [id, 1]));
    const issued = await detail(ids[1] as string);
    expect(issued.history.map((event) => event.toStatus)).toEqual(['queued', 'sending', 'queued', 'sending', 'sent', 'issued']);
    expect(issued.history.find((event) => event.action === 'dispatch.acknowledged')).toMatchObject({
      fromStatus: 'sending', toStatus: 'sent', details: { httpStatus: 200 },
    });
    expect((await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });
});

describe('a batch BHXH may already hold is never released', () => {
  it('pushed once without an answer, then refused at connect: it stays sending and the same batch goes once BHXH is back', async () => {
    const { simulator, gateway, runs } = await start({ script: [{ kind: 'hang' }], env: { BHXH_TIMEOUT_MS: '300', DISPATCH_MAX_ATTEMPTS: '20' } });
    const ids = await push(2);
    await runs.run();
    await simulator.waitFor((sim) => sim.deliveries.length === 1);
    const batchId = simulator.deliveries[0]?.batchId as string;
    // BHXH received the batch (it may hold it) and then went down: its port is closed.
    await simulator.close();
    await vi.waitFor(async () => {
      const { rows } = await gateway.db.query("SELECT 1 FROM delivery_attempts WHERE error LIKE '%ECONNREFUSED%'");
      expect(rows.length).toBeGreaterThanOrEqual(1);
    }, WAIT);
    expect(await statuses(ids)).toEqual(['sending', 'sending']);
    expect(await batchStatuses()).toEqual(['open']);

    simulator.setScript({ kind: 'answer' });
    await simulator.start(Number(new URL(simulator.url).port));
    await waitForStatus(ids, 'issued');
    expect(new Set(simulator.deliveries.map((delivery) => delivery.batchId))).toEqual(new Set([batchId]));
    expect(await batchStatuses()).toEqual(['closed']);
    expect((await detail(ids[0] as string)).history.map((event) => event.toStatus)).toEqual(['queued', 'sending', 'sent', 'issued']);
  });
});

describe('a run claims what BHXH can be sent at once', () => {
  it('while BHXH does not answer, only DELIVERY_CONCURRENCY batches are claimed; once it answers, one run drains the rest', async () => {
    const { simulator, runs } = await start({ script: [{ kind: 'hang' }], env: { DISPATCH_MAX_ATTEMPTS: '20' } });
    const ids = await push(10);
    await runs.run();
    await simulator.waitFor((sim) => sim.deliveries.length >= 2);
    // Two batches of two with BHXH, six records still queued: correctable, and in no batch.
    expect(await countsByStatus()).toEqual({ sending: 4, queued: 6 });
    expect(await batchStatuses()).toEqual(['open', 'open']);

    simulator.setScript({ kind: 'answer' });
    // No other run: each acknowledgement claims the next batch.
    await waitForStatus(ids, 'issued');
    expect(await batchStatuses()).toEqual(['closed', 'closed', 'closed', 'closed', 'closed']);
    expect([...receivedPerRecord().values()].every((count) => count === 1)).toBe(true);
    expect(receivedPerRecord().size).toBe(10);
  });
});

describe('batches stay full when provinces interleave', () => {
  it('one batch at a time: the oldest record names the province, whose oldest records fill the batch', async () => {
    const { simulator, gateway, runs } = await start({ env: { DELIVERY_CONCURRENCY: '1' } });
    const ids: string[] = [];
    for (const [client, doc] of [['registry08', khaiSinh()], ['registry01', khaiSinhHaNoi()], ['registry08', khaiSinh()], ['registry01', khaiSinhHaNoi()]] as const) {
      const response = await gateway.request(client, { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc });
      expect(response.statusCode, response.body).toBe(202);
      ids.push(response.json().transferId);
    }
    await runs.run();
    await waitForStatus(ids, 'issued');
    expect(simulator.deliveries.map((delivery) => [delivery.body.maTinh, delivery.body.records.map((record) => record.MA_HO_SO)])).toEqual([
      ['08', [ids[0], ids[2]]],
      ['01', [ids[1], ids[3]]],
    ]);
  });
});

describe('BHXH acknowledges first and answers later', () => {
  it('202 {accepted}: records become sent and wait, the batch delivered; results posted later issue them', async () => {
    const { simulator, gateway, runs } = await start({ script: [{ kind: 'accept' }] });
    const ids = await push(2);
    await runs.run();
    await waitForStatus(ids, 'sent');
    expect(simulator.deliveries.map((delivery) => delivery.answeredWith)).toEqual([202]);
    const batchId = simulator.deliveries[0]?.batchId as string;
    expect(await batchStatuses()).toEqual(['delivered']);
    const view = await detail(ids[0] as string);
    expect(view.history.at(-1)).toMatchObject({ action: 'dispatch.acknowledged', fromStatus: 'sending', toStatus: 'sent', details: { batchId, httpStatus: 202 } });
    expect(view.deliveries[0]?.attempts).toEqual([expect.objectContaining({ outcome: 'answered', httpStatus: 202 })]);

    const records = simulator.deliveries[0]?.body.records ?? [];
    const answered = await gateway.request('bhxh08', {
      method: 'POST', url: `/bhxh/v1/batches/${batchId}/results`, payload: { results: records.map((record) => issueCard(record)) },
    });
    expect(answered.statusCode, answered.body).toBe(200);
    expect(answered.json()).toMatchObject({ accepted: 2, rejected: [] });
    await waitForStatus(ids, 'issued');
    expect(await batchStatuses()).toEqual(['closed']);
  });

  it('a 200 that leaves records out: those stay sent, waiting for their results; the batch stays delivered', async () => {
    const { simulator, gateway, runs } = await start();
    const ids = await push(2);
    const [answeredNow, answeredLater] = ids as [string, string];
    simulator.setScript({ kind: 'answer', result: (record) => (record.MA_HO_SO === answeredLater ? null : issueCard(record)) });
    await runs.run();
    await waitForStatus([answeredNow], 'issued');
    expect(await statuses([answeredLater])).toEqual(['sent']);
    expect(await batchStatuses()).toEqual(['delivered']);
    expect((await detail(answeredLater)).history.map((event) => event.toStatus)).toEqual(['queued', 'sending', 'sent']);

    const batchId = simulator.deliveries[0]?.batchId as string;
    const late = simulator.deliveries[0]?.body.records.find((record) => record.MA_HO_SO === answeredLater) as Record<string, unknown>;
    const answered = await gateway.request('bhxh08', { method: 'POST', url: `/bhxh/v1/batches/${batchId}/results`, payload: { results: [issueCard(late)] } });
    expect(answered.statusCode, answered.body).toBe(200);
    await waitForStatus([answeredLater], 'issued');
    expect(await batchStatuses()).toEqual(['closed']);
  });
});

describe('a pause holds batches already claimed', () => {
  it('a claimed batch of a paused province waits without spending an attempt; resumed, it goes within a tick', async () => {
    const { simulator, gateway, runs } = await start({ script: [{ kind: 'status', status: 503, headers: { 'retry-after': '1' } }, { kind: 'answer' }] });
    const dispatcher = gateway.app.dispatcher;
    const deliverCalls = vi.spyOn(dispatcher, 'deliver');
    const ids = await push(2);
    await runs.run();
    await simulator.waitFor((sim) => sim.deliveries.length === 1);
    // BHXH asked for a second before the next attempt: the province is paused meanwhile.
    const paused = await gateway.request('operator', { method: 'POST', url: '/ops/v1/dispatch/pause', payload: { maTinh: '08' } });
    expect(paused.statusCode).toBe(200);
    const callsAtPause = deliverCalls.mock.calls.length;
    // The retry comes, finds the province paused, and waits: twice, so it is seen waiting, not merely late.
    await vi.waitFor(() => expect(deliverCalls.mock.calls.length).toBeGreaterThanOrEqual(callsAtPause + 2), WAIT);
    expect(simulator.deliveries).toHaveLength(1);
    expect(await statuses(ids)).toEqual(['sending', 'sending']);
    const { rows } = await gateway.db.query<{ attempts: number }>('SELECT attempts FROM batches');
    expect(rows).toEqual([{ attempts: 1 }]);

    const resumed = await gateway.request('operator', { method: 'POST', url: '/ops/v1/dispatch/resume', payload: { maTinh: '08' } });
    expect(resumed.statusCode).toBe(200);
    await waitForStatus(ids, 'issued');
    expect(simulator.deliveries.map((delivery) => delivery.answeredWith)).toEqual([503, 200]);
    expect((await detail(ids[0] as string)).deliveries[0]?.attempts).toHaveLength(2);
  });
});
