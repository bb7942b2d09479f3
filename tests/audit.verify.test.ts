import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../src/audit/audit-log.js';
import { appendAuditEventsInTx, type AuditEventInput } from '../src/store/audit-log.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

const CHAIN_LENGTH = 30_000;

let gateway: TestGateway;
let port: number;
beforeAll(async () => {
  gateway = await startTestGateway();
  // A real socket, not inject: a request is only read when the event loop gets a turn.
  await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  port = (gateway.app.server.address() as AddressInfo).port;
  for (let written = 0; written < CHAIN_LENGTH; written += 10_000) {
    const inputs: AuditEventInput[] = Array.from({ length: 10_000 }, (_, index) => ({
      actor: 'test', action: 'test.bulk', details: { index: written + index },
    }));
    await gateway.db.transaction(async (tx) => appendAuditEventsInTx(tx, inputs));
  }
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  await gateway?.close();
});

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: '127.0.0.1', port, path, headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

describe('GET /audit/v1/verify on a long chain', () => {
  it('walks the chains in a worker thread with its own connection, while this thread answers requests', async () => {
    const query = gateway.db.query.bind(gateway.db);
    const readHere: string[] = [];
    vi.spyOn(gateway.db, 'query').mockImplementation(async (sql, params, options) => {
      if (sql.includes('audit_events')) readHere.push(sql);
      return query(sql, params, options);
    });
    // The verification's first read waits behind this lock: whatever is answered meanwhile was
    // answered while the verification was under way, not before or after it.
    const holder = await gateway.db.transaction(async (tx) => {
      await tx.query('LOCK TABLE audit_checkpoints IN ACCESS EXCLUSIVE MODE');
      const verifying = get('/audit/v1/verify', { authorization: `Bearer ${gateway.keys.auditor}` });
      const queuedBehindLock = async () => Number((await gateway.db.query<{ waiting: string }>(
        `SELECT count(*) AS waiting FROM pg_locks WHERE NOT granted AND relation = 'audit_checkpoints'::regclass`,
      )).rows[0]?.waiting);
      // The worker starts and connects: its first query queues behind the lock (an event, not a time).
      while (await queuedBehindLock() === 0);
      const health = [];
      for (let i = 0; i < 3; i++) health.push((await get('/healthz')).status);
      return { verifying, health };
    });
    expect(holder.health).toEqual([200, 200, 200]);
    const verify = await holder.verifying;
    expect(verify.status).toBe(200);
    expect(JSON.parse(verify.body)).toMatchObject({ ok: true, events: CHAIN_LENGTH, problems: [] });
    // Not one event was read, let alone hashed, on the thread that answers requests.
    expect(readHere).toEqual([]);
  });

  it('on the gateway\'s own thread (PGlite), lets /healthz be answered while it hashes, even when every page is already in memory', async () => {
    // The worst case for the event loop is a database that answers at once: then nothing but the
    // walk itself can give other requests a turn. The chain's rows are read once and served from
    // memory to the walk; the head and everything else still come from PostgreSQL.
    const { rows } = await gateway.db.query<{ seq: string; chain_id: number; chain_seq: string }>('SELECT * FROM audit_events ORDER BY seq');
    expect(rows).toHaveLength(CHAIN_LENGTH);
    const query = gateway.db.query.bind(gateway.db);
    const finished: string[] = [];
    let healthChecks: Promise<number[]> | undefined;
    const askHealthThreeTimes = async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await get('/healthz')).status);
      finished.push('healthz');
      return statuses;
    };
    vi.spyOn(gateway.db, 'query').mockImplementation(async (sql, params, options) => {
      if (!sql.includes('FROM audit_events')) return query(sql, params, options);
      // The walk is under way: from here on, the health checks compete with it.
      healthChecks ??= askHealthThreeTimes();
      const [chain, after, until, limit] = params as [number, number, number, number];
      const page = rows.filter((row) => row.chain_id === chain && Number(row.chain_seq) > after && Number(row.chain_seq) <= until).slice(0, limit);
      return { rows: page as never[], rowCount: page.length };
    });

    // Without a database URL the log is verified where it lives, as with PGlite.
    const verdict = await new AuditLog(gateway.db).verify();
    finished.push('verify');

    expect(verdict).toMatchObject({ ok: true, events: CHAIN_LENGTH });
    expect(healthChecks).toBeDefined();
    expect(await healthChecks).toEqual([200, 200, 200]);
    expect(finished).toEqual(['healthz', 'verify']);
  });

  it('answers 503 UNAVAILABLE, to retry, when its worker cannot reach the database', async () => {
    // Port 1: nothing listens there, the connection is refused at once.
    const unreachable = new AuditLog(gateway.db, { databaseUrl: 'postgres://postgres@127.0.0.1:1/test', databaseSchema: gateway.schema });
    await expect(unreachable.verify()).rejects.toMatchObject({ code: 'UNAVAILABLE', status: 503 });
  });
});
