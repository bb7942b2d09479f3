import { createPublicKey } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import type { Queryable } from '../store/database.js';
import { verifyAuditLog } from './verify.js';

/** What the gateway's thread hands the worker: where the log is, and how to check it. */
export interface VerifyWorkerData {
  url: string;
  schema?: string;
  publicKeyPems: string[];
  checkpointDir?: string;
  /** No statement, nor the connection, waits longer: the gateway stops the worker by then anyway. */
  timeoutMs: number;
}

/**
 * Verification on a thread of its own, with a connection of its own: the rows of a million events
 * are received, parsed and hashed here, none of it on the thread that answers requests.
 */
async function run({ url, schema, publicKeyPems, checkpointDir, timeoutMs }: VerifyWorkerData) {
  // The server ends a statement or an idle transaction left by a stopped worker; keepalive finds a
  // peer that went away without a word.
  const settings = [`-c statement_timeout=${timeoutMs}`, `-c idle_in_transaction_session_timeout=${timeoutMs}`, ...(schema ? [`-c search_path=${schema}`] : [])];
  const client = new pg.Client({
    connectionString: url, options: settings.join(' '), keepAlive: true, connectionTimeoutMillis: Math.min(timeoutMs, 30_000),
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const db: Queryable = {
      async query<Row>(sql: string, params?: unknown[]) {
        const result = await client.query(sql, params);
        return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
      },
      async exec(sql: string) {
        await client.query(sql);
      },
    };
    // One snapshot for the whole walk, taken at its first read (after the checkpoint directory is
    // read): events committed meanwhile are for the next verification.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return await verifyAuditLog(db, { verifying: publicKeyPems.map((pem) => createPublicKey(pem)), checkpointDir });
  } finally {
    await client.end();
  }
}

run(workerData as VerifyWorkerData).then(
  (verdict) => parentPort?.postMessage({ verdict }),
  (error: Error & { code?: unknown }) => parentPort?.postMessage({ error: error.message, code: typeof error.code === 'string' ? error.code : undefined }),
);
