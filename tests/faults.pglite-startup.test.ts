import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/store/database.js';
import { TEST_REDIS_URL, uniqueSchema } from './support/gateway.js';

/**
 * The embedded database's data directory (DATA_DIR/pglite) damaged, foreign or unreadable: the
 * gateway must stop at start with one line, never open an empty database in its place.
 */

const dirs: string[] = [];
const started: ChildProcessWithoutNullStreams[] = [];
let intact: string;

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lienthong-pglite-fault-'));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  // A real embedded database, made once, copied by the tests that damage it.
  intact = tempDir();
  const db = await openDatabase({ dataDir: join(intact, 'pglite') });
  await db.close();
}, 120_000);

afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  }
});

afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Runs src/main.ts on `dataDir` until it exits; a gateway that starts listening instead is a failure. */
async function start(dataDir: string): Promise<{ code: number | null; stderr: string[] }> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(DATABASE_|REDIS_URL|QUEUE_PREFIX|BHXH_|CLIENTS_FILE|PORT$|DATA_DIR)/.test(name)),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...inherited, DATA_DIR: dataDir, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: uniqueSchema('lt_pglite'), PORT: '0' },
    stdio: 'pipe',
  });
  started.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const listening = new Promise<never>((_, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (/Server listening/.test(line)) reject(new Error(`the gateway started on ${dataDir} instead of stopping`));
    });
  });
  const [code] = await Promise.race([once(child, 'exit'), listening]);
  return { code: code as number | null, stderr: stderr.trim().split('\n') };
}

describe('the embedded database at start', { timeout: 60_000 }, () => {
  it('refuses a data directory with files but no PG_VERSION instead of opening an empty database over it', async () => {
    const dataDir = tempDir();
    mkdirSync(join(dataDir, 'pglite', 'base'), { recursive: true });
    writeFileSync(join(dataDir, 'pglite', 'postgresql.conf'), '');
    const { code, stderr } = await start(dataDir);
    expect(code).toBe(1);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(/^lienthong: .*pglite holds files but no PG_VERSION.*restore it from a backup/);
  });

  it('stops with one line when the database files are damaged', async () => {
    const dataDir = tempDir();
    cpSync(join(intact, 'pglite'), join(dataDir, 'pglite'), { recursive: true });
    writeFileSync(join(dataDir, 'pglite', 'global', 'pg_control'), Buffer.alloc(8192, 0x5a));
    const { code, stderr } = await start(dataDir);
    expect(code).toBe(1);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(/^lienthong: the embedded database in .*pglite cannot be opened \(.+\): its files may be damaged/);
  });

  it('stops with one line when the data directory cannot be used', async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, 'pglite'), 'not a directory');
    const { code, stderr } = await start(dataDir);
    expect(code).toBe(1);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(/^lienthong: cannot use .*pglite for the embedded database \(.+\); check DATA_DIR/);
  });
});
