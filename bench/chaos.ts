/**
 * `npm run chaos`: the gateway under the faults an operator meets, on private PostgreSQL and Redis
 * instances that this script starts, kills and restarts (never the machine's own). Two gateway
 * processes take births from a steady load and push them to a BHXH simulator; one fault at a time is
 * injected while the load runs. At the end every answer is checked against the database and the
 * simulator. It prints a table and writes it to bench/results/chaos-<date>-<machine>.md, and exits
 * non-zero on a lost record, a record delivered in two batches, a 5xx other than 503, or a crash.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { sha256OfKey } from '../src/auth/clients.js';
import { BhxhSimulator } from '../src/dev/bhxh-simulator.js';
import { freePort, PrivateRedis } from '../src/dev/private-redis.js';
import { khaiSinhBody } from './documents.js';

const ROOT = new URL('..', import.meta.url).pathname;
const OUTAGE_MS = Number(process.env.CHAOS_OUTAGE_MS ?? 5_000);
const STEADY_MS = Number(process.env.CHAOS_STEADY_MS ?? 5_000);
const CONCURRENCY = Number(process.env.CHAOS_CONNECTIONS ?? 8);
/** How long a fault may take to heal before the run counts it as not recovered. */
const RECOVERY_LIMIT_MS = 120_000;
const REQUEST_TIMEOUT_MS = 15_000;
const KEY = `chaos-${randomBytes(12).toString('hex')}`;
const OPERATOR_KEY = `${KEY}-op`;
const AUDITOR_KEY = `${KEY}-audit`;

function log(line: string) {
  process.stderr.write(`chaos: ${line}\n`);
}

/** A PostgreSQL cluster of the script's own, in a temporary folder, run as `postgres` when we are root. */
class PrivatePostgres {
  readonly dir = mkdtempSync(join(tmpdir(), 'lienthong-chaos-pg-'));
  private readonly bin = join('/usr/lib/postgresql', readdirSync('/usr/lib/postgresql').sort().pop() as string, 'bin');
  constructor(readonly port: number) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private run(command: string, args: string[]): void {
    const asRoot = process.getuid?.() === 0;
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(this.bin, command), ...args]] : [join(this.bin, command), args];
    execFileSync(file, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
  }

  init(): void {
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', this.dir]);
    this.run('initdb', ['-D', join(this.dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  }

  start(): void {
    this.run('pg_ctl', ['-D', join(this.dir, 'data'), '-l', join(this.dir, 'log'), '-w', '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=200`, 'start']);
  }

  /** `immediate`: the server is gone at once, as after a crash or a failover; it recovers from WAL. */
  stop(mode: 'immediate' | 'fast' = 'immediate'): void {
    this.run('pg_ctl', ['-D', join(this.dir, 'data'), '-m', mode, '-w', 'stop']);
  }

  remove(): void {
    try {
      this.stop('fast');
    } catch {
      // Already stopped.
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface Gateway {
  name: string;
  child: ChildProcess;
  url: string;
  /** Exits we did not cause. */
  crashed: boolean;
}

const gateways: Gateway[] = [];

async function startGateway(name: string, env: Record<string, string>): Promise<Gateway> {
  const child = spawn(process.execPath, ['dist/src/main.js'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const gateway: Gateway = { name, child, url: '', crashed: false };
  child.stderr!.on('data', (chunk) => process.stderr.write(`[${name}] ${String(chunk)}`));
  gateway.url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const url = /"msg":"Server listening at (http:\/\/[^"]+)"/.exec(line)?.[1];
      if (url) resolve(url);
    });
    child.once('exit', (code, signal) => reject(new Error(`${name} exited (${code ?? signal}) before listening`)));
  });
  child.once('exit', (_code, signal) => {
    if (signal !== 'SIGKILL' && signal !== 'SIGTERM') gateway.crashed = true;
  });
  gateways.push(gateway);
  return gateway;
}

/** Births posted by CONCURRENCY loops, round robin over the live gateways, each answer remembered. */
class Load {
  readonly accepted = new Set<string>();
  readonly statuses = new Map<string, number>();
  lastSuccessAt = 0;
  private serial = 0;
  private running = true;
  private loops: Array<Promise<void>> = [];

  start(targets: () => Gateway[]): void {
    this.loops = Array.from({ length: CONCURRENCY }, () => this.loop(targets));
  }

  private count(status: string | number): void {
    const key = String(status);
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
  }

  private async loop(targets: () => Gateway[]): Promise<void> {
    while (this.running) {
      const live = targets();
      const target = live[this.serial % Math.max(1, live.length)];
      this.serial += 1;
      if (!target) {
        await delay(50);
        continue;
      }
      try {
        const response = await fetch(`${target.url}/ngsp/v1/khai-sinh`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: khaiSinhBody('json', '009', this.serial),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const body = await response.json() as { transferId?: string };
        this.count(response.status);
        if (response.status === 202 || response.status === 200) {
          if (body.transferId) this.accepted.add(body.transferId);
          this.lastSuccessAt = Date.now();
        } else if (response.status >= 500) {
          await delay(100);
        }
      } catch (error) {
        this.count((error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name);
        await delay(100);
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

interface FaultResult {
  fault: string;
  what: string;
  recoveryMs: number | null;
}

async function main(): Promise<void> {
  const started = Date.now();
  log('compiling the gateway (what npm start runs)');
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });

  const postgres = new PrivatePostgres(await freePort());
  // Started once PostgreSQL holds its port: a free port found for each before either binds could be the same one.
  let redis: PrivateRedis | undefined;
  const simulator = new BhxhSimulator();
  const workDir = mkdtempSync(join(tmpdir(), 'lienthong-chaos-'));
  const load = new Load();
  const results: FaultResult[] = [];
  let admin: pg.Pool | undefined;
  try {
    postgres.init();
    postgres.start();
    redis = await PrivateRedis.start();
    const privateRedis = redis;
    log(`private PostgreSQL on ${postgres.port}, Redis on ${redis.port}`);
    await simulator.start();
    admin = new pg.Pool({ connectionString: postgres.url, max: 2 });
    admin.on('error', () => undefined);

    const clientsFile = join(workDir, 'clients.json');
    writeFileSync(clientsFile, JSON.stringify([
      { id: 'chaos-registry', keySha256: sha256OfKey(KEY), roles: ['registry'], units: ['*'] },
      { id: 'chaos-ops', keySha256: sha256OfKey(OPERATOR_KEY), roles: ['operator'], units: ['*'] },
      { id: 'chaos-audit', keySha256: sha256OfKey(AUDITOR_KEY), roles: ['auditor'], units: ['*'] },
    ]));
    const env = {
      PORT: '0', DATABASE_URL: postgres.url, REDIS_URL: redis.url, QUEUE_PREFIX: 'chaos', CLIENTS_FILE: clientsFile,
      BHXH_PUSH_URL: simulator.url, BHXH_SIMULATOR: 'off', DISPATCH_INTERVAL_MS: '1000', DISPATCH_BATCH_SIZE: '200',
      DELIVERY_LOCK_MS: '5000', MAINTENANCE_INTERVAL_MS: '1000', RETRY_BASE_DELAY_MS: '200', DISPATCH_MAX_ATTEMPTS: '30',
      LOG_LEVEL: 'info', DATA_DIR: workDir,
    };
    const live = new Map<string, Gateway>();
    for (const name of ['gateway-a', 'gateway-b']) live.set(name, await startGateway(name, env));
    load.start(() => [...live.values()]);

    const issuedCount = async (): Promise<number> => {
      try {
        const { rows } = await admin!.query<{ count: string }>(`SELECT count(*) FROM transfers WHERE status = 'issued'`);
        return Number(rows[0]?.count ?? 0);
      } catch {
        return -1;
      }
    };
    /** Both ways through the gateway work again: a birth is accepted, and a birth is issued. */
    const recovery = async (healedAt: number): Promise<number | null> => {
      let issuedAtHeal = -1;
      while (Date.now() - healedAt < RECOVERY_LIMIT_MS) {
        // The script's own connections may have been cut by the fault too: the first count that
        // answers is the baseline.
        const issued = await issuedCount();
        if (issuedAtHeal < 0) issuedAtHeal = issued;
        else if (load.lastSuccessAt > healedAt && issued > issuedAtHeal) return Date.now() - healedAt;
        await delay(100);
      }
      return null;
    };
    const fault = async (name: string, what: string, inject: () => Promise<void>) => {
      await delay(STEADY_MS);
      log(`fault: ${name}`);
      await inject();
      const healedAt = Date.now();
      const recoveryMs = await recovery(healedAt);
      log(`  recovered in ${recoveryMs === null ? 'NEVER' : `${recoveryMs} ms`}`);
      results.push({ fault: name, what, recoveryMs });
    };

    await fault('pg-terminate', 'every gateway backend terminated (pg_terminate_backend), as by a DBA or a pooler', async () => {
      await admin!.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                           WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`);
    });
    await fault('pg-restart', `PostgreSQL stopped (immediate, as a crash) for ${OUTAGE_MS / 1000} s, then started`, async () => {
      postgres.stop('immediate');
      await delay(OUTAGE_MS);
      postgres.start();
    });
    await fault('redis-restart-empty', `Redis killed for ${OUTAGE_MS / 1000} s, then started empty (no persistence)`, async () => {
      await privateRedis.down();
      await delay(OUTAGE_MS);
      await privateRedis.up();
    });
    await fault('gateway-sigkill', 'one gateway process killed (SIGKILL) mid-load, then started again', async () => {
      const victim = live.get('gateway-a') as Gateway;
      live.delete('gateway-a');
      victim.child.kill('SIGKILL');
      await once(victim.child, 'exit');
      live.set('gateway-a', await startGateway('gateway-a', env));
    });

    await delay(STEADY_MS);
    await load.stop();
    log(`load stopped; ${load.accepted.size} births answered 2xx; waiting for every one to be issued`);
    const drainStart = Date.now();
    for (;;) {
      const { rows } = await admin.query<{ waiting: string }>(`SELECT count(*) AS waiting FROM transfers WHERE status <> 'issued'`);
      if (Number(rows[0]?.waiting) === 0 || Date.now() - drainStart > RECOVERY_LIMIT_MS) break;
      await delay(250);
    }

    const ids = [...load.accepted];
    const { rows: found } = await admin.query<{ status: string; count: string }>(
      'SELECT status, count(*) FROM transfers WHERE id = ANY($1::text[]) GROUP BY status', [ids]);
    const stored = found.reduce((sum, row) => sum + Number(row.count), 0);
    const issued = Number(found.find((row) => row.status === 'issued')?.count ?? 0);
    const received = simulator.recordsReceived();
    const doubled = received.length - new Set(received).size;
    const verify = await (await fetch(`${[...live.values()][0]!.url}/audit/v1/verify`, { headers: { authorization: `Bearer ${AUDITOR_KEY}` } })).json() as { ok: boolean };
    const crashes = gateways.filter((gateway) => gateway.crashed).length;
    const other5xx = [...load.statuses.entries()].filter(([status]) => /^5\d\d$/.test(status) && status !== '503').reduce((sum, [, n]) => sum + n, 0);
    const lost = ids.length - stored;

    const table = [
      `# Chaos run, ${new Date().toISOString().slice(0, 10)} on ${hostname()}`,
      '',
      `Command: \`npm run chaos\` (outage ${OUTAGE_MS / 1000} s, ${CONCURRENCY} connections, 2 gateway processes, ${Math.round((Date.now() - started) / 1000)} s in all).`,
      '',
      '| fault | what | recovered in |',
      '| --- | --- | --- |',
      ...results.map((result) => `| ${result.fault} | ${result.what} | ${result.recoveryMs === null ? '**not within 120 s**' : `${(result.recoveryMs / 1000).toFixed(1)} s`} |`),
      '',
      '| answered 2xx | stored | issued | lost | delivered twice | 5xx other than 503 | crashes | audit chain |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      `| ${ids.length} | ${stored} | ${issued} | ${lost} | ${doubled} | ${other5xx} | ${crashes} | ${verify.ok ? 'verifies' : '**broken**'} |`,
      '',
      `Answers by status: ${[...load.statuses.entries()].sort().map(([status, n]) => `${status} × ${n}`).join(', ')}.`,
      '',
      'Recovery: from the moment the fault is healed (the service is back, or the process restarted) until both',
      'a new birth is answered 2xx and a record is issued by BHXH again.',
    ].join('\n');
    process.stdout.write(`${table}\n`);
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'results', `chaos-${new Date().toISOString().slice(0, 10)}-${hostname()}.md`), `${table}\n`);
    const failed = lost > 0 || doubled > 0 || crashes > 0 || other5xx > 0 || !verify.ok
      || results.some((result) => result.recoveryMs === null) || issued < ids.length;
    process.exitCode = failed ? 1 : 0;
  } finally {
    await load.stop();
    for (const gateway of gateways) if (gateway.child.exitCode === null) gateway.child.kill('SIGKILL');
    await admin?.end().catch(() => undefined);
    await simulator.close();
    await redis?.down();
    postgres.remove();
    if (existsSync(workDir)) rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
  for (const gateway of gateways) if (gateway.child.exitCode === null) gateway.child.kill('SIGKILL');
});
