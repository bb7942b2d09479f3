import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { khaiSinh, toSoapEnvelope } from './support/fixtures.js';
import { startTestGateway, TEST_DATABASE_URL, type TestGateway } from './support/gateway.js';

/**
 * PostgreSQL going away under a running gateway. Other test files share this PostgreSQL, so only
 * this file's own connections are ever ended: those of a pool with an application_name of its own,
 * or those that pass through a TCP proxy of its own.
 */

const WAIT = { timeout: 20_000, interval: 50 };

function databaseUrl(changes: { applicationName?: string; port?: number }): string {
  const url = new URL(TEST_DATABASE_URL);
  if (changes.applicationName) url.searchParams.set('application_name', changes.applicationName);
  if (changes.port) {
    url.hostname = '127.0.0.1';
    url.port = String(changes.port);
  }
  return url.toString();
}

/** A TCP proxy in front of PostgreSQL that can be cut (every connection dropped, nothing accepted) and opened again on its port. */
class DatabaseProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async open(): Promise<void> {
    const target = new URL(TEST_DATABASE_URL);
    const server = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = once(server, 'close');
    server.close();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

const errorLines = (gateway: TestGateway) => gateway.logLines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
const logsMatching = (gateway: TestGateway, pattern: RegExp) =>
  gateway.logLines.filter((line) => pattern.test(line)).map((line) => JSON.parse(line) as { level: number; dependency?: string });

describe('PostgreSQL ends the gateway\'s connections mid-ingest', () => {
  const applicationName = `lt_fault_${randomBytes(6).toString('hex')}`;
  let gateway: TestGateway;
  let admin: pg.Client;

  beforeAll(async () => {
    gateway = await startTestGateway({ env: { DATABASE_URL: databaseUrl({ applicationName }) } });
    admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    admin.on('error', () => {});
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await gateway?.close();
  });

  it('stays up: a birth is accepted and stored, or answered 503 with Retry-After; then it carries on without a restart', async () => {
    const answers: Array<{ status: number; retryAfter: unknown; body: { transferId?: string; error?: { code: string } } }> = [];
    let sending = true;
    let terminating = true;
    const sender = (async () => {
      for (let wave = 0; sending && wave < 200; wave++) {
        const responses = await Promise.all(Array.from({ length: 20 }, () =>
          gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() })));
        for (const response of responses) answers.push({ status: response.statusCode, retryAfter: response.headers['retry-after'], body: response.json() });
        // On a busy machine every wave may have been cut: go on until one is accepted after the last cut.
        if (!terminating && responses.some((response) => response.statusCode === 202)) break;
      }
    })().finally(() => {
      sending = false;
    });
    // The gateway's own backends, each caught in a statement or between two of one transaction.
    let ended = 0;
    while (sending && ended < 5) {
      const { rows } = await admin.query<{ ended: string }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS ended FROM pg_stat_activity
          WHERE application_name = $1 AND state IN ('active', 'idle in transaction') AND pid <> pg_backend_pid()`,
        [applicationName],
      );
      ended += Number(rows[0]?.ended);
    }
    terminating = false;
    await sender;
    expect(ended).toBeGreaterThanOrEqual(5);

    for (const answer of answers) {
      expect([202, 503]).toContain(answer.status);
      if (answer.status === 503) {
        expect(answer.retryAfter).toBe('5');
        expect(answer.body.error?.code).toBe('UNAVAILABLE');
      }
    }
    // 2xx means committed: every accepted birth is there.
    const accepted = answers.filter((answer) => answer.status === 202).map((answer) => answer.body.transferId);
    expect(accepted.length).toBeGreaterThan(0);
    const { rows } = await gateway.db.query<{ count: string }>("SELECT count(*) AS count FROM transfers WHERE id = ANY($1) AND status = 'queued'", [accepted]);
    expect(Number(rows[0]?.count)).toBe(accepted.length);

    // The same process, the same pool: it goes on.
    const after = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
    expect(after.statusCode).toBe(202);
    expect((await gateway.request(null, { method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect(errorLines(gateway)).toEqual([]);
  });
});

describe('PostgreSQL unreachable', () => {
  const proxy = new DatabaseProxy();
  let gateway: TestGateway;

  beforeAll(async () => {
    await proxy.open();
    gateway = await startTestGateway({ env: { DATABASE_URL: databaseUrl({ port: proxy.port }) } });
  });
  afterAll(async () => {
    await proxy.open().catch(() => {});
    await gateway?.close();
    await proxy.cut();
  });

  it('is not ready and answers 503 with Retry-After while it lasts, logs it once each way, and recovers by itself', async () => {
    await proxy.cut();
    const readyz = await gateway.request(null, { method: 'GET', url: '/readyz' });
    expect(readyz.statusCode).toBe(503);
    expect(readyz.headers['retry-after']).toBe('5');
    expect(readyz.json().error).toMatchObject({ code: 'UNAVAILABLE', details: [expect.objectContaining({ path: '/database' })] });
    for (const call of [
      { as: 'registry08', method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() },
      { as: 'operator', method: 'GET', url: '/ops/v1/transfers' },
    ] as const) {
      const { as, ...request } = call;
      const response = await gateway.request(as, request);
      expect(response.statusCode, call.url).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.json().error.code).toBe('UNAVAILABLE');
    }
    const soap = await gateway.request('registry08', {
      method: 'POST', url: '/ngsp/soap', headers: { 'content-type': 'text/xml; charset=utf-8' }, payload: toSoapEnvelope('KhaiSinh', khaiSinh()),
    });
    expect(soap.headers['retry-after']).toBe('5');
    expect(soap.body).toMatch(/<code>UNAVAILABLE<\/code>/);

    await proxy.open();
    await vi.waitFor(async () => expect((await gateway.request(null, { method: 'GET', url: '/readyz' })).statusCode).toBe(200), WAIT);
    const after = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
    expect(after.statusCode).toBe(202);
    expect(logsMatching(gateway, /database unreachable/)).toEqual([expect.objectContaining({ level: 40, dependency: 'database' })]);
    expect(logsMatching(gateway, /database reachable again/)).toEqual([expect.objectContaining({ level: 40, dependency: 'database' })]);
    expect(errorLines(gateway)).toEqual([]);
  });
});
