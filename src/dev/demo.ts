import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FINAL_STATUSES, type TransferStatus } from '../domain/transfer-status.js';
import { Redis } from 'ioredis';
import { DEFAULT_REDIS_URL } from '../config.js';
import { packagePath } from '../package-files.js';
import { deleteQueueKeys } from '../redis.js';

/**
 * `npm run demo`: the gateway's main job, end to end, on a fresh machine. It starts the gateway in
 * dev mode (embedded database in a temporary folder, the BHXH simulator as push target), sends
 * examples/khai-sinh.json as a registry system would, and prints each status the birth goes through
 * until BHXH has issued its card.
 */
const DEMO_DEADLINE_MS = 60_000;
const QUEUE_PREFIX = 'lienthong-demo';

/** The demo's own output, for the person watching: it holds the example's made-up data only. */
function say(text: string): void {
  process.stdout.write(`${text}\n`);
}
const POLL_MS = 250;

const dataDir = mkdtempSync(join(tmpdir(), 'lienthong-demo-'));
const gateway = spawn(process.execPath, [packagePath('dist', 'src', 'main.js')], {
  env: {
    ...process.env, DATA_DIR: dataDir, PORT: '0', QUEUE_PREFIX, DISPATCH_INTERVAL_MS: '2000',
    CLIENTS_FILE: '', BHXH_PUSH_URL: '', BHXH_SIMULATOR: 'on', DATABASE_URL: '', LOG_LEVEL: 'info',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});

function stopGateway(): void {
  gateway.kill('SIGTERM');
}

async function started(): Promise<{ url: string; registryKey: string }> {
  let registryKey: string | undefined;
  for await (const line of createInterface({ input: gateway.stdout })) {
    registryKey ??= /registry\s+Authorization: Bearer (\S+)/.exec(line)?.[1];
    if (line.includes('SIMULATOR RUNNING')) say(line);
    const url = /"msg":"Server listening at (http:\/\/[^"]+)"/.exec(line)?.[1];
    if (url && registryKey) return { url, registryKey };
  }
  throw new Error('the gateway stopped before it was ready');
}

async function demo(): Promise<void> {
  const { url, registryKey } = await started();
  const headers = { authorization: `Bearer ${registryKey}`, 'content-type': 'application/json' };
  const birth = readFileSync(packagePath('examples', 'khai-sinh.json'), 'utf8');
  say(`gateway ready at ${url}\nPOST /ngsp/v1/khai-sinh  examples/khai-sinh.json`);
  const answer = await fetch(`${url}/ngsp/v1/khai-sinh`, { method: 'POST', headers, body: birth });
  const accepted = await answer.json() as { transferId: string; status: string };
  say(`  ${answer.status} ${JSON.stringify(accepted)}`);
  if (!answer.ok) throw new Error('the example birth was refused');

  const deadline = Date.now() + DEMO_DEADLINE_MS;
  let shown = 0;
  for (;;) {
    const transfer = await (await fetch(`${url}/ngsp/v1/transfers/${accepted.transferId}`, { headers })).json() as {
      status: string; card: Record<string, string> | null; history: Array<{ at: string; action: string; toStatus: string | null }>;
    };
    for (const event of transfer.history.slice(shown)) say(`  ${event.at}  ${event.action.padEnd(22)} → ${event.toStatus}`);
    shown = transfer.history.length;
    if (transfer.status === 'issued') {
      say(`card issued: ${JSON.stringify(transfer.card)}`);
      return;
    }
    if (FINAL_STATUSES.includes(transfer.status as TransferStatus)) throw new Error(`the birth ended ${transfer.status}`);
    if (Date.now() > deadline) throw new Error(`no card within ${DEMO_DEADLINE_MS / 1000} s (status ${transfer.status})`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

demo().then(
  () => {
    stopGateway();
    process.exitCode = 0;
  },
  (error: unknown) => {
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    stopGateway();
    process.exitCode = 1;
  },
).finally(() => {
  gateway.once('exit', () => {
    rmSync(dataDir, { recursive: true, force: true });
    void forgetQueues();
  });
});

/** The demo's database is gone with its folder, so its queues in Redis are of no use to anyone. */
async function forgetQueues(): Promise<void> {
  const redis = new Redis(process.env.REDIS_URL || DEFAULT_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await deleteQueueKeys(redis, QUEUE_PREFIX);
  } catch {
    // A private Redis of dev mode has gone with the gateway, and its keys with it.
  } finally {
    redis.disconnect();
  }
}
