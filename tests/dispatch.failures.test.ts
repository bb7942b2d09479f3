import { afterEach, describe, expect, it, vi } from 'vitest';
import { issueCard, type Behaviour, type Delivery } from '../src/dev/bhxh-simulator.js';
import { khaiSinh, khaiSinhHaNoi } from './support/fixtures.js';
import { startDispatchHarness, type DispatchHarness } from './support/dispatch-harness.js';
import type { ClientName } from './support/gateway.js';

/**
 * Delivery failures (docs/API.md, "Push" and "Operators"): transient failures retried with backoff,
 * a breaker in front of a BHXH that hangs, permanent refusals and exhausted attempts ending `failed`,
 * operator replays (one, bulk) and pauses. Every test gets its own simulator and gateway, so breaker
 * and queues start clean.
 */

let h: DispatchHarness | undefined;

const WAIT = { timeout: 15_000, interval: 50 };

async function start(env: Record<string, string> = {}, ...script: Behaviour[]): Promise<DispatchHarness> {
  h = await startDispatchHarness({ env: { BHXH_TIMEOUT_MS: '300', BREAKER_RESET_MS: '500', DISPATCH_BATCH_SIZE: '10', ...env }, script });
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


async function push(count: number, province: '08' | '01' = '08'): Promise<string[]> {
  const client: ClientName = province === '08' ? 'registry08' : 'registry01';
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await harness().gateway.request(client, {
      method: 'POST', url: '/ngsp/v1/khai-sinh', payload: province === '08' ? khaiSinh() : khaiSinhHaNoi(),
    });
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json().status).toBe('queued');
    ids.push(response.json().transferId);
  }
  return ids;
}

interface Attempt { attempt: number; at: string; outcome: string; httpStatus: number | null; error: string | null }
interface DeliveryView { batchId: string; mode: string; batchStatus: string; outcome: string | null; attempts: Attempt[] }
interface HistoryEvent { actor: string; action: string; fromStatus: string | null; toStatus: string | null; details?: Record<string, unknown> }
interface TransferView { transferId: string; status: string; maTinh: string; deliveries: DeliveryView[]; history: HistoryEvent[]; errors: unknown[] }

async function detail(id: string): Promise<TransferView> {
  const response = await harness().gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${id}` });
  expect(response.statusCode).toBe(200);
  return response.json();
}

async function statuses(ids: string[]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => (await detail(id)).status));
}

async function waitForStatus(ids: string[], status: string): Promise<void> {
  await vi.waitFor(async () => expect(await statuses(ids)).toEqual(ids.map(() => status)), WAIT);
}

/** POST /ops/v1/dispatch/run, then waits for that run (not its deliveries) to have finished. */
async function runDispatch(): Promise<void> {
  await harness().runs.run();
}

async function dispatchView(as: ClientName = 'operator'): Promise<{ breaker: { state: string }; paused: string[]; counts: Record<string, number> }> {
  const response = await harness().gateway.request(as, { method: 'GET', url: '/ops/v1/dispatch' });
  expect(response.statusCode).toBe(200);
  return response.json();
}

async function metricsText(): Promise<string> {
  return (await harness().gateway.request(null, { method: 'GET', url: '/metrics' })).body;
}

const deliveriesOf = (batchId: string): Delivery[] => harness().simulator.deliveries.filter((d) => d.batchId === batchId);
const eventsTo = (view: TransferView, status: string) => view.history.filter((event) => event.toStatus === status);

describe('transient failures are retried with backoff', () => {
  it('BHXH answers 500, then recovers: the batch is resent with the same key and its results applied once', async () => {
    const { simulator } = await start({}, { kind: 'status', status: 500, body: '{"error":"internal"}' }, { kind: 'answer' });
    const ids = await push(3);
    await runDispatch();
    await waitForStatus(ids, 'issued');

    // One batch, sent twice under the same batchId and Idempotency-Key.
    expect(simulator.deliveries).toHaveLength(2);
    const [first, second] = simulator.deliveries as [Delivery, Delivery];
    expect(second.batchId).toBe(first.batchId);
    expect(first.idempotencyKey).toBe(first.batchId);
    expect(second.idempotencyKey).toBe(first.batchId);
    expect(first.answeredWith).toBe(500);
    expect(second.answeredWith).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(simulator.recordsReceived().sort()).toEqual([...ids].sort());

    for (const id of ids) {
      const view = await detail(id);
      expect(view.status).toBe('issued');
      expect(eventsTo(view, 'issued')).toHaveLength(1);
      expect(view.history.map((event) => event.toStatus)).toEqual(['queued', 'sending', 'sent', 'issued']);
      expect(view.deliveries).toHaveLength(1);
      expect(view.deliveries[0]).toMatchObject({ batchId: first.batchId, mode: 'push', batchStatus: 'closed', outcome: 'issued' });
      expect(view.deliveries[0]?.attempts).toEqual([
        expect.objectContaining({ attempt: 1, outcome: 'transient', httpStatus: 500 }),
        expect.objectContaining({ attempt: 2, outcome: 'answered', httpStatus: 200 }),
      ]);
      expect(view.deliveries[0]?.attempts[0]?.error).toMatch(/500/);
    }
    const metrics = await metricsText();
    expect(metrics).toMatch(/lienthong_delivery_attempts_total\{outcome="transient"\} 1\b/);
    expect(metrics).toMatch(/lienthong_delivery_attempts_total\{outcome="answered"\} 1\b/);
    expect(metrics).toMatch(/lienthong_bhxh_results_total\{outcome="issued"\} 3\b/);
  });

  it('429 with Retry-After: the next attempt comes no sooner than BHXH asked', async () => {
    const { simulator } = await start({}, { kind: 'status', status: 429, headers: { 'retry-after': '1' } }, { kind: 'answer' });
    const [id] = (await push(1)) as [string];
    await runDispatch();
    await waitForStatus([id], 'issued');

    expect(simulator.deliveries.map((delivery) => delivery.answeredWith)).toEqual([429, 200]);
    const attempts = (await detail(id)).deliveries[0]?.attempts ?? [];
    expect(attempts).toEqual([
      expect.objectContaining({ attempt: 1, outcome: 'transient', httpStatus: 429 }),
      expect.objectContaining({ attempt: 2, outcome: 'answered', httpStatus: 200 }),
    ]);
    // RETRY_BASE_DELAY_MS is 20 ms: only Retry-After can explain a second apart.
    const gap = Date.parse(attempts[1]?.at as string) - Date.parse(attempts[0]?.at as string);
    expect(gap).toBeGreaterThanOrEqual(900);
  });
});

describe('circuit breaker', () => {
  it('BHXH hangs: attempts time out, the breaker opens and records wait; half-open, then closed once BHXH answers', async () => {
    const resetMs = 1000;
    const { simulator, gateway } = await start(
      { BREAKER_VOLUME_THRESHOLD: '2', BREAKER_RESET_MS: String(resetMs), DISPATCH_BATCH_SIZE: '2', DISPATCH_MAX_ATTEMPTS: '20' },
      { kind: 'hang' },
    );
    const dispatcher = gateway.app.dispatcher;
    const breaker = dispatcher.breaker;
    if (!breaker) throw new Error('the gateway has no breaker although BHXH_PUSH_URL is set');

    // When each delivery reached BHXH, and what the breaker did when: observed, not slept for.
    const arrivals: number[] = [];
    const deliveries = simulator.deliveries;
    const originalPush = deliveries.push.bind(deliveries);
    deliveries.push = (...items: Delivery[]) => {
      for (const _ of items) arrivals.push(Date.now());
      return originalPush(...items);
    };
    const deliverCalls = vi.spyOn(dispatcher, 'deliver');
    const transitions: Array<{ state: string; at: number; delivered: number; deliverCalls: number }> = [];
    const record = (state: string) => () =>
      transitions.push({ state, at: Date.now(), delivered: arrivals.length, deliverCalls: deliverCalls.mock.calls.length });
    breaker.on('open', record('open'));
    breaker.on('halfOpen', record('halfOpen'));
    breaker.on('close', record('close'));

    const ids = await push(4);
    await runDispatch();

    // Two batches of two, each timing out; the breaker opens, visibly.
    await vi.waitFor(async () => {
      expect((await dispatchView()).breaker.state).toBe('open');
      expect(await metricsText()).toMatch(/^lienthong_bhxh_breaker_state 2$/m);
    }, WAIT);
    expect(simulator.deliveries.length).toBeGreaterThanOrEqual(1);
    expect(simulator.deliveries.every((delivery) => delivery.answeredWith === 'hang')).toBe(true);

    // While open, nothing is lost and nothing failed: every record still `sending` (BHXH may hold
    // it: each batch was tried), in its open batch, to be resent as it is.
    expect(await statuses(ids)).toEqual(ids.map(() => 'sending'));
    for (const id of ids) {
      const view = await detail(id);
      expect(view.deliveries).toHaveLength(1);
      expect(view.deliveries[0]).toMatchObject({ batchStatus: 'open', outcome: null });
      expect(view.deliveries[0]?.attempts.every((attempt) => attempt.outcome === 'transient' && /no answer within 300 ms/.test(attempt.error ?? ''))).toBe(true);
    }
    expect((await dispatchView()).counts).toMatchObject({ sending: 4 });

    // BHXH is still hanging: the breaker half-opens after BREAKER_RESET_MS, lets one trial through,
    // which times out, and opens again.
    await vi.waitFor(() => expect(transitions.map((t) => t.state).slice(0, 3)).toEqual(['open', 'halfOpen', 'open']), WAIT);
    const [opened, halfOpened, reopened] = transitions as [typeof transitions[number], typeof transitions[number], typeof transitions[number]];
    expect(halfOpened.at - opened.at).toBeGreaterThanOrEqual(resetMs - 20);
    // No new delivery reached BHXH while open (a request already on its way when the breaker
    // opened may land a few ms later), and the jobs did not spin: at most one look per batch.
    const whileOpen = arrivals.filter((at) => at > opened.at + 100 && at <= halfOpened.at);
    expect(whileOpen).toEqual([]);
    expect(halfOpened.deliverCalls - opened.deliverCalls).toBeLessThanOrEqual(4);
    // Half-open: exactly one trial delivery.
    expect(reopened.delivered - halfOpened.delivered).toBe(1);
    expect(await statuses(ids)).toEqual(ids.map(() => 'sending'));

    // BHXH recovers: the next trial succeeds, the breaker closes, and everything is delivered.
    simulator.setScript({ kind: 'answer' });
    await waitForStatus(ids, 'issued');
    expect(transitions.map((t) => t.state).slice(-2)).toEqual(['halfOpen', 'close']);
    expect((await dispatchView()).breaker.state).toBe('closed');
    expect(await metricsText()).toMatch(/^lienthong_bhxh_breaker_state 0$/m);

    // Each record reached BHXH in one batch only (resent, never re-batched), and was answered once.
    const batchIds = [...new Set(simulator.deliveries.map((delivery) => delivery.batchId))];
    expect(batchIds).toHaveLength(2);
    expect(simulator.recordsReceived().sort()).toEqual([...ids].sort());
    for (const batchId of batchIds) {
      const sent = deliveriesOf(batchId);
      expect(sent.every((delivery) => delivery.idempotencyKey === batchId)).toBe(true);
      expect(sent.at(-1)?.answeredWith).toBe(200);
      expect(sent.filter((delivery) => delivery.answeredWith === 200)).toHaveLength(1);
    }
    for (const id of ids) {
      const view = await detail(id);
      expect(eventsTo(view, 'issued')).toHaveLength(1);
      expect(eventsTo(view, 'failed')).toHaveLength(0);
      expect(view.deliveries).toHaveLength(1);
      const attempts = view.deliveries[0]?.attempts ?? [];
      expect(attempts.map((attempt) => attempt.attempt)).toEqual(attempts.map((_, index) => index + 1));
      expect(attempts.at(-1)).toMatchObject({ outcome: 'answered', httpStatus: 200 });
      expect(attempts.slice(0, -1).every((attempt) => attempt.outcome === 'transient')).toBe(true);
      // What the database counts matches what BHXH saw.
      expect(attempts).toHaveLength(deliveriesOf(view.deliveries[0]?.batchId as string).length);
    }
  });
});

describe('deliveries that end failed', () => {
  it('a permanent 400 fails the records with the reason; a replay needs a reason and sends them in a new batch', async () => {
    const { simulator, gateway } = await start({}, { kind: 'status', status: 400, body: '{"error":"LOAI khong hop le"}' });
    const ids = await push(2);
    const [id] = ids as [string];
    await runDispatch();
    await waitForStatus(ids, 'failed');

    expect(simulator.deliveries).toHaveLength(1);
    const failedBatch = simulator.deliveries[0]?.batchId as string;
    const failed = await detail(id);
    expect(failed.status).toBe('failed');
    const failure = failed.history.find((event) => event.action === 'dispatch.failed');
    expect(failure).toMatchObject({ actor: 'dispatcher', fromStatus: 'sending', toStatus: 'failed', details: { batchId: failedBatch } });
    expect(String(failure?.details?.reason)).toMatch(/400/);
    expect(failed.deliveries).toEqual([
      expect.objectContaining({ batchId: failedBatch, batchStatus: 'failed', outcome: 'failed', attempts: [expect.objectContaining({ attempt: 1, outcome: 'permanent', httpStatus: 400 })] }),
    ]);
    // A refusal of one batch says nothing about BHXH being down.
    expect((await dispatchView()).breaker.state).toBe('closed');
    expect(await metricsText()).toMatch(/lienthong_delivery_attempts_total\{outcome="permanent"\} 1\b/);

    // A replay needs a reason, an operator, and a failed or returned transfer.
    const replay = (body: unknown, as: ClientName = 'operator', target = id) =>
      gateway.request(as, { method: 'POST', url: `/ops/v1/transfers/${target}/replay`, payload: body as Record<string, unknown> });
    const noReason = await replay({});
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json().error.code).toBe('VALIDATION_FAILED');
    expect((await replay({ reason: 'BHXH fixed their schema' }, 'registry08')).statusCode).toBe(403);
    expect((await replay({ reason: 'no such transfer' }, 'operator', 'does-not-exist')).statusCode).toBe(404);
    expect((await detail(id)).status).toBe('failed');

    const replayed = await replay({ reason: 'BHXH fixed their schema' });
    expect(replayed.statusCode, replayed.body).toBe(200);
    expect(replayed.json().status).toBe('queued');
    const again = await replay({ reason: 'twice' });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('INVALID_STATE');

    const afterReplay = await detail(id);
    expect(afterReplay.history.at(-1)).toMatchObject({
      action: 'transfer.replayed', actor: 'ops-all', fromStatus: 'failed', toStatus: 'queued', details: { reason: 'BHXH fixed their schema' },
    });
    const audit = await gateway.request('auditor', { method: 'GET', url: `/audit/v1/events?transferId=${id}` });
    expect(audit.statusCode).toBe(200);
    const auditEvents = audit.json().events as HistoryEvent[];
    expect(auditEvents.at(-1)).toMatchObject({ action: 'transfer.replayed', actor: 'ops-all', fromStatus: 'failed', toStatus: 'queued' });

    // Delivered in a new batch; the failed batch is never sent again, and both stay in the history.
    simulator.setScript({ kind: 'answer' });
    await runDispatch();
    await waitForStatus([id], 'issued');
    expect((await detail(ids[1] as string)).status).toBe('failed');
    expect(deliveriesOf(failedBatch)).toHaveLength(1);
    expect(simulator.deliveries).toHaveLength(2);
    const newBatch = simulator.deliveries[1]?.batchId as string;
    expect(newBatch).not.toBe(failedBatch);
    expect(simulator.deliveries[1]?.body.records.map((record) => record.MA_HO_SO)).toEqual([id]);

    const issued = await detail(id);
    expect(issued.deliveries).toEqual([
      expect.objectContaining({ batchId: failedBatch, batchStatus: 'failed', outcome: 'failed', attempts: [expect.objectContaining({ outcome: 'permanent', httpStatus: 400 })] }),
      expect.objectContaining({ batchId: newBatch, batchStatus: 'closed', outcome: 'issued', attempts: [expect.objectContaining({ attempt: 1, outcome: 'answered', httpStatus: 200 })] }),
    ]);
    expect(issued.history.map((event) => event.toStatus)).toEqual(['queued', 'sending', 'failed', 'queued', 'sending', 'sent', 'issued']);
    expect((await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });

  it('BHXH always 503: failed after exactly DISPATCH_MAX_ATTEMPTS attempts', async () => {
    const { simulator } = await start({ DISPATCH_MAX_ATTEMPTS: '3' }, { kind: 'status', status: 503 });
    const ids = await push(2);
    await runDispatch();
    await waitForStatus(ids, 'failed');

    expect(simulator.deliveries).toHaveLength(3);
    const batchId = simulator.deliveries[0]?.batchId as string;
    expect(simulator.deliveries.every((delivery) => delivery.batchId === batchId && delivery.idempotencyKey === batchId)).toBe(true);
    for (const id of ids) {
      const view = await detail(id);
      expect(view.deliveries).toEqual([expect.objectContaining({ batchId, batchStatus: 'failed', outcome: 'failed' })]);
      expect(view.deliveries[0]?.attempts.map((attempt) => [attempt.attempt, attempt.outcome, attempt.httpStatus])).toEqual([
        [1, 'transient', 503], [2, 'transient', 503], [3, 'transient', 503],
      ]);
      const failure = view.history.find((event) => event.action === 'dispatch.failed');
      expect(String(failure?.details?.reason)).toMatch(/3 attempts/);
      expect(String(failure?.details?.reason)).toMatch(/503/);
    }

    // The failed batch is done with: a later run delivers new records and never resends it.
    simulator.setScript({ kind: 'answer' });
    const [fresh] = (await push(1)) as [string];
    await runDispatch();
    await waitForStatus([fresh], 'issued');
    expect(deliveriesOf(batchId)).toHaveLength(3);
    expect(await statuses(ids)).toEqual(['failed', 'failed']);
  });
});

describe('bulk replay', () => {
  interface ReplayProgress { jobId: string; status: string; matched: number; replayed: number; skipped: number; reason: string; requestedBy: string }

  async function bulk(body: Record<string, unknown>, as: ClientName = 'operator') {
    return harness().gateway.request(as, { method: 'POST', url: '/ops/v1/replay', payload: body });
  }

  async function waitForJob(jobId: string): Promise<ReplayProgress> {
    let progress: ReplayProgress | undefined;
    await vi.waitFor(async () => {
      const response = await harness().gateway.request('operator', { method: 'GET', url: `/ops/v1/replay/${jobId}` });
      expect(response.statusCode).toBe(200);
      progress = response.json();
      expect(progress?.status).toBe('done');
    }, WAIT);
    return progress as ReplayProgress;
  }

  it('failed records in two provinces: dry run previews and changes nothing, a real run requeues them', async () => {
    const { simulator } = await start({}, { kind: 'status', status: 400 });
    const in08 = await push(3, '08');
    const in01 = await push(2, '01');
    const all = [...in08, ...in01];
    await runDispatch();
    await waitForStatus(all, 'failed');
    expect(simulator.deliveries.map((delivery) => delivery.body.maTinh).sort()).toEqual(['01', '08']);

    const missingReason = await bulk({ dryRun: true });
    expect(missingReason.statusCode).toBe(400);
    expect(missingReason.json().error.code).toBe('VALIDATION_FAILED');

    const preview = await bulk({ status: 'failed', reason: 'BHXH fixed their schema', dryRun: true });
    expect(preview.statusCode).toBe(200);
    expect(preview.json().matched).toBe(5);
    expect([...preview.json().sample].sort()).toEqual([...all].sort());
    const preview01 = await bulk({ unit: '01', reason: 'BHXH fixed their schema', dryRun: true });
    expect(preview01.json().matched).toBe(2);
    expect([...preview01.json().sample].sort()).toEqual([...in01].sort());
    // An operator scoped to 01 sees only 01, and may not name another province.
    expect((await bulk({ reason: 'scoped operator', dryRun: true }, 'operator01')).json().matched).toBe(2);
    expect((await bulk({ unit: '08', reason: 'scoped operator', dryRun: true }, 'operator01')).statusCode).toBe(403);
    expect((await bulk({ from: '2999-01-01T00:00:00Z', reason: 'nothing that recent', dryRun: true })).json().matched).toBe(0);
    // A dry run changes nothing.
    expect(await statuses(all)).toEqual(all.map(() => 'failed'));
    for (const id of all) expect((await detail(id)).history.some((event) => event.action === 'transfer.replayed')).toBe(false);

    const started = await bulk({ unit: '08', reason: 'BHXH fixed their schema' });
    expect(started.statusCode, started.body).toBe(202);
    expect(started.json()).toEqual({ jobId: expect.any(String), matched: 3 });
    const progress = await waitForJob(started.json().jobId);
    expect(progress).toMatchObject({ status: 'done', matched: 3, replayed: 3, skipped: 0, reason: 'BHXH fixed their schema', requestedBy: 'ops-all' });
    expect(await statuses(in08)).toEqual(['queued', 'queued', 'queued']);
    expect(await statuses(in01)).toEqual(['failed', 'failed']);
    const replayedEvent = (await detail(in08[0] as string)).history.at(-1);
    expect(replayedEvent).toMatchObject({
      action: 'transfer.replayed', actor: 'ops-all', fromStatus: 'failed', toStatus: 'queued',
      details: { reason: 'BHXH fixed their schema', replayJobId: started.json().jobId },
    });

    const rest = await bulk({ reason: 'the rest' });
    expect(rest.statusCode).toBe(202);
    expect(rest.json().matched).toBe(2);
    expect(await waitForJob(rest.json().jobId)).toMatchObject({ matched: 2, replayed: 2 });
    expect(await statuses(all)).toEqual(all.map(() => 'queued'));

    const unknown = await harness().gateway.request('operator', { method: 'GET', url: '/ops/v1/replay/no-such-job' });
    expect(unknown.statusCode).toBe(404);
  });

  it('returned records filtered by the error code BHXH gave', async () => {
    const { simulator } = await start();
    const ids = await push(4);
    const [dup1, dup2, wrongDate, fine] = ids as [string, string, string, string];
    const codes = new Map([[dup1, 'TRUNG_NHAN_KHAU'], [dup2, 'TRUNG_NHAN_KHAU'], [wrongDate, 'SAI_NGAY_SINH']]);
    simulator.setScript({
      kind: 'answer',
      result: (record) => {
        const code = codes.get(String(record.MA_HO_SO));
        return code ? { MA_HO_SO: record.MA_HO_SO, KET_QUA: 'LOI', LOI: [{ MA_LOI: code, MO_TA: code }] } : issueCard(record);
      },
    });
    await runDispatch();
    await waitForStatus([dup1, dup2, wrongDate], 'returned');
    await waitForStatus([fine], 'issued');

    const all = await bulk({ status: 'returned', reason: 'preview', dryRun: true });
    expect(all.json().matched).toBe(3);
    const preview = await bulk({ status: 'returned', errorCode: 'TRUNG_NHAN_KHAU', reason: 'duplicates cleared at BHXH', dryRun: true });
    expect(preview.json().matched).toBe(2);
    expect([...preview.json().sample].sort()).toEqual([dup1, dup2].sort());
    // Nothing `failed` here: the default status filter finds nothing.
    expect((await bulk({ errorCode: 'TRUNG_NHAN_KHAU', reason: 'preview', dryRun: true })).json().matched).toBe(0);
    expect(await statuses(ids)).toEqual(['returned', 'returned', 'returned', 'issued']);

    const started = await bulk({ status: 'returned', errorCode: 'TRUNG_NHAN_KHAU', reason: 'duplicates cleared at BHXH' });
    expect(started.statusCode).toBe(202);
    expect(started.json().matched).toBe(2);
    expect(await waitForJob(started.json().jobId)).toMatchObject({ matched: 2, replayed: 2, skipped: 0 });
    expect(await statuses(ids)).toEqual(['queued', 'queued', 'returned', 'issued']);
    expect((await detail(dup1)).history.at(-1)).toMatchObject({ action: 'transfer.replayed', fromStatus: 'returned', toStatus: 'queued' });
  });
});

describe('pause and resume per province', () => {
  it('a paused province waits queued while others go; resumed, the next run sends it', async () => {
    const { simulator, gateway } = await start();
    const operator = (url: string, body?: Record<string, unknown>, as: ClientName = 'operator') =>
      gateway.request(as, { method: 'POST', url, ...(body ? { payload: body } : {}) });

    const paused = await operator('/ops/v1/dispatch/pause', { maTinh: '08' });
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toEqual({ paused: ['08'] });
    expect((await operator('/ops/v1/dispatch/pause', { maTinh: '08' }, 'operator01')).statusCode).toBe(403);
    expect((await dispatchView()).paused).toEqual(['08']);

    const in08 = await push(2, '08');
    const in01 = await push(1, '01');
    await runDispatch();
    await waitForStatus(in01, 'issued');
    expect(await statuses(in08)).toEqual(['queued', 'queued']);
    expect(simulator.deliveries.map((delivery) => delivery.body.maTinh)).toEqual(['01']);
    expect((await dispatchView()).counts).toMatchObject({ queued: 2, issued: 1 });
    // An operator of province 01 counts its own records and sees no other province's hold.
    const of01 = await dispatchView('operator01');
    expect(of01.counts).toMatchObject({ issued: 1 });
    expect(of01.counts.queued ?? 0).toBe(0);
    expect(of01.paused).toEqual([]);

    const resumed = await operator('/ops/v1/dispatch/resume', { maTinh: '08' });
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json()).toEqual({ paused: [] });
    expect((await dispatchView()).paused).toEqual([]);

    await runDispatch();
    await waitForStatus(in08, 'issued');
    expect(simulator.deliveries.map((delivery) => delivery.body.maTinh)).toEqual(['01', '08']);
    expect(simulator.recordsReceived().sort()).toEqual([...in08, ...in01].sort());
  });
});
