import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/store/database.js';

/**
 * Migration 010 on the embedded PGlite: a database of the cursor era moves to the outbox, and the
 * trigger that fills it works there as on PostgreSQL.
 */
const migrationsDir = new URL('../src/store/migrations/', import.meta.url);
const migrations = readdirSync(migrationsDir).filter((name) => /^\d{3}_.*\.sql$/.test(name)).sort();
const OUTBOX_MIGRATION = '010_callback_outbox.sql';

let dataDir: string;
let db: Database;
let seq = 0;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'lienthong-pglite-callbacks-'));
  db = await openDatabase({ dataDir });
});
afterAll(async () => {
  await db?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const apply = async (file: string) => db.exec(readFileSync(new URL(file, migrationsDir), 'utf8'));

async function transfer(id: string, clientId: string): Promise<void> {
  await db.query(
    `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document)
     VALUES ($1, 'KHAI_SINH', $2, $1, 'queued', '08', '02215', $1, '{}')`,
    [id, clientId],
  );
}

/** An audit event as the log would seal it (the chain's hashes play no part here). */
async function event(transferId: string | null, fromStatus: string | null, toStatus: string | null): Promise<number> {
  seq += 1;
  await db.query(
    `INSERT INTO audit_events (seq, at, actor, action, transfer_id, from_status, to_status, prev_hash, hash)
     VALUES ($1, now(), 'test', 'test.change', $2, $3, $4, 'prev', $5)`,
    [seq, transferId, fromStatus, toStatus, `hash-${seq}`],
  );
  return seq;
}

const outbox = async () => (await db.query<{ audit_seq: number; client_id: string }>(
  'SELECT audit_seq::int AS audit_seq, client_id FROM callback_outbox ORDER BY audit_seq',
)).rows;

describe('migration 010 and the outbox trigger on PGlite', () => {
  it('carries over what each cursor had not yet passed, and nothing of clients without one', async () => {
    for (const file of migrations.filter((name) => name < OUTBOX_MIGRATION)) await apply(file);
    await transfer('t-cursor', 'hotich-cursor');
    await transfer('t-none', 'hotich-none');
    const passed = await event('t-cursor', null, 'queued');
    await event('t-none', null, 'queued');
    const owed = await event('t-cursor', 'queued', 'sent');
    await event('t-cursor', 'sent', 'sent');
    const alsoOwed = await event('t-cursor', 'sent', 'issued');
    await db.query('INSERT INTO callback_cursors (client_id, last_seq) VALUES ($1, $2)', ['hotich-cursor', passed]);

    await apply(OUTBOX_MIGRATION);

    expect(await outbox()).toEqual([{ audit_seq: owed, client_id: 'hotich-cursor' }, { audit_seq: alsoOwed, client_id: 'hotich-cursor' }]);
    expect((await db.query('SELECT client_id FROM callback_subscriptions')).rows).toEqual([{ client_id: 'hotich-cursor' }]);
    expect((await db.query("SELECT to_regclass('callback_cursors') AS cursors")).rows).toEqual([{ cursors: null }]);
  });

  it('writes a row for each change of a subscriber, none for others or for events that change nothing', async () => {
    const before = await outbox();
    const change = await event('t-cursor', 'issued', 'returned');
    await event('t-cursor', 'returned', 'returned');
    await event('t-none', 'queued', 'sent');
    await event(null, null, null);
    expect(await outbox()).toEqual([...before, { audit_seq: change, client_id: 'hotich-cursor' }]);

    await db.query('DELETE FROM callback_subscriptions');
    await event('t-cursor', 'returned', 'queued');
    expect(await outbox()).toEqual([...before, { audit_seq: change, client_id: 'hotich-cursor' }]);
  });

  it('does so for every event of one multi-row insert, as a statement-level trigger', async () => {
    await db.query("INSERT INTO callback_subscriptions (client_id) VALUES ('hotich-none')");
    await db.query(
      `INSERT INTO audit_events (seq, at, actor, action, transfer_id, from_status, to_status, prev_hash, hash)
       SELECT $1::int + n, now(), 'test', 'test.batch', 't-none', 'sent', CASE WHEN n % 2 = 0 THEN 'issued' ELSE 'sent' END, 'prev', 'batch-' || n
         FROM generate_series(1, 6) AS n`,
      [seq],
    );
    const rows = (await outbox()).filter((row) => row.client_id === 'hotich-none');
    expect(rows.map((row) => row.audit_seq)).toEqual([seq + 2, seq + 4, seq + 6]);
    seq += 6;
  });
});
