import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { buildApp } from '../src/app.js';
import { ClientRegistry, sha256OfKey } from '../src/auth/clients.js';
import { Catalogues } from '../src/catalogues/catalogues.js';
import { loadConfig } from '../src/config.js';
import { loggerOptions } from '../src/logger.js';
import { createRedisClient } from '../src/redis.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { migrate } from '../src/store/migrate.js';
import { BhxhSimulator } from '../src/dev/bhxh-simulator.js';
import { khaiSinh, TEST_NOW } from './support/fixtures.js';
import { TEST_DATABASE_URL, uniqueSchema } from './support/gateway.js';
import { PrivateRedis } from '../src/dev/private-redis.js';

/**
 * A gateway whose Redis is a private redis-server without persistence, killed and started again
 * empty, as a Redis restarted without AOF or RDB comes back. The gateway is put together as
 * src/main.ts does, with the same Redis client for /readyz, so that what reaches stderr is the
 * gateway's own.
 */

const WAIT = { timeout: 20_000, interval: 50 };
const KEYS = { registry: `key-registry-${randomBytes(8).toString('hex')}`, operator: `key-operator-${randomBytes(8).toString('hex')}` };

let redis: PrivateRedis;
let simulator: BhxhSimulator;
let db: Database;
let readinessRedis: Redis;
let app: FastifyInstance;
const schema = uniqueSchema('faults_redis');
const logLines: string[] = [];
let consoleErrors: MockInstance<typeof console.error>;

beforeAll(async () => {
  redis = await PrivateRedis.start();
  simulator = new BhxhSimulator();
  await simulator.start();
  const config = loadConfig({
    DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema, REDIS_URL: redis.url, QUEUE_PREFIX: `lt-${schema}`,
    BHXH_PUSH_URL: simulator.url, DISPATCH_INTERVAL_MS: '3600000', DISPATCH_BATCH_SIZE: '10',
    // A failed delivery waits at least 30 s for its retry: longer than this file takes.
    RETRY_BASE_DELAY_MS: '60000', MAINTENANCE_INTERVAL_MS: '200',
  });
  db = await openDatabase({ url: config.databaseUrl, schema, dataDir: config.dataDir });
  await migrate(db);
  readinessRedis = createRedisClient(redis.url);
  const clients = new ClientRegistry([
    { id: 'hotich-08', keySha256: sha256OfKey(KEYS.registry), roles: ['registry'], units: ['08'] },
    { id: 'ops-all', keySha256: sha256OfKey(KEYS.operator), roles: ['operator'], units: ['*'] },
  ]);
  const logger = pino(loggerOptions('info'), new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  }));
  consoleErrors = vi.spyOn(console, 'error');
  app = await buildApp({
    config, db, redis: readinessRedis, redisUrl: redis.url, startDispatcher: true, clients, logger, now: () => TEST_NOW,
    catalogues: Catalogues.fromFiles({ units: config.unitsFile, facilities: config.facilitiesFile }),
  });
});

// Each test starts with Redis up, whatever the one before left.
beforeEach(() => redis.up());

afterAll(async () => {
  consoleErrors?.mockRestore();
  await app?.close();
  readinessRedis?.disconnect();
  await db?.exec(`DROP SCHEMA ${schema} CASCADE`);
  await db?.close();
  await simulator?.close();
  await redis?.down();
});

function request(as: keyof typeof KEYS | null, options: InjectOptions) {
  return app.inject({ ...options, headers: { ...options.headers, ...(as ? { authorization: `Bearer ${KEYS[as]}` } : {}) } });
}

const logsMatching = (pattern: RegExp, from = 0) =>
  logLines.slice(from).filter((line) => pattern.test(line)).map((line) => JSON.parse(line) as { level: number; msg: string });

async function pushBirths(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await request('registry', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
    expect(response.statusCode).toBe(202);
    ids.push(response.json().transferId);
  }
  return ids;
}

async function statuses(ids: string[]): Promise<string[]> {
  const { rows } = await db.query<{ status: string }>('SELECT status FROM transfers WHERE id = ANY($1) ORDER BY id', [ids]);
  return rows.map((row) => row.status);
}

async function readyz() {
  const response = await request(null, { method: 'GET', url: '/readyz' });
  return { status: response.statusCode, body: response.json() };
}

describe('Redis down', () => {
  it('keeps the instance ready and taking births, answers operator calls 503 at once, and logs the outage once each way', async () => {
    await redis.down();
    await vi.waitFor(async () => expect(await readyz()).toEqual({ status: 200, body: { status: 'ready', database: 'postgres', redis: 'down' } }), WAIT);
    const accepted = await pushBirths(1);

    for (const call of [
      { method: 'POST', url: '/ops/v1/dispatch/run' },
      { method: 'GET', url: '/ops/v1/dispatch' },
      { method: 'POST', url: '/ops/v1/replay', payload: { reason: 'after the outage' } },
    ] as const) {
      const response = await request('operator', call);
      expect(response.statusCode, `${call.method} ${call.url}`).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.json().error.code).toBe('UNAVAILABLE');
    }
    const metrics = (await request(null, { method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('lienthong_dependency_up{dependency="redis"} 0');

    await redis.up();
    await vi.waitFor(async () => expect((await readyz()).body.redis).toBe('ok'), WAIT);
    await vi.waitFor(() => expect(logsMatching(/reachable again/)).toHaveLength(1), WAIT);
    expect(logsMatching(/redis unreachable/)).toEqual([expect.objectContaining({ level: 40 })]);
    expect(logsMatching(/reachable again/)).toEqual([expect.objectContaining({ level: 40, dependency: 'redis' })]);
    // The refused calls and BullMQ's reconnect attempts: nothing at error level, nothing unstructured.
    expect(logLines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50)).toEqual([]);
    expect(consoleErrors).not.toHaveBeenCalled();
    // It came back empty: the birth accepted meanwhile leaves by the scheduler put back.
    await vi.waitFor(async () => expect(await statuses(accepted)).toEqual(['issued']), WAIT);
  });
});

describe('Redis restarted empty', () => {
  it('gets its schedulers and the delivery jobs of open batches back from PostgreSQL, and dispatches what waits', async () => {
    // One batch goes out and BHXH turns it away: it stays open in PostgreSQL (its records `sending`,
    // since BHXH has not acknowledged them), its retry delayed in Redis.
    simulator.setScript({ kind: 'status', status: 503 });
    const first = await pushBirths(3);
    expect((await request('operator', { method: 'POST', url: '/ops/v1/dispatch/run' })).statusCode).toBe(202);
    await vi.waitFor(async () => expect(await statuses(first)).toEqual(['sending', 'sending', 'sending']), WAIT);
    await vi.waitFor(async () => {
      const { rows } = await db.query<{ count: string }>("SELECT count(*) AS count FROM delivery_attempts WHERE outcome = 'transient'");
      expect(Number(rows[0]?.count)).toBeGreaterThanOrEqual(1);
    }, WAIT);
    // Two more wait in `queued` for a run an hour away.
    const later = await pushBirths(2);
    const before = (await request('operator', { method: 'GET', url: '/ops/v1/dispatch' })).json();
    expect(before.nextRunAt).toEqual(expect.any(String));

    simulator.setScript({ kind: 'answer' });
    const mark = logLines.length;
    await redis.down();
    await redis.up();

    await vi.waitFor(async () => expect(await statuses([...first, ...later])).toEqual(Array(5).fill('issued')), WAIT);
    // The records may be issued before the schedulers are back: the resent batch's acknowledgement
    // claims the rest itself. The schedulers come back all the same, from PostgreSQL.
    await vi.waitFor(async () => {
      const after = (await request('operator', { method: 'GET', url: '/ops/v1/dispatch' })).json();
      expect(after.nextRunAt).toEqual(expect.any(String));
      expect(logsMatching(/Redis had lost the job schedulers/, mark)).toEqual([expect.objectContaining({ level: 40 })]);
    }, WAIT);
    // The open batch went again, the very same one.
    const { rows } = await db.query<{ batch_id: string }>('SELECT DISTINCT batch_id FROM batch_members WHERE transfer_id = ANY($1)', [first]);
    for (const { batch_id: batchId } of rows) {
      expect(simulator.deliveries.filter((delivery) => delivery.batchId === batchId).map((delivery) => delivery.answeredWith)).toEqual([503, 200]);
    }
  });
});

describe('Redis down at stop', () => {
  it('stops at once rather than waiting for Redis to come back', async () => {
    await redis.down();
    await vi.waitFor(async () => expect((await readyz()).body.redis).toBe('down'), WAIT);
    // Redis stays down: a close that waited for it would never resolve, and the test would time out.
    await app.close();
  });
});
