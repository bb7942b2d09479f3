import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ApiClient } from '../src/auth/clients.js';
import { Catalogues } from '../src/catalogues/catalogues.js';
import { loadConfig } from '../src/config.js';
import { CallbackDelivery } from '../src/dispatch/callbacks.js';
import { IntakeService } from '../src/intake/intake-service.js';
import { createMetrics } from '../src/metrics.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { migrate } from '../src/store/migrate.js';
import { khaiSinh, TEST_NOW } from './support/fixtures.js';

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

describe('callback delivery on PGlite', () => {
  it('claims, posts and records as on PostgreSQL: a refused callback comes again, in order, then the next', async () => {
    const embeddedDir = mkdtempSync(join(tmpdir(), 'lienthong-pglite-delivery-'));
    const embedded = await openDatabase({ dataDir: embeddedDir });
    const answers = [503];
    const received: Array<{ eventId: string; transferId: string; answered: number }> = [];
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const answered = answers.shift() ?? 200;
        received.push({ ...JSON.parse(Buffer.concat(chunks).toString('utf8')), answered });
        response.writeHead(answered).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client: ApiClient = {
      id: 'hotich-08-embedded', roles: ['registry'], units: ['08'],
      callbackUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, callbackSecret: 'embedded-secret-0123456789',
    };
    const delivery = new CallbackDelivery({
      db: embedded, logger: pino({ level: 'silent' }), metrics: createMetrics(embedded), clients: [client], knownClientIds: [client.id],
      timeoutMs: 5000, baseDelayMs: 10, concurrency: 2, intervalMs: 20,
    });
    try {
      await migrate(embedded);
      await delivery.subscribe();
      const config = loadConfig({});
      const intake = new IntakeService({ db: embedded, catalogues: Catalogues.fromFiles({ units: config.unitsFile, facilities: config.facilitiesFile }), now: () => TEST_NOW });
      const transferIds: string[] = [];
      for (let i = 0; i < 3; i++) transferIds.push((await intake.accept('KhaiSinh', khaiSinh(), client, 'rest-json')).answer.transferId);

      delivery.start();
      await vi.waitFor(() => expect(received.filter((call) => call.answered === 200)).toHaveLength(3), { timeout: 10_000, interval: 20 });
      expect(received.map((call) => [call.transferId, call.answered])).toEqual([
        [transferIds[0], 503], [transferIds[0], 200], [transferIds[1], 200], [transferIds[2], 200],
      ]);
      expect(received[0]?.eventId).toBe(received[1]?.eventId);
      expect((await embedded.query('SELECT 1 FROM callback_outbox')).rowCount).toBe(0);
    } finally {
      await delivery.close();
      server.close();
      await embedded.close();
      rmSync(embeddedDir, { recursive: true, force: true });
    }
  });
});
