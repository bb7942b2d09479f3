import type { Redis } from 'ioredis';
import { GatewayError, RETRY_AFTER_SECONDS } from './errors.js';
import type { Database } from './store/database.js';

const CHECK_TIMEOUT_MS = 2000;

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ReadinessReport {
  database: Database['kind'];
  redis: 'ok' | 'down';
}

/** Whether this process can take traffic (GET /readyz, docs/API.md). */
export class Readiness {
  constructor(private readonly deps: { db: Database; redis: Redis }) {}

  /** What answers; 503 UNAVAILABLE with Retry-After when the database does not. */
  async check(): Promise<ReadinessReport> {
    const { db, redis } = this.deps;
    const checks = await Promise.allSettled([
      withTimeout(db.query('SELECT 1'), CHECK_TIMEOUT_MS),
      withTimeout(redis.ping(), CHECK_TIMEOUT_MS),
    ]);
    const names = ['database', 'redis'];
    const failed = checks.flatMap((check, index) =>
      check.status === 'rejected' ? [{ path: `/${names[index]}`, code: 'UNREACHABLE', message: String((check.reason as Error)?.message ?? check.reason) }] : [],
    );
    // Ready means able to take traffic, and intake needs only the database: without Redis, messages
    // are still accepted and wait in PostgreSQL, so Redis's state is reported, not failed on.
    if (checks[0].status === 'rejected') throw new GatewayError('UNAVAILABLE', 'Not ready', failed, { 'retry-after': String(RETRY_AFTER_SECONDS) });
    return { database: db.kind, redis: checks[1].status === 'fulfilled' ? 'ok' : 'down' };
  }
}
