import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { provinceScope, type ApiClient } from '../auth/clients.js';
import { isConnectionError } from '../availability.js';
import { GatewayError, unavailable } from '../errors.js';
import { listAuditEvents, listAuditEventsBySeq, positionsAfter, type AuditEvent, type ChainPositions } from '../store/audit-log.js';
import type { Database } from '../store/database.js';
import { findTransfer } from '../store/transfers.js';
import { assertMayTouch } from '../transfers/access.js';
import { publicKeyPem, type AuditKeys } from './checkpoints.js';
import { verifyAuditLog, type AuditVerdict } from './verify.js';
import type { VerifyWorkerData } from './verify-worker.js';

/** A hold or release of every province concerns each of them. */
const EVERY_PROVINCE = '*';

export interface AuditEventQuery {
  transferId?: string;
  /** A cursor from an earlier page, or (as before chains) the last `seq` seen. */
  after?: string;
  limit: number;
}

export interface AuditEventPage {
  events: AuditEvent[];
  /** Where the next page starts: there is always one, even past the newest event. */
  nextCursor: string;
}

/** The feed's cursor: every chain's place, opaque to clients. Never all digits, unlike an old `seq`. */
export function encodeCursor(positions: ChainPositions): string {
  return Buffer.from(JSON.stringify(positions), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): ChainPositions | undefined {
  try {
    const positions = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (typeof positions !== 'object' || positions === null || Array.isArray(positions)) return undefined;
    const entries = Object.entries(positions);
    return entries.every(([chain, place]) => /^\d{1,9}$/.test(chain) && Number.isSafeInteger(place) && (place as number) >= 0)
      ? Object.fromEntries(entries) as ChainPositions
      : undefined;
  } catch {
    return undefined;
  }
}

export interface AuditLogOptions {
  keys?: AuditKeys;
  checkpointDir?: string;
  /** Where a verification worker connects (PostgreSQL only; PGlite lives on the gateway's thread). */
  databaseUrl?: string;
  databaseSchema?: string;
  /** A worker's verification that takes longer is stopped and answered 503 (default 10 minutes). */
  verifyTimeoutMs?: number;
}

const VERIFY_TIMEOUT_MS = 600_000;

/**
 * The worker's entry: the compiled .js beside this file, or, when this runs as TypeScript (tests,
 * tsx), the .ts through tsx's loader, which a worker of Node 20 does not inherit from its parent.
 */
function startVerifyWorker(workerData: VerifyWorkerData): Worker {
  const entry = new URL(`./verify-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  return new Worker(
    `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`,
    { eval: true, workerData },
  );
}

/** Reading and verifying the audit log (docs/API.md, "Audit"); nothing here writes it. */
export class AuditLog {
  constructor(private readonly db: Database, private readonly options: AuditLogOptions = {}) {}

  /**
   * Events oldest first, of the client's provinces only: a transfer it may not read is answered
   * 404 NOT_FOUND, as the transfer itself is, and a list without a transfer leaves out the other
   * provinces' events. A numeric `after` reads on by seq, as before chains: an event sealed on
   * another chain with a lower seq but committed later is then not seen; the cursor never misses one.
   */
  async events(client: ApiClient, query: AuditEventQuery): Promise<AuditEventPage> {
    const provinces = provinceScope(client);
    if (provinces && query.transferId !== undefined) assertMayTouch(await findTransfer(this.db, query.transferId), client);
    const numeric = query.after !== undefined && /^\d+$/.test(query.after);
    const positions = query.after === undefined ? {} : numeric ? undefined : decodeCursor(query.after);
    if (numeric ? !Number.isSafeInteger(Number(query.after)) : !positions) {
      throw new GatewayError('VALIDATION_FAILED', 'The request querystring is not valid', [
        { path: '/querystring/after', code: 'BAD_CURSOR', message: 'neither a seq nor a cursor this gateway gave' },
      ]);
    }
    const scope = { transferId: query.transferId, limit: query.limit, provinces: provinces && [...provinces, EVERY_PROVINCE] };
    // Always a cursor, even past the end: a poller keeps it and asks again later, and a numeric
    // `after` is answered with the chains' places too, so the next page misses nothing.
    if (numeric) {
      const page = await listAuditEventsBySeq(this.db, { ...scope, afterSeq: Number(query.after) });
      return { events: page.events, nextCursor: encodeCursor(page.positions) };
    }
    const events = await listAuditEvents(this.db, { ...scope, after: positions! });
    return { events, nextCursor: events.length === 0 && query.after !== undefined ? query.after : encodeCursor(positionsAfter(positions!, events)) };
  }

  private verifying?: Promise<AuditVerdict>;

  /**
   * On PostgreSQL in a worker thread with its own connection, so the gateway's thread does not hash
   * a single event; on PGlite (in this thread by nature) a walk that yields every 200 events. Callers
   * that ask while one runs share its verdict: a walk costs the database a read of the whole log.
   */
  verify(): Promise<AuditVerdict> {
    this.verifying ??= this.walk().finally(() => {
      this.verifying = undefined;
    });
    return this.verifying;
  }

  private worker?: Worker;

  private walk(): Promise<AuditVerdict> {
    const { keys, checkpointDir, databaseUrl, databaseSchema, verifyTimeoutMs = VERIFY_TIMEOUT_MS } = this.options;
    if (this.db.kind !== 'postgres' || !databaseUrl) {
      return verifyAuditLog(this.db, { verifying: keys?.verifying, checkpointDir, yieldEvery: 200 });
    }
    const worker = startVerifyWorker({
      url: databaseUrl, schema: databaseSchema, checkpointDir, publicKeyPems: (keys?.verifying ?? []).map(publicKeyPem),
      timeoutMs: verifyTimeoutMs,
    });
    this.worker = worker;
    let timer: NodeJS.Timeout | undefined;
    // Whatever stops a walk (the database out of reach, a lock it waits behind, the worker's end) is
    // a 503 to retry: the verdict is not known, and the next call starts a worker of its own.
    const verdict = new Promise<AuditVerdict>((resolve, reject) => {
      const fail = (why: string) => reject(Object.assign(unavailable(`The audit log could not be verified now (${why}); try again`), { cause: why }));
      timer = setTimeout(() => fail(`not done in ${verifyTimeoutMs} ms`), verifyTimeoutMs);
      worker.once('message', (answer: { verdict?: AuditVerdict; error?: string; code?: string }) => {
        if (answer.verdict) resolve(answer.verdict);
        else fail(isConnectionError(Object.assign(new Error(), { code: answer.code })) ? 'the database is out of reach' : `it failed: ${answer.error}`);
      });
      worker.once('error', (error) => fail(`its worker failed: ${error.message}`));
      worker.once('exit', (code) => fail(`its worker stopped (exit ${code})`));
    });
    return verdict.finally(() => {
      clearTimeout(timer);
      if (this.worker === worker) this.worker = undefined;
      void worker.terminate();
    });
  }

  /** Stops a verification under way (it is answered 503), so a closing gateway waits for no walk. */
  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}
