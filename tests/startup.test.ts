import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { khaiSinh } from './support/fixtures.js';
import { deleteQueueKeys, TEST_REDIS_URL, uniqueSchema } from './support/gateway.js';

const started: ChildProcessWithoutNullStreams[] = [];
const dirs: string[] = [];
const prefixes: string[] = [];

afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  const redis = new Redis(TEST_REDIS_URL);
  for (const prefix of prefixes.splice(0)) await deleteQueueKeys(redis, prefix);
  redis.disconnect();
});

// `npm start` compiles, then runs dist/src/main.js: the same two steps here.
beforeAll(() => {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
});

/** `npm start` as a fresh machine runs it: the same entry point, the environment given, no DATABASE_URL. */
function startGateway(env: Record<string, string>) {
  const dataDir = mkdtempSync(join(tmpdir(), 'lienthong-start-'));
  dirs.push(dataDir);
  const cleanEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !['DATABASE_URL', 'REDIS_URL', 'CLIENTS_FILE', 'PORT', 'QUEUE_PREFIX'].includes(name)
      && !/^(BHXH_|DISPATCH_)/.test(name)),
  );
  const prefix = uniqueSchema('lt_start');
  prefixes.push(prefix);
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    env: { ...cleanEnv, DATA_DIR: dataDir, PORT: '0', QUEUE_PREFIX: prefix, ...env },
    stdio: 'pipe',
  });
  started.push(child);
  return child;
}

/** Resolves with the first stdout line matching, as the process prints it. */
function lineMatching(child: ChildProcessWithoutNullStreams, pattern: RegExp, seen: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      seen.push(line);
      if (pattern.test(line)) resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing ${pattern}`)));
  });
}

// Each test starts a whole process (PGlite's start alone takes seconds on a busy machine).
describe('npm start', { timeout: 90_000 }, () => {
  it('runs on embedded PGlite with dev keys and reaches /readyz 200', async () => {
    const child = startGateway({});
    const stdout: string[] = [];
    const listening = await lineMatching(child, /Server listening at/, stdout);
    const address = /listening at (http:\/\/[^"]+)/.exec(listening)?.[1];
    expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const ready = await fetch(`${address}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', database: 'pglite' });

    const registryKey = stdout.map((line) => /registry\s+Authorization: Bearer (\S+)/.exec(line)?.[1]).find(Boolean);
    expect(registryKey).toBeDefined();
    const accepted = await fetch(`${address}/ngsp/v1/khai-sinh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${registryKey}` },
      body: JSON.stringify(khaiSinh({ hoTich: { ngayDangKy: '15.03.2025' } })),
    });
    expect(accepted.status).toBe(202);

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it('in dev mode sends examples/khai-sinh.json to the built-in BHXH simulator: the birth ends issued with a card', async () => {
    const child = startGateway({});
    const stdout: string[] = [];
    const listening = await lineMatching(child, /Server listening at/, stdout);
    const address = /listening at (http:\/\/[^"]+)/.exec(listening)?.[1];
    expect(stdout.some((line) => /BHXH SIMULATOR RUNNING/.test(line))).toBe(true);
    const registryKey = stdout.map((line) => /registry\s+Authorization: Bearer (\S+)/.exec(line)?.[1]).find(Boolean);
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${registryKey}` };

    const accepted = await fetch(`${address}/ngsp/v1/khai-sinh`, {
      method: 'POST', headers, body: readFileSync(new URL('../examples/khai-sinh.json', import.meta.url)),
    });
    expect(accepted.status).toBe(202);
    const { transferId } = await accepted.json() as { transferId: string };
    // Another process's progress has no event to await: poll it, bounded by the test's timeout.
    let transfer: { status: string; card: { maThe?: string } | null; history: Array<{ toStatus: string }> };
    do {
      transfer = await (await fetch(`${address}/ngsp/v1/transfers/${transferId}`, { headers })).json() as typeof transfer;
      if (transfer.status !== 'issued') await delay(200);
    } while (transfer.status !== 'issued');
    expect(transfer.history.map((event) => event.toStatus)).toEqual(['queued', 'sending', 'sent', 'issued']);
    expect(transfer.card?.maThe).toMatch(/^TE1/);
  });

  it('never starts the BHXH simulator with a clients file', async () => {
    const child = startGateway({ CLIENTS_FILE: '/nonexistent/clients.json', BHXH_SIMULATOR: 'on' });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(stderr).toMatch(/BHXH_SIMULATOR must be off with a CLIENTS_FILE/);
  });

  it('fails in one clear line when Redis cannot be reached', async () => {
    const child = startGateway({ REDIS_URL: 'redis://127.0.0.1:1' });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^lienthong: cannot reach Redis at redis:\/\/127\.0\.0\.1:1 .*redis-server/);
  });
});
