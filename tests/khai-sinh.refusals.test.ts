import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ApiClient } from '../src/auth/clients.js';
import { Catalogues } from '../src/catalogues/catalogues.js';
import type { KhaiSinh } from '../src/domain/documents.js';
import { GatewayError } from '../src/errors.js';
import { IntakeService, type IntakeResult } from '../src/intake/intake-service.js';
import type { Database } from '../src/store/database.js';
import { khaiTuOf } from './support/death-fixtures.js';
import { khaiSinh, messageId } from './support/fixtures.js';
import { countRows, startTestGateway, TEST_DATABASE_URL, type TestGateway } from './support/gateway.js';

/**
 * Births refused in a group commit (a birth already held for the person, a registered death) are
 * decided before anything is written: the others of the group still commit together, in the one
 * transaction, and each birth gets its own answer.
 */

let gateway: TestGateway;
let catalogues: Catalogues;
beforeAll(async () => {
  gateway = await startTestGateway();
  catalogues = Catalogues.fromFiles({ units: gateway.config.unitsFile, facilities: gateway.config.facilitiesFile });
});
afterAll(async () => {
  await gateway?.close();
});

const client: ApiClient = { id: 'hotich-08', roles: ['registry'], units: ['08'] };

/**
 * The gateway's database, with every transaction held at a gate until `open()` and the statements
 * of each recorded: the birth writer's two writers each take one birth and wait, and everything
 * submitted meanwhile forms the next group.
 */
function gatedDatabase(db: Database) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const transactions: string[][] = [];
  const gated: Database = {
    ...db,
    async transaction(work, options) {
      const statements: string[] = [];
      transactions.push(statements);
      await gate;
      return db.transaction((tx) => work({
        ...tx,
        query: (sql, params, queryOptions) => {
          statements.push(sql);
          return tx.query(sql, params, queryOptions);
        },
      }), options);
    },
  };
  return { db: gated, open, transactions };
}

/** Sends births so that all but the first two are written together, in one transaction. */
async function inOneGroup(births: KhaiSinh[]) {
  const { db, open, transactions } = gatedDatabase(gateway.db);
  const intake = new IntakeService({ db, catalogues, now: () => new Date('2025-03-20T03:00:00Z') });
  const send = (doc: KhaiSinh) => intake.accept('KhaiSinh', structuredClone(doc), client, 'rest-json')
    .catch((error: unknown) => (error instanceof GatewayError ? error : Promise.reject(error)));
  const openers = [send(khaiSinh()), send(khaiSinh())];
  const answers = births.map(send);
  // Every birth reaches the writer without I/O, so one turn of the event loop has queued them all.
  await new Promise((resolve) => setImmediate(resolve));
  return {
    transactions,
    open,
    settled: async () => {
      const results = await Promise.all([...openers, ...answers]);
      return results.slice(2) as Array<IntakeResult | GatewayError>;
    },
  };
}

const post = (url: string, doc: unknown) => gateway.request('registry08', { method: 'POST', url, payload: doc as object });

async function recorded(doc: KhaiSinh): Promise<boolean> {
  const { rows } = await gateway.db.query('SELECT 1 FROM inbound_messages WHERE client_id = $1 AND message_id = $2', [client.id, doc.messageId]);
  return rows.length > 0;
}

const codeOf = (result: IntakeResult | GatewayError) => (result instanceof GatewayError ? result.code : result.statusCode);

describe('refused births in a group commit', () => {
  it('stores the others of the group in the same transaction, answers each, and writes nothing for a refusal', async () => {
    const held = khaiSinh();
    const stored = khaiSinh();
    const died = khaiSinh();
    expect((await post('/ngsp/v1/khai-sinh', held)).statusCode).toBe(202);
    const first = await post('/ngsp/v1/khai-sinh', stored);
    expect(first.statusCode).toBe(202);
    expect((await post('/ngsp/v1/khai-tu', khaiTuOf(died))).statusCode).toBe(202);
    const before = { transfers: await countRows(gateway.db, 'transfers'), inbound: await countRows(gateway.db, 'inbound_messages') };

    const fresh = [khaiSinh(), khaiSinh()];
    const sameChildAgain = { ...khaiSinh({ hoTich: { soDinhDanh: held.hoTich.soDinhDanh } }), messageId: messageId() };
    const deceased = { ...died, messageId: messageId() };
    const group = await inOneGroup([fresh[0]!, sameChildAgain, stored, deceased, fresh[1]!]);
    group.open();
    const results = await group.settled();

    expect(results.map(codeOf)).toEqual([202, 'DUPLICATE_PERSON', 200, 'PERSON_DECEASED', 202]);
    expect(results[0]).toEqual({ statusCode: 202, answer: { transferId: expect.any(String), messageId: fresh[0]!.messageId, status: 'queued' } });
    expect(results[4]).toEqual({ statusCode: 202, answer: { transferId: expect.any(String), messageId: fresh[1]!.messageId, status: 'queued' } });
    expect(results[2]).toEqual({ statusCode: 200, answer: first.json() });
    expect((results[1] as GatewayError).details).toEqual([expect.objectContaining({ path: '/hoTich/soDinhDanh', code: 'DUPLICATE_PERSON' })]);

    // Two openers alone, then the whole group in one transaction that deleted nothing.
    expect(group.transactions).toHaveLength(3);
    const groupStatements = group.transactions[2]!;
    expect(groupStatements.filter((sql) => sql.includes('INSERT INTO transfers'))).toHaveLength(1);
    expect(groupStatements.filter((sql) => /\bDELETE\b/.test(sql))).toEqual([]);

    expect(await countRows(gateway.db, 'transfers')).toBe(before.transfers + 4);
    expect(await countRows(gateway.db, 'inbound_messages')).toBe(before.inbound + 4);
    expect(await Promise.all([fresh[0]!, fresh[1]!, sameChildAgain, deceased].map(recorded))).toEqual([true, true, false, false]);
    const { rows: events } = await gateway.db.query<{ transfer_id: string }>(
      `SELECT transfer_id FROM audit_events WHERE transfer_id = ANY($1::text[])`,
      [[results[0], results[4]].map((result) => (result as IntakeResult).answer.transferId)],
    );
    expect(events).toHaveLength(2);

    // Nothing of the refusal was kept: the same message again is refused again, not a repeat.
    const again = await post('/ngsp/v1/khai-sinh', sameChildAgain);
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('DUPLICATE_PERSON');
  });

  it('refuses a birth whose person gains a birth while its statement waits, and still stores the rest of the group', async () => {
    const moved = khaiSinh();
    const accepted = await post('/ngsp/v1/khai-sinh', moved);
    expect(accepted.statusCode).toBe(202);
    const racing = khaiSinh();
    const other = khaiSinh();

    // A writer without the person's lock (an earlier version's correction, a hand-made UPDATE) can
    // move a stored birth onto a number while a group holding that person's lock is being written.
    // Here it is held open until the group waits for it.
    const correction = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${gateway.schema}` });
    await correction.connect();
    try {
      await correction.query('BEGIN');
      await correction.query('UPDATE transfers SET so_dinh_danh = $2 WHERE id = $1', [accepted.json().transferId, racing.hoTich.soDinhDanh]);
      const pid = (await correction.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      const group = await inOneGroup([racing, other]);
      group.open();
      // Asked on another connection: inside a transaction PostgreSQL shows the activity of its start.
      await vi.waitFor(async () => {
        const { rows } = await gateway.db.query(
          `SELECT 1 FROM pg_stat_activity WHERE $1::int = ANY (pg_blocking_pids(pid)) AND query LIKE 'WITH input%'`,
          [pid],
        );
        expect(rows).toHaveLength(1);
      }, { timeout: 10_000, interval: 20 });
      await correction.query('COMMIT');
      const results = await group.settled();

      expect(results.map(codeOf)).toEqual(['DUPLICATE_PERSON', 202]);
      expect(group.transactions).toHaveLength(3);
      expect(await Promise.all([racing, other].map(recorded))).toEqual([false, true]);
    } finally {
      await correction.end();
    }
  });
});
