import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { appendAuditEventInTx, listAuditEvents } from '../src/store/audit-log.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { migrate } from '../src/store/migrate.js';
import { TEST_DATABASE_URL, uniqueSchema } from './support/gateway.js';

/** The database's clock in the form audit events carry it. */
async function databaseNow(db: Database): Promise<string> {
  const { rows } = await db.query<{ now: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS now`);
  return rows[0]!.now;
}

const FAR_PAST = Date.parse('2001-01-01T00:00:00.000Z');

describe('audit timestamps on PostgreSQL', () => {
  const schema = uniqueSchema('clock');
  let db: Database;
  /** A second gateway's pool on the same chain. */
  let second: Database;
  beforeAll(async () => {
    db = await openDatabase({ url: TEST_DATABASE_URL, schema, dataDir: '/nonexistent' });
    await migrate(db);
    second = await openDatabase({ url: TEST_DATABASE_URL, schema, dataDir: '/nonexistent' });
  });
  afterAll(async () => {
    await second?.close();
    await db?.exec(`DROP SCHEMA ${schema} CASCADE`);
    await db?.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('are the database\'s time, whatever this host\'s clock says', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(FAR_PAST);
    const before = await databaseNow(db);
    await db.transaction(async (tx) => appendAuditEventInTx(tx, { actor: 'test', action: 'test.clock' }));
    const after = await databaseNow(db);

    expect(new Date().toISOString()).toBe('2001-01-01T00:00:00.000Z');
    const [event] = (await listAuditEvents(db, { afterSeq: 0, limit: 1000 })).filter(({ action }) => action === 'test.clock');
    expect(event?.at.startsWith('2001')).toBe(false);
    // The same fixed ISO form, so comparing the text compares the times.
    expect(event!.at >= before && event!.at <= after, `${before} ≤ ${event!.at} ≤ ${after}`).toBe(true);
    expect(await verifyAuditLog(db)).toMatchObject({ ok: true });
  });

  it('follow the sequence with two writers while this host\'s clock runs backwards', async () => {
    const [last] = (await listAuditEvents(db, { afterSeq: 0, limit: 1000 })).slice(-1);
    vi.useFakeTimers({ toFake: ['Date'] });
    let hostClock = Date.parse('2030-01-01T00:00:00.000Z');
    await Promise.all([db, second].map(async (writer, index) => {
      for (let round = 0; round < 15; round++) {
        // Each append sees a host clock an hour earlier than the one before it.
        hostClock -= 3_600_000;
        vi.setSystemTime(hostClock);
        await writer.transaction(async (tx) => appendAuditEventInTx(tx, { actor: `writer-${index}`, action: 'test.order', details: { round } }));
      }
    }));

    const events = await listAuditEvents(db, { afterSeq: last?.seq ?? 0, limit: 1000 });
    expect(events.filter(({ action }) => action === 'test.order')).toHaveLength(30);
    expect(new Set(events.map(({ actor }) => actor))).toEqual(new Set(['writer-0', 'writer-1']));
    // Time order holds along each chain (each append waited for the one before it on that chain);
    // across chains, seq and commit order may differ.
    const chains = [...new Set(events.map(({ chain }) => chain))].map((chain) => events.filter((event) => event.chain === chain));
    const outOfOrder = chains.flatMap((chain) => chain.slice(1).filter((event, index) => event.at < chain[index]!.at));
    expect(outOfOrder).toEqual([]);
    expect(await verifyAuditLog(db)).toMatchObject({ ok: true });
  });
});

describe('audit timestamps on PGlite', () => {
  let dataDir: string;
  let db: Database;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lienthong-clock-'));
    db = await openDatabase({ dataDir });
    await migrate(db);
  });
  afterAll(async () => {
    await db?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  // PGlite runs in this process, so its clock is this host's: there is no other host to differ from.
  it('are the database\'s time, read in the same form', async () => {
    const before = await databaseNow(db);
    await db.transaction(async (tx) => appendAuditEventInTx(tx, { actor: 'test', action: 'test.clock' }));
    const after = await databaseNow(db);

    const [event] = await listAuditEvents(db, { afterSeq: 0, limit: 1 });
    expect(event?.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(event!.at >= before && event!.at <= after, `${before} ≤ ${event!.at} ≤ ${after}`).toBe(true);
    expect(await verifyAuditLog(db)).toMatchObject({ ok: true, events: 1 });
  });
});
