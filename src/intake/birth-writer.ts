import type { ApiClient } from '../auth/clients.js';
import type { KhaiSinh } from '../domain/documents.js';
import { duplicatePerson, GatewayError, personDeceased } from '../errors.js';
import { appendAuditEventsInTx } from '../store/audit-log.js';
import type { Database, Queryable } from '../store/database.js';
import type { IntakeAnswer } from '../store/inbound-messages.js';
import type { TransferStatus } from '../store/transfers.js';

/** A birth that passed every check, translated, waiting for its commit. */
export interface PendingBirth {
  client: ApiClient;
  door: string;
  doc: KhaiSinh;
  contentSha256: string;
  transferId: string;
  status: TransferStatus;
  missing: string[];
  bhxhDocument: Record<string, unknown> | null;
}

/**
 * How a pending birth ended: stored (answer 202), a repeat of a stored message (the caller answers as
 * first answered), or one the batch could not take because a one-stop dossier waits for it (the
 * caller stores it on its own, merging the dossier).
 */
export type BirthOutcome = { kind: 'stored'; answer: IntakeAnswer } | { kind: 'repeat' } | { kind: 'needs-dossier' };

interface Waiting {
  birth: PendingBirth;
  resolve: (outcome: BirthOutcome) => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 500;
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

  submit(birth: PendingBirth): Promise<BirthOutcome> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ birth, resolve, reject });
      if (this.writers < WRITERS) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writers += 1;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, MAX_BATCH);
        try {
          await this.write(batch);
        } catch {
          // One row PostgreSQL refuses must not fail the births that came with it: each alone now.
          for (const entry of batch) await this.write([entry]).catch((error: unknown) => entry.reject(error));
        }
      }
    } finally {
      this.writers -= 1;
    }
  }

  private async write(batch: Waiting[]): Promise<void> {
    const outcomes = await this.db.transaction((tx) => this.writeInTx(tx, batch.map((entry) => entry.birth)));
    batch.forEach((entry, index) => {
      const outcome = outcomes[index] as BirthOutcome | GatewayError;
      if (outcome instanceof GatewayError) entry.reject(outcome);
      else entry.resolve(outcome);
    });
  }

  private async writeInTx(tx: Queryable, births: PendingBirth[]): Promise<Array<BirthOutcome | GatewayError>> {
    const outcomes: Array<BirthOutcome | GatewayError | undefined> = births.map(() => undefined);
    const persons = births.map((birth) => birth.doc.hoTich.soDinhDanh);
    const dossiers = births.flatMap((birth) => (birth.doc.maHoSoMCDT ? [birth.doc.maHoSoMCDT] : []));

    // The same per-person (and per-dossier) locks as a death or a dossier takes, in one sorted order.
    await tx.query(
      `SELECT pg_advisory_xact_lock(7413, hashtext(k)) FROM (SELECT DISTINCT k FROM unnest($1::text[]) AS k ORDER BY k) AS keys`,
      [[...persons.map((p) => `person:${p}`), ...dossiers.map((d) => `dossier:${d}`)]],
    );
    const related = await tx.query<{ type: string; so_dinh_danh: string; ma_ho_so: string | null }>(
      `SELECT type, so_dinh_danh, ma_ho_so FROM transfers
        WHERE (type = 'KHAI_TU' AND so_dinh_danh = ANY($1::text[]))
           OR (type = 'HO_SO_MOT_CUA' AND status = 'received' AND document->>'module' = 'KS'
               AND (so_dinh_danh = ANY($1::text[]) OR ma_ho_so = ANY($2::text[])))`,
      [persons, dossiers],
    );
    // Idempotency before anything else: a message already stored is answered as it was first
    // answered, even if a death or another birth for the person has been registered since.
    const known = await tx.query<{ client_id: string; message_id: string }>(
      `SELECT client_id, message_id FROM inbound_messages
        WHERE (client_id, message_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [births.map((birth) => birth.client.id), births.map((birth) => birth.doc.messageId)],
    );
    const stored = new Set(known.rows.map((row) => `${row.client_id}\u0000${row.message_id}`));
    const dead = new Set(related.rows.filter((row) => row.type === 'KHAI_TU').map((row) => row.so_dinh_danh));
    const dossierPersons = new Set(related.rows.filter((row) => row.type === 'HO_SO_MOT_CUA').map((row) => row.so_dinh_danh));
    const dossierCodes = new Set(related.rows.filter((row) => row.type === 'HO_SO_MOT_CUA').map((row) => row.ma_ho_so));

    const messageKeys = new Set<string>();
    const personsTaken = new Set<string>();
    const candidates: number[] = [];
    births.forEach((birth, index) => {
      const person = birth.doc.hoTich.soDinhDanh;
      const messageKey = `${birth.client.id}\u0000${birth.doc.messageId}`;
      if (messageKeys.has(messageKey) || stored.has(messageKey)) outcomes[index] = { kind: 'repeat' };
      else if (dead.has(person)) outcomes[index] = personDeceased();
      else if (dossierPersons.has(person) || (birth.doc.maHoSoMCDT && dossierCodes.has(birth.doc.maHoSoMCDT))) outcomes[index] = { kind: 'needs-dossier' };
      else if (personsTaken.has(person)) outcomes[index] = duplicatePerson('birth');
      else {
        candidates.push(index);
        personsTaken.add(person);
      }
      messageKeys.add(messageKey);
    });

    const answerOf = (birth: PendingBirth): IntakeAnswer => ({ transferId: birth.transferId, messageId: birth.doc.messageId, status: birth.status });
    const pick = <T>(indexes: number[], value: (birth: PendingBirth) => T) => indexes.map((index) => value(births[index] as PendingBirth));

    // Idempotency first: a message already stored by anyone is a repeat, whatever else it says.
    const recorded = await tx.query<{ transfer_id: string }>(
      `INSERT INTO inbound_messages (client_id, message_id, message_type, content_sha256, transfer_id, response)
       SELECT client_id, message_id, 'KhaiSinh', content_sha256, transfer_id, response
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[]) AS m(client_id, message_id, content_sha256, transfer_id, response)
       ON CONFLICT (client_id, message_id) DO NOTHING
       RETURNING transfer_id`,
      [
        pick(candidates, (b) => b.client.id), pick(candidates, (b) => b.doc.messageId), pick(candidates, (b) => b.contentSha256),
        pick(candidates, (b) => b.transferId), pick(candidates, (b) => JSON.stringify(answerOf(b))),
      ],
    );
    const recordedIds = new Set(recorded.rows.map((row) => row.transfer_id));
    const fresh = candidates.filter((index) => recordedIds.has((births[index] as PendingBirth).transferId));
    for (const index of candidates) if (!recordedIds.has((births[index] as PendingBirth).transferId)) outcomes[index] = { kind: 'repeat' };

    const inserted = await tx.query<{ id: string }>(
      `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, ma_ho_so)
       SELECT id, 'KHAI_SINH', client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, ma_ho_so
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[], $9::jsonb[], $10::jsonb[], $11::text[])
           AS t(id, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, ma_ho_so)
       ON CONFLICT (so_dinh_danh) WHERE type = 'KHAI_SINH' DO NOTHING
       RETURNING id`,
      [
        pick(fresh, (b) => b.transferId), pick(fresh, (b) => b.client.id), pick(fresh, (b) => b.doc.messageId), pick(fresh, (b) => b.status),
        pick(fresh, (b) => b.doc.hoTich.noiDangKy.maTinh), pick(fresh, (b) => b.doc.maDonVi), pick(fresh, (b) => b.doc.hoTich.soDinhDanh),
        pick(fresh, (b) => JSON.stringify(b.doc)), pick(fresh, (b) => JSON.stringify(b.missing)),
        pick(fresh, (b) => (b.bhxhDocument ? JSON.stringify(b.bhxhDocument) : null)), pick(fresh, (b) => b.doc.maHoSoMCDT ?? null),
      ],
    );
    const insertedIds = new Set(inserted.rows.map((row) => row.id));
    const refused = fresh.filter((index) => !insertedIds.has((births[index] as PendingBirth).transferId));
    if (refused.length > 0) {
      // A birth already held for this person: its message must not stay recorded either.
      await tx.query(
        `DELETE FROM inbound_messages WHERE transfer_id = ANY($1::text[])`,
        [pick(refused, (b) => b.transferId)],
      );
      for (const index of refused) outcomes[index] = duplicatePerson('birth');
    }
    const storedIndexes = fresh.filter((index) => insertedIds.has((births[index] as PendingBirth).transferId));
    appendAuditEventsInTx(tx, storedIndexes.map((index) => {
      const birth = births[index] as PendingBirth;
      outcomes[index] = { kind: 'stored', answer: answerOf(birth) };
      return {
        actor: birth.client.id, action: 'khai-sinh.accepted', transferId: birth.transferId, fromStatus: null, toStatus: birth.status,
        payloadSha256: birth.contentSha256, details: { door: birth.door, ...(birth.missing.length ? { missing: birth.missing } : {}) },
      };
    }));
    return outcomes as Array<BirthOutcome | GatewayError>;
  }
}
