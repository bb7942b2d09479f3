import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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
afterAll(async () => {
  vi.restoreAllMocks();
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
  it('lets /healthz be answered while it hashes, even when every page is already in memory', async () => {
    // The worst case for the event loop is a database that answers at once: then nothing but the
    // walk itself can give other requests a turn. The chain's rows are read once and served from
    // memory to the walk; the head and everything else still come from PostgreSQL.
    const { rows } = await gateway.db.query<{ seq: string }>('SELECT * FROM audit_events ORDER BY seq');
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
      if (!sql.includes('FROM audit_events e')) return query(sql, params, options);
      // The walk is under way: from here on, the health checks compete with it.
      healthChecks ??= askHealthThreeTimes();
      const [, afterSeq, limit] = params as [unknown, number, number];
      const page = rows.filter((row) => Number(row.seq) > afterSeq).slice(0, limit);
      return { rows: page as never[], rowCount: page.length };
    });

    const verify = await get('/audit/v1/verify', { authorization: `Bearer ${gateway.keys.auditor}` });
    finished.push('verify');

    expect(verify.status).toBe(200);
    expect(JSON.parse(verify.body)).toMatchObject({ ok: true, events: CHAIN_LENGTH });
    expect(healthChecks).toBeDefined();
    expect(await healthChecks).toEqual([200, 200, 200]);
    expect(finished).toEqual(['healthz', 'verify']);
  });
});
