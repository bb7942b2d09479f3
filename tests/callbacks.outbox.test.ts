import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClientRegistry, sha256OfKey, type Role } from '../src/auth/clients.js';
import { issueCard } from '../src/dev/bhxh-simulator.js';
import { appendAuditEventInTx } from '../src/store/audit-log.js';
import { claimCallbacks, recordDelivered, recordFailed } from '../src/store/callback-outbox.js';
import { khaiSinh } from './support/fixtures.js';
import { countRows, startTestGateway, type TestGateway, type TestGatewayOptions } from './support/gateway.js';

const SECRET = 'outbox-callback-secret-0123456789';

interface Call {
  eventId: string;
  transferId: string;
  status: string;
  signature: string;
  raw: string;
  response: ServerResponse;
  answered: number | 'hang';
}

/** A registry's callback endpoint: answers each call as `answer()` says at that moment; 'hang' holds it open. */
class Receiver {
  readonly calls: Call[] = [];
  answer: () => number | 'hang' = () => 200;
  url = '';
  private server: Server | undefined;

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const body = JSON.parse(raw) as { eventId: string; transferId: string; status: string };
        const answered = this.answer();
        this.calls.push({ ...body, signature: String(request.headers['x-signature']), raw, response, answered });
        if (answered !== 'hang') response.writeHead(answered).end();
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this;
  }

  delivered(transferId?: string): string[] {
    return this.calls.filter((call) => call.answered === 200 && (!transferId || call.transferId === transferId)).map((call) => call.status);
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

type ClientEntry = NonNullable<TestGatewayOptions['clients']>[number] & { callbackSignature?: 'sha256' };

function registryClient(id: string, receiver?: Receiver, extra: Partial<ClientEntry> = {}): ClientEntry & { key: string } {
  const key = `key-${id}-0123456789abcdef`;
  const roles: Role[] = ['registry'];
  return {
    id, key, keySha256: sha256OfKey(key), roles, units: ['08'],
    ...(receiver ? { callbackUrl: receiver.url, callbackSecret: SECRET } : {}), ...extra,
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gatewayWith(clients: ClientEntry[], options: TestGatewayOptions = {}): Promise<TestGateway> {
  const gateway = await startTestGateway({ env: { MAINTENANCE_INTERVAL_MS: '100', RETRY_BASE_DELAY_MS: '20' }, ...options, clients });
  // A test may close it itself, to start another gateway on its schema; the cleanup then has nothing to do.
  const closeGateway = gateway.close;
  let closed: Promise<void> | undefined;
  gateway.close = () => (closed ??= closeGateway());
  cleanups.push(() => gateway.close());
  return gateway;
}

async function receiver(): Promise<Receiver> {
  const started = await new Receiver().start();
  cleanups.push(() => started.close());
  return started;
}

async function push(gateway: TestGateway, client: { key: string }): Promise<string> {
  const response = await gateway.app.inject({
    method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { authorization: `Bearer ${client.key}` }, payload: khaiSinh(),
  });
  expect(response.statusCode, response.body).toBe(202);
  return response.json().transferId as string;
}

async function outbox(gateway: TestGateway): Promise<Array<{ audit_seq: string; client_id: string; transfer_id: string }>> {
  return (await gateway.db.query<{ audit_seq: string; client_id: string; transfer_id: string }>(
    'SELECT audit_seq::text, client_id, transfer_id FROM callback_outbox ORDER BY audit_seq',
  )).rows;
}

async function leaseAndIssue(gateway: TestGateway): Promise<void> {
  const leased = await gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'CAP_THE_TE' } });
  expect(leased.statusCode).toBe(200);
  const batch = leased.json() as { batchId: string; records: Array<Record<string, unknown>> };
  const results = await gateway.request('bhxh08', { method: 'POST', url: `/bhxh/v1/batches/${batch.batchId}/results`, payload: { results: batch.records.map(issueCard) } });
  expect(results.statusCode).toBe(200);
}

describe('the callback outbox', () => {
  it('gets a row per status change of a subscribing client, in the same transaction as the change, and no other', async () => {
    const subscriber = registryClient('hotich-08-sub', await receiver());
    const other = registryClient('hotich-08-nosub');
    const gateway = await gatewayWith([subscriber, other]);

    const transferId = await push(gateway, subscriber);
    const [row] = await outbox(gateway);
    const { rows: [event] } = await gateway.db.query<{ seq: string }>("SELECT seq::text FROM audit_events WHERE transfer_id = $1 AND to_status = 'queued'", [transferId]);
    expect(await outbox(gateway)).toEqual([{ audit_seq: event?.seq, client_id: subscriber.id, transfer_id: transferId }]);

    await push(gateway, other);
    expect(await outbox(gateway)).toEqual([row]);

    // An event that changes no status announces nothing; a change rolled back leaves no callback behind.
    await gateway.db.transaction(async (tx) => {
      appendAuditEventInTx(tx, { actor: 'test', action: 'test.no-change', transferId, fromStatus: 'queued', toStatus: 'queued' });
    });
    await expect(gateway.db.transaction(async (tx) => {
      appendAuditEventInTx(tx, { actor: 'test', action: 'test.rolled-back', transferId, fromStatus: 'queued', toStatus: 'sent' });
      tx.beforeCommit?.(async () => {
        throw new Error('the change fails at its commit');
      });
    })).rejects.toThrow('the change fails at its commit');
    expect(await outbox(gateway)).toEqual([row]);
  });

  it('claims nothing for a client while its callbacks are in flight, even when an earlier seq commits meanwhile', async () => {
    const subscriber = registryClient('hotich-08-late', await receiver());
    const gateway = await gatewayWith([subscriber]);
    const first = await push(gateway, subscriber);
    const second = await push(gateway, subscriber);
    const [earlier, later] = await outbox(gateway);
    // As a change sealed on another chain with a lower seq would: the later one is leased first,
    // and the earlier one joins the backlog ahead of it, due.
    await gateway.db.query('DELETE FROM callback_outbox WHERE audit_seq = $1', [earlier!.audit_seq]);
    expect(await claimCallbacks(gateway.db, subscriber.id, 10, 'process-a', 60_000)).toMatchObject([{ transferId: second }]);
    await gateway.db.query('INSERT INTO callback_outbox (audit_seq, client_id, transfer_id) VALUES ($1, $2, $3)', [earlier!.audit_seq, subscriber.id, first]);
    expect(await claimCallbacks(gateway.db, subscriber.id, 10, 'process-b', 60_000)).toEqual([]);
    expect(await recordDelivered(gateway.db, Number(later!.audit_seq), null)).toBe(true);
    expect(await claimCallbacks(gateway.db, subscriber.id, 10, 'process-b', 60_000)).toMatchObject([{ transferId: first }]);
  });

  it('lets a callback that joins late ahead of a failed one go alone: the failed one keeps its backoff', async () => {
    const subscriber = registryClient('hotich-08-backoff', await receiver());
    const gateway = await gatewayWith([subscriber]);
    const first = await push(gateway, subscriber);
    const second = await push(gateway, subscriber);
    const [earlier, later] = await outbox(gateway);
    await gateway.db.query('DELETE FROM callback_outbox WHERE audit_seq = $1', [earlier!.audit_seq]);
    expect(await claimCallbacks(gateway.db, subscriber.id, 10, 'process-a', 60_000)).toMatchObject([{ transferId: second }]);
    await recordFailed(gateway.db, { auditSeq: Number(later!.audit_seq), clientId: subscriber.id }, 'process-a', 'HTTP 500', 3_600_000);
    // The earlier one commits late, due, ahead of the failed one.
    await gateway.db.query('INSERT INTO callback_outbox (audit_seq, client_id, transfer_id) VALUES ($1, $2, $3)', [earlier!.audit_seq, subscriber.id, first]);
    expect(await claimCallbacks(gateway.db, subscriber.id, 10, 'process-b', 60_000)).toMatchObject([{ transferId: first }]);
    await recordFailed(gateway.db, { auditSeq: Number(earlier!.audit_seq), clientId: subscriber.id }, 'process-b', 'HTTP 500', 1_000);
    const { rows: [backoff] } = await gateway.db.query<{ waiting: boolean }>(
      "SELECT next_attempt_at > now() + interval '50 minutes' AS waiting FROM callback_outbox WHERE audit_seq = $1", [later!.audit_seq],
    );
    expect(backoff?.waiting).toBe(true);
  });

  it('starts a new subscriber from now, and drops the backlog of a client whose callback address is removed', async () => {
    const hook = await receiver();
    const first = await gatewayWith([registryClient('hotich-08-later')], { keepSchema: true });
    await push(first, registryClient('hotich-08-later'));
    expect(await countRows(first.db, 'callback_subscriptions')).toBe(0);
    await first.close();

    const subscribed = await gatewayWith([registryClient('hotich-08-later', hook)], { schema: first.schema, keepSchema: true });
    expect(await outbox(subscribed)).toEqual([]);
    const transferId = await push(subscribed, registryClient('hotich-08-later'));
    expect((await outbox(subscribed)).map((row) => row.transfer_id)).toEqual([transferId]);
    await subscribed.close();

    const unsubscribed = await gatewayWith([registryClient('hotich-08-later')], { schema: first.schema });
    expect(await countRows(unsubscribed.db, 'callback_subscriptions')).toBe(0);
    expect(await outbox(unsubscribed)).toEqual([]);
  });

  it('leaves the subscription and backlog of a client it does not know: another process\'s clients file may', async () => {
    const hook = await receiver();
    hook.answer = () => 'hang';
    const subscribed = await gatewayWith([registryClient('hotich-08-elsewhere', hook)], { keepSchema: true });
    const transferId = await push(subscribed, registryClient('hotich-08-elsewhere'));
    await subscribed.close();

    const other = await gatewayWith([registryClient('hotich-08-unrelated')], { schema: subscribed.schema });
    expect((await other.db.query('SELECT client_id FROM callback_subscriptions')).rows).toEqual([{ client_id: 'hotich-08-elsewhere' }]);
    expect((await outbox(other)).map((row) => row.transfer_id)).toEqual([transferId]);
  });

  it('posts to each client on its own: a receiver that never answers does not hold back another', async () => {
    const slowHook = await receiver();
    slowHook.answer = () => 'hang';
    const fastHook = await receiver();
    const slow = registryClient('hotich-08-slow', slowHook);
    const fast = registryClient('hotich-08-fast', fastHook);
    const options = { startDispatcher: true, env: { MAINTENANCE_INTERVAL_MS: '100', RETRY_BASE_DELAY_MS: '20', CALLBACK_TIMEOUT_MS: '60000', DISPATCH_INTERVAL_MS: '3600000' } };
    const first = await gatewayWith([slow, fast], { ...options, keepSchema: true });

    const slowTransfer = await push(first, slow);
    await vi.waitFor(() => expect(slowHook.calls).toHaveLength(1), { timeout: 10_000, interval: 50 });
    const fastTransfers = [await push(first, fast), await push(first, fast)];
    await leaseAndIssue(first);
    for (const transferId of fastTransfers) {
      await vi.waitFor(() => expect(fastHook.delivered(transferId)).toEqual(['queued', 'sent', 'issued']), { timeout: 10_000, interval: 50 });
    }
    // All the while the slow receiver holds its first call, and is sent nothing after it.
    expect(slowHook.calls).toHaveLength(1);
    const hanging = slowHook.calls[0] as Call;
    expect(hanging.response.writableEnded).toBe(false);
    expect(hanging).toMatchObject({ transferId: slowTransfer, status: 'queued' });

    const waiting = await first.request('operator', { method: 'GET', url: '/ops/v1/callbacks?state=pending&clientId=hotich-08-slow' });
    expect(waiting.statusCode).toBe(200);
    expect(waiting.json().items).toMatchObject([
      { eventId: hanging.eventId, transferId: slowTransfer, status: 'queued', attempts: 0, inFlight: true },
      { transferId: slowTransfer, status: 'sent', attempts: 0 },
      { transferId: slowTransfer, status: 'issued', attempts: 0 },
    ]);

    // A stopping gateway gives up the call in flight and hands its lease back (not 65 s later): the
    // next process sends the same callback, with the same eventId, and the rest after it.
    await first.close();
    slowHook.answer = () => 200;
    await gatewayWith([slow, fast], { ...options, schema: first.schema });
    await vi.waitFor(() => expect(slowHook.delivered(slowTransfer)).toEqual(['queued', 'sent', 'issued']), { timeout: 20_000, interval: 50 });
    expect(slowHook.calls.map((call) => call.eventId).slice(0, 2)).toEqual([hanging.eventId, hanging.eventId]);
    expect(fastHook.calls.every((call) => call.answered === 200)).toBe(true);
    expect(fastHook.calls).toHaveLength(6);
  });

  it('shares one client between two gateways on one database: every callback once, in order', async () => {
    const hook = await receiver();
    const client = registryClient('hotich-08-shared', hook);
    const options = { startDispatcher: true, env: { MAINTENANCE_INTERVAL_MS: '20', DISPATCH_INTERVAL_MS: '3600000' } };
    const first = await gatewayWith([client], { ...options, keepSchema: true });
    const second = await gatewayWith([client], { ...options, schema: first.schema });
    const pushed: string[] = [];
    for (let i = 0; i < 15; i++) pushed.push(await push(first, client), await push(second, client));

    await vi.waitFor(() => expect(hook.delivered()).toHaveLength(pushed.length), { timeout: 20_000, interval: 50 });
    expect(hook.calls.map((call) => call.transferId)).toEqual(pushed);
    const eventIds = hook.calls.map((call) => Number(call.eventId));
    expect(eventIds).toEqual([...eventIds].sort((a, b) => a - b));
    expect(new Set(eventIds).size).toBe(pushed.length);
    await first.close();
  });

  it('sends exactly the earlier header to a client configured with callbackSignature "sha256"', async () => {
    const hook = await receiver();
    const client = registryClient('hotich-08-legacy', hook, { callbackSignature: 'sha256' });
    const gateway = await gatewayWith([client], { startDispatcher: true, env: { MAINTENANCE_INTERVAL_MS: '100', DISPATCH_INTERVAL_MS: '3600000' } });
    await push(gateway, client);
    await vi.waitFor(() => expect(hook.delivered()).toEqual(['queued']), { timeout: 10_000, interval: 50 });
    const [call] = hook.calls as [Call];
    expect(call.signature).toBe(`sha256=${createHmac('sha256', SECRET).update(call.raw).digest('hex')}`);
  });
});

describe('the callbackSignature option in the clients file', () => {
  it('takes "sha256" and refuses anything else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lienthong-clients-'));
    try {
      const file = join(dir, 'clients.json');
      const withSignature = (callbackSignature: string) => {
        const { key: _key, ...entry } = registryClient('hotich-08-file', undefined, { callbackUrl: 'https://hotich.example/hook', callbackSecret: SECRET });
        writeFileSync(file, JSON.stringify([{ ...entry, callbackSignature }]));
        return () => ClientRegistry.fromFile(file);
      };
      expect(withSignature('sha256')().withCallbacks()).toEqual([expect.objectContaining({ id: 'hotich-08-file', callbackSignature: 'sha256' })]);
      expect(withSignature('v1')).toThrow(/\/0\/callbackSignature must be equal to one of the allowed values/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('operators and failing callbacks', () => {
  it('lists the failing callbacks with their attempts and error, and retries them now; audited, operators only', async () => {
    const hook = await receiver();
    hook.answer = () => 503;
    const client = registryClient('hotich-08-failing', hook);
    // An hour's delay after the first refusal: only the operator's retry sends it again during the test.
    const gateway = await gatewayWith([client], { startDispatcher: true, env: { MAINTENANCE_INTERVAL_MS: '100', RETRY_BASE_DELAY_MS: '3600000', DISPATCH_INTERVAL_MS: '3600000' } });
    const transferId = await push(gateway, client);
    await vi.waitFor(() => expect(hook.calls).toHaveLength(1), { timeout: 10_000, interval: 50 });

    const list = () => gateway.request('operator', { method: 'GET', url: '/ops/v1/callbacks?clientId=hotich-08-failing' });
    await vi.waitFor(async () => expect((await list()).json().items).toHaveLength(1), { timeout: 10_000, interval: 50 });
    const [failing] = (await list()).json().items;
    expect(failing).toMatchObject({ eventId: hook.calls[0]?.eventId, clientId: client.id, transferId, status: 'queued', attempts: 1, lastError: 'answered 503', inFlight: false });
    expect(Date.parse(failing.nextAttemptAt)).toBeGreaterThan(Date.parse(failing.lastAttemptAt) + 60_000);
    expect((await list()).json().nextCursor).toBeNull();

    // Another province's operator sees none of it and retries none of it; a registry may not ask.
    const elsewhere = await gateway.request('operator01', { method: 'GET', url: '/ops/v1/callbacks' });
    expect(elsewhere.json()).toEqual({ items: [], nextCursor: null });
    const elsewhereRetry = await gateway.request('operator01', { method: 'POST', url: '/ops/v1/callbacks/retry', payload: {} });
    expect(elsewhereRetry.json()).toEqual({ retried: 0 });
    expect((await gateway.request('registry08', { method: 'GET', url: '/ops/v1/callbacks' })).statusCode).toBe(403);
    expect((await gateway.request('registry08', { method: 'POST', url: '/ops/v1/callbacks/retry', payload: {} })).statusCode).toBe(403);
    expect((await gateway.request('operator', { method: 'GET', url: '/ops/v1/callbacks?state=stuck' })).statusCode).toBe(400);
    expect(hook.calls).toHaveLength(1);

    hook.answer = () => 200;
    const retried = await gateway.request('operator', { method: 'POST', url: '/ops/v1/callbacks/retry', payload: { clientId: client.id } });
    expect(retried.statusCode).toBe(200);
    expect(retried.json()).toEqual({ retried: 1 });
    await vi.waitFor(() => expect(hook.delivered()).toEqual(['queued']), { timeout: 10_000, interval: 50 });
    expect(hook.calls.map((call) => call.eventId)).toEqual([failing.eventId, failing.eventId]);
    await vi.waitFor(async () => expect((await gateway.request('operator', { method: 'GET', url: '/ops/v1/callbacks?state=pending' })).json().items).toEqual([]), { timeout: 10_000, interval: 50 });

    const audit = await gateway.request('auditor', { method: 'GET', url: '/audit/v1/events?limit=1000' });
    const retries = (audit.json().events as Array<{ actor: string; action: string; details: unknown }>).filter((event) => event.action === 'callbacks.retried');
    expect(retries).toEqual([
      expect.objectContaining({ actor: 'ops-01', details: { clientId: null, retried: 0, maTinh: '01' } }),
      expect.objectContaining({ actor: 'ops-all', details: { clientId: client.id, retried: 1, maTinh: '*' } }),
    ]);
  });
});
