import type { ApiClient } from '../../auth/clients.js';
import { isConnectionError } from '../../availability.js';
import type { KhaiSinh } from '../../domain/documents.js';
import { GatewayError, unavailable } from '../../errors.js';
import { appendAuditEventsInTx } from '../../store/audit-log.js';
import type { Database, Queryable } from '../../store/database.js';
import type { IntakeAnswer } from '../../store/inbound-messages.js';
import { assertMayMove, type TransferStatus } from '../../domain/transfer-status.js';
import { birthLocks } from './card.js';
import type { GroupOutcome } from '../message-module.js';
import { BIRTH_STANDING_COLUMNS, birthAlreadyHeld, birthDecision } from './standing.js';

/** A birth that passed every check, translated, waiting for its commit. */
export interface PendingBirth {
  client: ApiClient;
  door: string;
  doc: KhaiSinh;
  /** The document as canonical JSON: what contentSha256 hashes, and what is stored. */
  documentJson: string;
  contentSha256: string;
  transferId: string;
  status: TransferStatus;
  missing: string[];
  bhxhDocument: Record<string, unknown> | null;
}

interface Waiting {
  birth: PendingBirth;
  resolve: (outcome: GroupOutcome) => void;
  reject: (error: unknown) => void;
  /** A second copy of a message already in the same batch: answered as a repeat once it commits. */
  repeatOfBatch?: boolean;
}

const MAX_BATCH = 500;
/** The batch's input rows, column by column: each birth's values are named, their order is this list's. */
const INPUT_COLUMNS = {
  id: 'text', client_id: 'text', message_id: 'text', content_sha256: 'text', response: 'jsonb', status: 'text',
  ma_tinh: 'text', ma_don_vi: 'text', so_dinh_danh: 'text', document: 'jsonb', missing: 'jsonb', bhxh_document: 'jsonb',
  ma_ho_so: 'text',
} as const;
type InputColumn = keyof typeof INPUT_COLUMNS;
const COLUMN_NAMES = Object.keys(INPUT_COLUMNS) as InputColumn[];

/** Row n of the batch's VALUES list, one cast parameter per column and n last: made once, about 80 kB for all 500. */
const INPUT_ROWS = Array.from({ length: MAX_BATCH }, (_, row) => {
  const cells = COLUMN_NAMES.map((name, column) => `$${row * COLUMN_NAMES.length + column + 1}::${INPUT_COLUMNS[name]}`);
  return `(${cells.join(',')},${row + 1})`;
});

function inputRows(count: number): string {
  return INPUT_ROWS.slice(0, count).join(',');
}
const WRITERS = 2;

/**
 * Group commit for the hot path. Births that arrive while a transaction is being written wait for
 * the next one, so under load one commit (one fsync, one turn at the audit chain's lock) stores many
 * births, and at low load a birth is written at once, alone. Nothing is answered before its commit.
 * Every rule a single insert enforces holds here too: the same unique keys decide idempotency and
 * one-birth-per-person, row by row (ON CONFLICT DO NOTHING), so one bad row never fails the rest.
 */
export class BirthWriter {
  private readonly waiting: Waiting[] = [];
  private writers = 0;

  constructor(private readonly db: Database) {}

  submit(birth: PendingBirth): Promise<GroupOutcome> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ birth, resolve, reject });
      if (this.writers < WRITERS) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writers += 1;
    try {
      while (this.waiting.length > 0) {
        const batch = this.takeBatch();
        try {
          await this.write(batch);
        } catch (error) {
          // Without the database every birth would fail alone too, each after its own wait for a connection.
          if (isConnectionError(error)) for (const entry of batch) entry.reject(unavailable());
          // One row PostgreSQL refuses must not fail the births that came with it: each alone now.
          else for (const entry of batch) await this.write([entry]).catch((rowError: unknown) => entry.reject(rowError));
        }
      }
    } finally {
      this.writers -= 1;
    }
  }

  /**
   * The next births to write, at most one per person: a second birth for a person already in this
   * transaction waits for the next one, where the first is committed (or refused) and decides it.
   * A second copy of a message already in this transaction is answered as a repeat once it commits.
   */
  private takeBatch(): Waiting[] {
    const batch: Waiting[] = [];
    const later: Waiting[] = [];
    const persons = new Set<string>();
    const messages = new Set<string>();
    const laterMessages = new Set<string>();
    const repeats: Waiting[] = [];
    for (const entry of this.waiting.splice(0, MAX_BATCH)) {
      const messageKey = `${entry.birth.client.id}\u0000${entry.birth.doc.messageId}`;
      const person = entry.birth.doc.hoTich.soDinhDanh;
      if (messages.has(messageKey)) repeats.push(entry);
      // A message id waits with its first copy, so the copy that came first is the one decided first.
      else if (persons.has(person) || laterMessages.has(messageKey)) {
        later.push(entry);
        laterMessages.add(messageKey);
      } else {
        batch.push(entry);
        persons.add(person);
        messages.add(messageKey);
      }
    }
    this.waiting.unshift(...later);
    // Answered after the batch commits, so the repeat finds the first copy stored.
    if (repeats.length > 0) batch.push(...repeats.map((entry) => ({ ...entry, repeatOfBatch: true })));
    return batch;
  }

  private async write(batch: Waiting[]): Promise<void> {
    const writable = batch.filter((entry) => !entry.repeatOfBatch);
    const births = writable.map((entry) => entry.birth);
    // The same per-person (and per-dossier) locks as a death or a dossier takes.
    const locks = births.flatMap((birth) => birthLocks(birth.doc));
    const outcomes = writable.length === 0 ? [] : await this.db.transaction((tx) => this.writeInTx(tx, births), { locks });
    writable.forEach((entry, index) => {
      const outcome = outcomes[index] as GroupOutcome | GatewayError;
      if (outcome instanceof GatewayError) entry.reject(outcome);
      else entry.resolve(outcome);
    });
    for (const entry of batch) if (entry.repeatOfBatch) entry.resolve({ kind: 'repeat' });
  }

  /**
   * One statement checks and stores the whole batch, inside the per-person locks: under load each
   * round trip of a transaction cost a batch about as long as PostgreSQL's work on it (BEGIN took as
   * long as the locks; docs/PERFORMANCE.md). In precedence order,
   * a birth is a repeat of a stored message, refused for a registered death, left for a waiting
   * one-stop dossier to complete, or refused because a birth is already held for its person; the
   * others are recorded (idempotency row) and stored. A refusal writes nothing: it costs its checks'
   * index probes, less than a birth stored, however many births are held.
   */
  private async writeInTx(tx: Queryable, births: PendingBirth[]): Promise<Array<GroupOutcome | GatewayError>> {
    const answerOf = (birth: PendingBirth): IntakeAnswer => ({ transferId: birth.transferId, messageId: birth.doc.messageId, status: birth.status });
    // One parameter per value rather than one array per column: pg would quote and escape every
    // element of a text array, the JSON documents most, and PostgreSQL parse each array back.
    const values: Array<string | null> = [];
    for (const birth of births) {
      // The statement inserts directly: the state table's first-status rule is checked here instead.
      assertMayMove(birth.transferId, null, birth.status);
      const row: Record<InputColumn, string | null> = {
        id: birth.transferId, client_id: birth.client.id, message_id: birth.doc.messageId, content_sha256: birth.contentSha256,
        response: JSON.stringify(answerOf(birth)), status: birth.status, ma_tinh: birth.doc.hoTich.noiDangKy.maTinh,
        ma_don_vi: birth.doc.maDonVi, so_dinh_danh: birth.doc.hoTich.soDinhDanh, document: birth.documentJson,
        missing: JSON.stringify(birth.missing), bhxh_document: birth.bhxhDocument ? JSON.stringify(birth.bhxhDocument) : null,
        ma_ho_so: birth.doc.maHoSoMCDT ?? null,
      };
      for (const name of COLUMN_NAMES) values.push(row[name]);
    }
    const { rows } = await tx.query<{ ord: string | number; known: boolean; dead: boolean; waiting_dossier: boolean; held: boolean; recorded: boolean; stored: boolean }>(
      `WITH input (${COLUMN_NAMES.join(', ')}, ord) AS (
         VALUES ${inputRows(births.length)}
       ),
       checked AS (
         SELECT i.*,
                EXISTS (SELECT 1 FROM inbound_messages m WHERE m.client_id = i.client_id AND m.message_id = i.message_id) AS known,
                ${BIRTH_STANDING_COLUMNS}
           FROM input i
       ),
       recorded AS (
         INSERT INTO inbound_messages (client_id, message_id, message_type, content_sha256, transfer_id, response)
         SELECT client_id, message_id, 'KhaiSinh', content_sha256, id, response FROM checked
          WHERE NOT (known OR dead OR waiting_dossier OR held)
         ON CONFLICT (client_id, message_id) DO NOTHING
         RETURNING transfer_id
       ),
       stored AS (
         INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, ma_ho_so)
         SELECT id, 'KHAI_SINH', client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, ma_ho_so
           FROM checked WHERE id IN (SELECT transfer_id FROM recorded)
         ON CONFLICT (so_dinh_danh) WHERE type = 'KHAI_SINH' DO NOTHING
         RETURNING id
       )
       SELECT c.ord, c.known, c.dead, c.waiting_dossier, c.held,
              c.id IN (SELECT transfer_id FROM recorded) AS recorded, c.id IN (SELECT id FROM stored) AS stored
         FROM checked c`,
      values,
      { prepared: false },
    );
    const outcomes: Array<GroupOutcome | GatewayError> = births.map(() => ({ kind: 'repeat' }));
    const unrecord: PendingBirth[] = [];
    for (const row of rows) {
      const index = Number(row.ord) - 1;
      const birth = births[index] as PendingBirth;
      const decision = birthDecision(row);
      if (row.known) outcomes[index] = { kind: 'repeat' };
      else if (decision === 'merge-dossiers') outcomes[index] = { kind: 'alone' };
      else if (decision !== 'store') outcomes[index] = decision;
      // Not recorded without a reason of its own: a twin of this message committed first.
      else if (!row.recorded) outcomes[index] = { kind: 'repeat' };
      else if (!row.stored) {
        // A birth for this person committed while the statement ran: every path of this version holds
        // the person's lock, but a process of an earlier one (a correction during a rolling upgrade) or
        // a hand-made UPDATE does not. Refused, and its message must not stay recorded.
        outcomes[index] = birthAlreadyHeld();
        unrecord.push(birth);
      } else outcomes[index] = { kind: 'stored', answer: answerOf(birth) };
    }
    if (unrecord.length > 0) {
      // By the primary key: a scan by transfer_id read the whole table, which grows with every birth.
      await tx.query(
        'DELETE FROM inbound_messages WHERE (client_id, message_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))',
        [unrecord.map((birth) => birth.client.id), unrecord.map((birth) => birth.doc.messageId)],
      );
    }
    appendAuditEventsInTx(tx, births.flatMap((birth, index) => {
      if ((outcomes[index] as GroupOutcome).kind !== 'stored') return [];
      return [{
        actor: birth.client.id, action: 'khai-sinh.accepted', transferId: birth.transferId, fromStatus: null, toStatus: birth.status,
        payloadSha256: birth.contentSha256, details: { door: birth.door, ...(birth.missing.length ? { missing: birth.missing } : {}) },
      }];
    }));
    return outcomes;
  }
}
