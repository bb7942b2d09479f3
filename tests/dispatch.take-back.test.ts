import { hostname } from 'node:os';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { QUEUES } from '../src/dispatch/dispatcher.js';
import { startTestGateway, TEST_REDIS_URL, uniqueSchema } from './support/gateway.js';

/**
 * A starting process takes back the deliveries of a process of its host that has no worker
 * connection left in Redis, but only those whose lock nobody renews: a process closing gracefully
 * has closed its workers' connections while its delivery still runs, renewing the job's lock.
 */

const LOCK_MS = 8000;
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('taking back the deliveries of a process of this host that looks gone', () => {
  it('takes the job whose lock is not renewed, and leaves the one whose holder still renews it', async () => {
    const schema = uniqueSchema();
    // The schema is migrated before the locks are taken, so that the gateway below starts well within
    // a lock's life even on a loaded machine.
    await (await startTestGateway({ schema, keepSchema: true })).close();
    const prefix = `lt-${schema}`;
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const deliveries = new Queue(QUEUES.deliveries, { connection, prefix });
    cleanups.push(async () => {
      await deliveries.close();
      connection.disconnect();
    });
    const live = 'held-by-a-closing-process';
    const dead = 'held-by-a-dead-process';
    for (const jobId of [live, dead]) await deliveries.add('deliver', { batchId: jobId }, { jobId, removeOnComplete: true });

    // Another process of this host takes both, then its workers' connections go, as in a graceful close or a crash.
    const holderName = `${hostname()}:0:0badcafe`;
    const holder = new Worker(QUEUES.deliveries, null, { connection: { url: TEST_REDIS_URL }, prefix, name: holderName, lockDuration: LOCK_MS });
    expect((await holder.getNextJob('live-token', { block: false }))?.id).toBe(live);
    expect((await holder.getNextJob('dead-token', { block: false }))?.id).toBe(dead);
    await holder.close(true);
    await vi.waitFor(async () => {
      const names = (await deliveries.getWorkers()).map((client) => String(client.rawname ?? ''));
      expect(names.filter((name) => name.endsWith(`:w:${holderName}`))).toEqual([]);
    }, { timeout: 5000, interval: 50 });

    // The closing process is still delivering: its lock manager renews the lock.
    const liveLock = `${deliveries.toKey(live)}:lock`;
    const renewal = setInterval(() => void connection.pexpire(liveLock, LOCK_MS), LOCK_MS / 4);
    cleanups.push(() => clearInterval(renewal));

    // The dead process's last renewal: its lock's life starts now, with the gateway's.
    await connection.pexpire(`${deliveries.toKey(dead)}:lock`, LOCK_MS);
    const gateway = await startTestGateway({ schema, startDispatcher: true, env: { DELIVERY_LOCK_MS: String(LOCK_MS) } });
    cleanups.push(() => gateway.close());
    const tookBack = () => gateway.logLines.map((line) => JSON.parse(line) as { msg: string; jobs?: string[] })
      .filter((line) => line.msg === 'took back the jobs of a process of this host that is gone');
    await vi.waitFor(() => expect(tookBack()).toHaveLength(1), { timeout: 20_000, interval: 100 });

    expect(tookBack()[0]?.jobs).toEqual([`${QUEUES.deliveries}/${dead}`]);
    expect(await deliveries.getJobState(live)).toBe('active');
    expect(await connection.get(liveLock)).toBe('live-token');
    expect((await deliveries.getJob(live))?.processedBy).toBe(holderName);
  }, 60_000);
});
