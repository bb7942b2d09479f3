import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sha256OfKey } from '../src/auth/clients.js';
import { BhxhSimulator } from '../src/dev/bhxh-simulator.js';
import { QUEUES } from '../src/dispatch/dispatcher.js';
import { khaiSinh } from './support/fixtures.js';
import { startTestGateway, TEST_DATABASE_URL, TEST_REDIS_URL, type TestGateway } from './support/gateway.js';

/**
 * Real gateway processes (`node --import tsx src/main.ts`) on one PostgreSQL schema and one BullMQ
 * prefix, killed and run side by side. An in-process gateway without a dispatcher owns the schema
 * and the queue keys (its close() drops both) and is the test's window on the database.
 */

const REGISTRY_KEY = 'proc-registry-key-0123456789abcdef';
const OPERATOR_KEY = 'proc-operator-key-0123456789abcdef';
const CALLBACK_SECRET = 'proc-callback-secret-0123456789';

interface GatewayProcess {
  child: ChildProcessWithoutNullStreams;
  url: string;
  output: string[];
}

const processes: ChildProcessWithoutNullStreams[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const child of processes.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  }
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A schema, a queue prefix, a clients file and a BHXH simulator of this test's own. */
async function setUp(callbackUrl?: string): Promise<{ observer: TestGateway; simulator: BhxhSimulator; env: Record<string, string> }> {
  const observer = await startTestGateway();
  cleanups.push(() => observer.close());
  const simulator = new BhxhSimulator();
  await simulator.start();
  cleanups.push(() => simulator.close());
  const dir = mkdtempSync(join(tmpdir(), 'lienthong-procs-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const clientsFile = join(dir, 'clients.json');
  writeFileSync(clientsFile, JSON.stringify([
    {
      id: 'hotich-08-proc', keySha256: sha256OfKey(REGISTRY_KEY), roles: ['registry'], units: ['08'],
      // The receiver below compares the whole header with the earlier form, as the one option keeps it.
      ...(callbackUrl ? { callbackUrl, callbackSecret: CALLBACK_SECRET, callbackSignature: 'sha256' } : {}),
    },
    { id: 'ops-proc', keySha256: sha256OfKey(OPERATOR_KEY), roles: ['operator'], units: ['*'] },
  ]));
  const env = {
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: observer.schema,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: observer.config.queuePrefix,
    BHXH_PUSH_URL: simulator.url,
    CLIENTS_FILE: clientsFile,
    DATA_DIR: dir,
    PORT: '0',
    DISPATCH_INTERVAL_MS: '3600000',
    DELIVERY_LOCK_MS: '1000',
    DELIVERY_CONCURRENCY: '8',
    RETRY_BASE_DELAY_MS: '50',
    MAINTENANCE_INTERVAL_MS: '200',
    LOG_LEVEL: 'info',
  };
  return { observer, simulator, env };
}

/** Starts `src/main.ts` as its own OS process and resolves once it listens. */
async function startProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(DATABASE_|REDIS_URL|QUEUE_PREFIX|BHXH_|CLIENTS_FILE|PORT$|DISPATCH_|DELIVERY_|RETRY_)/.test(name)),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...inherited, ...env }, stdio: 'pipe' });
  processes.push(child);
  const output: string[] = [];
  child.stderr.on('data', (chunk) => output.push(String(chunk)));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      output.push(line);
      const address = /Server listening at (http:\/\/[0-9.]+:\d+)/.exec(line)?.[1];
      if (address) resolve(address);
    });
    child.once('exit', (code, signal) => reject(new Error(`gateway exited (${code ?? signal}) before listening:\n${output.join('\n')}`)));
  });
  return { child, url, output };
}

async function call(gateway: GatewayProcess, key: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

async function pushBirths(gateway: GatewayProcess, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await call(gateway, REGISTRY_KEY, 'POST', '/ngsp/v1/khai-sinh', khaiSinh());
    expect(response.status).toBe(202);
    expect(response.json.status).toBe('queued');
    ids.push(response.json.transferId);
  }
  return ids;
}

async function countByStatus(observer: TestGateway, status: string): Promise<number> {
  const { rows } = await observer.db.query<{ count: string }>('SELECT count(*) AS count FROM transfers WHERE status = $1', [status]);
  return Number(rows[0]?.count);
}

/** Per transfer, how many audit events moved it into each status. */
async function eventsPerTransfer(observer: TestGateway): Promise<Map<string, Record<string, number>>> {
  const { rows } = await observer.db.query<{ transfer_id: string; to_status: string; count: string }>(
    `SELECT transfer_id, to_status, count(*) AS count FROM audit_events
      WHERE transfer_id IS NOT NULL AND to_status IS NOT NULL GROUP BY transfer_id, to_status`,
  );
  const counts = new Map<string, Record<string, number>>();
  for (const row of rows) counts.set(row.transfer_id, { ...counts.get(row.transfer_id), [row.to_status]: Number(row.count) });
  return counts;
}

/** The distinct batches BHXH received, with the records of each (as first received). */
function batchesReceived(simulator: BhxhSimulator): Map<string, string[]> {
  const batches = new Map<string, string[]>();
  for (const delivery of simulator.deliveries) {
    if (!batches.has(delivery.batchId)) batches.set(delivery.batchId, delivery.body.records.map((record) => String(record.MA_HO_SO)));
  }
  return batches;
}

/**
 * Fails for good the run jobs a killed process held: otherwise the run is taken over and run again,
 * resuming what it left, and the test could not tell whether the maintenance tick does it.
 */
async function dropHeldRuns(prefix: string): Promise<number> {
  const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const runs = new Queue(QUEUES.runs, { connection, prefix });
  try {
    const held = await runs.getActive();
    for (const job of held) {
      const token = await connection.get(`${runs.toKey(String(job.id))}:lock`);
      await job.moveToFailed(new Error('dropped by the test'), token ?? '', false);
    }
    return held.length;
  } finally {
    await runs.close();
    connection.disconnect();
  }
}

/** A registry's callback endpoint: answers each call as `next()` says, 'hang' holding it open. */
async function startReceiver(next: () => number | 'hang') {
  const received: Array<{ answered: number | 'hang'; key: string; signed: boolean }> = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const body = JSON.parse(raw) as { transferId: string; status: string };
      const signed = request.headers['x-signature'] === `sha256=${createHmac('sha256', CALLBACK_SECRET).update(raw).digest('hex')}`;
      const answered = next();
      received.push({ answered, key: `${body.transferId}/${body.status}`, signed });
      if (answered !== 'hang') response.writeHead(answered).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callbacks`, received };
}

describe('gateway processes', () => {
  it('resends the same batch after a SIGKILL mid-delivery: nothing lost, nothing doubled', async () => {
    const { observer, simulator, env } = await setUp();
    simulator.setScript({ kind: 'hang' });
    const first = await startProcess({ ...env, DISPATCH_BATCH_SIZE: '3' });
    const ids = await pushBirths(first, 7);

    expect((await call(first, OPERATOR_KEY, 'POST', '/ops/v1/dispatch/run')).status).toBe(202);
    // Every record is on its way to BHXH, in batches BHXH holds without answering.
    await simulator.waitFor((sim) => sim.recordsReceived().length === ids.length);
    const inFlight = batchesReceived(simulator);
    expect([...inFlight.values()].flat().sort()).toEqual([...ids].sort());
    expect(simulator.deliveries.every((delivery) => delivery.answeredWith === 'hang')).toBe(true);
    // Not acknowledged: BHXH may hold them, but has not said so.
    for (const id of ids) expect(await observer.db.query('SELECT status FROM transfers WHERE id = $1', [id]).then((r) => r.rows[0])).toEqual({ status: 'sending' });

    const killed = once(first.child, 'exit');
    first.child.kill('SIGKILL');
    expect((await killed)[1]).toBe('SIGKILL');
    const sentBeforeKill = simulator.deliveries.length;
    simulator.setScript({ kind: 'answer' });

    // A new process on the same schema and queue takes over once the dead one's delivery locks lapse.
    const second = await startProcess({ ...env, DISPATCH_BATCH_SIZE: '3' });
    await vi.waitFor(async () => expect(await countByStatus(observer, 'issued')).toBe(ids.length), { timeout: 30_000, interval: 100 });

    const resent = simulator.deliveries.slice(sentBeforeKill);
    expect(new Set(resent.map((delivery) => delivery.batchId))).toEqual(new Set(inFlight.keys()));
    for (const delivery of resent) {
      expect(delivery.idempotencyKey).toBe(delivery.batchId);
      // The very same batch: the same records in the same order.
      expect(delivery.body.records.map((record) => String(record.MA_HO_SO))).toEqual(inFlight.get(delivery.batchId));
    }
    // Every record received in exactly one batch, and no new batch was made for it.
    expect(simulator.recordsReceived().sort()).toEqual([...ids].sort());
    const batches = await observer.db.query<{ id: string; status: string }>('SELECT id, status FROM batches ORDER BY id');
    expect(batches.rows.map((row) => row.id).sort()).toEqual([...inFlight.keys()].sort());
    expect(batches.rows.every((row) => row.status === 'closed')).toBe(true);
    // The answer was taken by the restarted process.
    const answered = await observer.db.query<{ worker: string }>("SELECT worker FROM delivery_attempts WHERE outcome = 'answered'");
    expect(answered.rows).toHaveLength(inFlight.size);
    for (const row of answered.rows) expect(row.worker).toMatch(new RegExp(`:${second.child.pid}$`));

    const events = await eventsPerTransfer(observer);
    for (const id of ids) expect(events.get(id)).toEqual({ queued: 1, sending: 1, sent: 1, issued: 1 });
    const verify = await call(second, OPERATOR_KEY, 'GET', '/audit/v1/verify');
    expect(verify.status).toBe(200);
    expect(verify.json).toMatchObject({ ok: true });
  }, 90_000);

  it('a restarted process takes back the deliveries its killed predecessor held, before their locks lapse', async () => {
    const { observer, simulator, env } = await setUp();
    // The restarted process takes a job once its lock has gone unrenewed down to a quarter (here 15 s
    // after the dead process last set it), 5 s before BullMQ's stalled check could: the log says which did it.
    const longLocks = { ...env, DISPATCH_BATCH_SIZE: '2', DELIVERY_LOCK_MS: '20000' };
    simulator.setScript({ kind: 'hang' });
    const first = await startProcess(longLocks);
    const ids = await pushBirths(first, 4);
    expect((await call(first, OPERATOR_KEY, 'POST', '/ops/v1/dispatch/run')).status).toBe(202);
    await simulator.waitFor((sim) => sim.recordsReceived().length === ids.length);
    const inFlight = batchesReceived(simulator);

    const killed = once(first.child, 'exit');
    first.child.kill('SIGKILL');
    await killed;
    const sentBeforeKill = simulator.deliveries.length;
    simulator.setScript({ kind: 'answer' });

    const second = await startProcess(longLocks);
    await vi.waitFor(async () => expect(await countByStatus(observer, 'issued')).toBe(ids.length), { timeout: 60_000, interval: 100 });
    expect(second.output.join('\n')).toMatch(/took back the jobs of a process of this host that is gone/);
    // The same batches again, each once more, answered to the restarted process.
    expect(simulator.deliveries.slice(sentBeforeKill).map((delivery) => delivery.batchId).sort()).toEqual([...inFlight.keys()].sort());
    const answered = await observer.db.query<{ worker: string }>("SELECT worker FROM delivery_attempts WHERE outcome = 'answered'");
    expect(answered.rows).toHaveLength(inFlight.size);
    for (const row of answered.rows) expect(row.worker).toMatch(new RegExp(`:${second.child.pid}$`));
  }, 120_000);

  it('two processes asked to run at the same moment never send a record twice', async () => {
    const { observer, simulator, env } = await setUp();
    const [a, b] = await Promise.all([
      startProcess({ ...env, DISPATCH_BATCH_SIZE: '10' }),
      startProcess({ ...env, DISPATCH_BATCH_SIZE: '10' }),
    ]);
    // 200 births, half through each process, ten at a time.
    const ids: string[] = [];
    for (let round = 0; round < 10; round++) {
      const pushed = await Promise.all([a, b].flatMap((gateway) => Array.from({ length: 5 }, () => pushBirths(gateway, 2))));
      ids.push(...pushed.flat());
    }
    expect(new Set(ids).size).toBe(200);

    const runs = await Promise.all([a, b].map((gateway) => call(gateway, OPERATOR_KEY, 'POST', '/ops/v1/dispatch/run')));
    expect(runs.map((run) => run.status)).toEqual([202, 202]);
    await vi.waitFor(async () => expect(await countByStatus(observer, 'issued')).toBe(200), { timeout: 60_000, interval: 100 });

    // No record in two batches, every record in one; batches of at most ten that add up to 200.
    const received = simulator.recordsReceived();
    expect(received).toHaveLength(200);
    expect(received.sort()).toEqual([...ids].sort());
    const batches = batchesReceived(simulator);
    const sizes = [...batches.values()].map((records) => records.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(200);
    for (const delivery of simulator.deliveries) expect(delivery.idempotencyKey).toBe(delivery.batchId);

    const members = await observer.db.query<{ members: string; transfers: string; batches: string }>(
      'SELECT count(*) AS members, count(DISTINCT transfer_id) AS transfers, count(DISTINCT batch_id) AS batches FROM batch_members',
    );
    expect(members.rows[0]).toEqual({ members: '200', transfers: '200', batches: String(batches.size) });
    const events = await eventsPerTransfer(observer);
    for (const id of ids) expect(events.get(id)).toEqual({ queued: 1, sending: 1, sent: 1, issued: 1 });
    for (const gateway of [a, b]) {
      const verify = await call(gateway, OPERATOR_KEY, 'GET', '/audit/v1/verify');
      expect(verify.json).toMatchObject({ ok: true, events: 800 });
    }
  }, 120_000);

  it('a process killed between committing a claim and queueing its deliveries: the next maintenance tick sends the batches', async () => {
    const { observer, simulator, env } = await setUp();
    const crashing = await startProcess({ ...env, DISPATCH_BATCH_SIZE: '2', LIENTHONG_CRASH_AT: 'after-claim' });
    const ids = await pushBirths(crashing, 3);
    const killed = once(crashing.child, 'exit');
    // The run claims, commits, and dies before a delivery job exists.
    await call(crashing, OPERATOR_KEY, 'POST', '/ops/v1/dispatch/run');
    expect((await killed)[1]).toBe('SIGKILL');
    expect(await countByStatus(observer, 'sending')).toBe(3);
    expect(simulator.deliveries).toEqual([]);
    const open = await observer.db.query<{ id: string }>("SELECT id FROM batches WHERE status = 'open' AND mode = 'push' ORDER BY id");
    expect(open.rows).toHaveLength(2);
    expect(await dropHeldRuns(observer.config.queuePrefix)).toBe(1);

    // No run comes for an hour: only the tick (every 200 ms) can find the batches.
    const second = await startProcess(env);
    await vi.waitFor(async () => expect(await countByStatus(observer, 'issued')).toBe(3), { timeout: 30_000, interval: 100 });
    expect(second.output.join('\n')).not.toMatch(/"msg":"dispatch run"/);
    expect(new Set(simulator.deliveries.map((delivery) => delivery.batchId))).toEqual(new Set(open.rows.map((row) => row.id)));
    expect(simulator.recordsReceived().sort()).toEqual([...ids].sort());
  }, 90_000);

  it('a process killed between recording a bulk replay and queueing it: the next maintenance tick runs the replay', async () => {
    const { observer, simulator, env } = await setUp();
    simulator.setScript({ kind: 'status', status: 400 });
    const crashing = await startProcess({ ...env, LIENTHONG_CRASH_AT: 'after-replay-insert' });
    const ids = await pushBirths(crashing, 2);
    expect((await call(crashing, OPERATOR_KEY, 'POST', '/ops/v1/dispatch/run')).status).toBe(202);
    await vi.waitFor(async () => expect(await countByStatus(observer, 'failed')).toBe(2), { timeout: 30_000, interval: 100 });

    const killed = once(crashing.child, 'exit');
    await call(crashing, OPERATOR_KEY, 'POST', '/ops/v1/replay', { reason: 'BHXH fixed their schema' }).catch(() => undefined);
    expect((await killed)[1]).toBe('SIGKILL');
    const running = await observer.db.query<{ id: string; status: string }>('SELECT id, status FROM replay_jobs');
    expect(running.rows).toEqual([{ id: expect.any(String), status: 'running' }]);

    const second = await startProcess(env);
    await vi.waitFor(async () => {
      const { rows } = await observer.db.query<{ status: string; replayed: number }>('SELECT status, replayed FROM replay_jobs');
      expect(rows, second.output.join('\n')).toEqual([{ status: 'done', replayed: 2 }]);
    }, { timeout: 30_000, interval: 100 });
    for (const id of ids) {
      const { rows } = await observer.db.query<{ status: string }>('SELECT status FROM transfers WHERE id = $1', [id]);
      expect(rows[0]).toEqual({ status: 'queued' });
    }
  }, 90_000);

  it('does not send again, after a SIGKILL, callbacks the receiver had already acknowledged', async () => {
    let mode: 'refuse' | 'two then hang' | 'accept' = 'refuse';
    let acknowledged = 0;
    const receiver = await startReceiver(() => {
      if (mode === 'refuse') return 500;
      if (mode === 'accept') return 200;
      if (acknowledged < 2) {
        acknowledged += 1;
        return 200;
      }
      return 'hang';
    });
    const { env } = await setUp(receiver.url);
    // No push to BHXH here: the scheduler's first run, late on a loaded machine, would otherwise send
    // the births and add their sent/issued changes to the callbacks this test counts.
    const callbackEnv = { ...env, BHXH_PUSH_URL: '', MAINTENANCE_INTERVAL_MS: '100', RETRY_BASE_DELAY_MS: '50', CALLBACK_TIMEOUT_MS: '10000' };
    const first = await startProcess(callbackEnv);
    // Three changes wait while the receiver refuses; then it takes two and holds the third.
    const ids = await pushBirths(first, 3);
    await vi.waitFor(() => expect(receiver.received.length).toBeGreaterThan(0), { timeout: 10_000, interval: 50 });
    mode = 'two then hang';
    await vi.waitFor(() => expect(receiver.received.filter((entry) => entry.answered === 'hang')).toHaveLength(1), { timeout: 10_000, interval: 50 });
    const acked = receiver.received.filter((entry) => entry.answered === 200).map((entry) => entry.key);
    expect(acked).toEqual(ids.slice(0, 2).map((id) => `${id}/queued`));

    const killed = once(first.child, 'exit');
    first.child.kill('SIGKILL');
    await killed;
    mode = 'accept';
    const second = await startProcess(callbackEnv);
    // A later change, announced after everything before it: once it is in, nothing else is coming.
    const [later] = await pushBirths(second, 1);
    await vi.waitFor(
      () => expect(receiver.received.filter((entry) => entry.answered === 200).map((entry) => entry.key)).toContain(`${later}/queued`),
      { timeout: 90_000, interval: 100 },
    );
    const delivered = receiver.received.filter((entry) => entry.answered === 200).map((entry) => entry.key);
    expect(delivered).toEqual([...ids, later].map((id) => `${id}/queued`));
    expect(receiver.received.every((entry) => entry.signed)).toBe(true);
  }, 120_000);
});
