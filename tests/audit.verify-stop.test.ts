import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/audit-log.js';
import { appendAuditEventsInTx } from '../src/store/audit-log.js';
import type { Queryable } from '../src/store/database.js';
import { startTestGateway, TEST_DATABASE_URL, type TestGateway } from './support/gateway.js';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
  await gateway.db.transaction(async (tx) => appendAuditEventsInTx(tx, [{ actor: 'test', action: 'test.one' }]));
});
afterAll(async () => {
  await gateway?.close();
});

const workerLog = (verifyTimeoutMs?: number) => new AuditLog(gateway.db, { databaseUrl: TEST_DATABASE_URL, databaseSchema: gateway.schema, verifyTimeoutMs });

/** Runs `during` while a lock keeps every verification's first read waiting. */
function behindLock<T>(during: () => Promise<T>): Promise<T> {
  return gateway.db.transaction(async (tx) => {
    await tx.query('LOCK TABLE audit_checkpoints IN ACCESS EXCLUSIVE MODE');
    return during();
  });
}

async function waitingForLock(db: Queryable): Promise<void> {
  const waiting = async () => Number((await db.query<{ waiting: string }>(
    `SELECT count(*) AS waiting FROM pg_locks WHERE NOT granted AND relation = 'audit_checkpoints'::regclass`,
  )).rows[0]?.waiting);
  while (await waiting() === 0);
}

describe('a verification that does not finish', () => {
  it('is stopped at its timeout and answered 503; the next call starts afresh and succeeds', async () => {
    // Long enough for a worker to start (through tsx here) and walk one event on a busy machine.
    const log = workerLog(5_000);
    try {
      // Without a timeout this would wait for the lock, which is held until it answers.
      await behindLock(() => expect(log.verify()).rejects.toMatchObject({ code: 'UNAVAILABLE', status: 503 }));
      expect(await log.verify()).toMatchObject({ ok: true, events: 1 });
    } finally {
      await log.close();
    }
  });

  it('is stopped when the gateway closes, and answered 503', async () => {
    const log = workerLog();
    await behindLock(async () => {
      const verdict = log.verify();
      await waitingForLock(gateway.db);
      await log.close();
      await expect(verdict).rejects.toMatchObject({ code: 'UNAVAILABLE', status: 503 });
    });
    expect(await workerLog().verify()).toMatchObject({ ok: true, events: 1 });
  });

  it('answers a worker\'s failure (a schema that is not there) 503 in the error shape, not 500', async () => {
    const log = new AuditLog(gateway.db, { databaseUrl: TEST_DATABASE_URL, databaseSchema: 'no_such_schema_here' });
    await expect(log.verify()).rejects.toMatchObject({ code: 'UNAVAILABLE', status: 503 });
  });
});
