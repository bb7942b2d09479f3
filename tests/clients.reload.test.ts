import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ClientRegistry, sha256OfKey } from '../src/auth/clients.js';
import { CallbackDelivery } from '../src/dispatch/callbacks.js';
import { khaiSinh } from './support/fixtures.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, startTestGateway, uniqueSchema, type TestGateway } from './support/gateway.js';

const OLD_KEY = 'rotation-old-key-0123456789';
const NEW_KEY = 'rotation-new-key-9876543210';
const SECRET = 'callback-secret-that-must-not-be-logged';

const operatorWith = (key: string) => ({ id: 'ops-rotating', keySha256: sha256OfKey(key), roles: ['operator'], units: ['*'] });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lienthong-clients-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes the file as a rotation would: a new file renamed over the old one. */
function writeClients(file: string, content: string) {
  writeFileSync(`${file}.new`, content);
  renameSync(`${file}.new`, file);
}

/** Resolves at the registry's next reload, and stops listening. */
function nextReload(registry: ClientRegistry): Promise<void> {
  return new Promise((resolve) => {
    const stop = registry.onReload(() => {
      stop();
      resolve();
    });
  });
}

/** The first log line after now that matches; rejects (and stops looking) if none comes within `boundMs`. */
function nextLogLine(gateway: TestGateway, pattern: RegExp, boundMs = 10_000): Promise<string> {
  const seen = gateway.logLines.length;
  return new Promise((resolve, reject) => {
    const giveUp = setTimeout(() => {
      clearInterval(look);
      reject(new Error(`no log line matching ${pattern} within ${boundMs} ms`));
    }, boundMs);
    const look = setInterval(() => {
      const line = gateway.logLines.slice(seen).find((candidate) => pattern.test(candidate));
      if (line) {
        clearInterval(look);
        clearTimeout(giveUp);
        resolve(line);
      }
    }, 20);
  });
}

describe('the clients file is followed without a restart', () => {
  let gateway: TestGateway;
  let registry: ClientRegistry;
  let file: string;
  beforeAll(async () => {
    file = join(dir, 'clients.json');
    writeClients(file, JSON.stringify([operatorWith(OLD_KEY)]));
    registry = ClientRegistry.fromFile(file);
    gateway = await startTestGateway({ clientRegistry: registry });
    registry.watch(gateway.app.log as unknown as Logger);
  });
  afterAll(async () => {
    registry?.close();
    await gateway?.close();
  });

  const dispatchStateAs = (key: string) =>
    gateway.request(null, { method: 'GET', url: '/ops/v1/dispatch', headers: { authorization: `Bearer ${key}` } });

  it('a new key works and the withdrawn one is refused once the file changes', async () => {
    expect((await dispatchStateAs(OLD_KEY)).statusCode).toBe(200);
    expect((await dispatchStateAs(NEW_KEY)).statusCode).toBe(401);
    const reloaded = nextReload(registry);
    writeClients(file, JSON.stringify([operatorWith(NEW_KEY)]));
    await reloaded;
    expect((await dispatchStateAs(NEW_KEY)).statusCode).toBe(200);
    expect((await dispatchStateAs(OLD_KEY)).statusCode).toBe(401);
    expect(registry.authenticate(NEW_KEY)?.id).toBe('ops-rotating');
    expect(registry.authenticate(OLD_KEY)).toBeNull();
    // A console session signed in with the old key ends; one signed in with the new key goes on.
    expect(registry.stillHolding('ops-rotating', sha256OfKey(OLD_KEY))).toBeNull();
    expect(registry.stillHolding('ops-rotating', sha256OfKey(NEW_KEY))).toMatchObject({ roles: ['operator'] });
    expect(registry.stillHolding('ops-rotating', 'not hex')).toBeNull();
  });

  it('a client withdrawn from the file is no longer found by its id', async () => {
    const reloaded = nextReload(registry);
    writeClients(file, JSON.stringify([{ ...operatorWith(NEW_KEY), id: 'ops-renamed' }]));
    await reloaded;
    expect(registry.byId('ops-rotating')).toBeNull();
    expect(registry.byId('ops-renamed')).toMatchObject({ roles: ['operator'] });
  });

  it('a key is rotated with an overlap: the client holds both digests, then only the new one', async () => {
    const ROTATED = 'rotation-overlap-key-5555555555';
    const withKeys = (...keys: string[]) => JSON.stringify([{ ...operatorWith(NEW_KEY), id: 'ops-overlap', keySha256: keys.map(sha256OfKey) }]);
    let reloaded = nextReload(registry);
    writeClients(file, withKeys(NEW_KEY, ROTATED));
    await reloaded;
    for (const key of [NEW_KEY, ROTATED]) {
      expect((await dispatchStateAs(key)).statusCode).toBe(200);
      expect(registry.authenticate(key)?.id).toBe('ops-overlap');
      expect(registry.stillHolding('ops-overlap', sha256OfKey(key))).toMatchObject({ id: 'ops-overlap' });
    }

    reloaded = nextReload(registry);
    writeClients(file, withKeys(ROTATED));
    await reloaded;
    expect((await dispatchStateAs(ROTATED)).statusCode).toBe(200);
    expect((await dispatchStateAs(NEW_KEY)).statusCode).toBe(401);
    expect(registry.stillHolding('ops-overlap', sha256OfKey(NEW_KEY))).toBeNull();
    expect(registry.stillHolding('ops-overlap', sha256OfKey(ROTATED))).toMatchObject({ id: 'ops-overlap' });

    reloaded = nextReload(registry);
    writeClients(file, JSON.stringify([operatorWith(NEW_KEY)]));
    await reloaded;
  });

  it.each([
    ['one key for two clients', JSON.stringify([operatorWith(OLD_KEY), { ...operatorWith(OLD_KEY), id: 'ops-other', keySha256: [sha256OfKey(OLD_KEY)] }])],
    ['an empty list of keys', JSON.stringify([{ ...operatorWith(OLD_KEY), keySha256: [] }])],
    ['not JSON', `[{"id":"ops-x","keySha256":"${sha256OfKey(OLD_KEY)}","callbackSecret":"${SECRET}" oops`],
    ['a client the schema refuses', JSON.stringify([{ ...operatorWith(OLD_KEY), roles: ['superuser'], callbackSecret: SECRET }])],
    ['the same id twice', JSON.stringify([operatorWith(OLD_KEY), operatorWith(OLD_KEY)])],
  ])('a file that is %s keeps the clients in use and logs no key material', async (_name, content) => {
    const before = registry.ids();
    const refused = nextLogLine(gateway, /clients file is not valid/);
    writeClients(file, content);
    const line = await refused;
    expect(line).not.toContain(SECRET);
    expect(line).not.toContain(sha256OfKey(OLD_KEY));
    expect(registry.ids()).toEqual(before);
    expect((await dispatchStateAs(NEW_KEY)).statusCode).toBe(200);
    expect((await dispatchStateAs(OLD_KEY)).statusCode).toBe(401);
  });
});

describe('a clients file mounted from a Kubernetes Secret or ConfigMap', () => {
  it('is reloaded when the kubelet swaps the hidden ..data symlink to a new folder', async () => {
    // The kubelet's layout: clients.json -> ..data/clients.json, ..data -> ..<timestamp>/; an update
    // writes a new timestamped folder and renames a new symlink over ..data, so no event names clients.json.
    const mount = mkdtempSync(join(tmpdir(), 'lienthong-secret-'));
    const generation = (name: string, content: string) => {
      mkdirSync(join(mount, name));
      writeFileSync(join(mount, name, 'clients.json'), content);
    };
    generation('..2026_11_29_01', JSON.stringify([operatorWith(OLD_KEY)]));
    symlinkSync('..2026_11_29_01', join(mount, '..data'));
    symlinkSync(join('..data', 'clients.json'), join(mount, 'clients.json'));
    const registry = ClientRegistry.fromFile(join(mount, 'clients.json'));
    registry.watch(pino({ level: 'silent' }));
    try {
      expect(registry.authenticate(OLD_KEY)?.id).toBe('ops-rotating');
      const reloaded = nextReload(registry);
      generation('..2026_11_29_02', JSON.stringify([operatorWith(OLD_KEY), { ...operatorWith(NEW_KEY), id: 'ops-next' }]));
      symlinkSync('..2026_11_29_02', join(mount, '..data_tmp'));
      renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
      await reloaded;
      expect(registry.authenticate(NEW_KEY)?.id).toBe('ops-next');
    } finally {
      registry.close();
      rmSync(mount, { recursive: true, force: true });
    }
  });
});

describe('SIGHUP re-reads the clients file of a running gateway', () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  let observer: TestGateway | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await observer?.close();
  });

  it('takes the new key at SIGHUP', async () => {
    const schema = uniqueSchema();
    // Owns the schema (created, migrated, dropped at the end); the process below shares it.
    observer = await startTestGateway({ schema });
    const file = join(dir, 'sighup-clients.json');
    writeClients(file, JSON.stringify([operatorWith(OLD_KEY)]));
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !/^(DATABASE_|REDIS_URL|QUEUE_PREFIX|BHXH_|CLIENTS_FILE|PORT$|DISPATCH_)/.test(name)),
    );
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...inherited, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema, REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: observer.config.queuePrefix, CLIENTS_FILE: file, DATA_DIR: dir, PORT: '0', DISPATCH_INTERVAL_MS: '3600000',
      },
      stdio: 'pipe',
    });
    const lines: string[] = [];
    const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
    const started = child;
    createInterface({ input: started.stdout }).on('line', (line) => {
      lines.push(line);
      for (const waiter of waiters.filter((candidate) => candidate.pattern.test(line))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    });
    const lineMatching = (pattern: RegExp) => new Promise<string>((resolve, reject) => {
      const earlier = lines.find((line) => pattern.test(line));
      if (earlier) return resolve(earlier);
      waiters.push({ pattern, resolve });
      started.once('exit', (code) => reject(new Error(`gateway exited (${code}):\n${lines.join('\n')}`)));
    });
    const url = /Server listening at (http:\/\/[0-9.]+:\d+)/.exec(await lineMatching(/Server listening at/))?.[1];
    const statusAs = async (key: string) => (await fetch(`${url}/ops/v1/dispatch`, { headers: { authorization: `Bearer ${key}` } })).status;
    expect(await statusAs(OLD_KEY)).toBe(200);

    writeClients(file, JSON.stringify([operatorWith(NEW_KEY)]));
    const reloadedAtSighup = lineMatching(/"cause":"SIGHUP".*clients file reloaded/);
    started.kill('SIGHUP');
    await reloadedAtSighup;
    expect(await statusAs(NEW_KEY)).toBe(200);
    expect(await statusAs(OLD_KEY)).toBe(401);
  });
});

/** A registry's callback endpoint on loopback: records the transfer ids it took; answers 503 while `refusing`. */
async function receiver(): Promise<{ url: string; transferIds: string[]; server: Server; refusing: boolean }> {
  const transferIds: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (endpoint.refusing) return void response.writeHead(503).end('busy');
      transferIds.push(JSON.parse(Buffer.concat(chunks).toString('utf8')).transferId);
      response.writeHead(200).end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const endpoint = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, transferIds, server, refusing: false };
  return endpoint;
}

describe('callback delivery follows the clients file', () => {
  const REGISTRY_KEY = 'rotation-registry-key-0123456789';
  const registryWith = (callbackUrl?: string) => ({
    id: 'hotich-08-rotating', keySha256: sha256OfKey(REGISTRY_KEY), roles: ['registry'], units: ['08'],
    ...(callbackUrl ? { callbackUrl, callbackSecret: SECRET } : {}),
  });

  it('posts to the address the file gives now; a removed address keeps the undelivered callbacks, posted once it is back', async () => {
    const first = await receiver();
    const second = await receiver();
    const file = join(dir, 'callback-clients.json');
    writeClients(file, JSON.stringify([registryWith(first.url)]));
    const registry = ClientRegistry.fromFile(file);
    const gateway = await startTestGateway({
      clientRegistry: registry, startDispatcher: true, env: { MAINTENANCE_INTERVAL_MS: '50', RETRY_BASE_DELAY_MS: '50' },
    });
    const WAIT = { timeout: 15_000, interval: 50 };
    const push = async () => {
      const response = await gateway.request(null, {
        method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { authorization: `Bearer ${REGISTRY_KEY}` }, payload: khaiSinh() as object,
      });
      expect(response.statusCode, response.body).toBe(202);
      return response.json().transferId as string;
    };
    const outboxOf = async (transferId: string) =>
      (await gateway.db.query('SELECT attempts FROM callback_outbox WHERE transfer_id = $1', [transferId])).rows as Array<{ attempts: number }>;
    const reload = (content: unknown[]) => {
      const reloaded = nextReload(registry);
      writeClients(file, JSON.stringify(content));
      registry.reload();
      return reloaded;
    };
    try {
      const before = await push();
      await vi.waitFor(() => expect(first.transferIds).toContain(before), WAIT);

      await reload([registryWith(second.url)]);
      const after = await push();
      await vi.waitFor(() => expect(second.transferIds).toContain(after), WAIT);
      expect(first.transferIds).not.toContain(after);

      second.refusing = true;
      const owed = await push();
      await vi.waitFor(async () => expect((await outboxOf(owed))[0]?.attempts).toBeGreaterThan(0), WAIT);
      const keptLine = nextLogLine(gateway, /undelivered callbacks are kept/);
      await reload([registryWith()]);
      expect(JSON.parse(await keptLine)).toMatchObject({ kept: 1 });
      const { rows } = await gateway.db.query('SELECT 1 FROM callback_subscriptions WHERE client_id = $1', ['hotich-08-rotating']);
      expect(rows).toEqual([]);
      expect(await outboxOf(owed)).toHaveLength(1);
      const unsubscribed = await push();
      expect(await outboxOf(unsubscribed)).toEqual([]);

      second.refusing = false;
      await reload([registryWith(second.url)]);
      await vi.waitFor(() => expect(second.transferIds).toContain(owed), WAIT);
      expect(second.transferIds).not.toContain(unsubscribed);
    } finally {
      await gateway.close();
      first.server.close();
      second.server.close();
    }
  });

  it('reloads that come quickly are applied in order, whatever their transactions wait for', async () => {
    const gateway = await startTestGateway({});
    const clientId = 'hotich-08-ordered';
    const subscriber = { id: clientId, roles: ['registry' as const], units: ['08'], callbackUrl: 'http://127.0.0.1:1/hooks', callbackSecret: SECRET };
    const delivery = new CallbackDelivery({
      db: gateway.db, logger: pino({ level: 'silent' }), metrics: gateway.app.metrics, clients: [subscriber], knownClientIds: [clientId],
      timeoutMs: 1000, baseDelayMs: 1000, concurrency: 1, intervalMs: 60_000,
    });
    try {
      await delivery.subscribe();
      let unsubscribing: Promise<void> | undefined;
      let subscribing: Promise<void> | undefined;
      // The subscription's row held by another transaction: the first reload (it withdraws the address)
      // waits for it, and the second (it gives the address back) must wait for the first.
      await gateway.db.transaction(async (tx) => {
        const { rows } = await tx.query<{ xid: string }>('SELECT txid_current()::text AS xid FROM callback_subscriptions WHERE client_id = $1 FOR UPDATE', [clientId]);
        unsubscribing = delivery.follow([], [clientId]);
        subscribing = delivery.follow([subscriber], [clientId]);
        await vi.waitFor(async () => {
          const waiting = await gateway.db.query(
            "SELECT 1 FROM pg_locks WHERE NOT granted AND locktype = 'transactionid' AND transactionid::text::bigint = $1::bigint % 4294967296",
            [rows[0]?.xid],
          );
          expect(waiting.rows).toHaveLength(1);
        }, { timeout: 10_000, interval: 20 });
      });
      await Promise.all([unsubscribing, subscribing]);
      const { rows } = await gateway.db.query('SELECT 1 FROM callback_subscriptions WHERE client_id = $1', [clientId]);
      expect(rows).toHaveLength(1);
    } finally {
      await delivery.close();
      await gateway.close();
    }
  });

  it('a closed gateway no longer listens to the registry it was given', async () => {
    const file = join(dir, 'listener-clients.json');
    writeClients(file, JSON.stringify([registryWith()]));
    const registry = ClientRegistry.fromFile(file);
    const gateway = await startTestGateway({ clientRegistry: registry });
    await gateway.close();
    const follow = vi.spyOn(CallbackDelivery.prototype, 'follow');
    try {
      registry.reload();
      expect(follow).not.toHaveBeenCalled();
    } finally {
      follow.mockRestore();
    }
  });
});
