import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAuditLog } from '../src/audit/verify.js';
import { appendAuditEventsInTx, GENESIS_HASH, hashEvent, listAuditEvents } from '../src/store/audit-log.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { migrate } from '../src/store/migrate.js';
import { TEST_DATABASE_URL, uniqueSchema } from './support/gateway.js';

/**
 * Migration 016 on a database of the single chain: its events stay as they were sealed, as chain 0,
 * and new ones go to the new chains with ids after theirs.
 */
const migrationsDir = new URL('../src/store/migrations/', import.meta.url);
const CHAINS_MIGRATION = '016_audit_chains.sql';
const before = readdirSync(migrationsDir).filter((name) => /^\d{3}_.*\.sql$/.test(name) && name < CHAINS_MIGRATION).sort();

// Each test its own schema, at the migrations before 016 with three events of the single chain.
let schema: string;
let db: Database;
let hashes: string[];
beforeEach(async () => {
  schema = uniqueSchema('upgrade');
  db = await openDatabase({ url: TEST_DATABASE_URL, schema, dataDir: '' });
  await db.transaction(async (tx) => {
    await tx.exec('CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    for (const file of before) {
      await tx.exec(readFileSync(new URL(file, migrationsDir), 'utf8'));
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [file]);
    }
  });
  hashes = await sealAsBefore();
});
afterEach(async () => {
  await db?.exec(`DROP SCHEMA ${schema} CASCADE`);
  await db?.close();
});

/** Three events as the single chain sealed them: seq 1, 2, 3, each linked to the one before. */
async function sealAsBefore(): Promise<string[]> {
  let prevHash = GENESIS_HASH;
  const hashes: string[] = [];
  for (let seq = 1; seq <= 3; seq++) {
    const event = {
      seq, chain: 0, chainSeq: seq, at: `2026-11-28T10:00:0${seq}.000Z`, actor: 'hotich-08', action: 'khai-sinh.accepted',
      transferId: `transfer-${seq}`, fromStatus: null, toStatus: 'queued', payloadSha256: null, details: { door: 'rest-json' }, prevHash,
    };
    const hash = hashEvent(event);
    await db.query(
      `INSERT INTO audit_events (seq, at, actor, action, transfer_id, from_status, to_status, payload_sha256, details, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [seq, event.at, event.actor, event.action, event.transferId, event.fromStatus, event.toStatus, event.payloadSha256, event.details, prevHash, hash],
    );
    await db.query('UPDATE audit_chain_head SET seq = $1, hash = $2', [seq, hash]);
    hashes.push(hash);
    prevHash = hash;
  }
  return hashes;
}

describe('migration 016 on a database of the single audit chain', () => {
  it('keeps the old events as chain 0, verifiable as sealed, and appends after them on the new chains', async () => {
    // The later migrations run too; 016 must be the first of them.
    expect((await migrate(db))[0]).toBe(CHAINS_MIGRATION);

    await db.transaction(async (tx) => appendAuditEventsInTx(tx, [{ actor: 'test', action: 'test.after-upgrade' }]));
    const events = await listAuditEvents(db, { afterSeq: 0, limit: 10 });
    expect(events.map(({ seq, chain, chainSeq, hash }) => ({ seq, chain, chainSeq, hash }))).toEqual([
      { seq: 1, chain: 0, chainSeq: 1, hash: hashes[0] },
      { seq: 2, chain: 0, chainSeq: 2, hash: hashes[1] },
      { seq: 3, chain: 0, chainSeq: 3, hash: hashes[2] },
      { seq: 4, chain: 1, chainSeq: 1, hash: expect.any(String) },
    ]);
    expect(await verifyAuditLog(db)).toMatchObject({ ok: true, events: 4, chains: 17, problems: [] });
    await expect(db.query("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")).rejects.toThrow(/append-only/);
  });

  it('finds the end cut off the old chain, and a change to an old event', async () => {
    await migrate(db);
    const tamper = (sql: string) => db.transaction(async (tx) => {
      await tx.query("SET LOCAL session_replication_role = 'replica'");
      await tx.query(sql);
    });
    await tamper('DELETE FROM audit_events WHERE seq = 3');
    expect(await verifyAuditLog(db)).toMatchObject({ ok: false, events: 2, problems: [{ kind: 'cut-end', chain: 0, chainSeq: 3 }] });
    await tamper("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2");
    expect(await verifyAuditLog(db)).toMatchObject({ ok: false, brokenSeq: 2, problems: [{ kind: 'changed-event', chain: 0, chainSeq: 2, seq: 2 }] });
  });
});
