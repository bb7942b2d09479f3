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
    const reloaded = new Promise<void>((resolve) => registry.onReload(resolve));
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
    const reloaded = new Promise<void>((resolve) => registry.onReload(resolve));
    writeClients(file, JSON.stringify([{ ...operatorWith(NEW_KEY), id: 'ops-renamed' }]));
    await reloaded;
    expect(registry.byId('ops-rotating')).toBeNull();
    expect(registry.byId('ops-renamed')).toMatchObject({ roles: ['operator'] });
  });

  it('a key is rotated with an overlap: the client holds both digests, then only the new one', async () => {
    const ROTATED = 'rotation-overlap-key-5555555555';
    const withKeys = (...keys: string[]) => JSON.stringify([{ ...operatorWith(NEW_KEY), id: 'ops-overlap', keySha256: keys.map(sha256OfKey) }]);
    let reloaded = new Promise<void>((resolve) => registry.onReload(resolve));
    writeClients(file, withKeys(NEW_KEY, ROTATED));
    await reloaded;
    for (const key of [NEW_KEY, ROTATED]) {
      expect((await dispatchStateAs(key)).statusCode).toBe(200);
      expect(registry.authenticate(key)?.id).toBe('ops-overlap');
      expect(registry.stillHolding('ops-overlap', sha256OfKey(key))).toMatchObject({ id: 'ops-overlap' });
    }

    reloaded = new Promise<void>((resolve) => registry.onReload(resolve));
    writeClients(file, withKeys(ROTATED));
    await reloaded;
    expect((await dispatchStateAs(ROTATED)).statusCode).toBe(200);
    expect((await dispatchStateAs(NEW_KEY)).statusCode).toBe(401);
    expect(registry.stillHolding('ops-overlap', sha256OfKey(NEW_KEY))).toBeNull();
    expect(registry.stillHolding('ops-overlap', sha256OfKey(ROTATED))).toMatchObject({ id: 'ops-overlap' });

    reloaded = new Promise<void>((resolve) => registry.onReload(resolve));
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
      const reloaded = new Promise<void>((resolve) => registry.onReload(resolve));
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

/** A registry's callback endpoint on loopback: records the transfer ids it is told about. */
async function receiver(): Promise<{ url: string; transferIds: string[]; server: Server }> {
  const transferIds: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      transferIds.push(JSON.parse(Buffer.concat(chunks).toString('utf8')).transferId);
      response.writeHead(200).end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, transferIds, server };
}

describe('callback delivery follows the clients file', () => {
  it('posts to the address the file gives now, and stops when the address is removed', async () => {
    const REGISTRY_KEY = 'rotation-registry-key-0123456789';
    const first = await receiver();
    const second = await receiver();
    const file = join(dir, 'callback-clients.json');
    const registryWith = (callbackUrl?: string) => ({
      id: 'hotich-08-rotating', keySha256: sha256OfKey(REGISTRY_KEY), roles: ['registry'], units: ['08'],
      ...(callbackUrl ? { callbackUrl, callbackSecret: SECRET } : {}),
    });
    writeClients(file, JSON.stringify([registryWith(first.url)]));
    const registry = ClientRegistry.fromFile(file);
    const gateway = await startTestGateway({ clientRegistry: registry, startDispatcher: true, env: { MAINTENANCE_INTERVAL_MS: '50' } });
    const WAIT = { timeout: 15_000, interval: 50 };
    const push = async () => {
      const response = await gateway.request(null, {
        method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { authorization: `Bearer ${REGISTRY_KEY}` }, payload: khaiSinh() as object,
      });
      expect(response.statusCode, response.body).toBe(202);
      return response.json().transferId as string;
    };
    const reload = (content: unknown[]) => {
      const reloaded = new Promise<void>((resolve) => registry.onReload(resolve));
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

      await reload([registryWith()]);
      await vi.waitFor(async () => {
        const { rows } = await gateway.db.query('SELECT 1 FROM callback_subscriptions WHERE client_id = $1', ['hotich-08-rotating']);
        expect(rows).toEqual([]);
      }, WAIT);
      await push();
      const { rows } = await gateway.db.query('SELECT 1 FROM callback_outbox WHERE client_id = $1', ['hotich-08-rotating']);
      expect(rows).toEqual([]);
    } finally {
      await gateway.close();
      first.server.close();
      second.server.close();
    }
  });
});
