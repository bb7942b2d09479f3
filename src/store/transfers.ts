import { assertMayMove, type TransferStatus } from '../domain/transfer-status.js';
import { duplicatePerson } from '../errors.js';
import { appendAuditEventInTx, appendAuditEventsInTx, type AuditEventInput } from './audit-log.js';
import type { Queryable } from './database.js';

export type { TransferStatus } from '../domain/transfer-status.js';
export type TransferType = 'KHAI_SINH' | 'KHAI_TU' | 'HO_SO_MOT_CUA';

export interface Transfer {
  id: string;
  type: TransferType;
  clientId: string;
  messageId: string;
  status: TransferStatus;
  maTinh: string;
  maDonVi: string;
  soDinhDanh: string;
  document: Record<string, unknown>;
  /** JSON Pointers of what the BHXH document still lacks while `received`. */
  missing: string[];
  bhxhDocument: Record<string, unknown> | null;
  bhxhErrors: unknown[] | null;
  card: Record<string, unknown> | null;
  /** The batch holding the transfer while it is `sent`. */
  batchId: string | null;
  /** The one-stop-shop dossier code this transfer came with or was matched to. */
  maHoSo: string | null;
  createdAt: string;
  updatedAt: string;
}

interface TransferRow {
  id: string;
  type: TransferType;
  client_id: string;
  message_id: string;
  status: TransferStatus;
  ma_tinh: string;
  ma_don_vi: string;
  so_dinh_danh: string;
  document: Record<string, unknown>;
  missing: string[];
  bhxh_document: Record<string, unknown> | null;
  bhxh_errors: unknown[] | null;
  card: Record<string, unknown> | null;
  batch_id?: string | null;
  ma_ho_so?: string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

function fromRow(row: TransferRow): Transfer {
  return {
    id: row.id,
    type: row.type,
    clientId: row.client_id,
    messageId: row.message_id,
    status: row.status,
    maTinh: row.ma_tinh,
    maDonVi: row.ma_don_vi,
    soDinhDanh: row.so_dinh_danh,
    document: row.document,
    missing: row.missing,
    bhxhDocument: row.bhxh_document,
    bhxhErrors: row.bhxh_errors,
    card: row.card,
    batchId: row.batch_id ?? null,
    maHoSo: row.ma_ho_so ?? null,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

export type NewTransfer = Omit<Transfer, 'createdAt' | 'updatedAt' | 'bhxhErrors' | 'card' | 'batchId' | 'maHoSo'> & { maHoSo?: string };

const UNIQUE_VIOLATION = '23505';

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const pgError = error as { code?: string; constraint?: string; message?: string };
  if (pgError?.code !== UNIQUE_VIOLATION) return false;
  if (constraint === undefined) return true;
  // pg names the constraint; PGlite only puts it in the message.
  return pgError.constraint === constraint || (pgError.message ?? '').includes(constraint);
}

/** One person, one birth and one death: the unique indexes speak as the contract's DUPLICATE_PERSON. */
function asDuplicatePerson(error: unknown): unknown {
  if (isUniqueViolation(error, 'transfers_one_birth_per_person')) return duplicatePerson('birth');
  if (isUniqueViolation(error, 'transfers_one_death_per_person')) return duplicatePerson('death');
  return error;
}

/** Whether a death is registered for this personal number. */
export async function isRegisteredDead(db: Queryable, soDinhDanh: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM transfers WHERE type = $1 AND so_dinh_danh = $2', ['KHAI_TU', soDinhDanh]);
  return rows.length > 0;
}

/** Creates a transfer and its first audit event in the caller's transaction. */
export async function insertTransferInTx(
  tx: Queryable,
  transfer: NewTransfer,
  event: Omit<AuditEventInput, 'transferId' | 'fromStatus' | 'toStatus'>,
): Promise<Transfer> {
  assertMayMove(transfer.id, null, transfer.status);
  let inserted;
  try {
    inserted = await tx.query<TransferRow>(
      `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, ma_ho_so)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11::jsonb, $12)
       RETURNING *`,
      [
        transfer.id, transfer.type, transfer.clientId, transfer.messageId, transfer.status, transfer.maTinh,
        transfer.maDonVi, transfer.soDinhDanh, JSON.stringify(transfer.document), JSON.stringify(transfer.missing),
        transfer.bhxhDocument === null ? null : JSON.stringify(transfer.bhxhDocument), transfer.maHoSo ?? null,
      ],
    );
  } catch (error) {
    throw asDuplicatePerson(error);
  }
  appendAuditEventInTx(tx, { ...event, transferId: transfer.id, fromStatus: null, toStatus: transfer.status });
  return fromRow(inserted.rows[0] as TransferRow);
}

export async function findTransfer(db: Queryable, id: string): Promise<Transfer | null> {
  const { rows } = await db.query<TransferRow>('SELECT * FROM transfers WHERE id = $1', [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/** Reads a transfer and holds its row until the transaction ends, so two changes cannot interleave. */
export async function lockTransferInTx(tx: Queryable, id: string): Promise<Transfer | null> {
  const { rows } = await tx.query<TransferRow>('SELECT * FROM transfers WHERE id = $1 FOR UPDATE', [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

export interface TransferChange {
  status: TransferStatus;
  document?: Record<string, unknown>;
  missing?: string[];
  soDinhDanh?: string;
  maTinh?: string;
  maDonVi?: string;
  maHoSo?: string;
  bhxhDocument?: Record<string, unknown> | null;
  bhxhErrors?: unknown[] | null;
  card?: Record<string, unknown> | null;
}

/**
 * The only way a transfer changes: the row and its audit event in the caller's transaction, so the
 * log can never miss a step nor record one that did not happen. The caller holds the row lock; a
 * move the status table does not allow, or a `current` the row no longer is, writes nothing.
 */
export async function changeTransferInTx(
  tx: Queryable,
  current: Transfer,
  change: TransferChange,
  event: Omit<AuditEventInput, 'transferId' | 'fromStatus' | 'toStatus'>,
): Promise<Transfer> {
  assertMayMove(current.id, current.status, change.status);
  const json = (value: unknown) => (value === undefined ? undefined : value === null ? null : JSON.stringify(value));
  const columns: Array<[string, unknown, string]> = [
    ['status', change.status, ''],
    ['document', json(change.document), '::jsonb'],
    ['missing', json(change.missing), '::jsonb'],
    ['so_dinh_danh', change.soDinhDanh, ''],
    ['ma_tinh', change.maTinh, ''],
    ['ma_don_vi', change.maDonVi, ''],
    ['ma_ho_so', change.maHoSo, ''],
    ['bhxh_document', json(change.bhxhDocument), '::jsonb'],
    ['bhxh_errors', json(change.bhxhErrors), '::jsonb'],
    ['card', json(change.card), '::jsonb'],
  ];
  const present = columns.filter(([, value]) => value !== undefined);
  const assignments = present.map(([column, , cast], index) => `${column} = $${index + 3}${cast}`);
  let updated;
  try {
    updated = await tx.query<TransferRow>(
      `UPDATE transfers SET ${assignments.join(', ')}, updated_at = now()
        WHERE id = $1 AND status = $2 RETURNING *`,
      [current.id, current.status, ...present.map(([, value]) => value)],
    );
  } catch (error) {
    throw asDuplicatePerson(error);
  }
  // The table allowed a move from current.status; a row that is no longer in it is left alone.
  if (updated.rows.length === 0) throw new Error(`transfer ${current.id} is not ${current.status} any more: change it under its row lock`);
  appendAuditEventInTx(tx, {
    ...event,
    transferId: current.id,
    fromStatus: current.status,
    toStatus: change.status,
  });
  return fromRow(updated.rows[0] as TransferRow);
}

export interface TransferFilter {
  status?: TransferStatus;
  maTinh?: string;
  /** Restricts to these provinces; undefined means all. */
  provinces?: string[];
  type?: TransferType;
  clientId?: string;
  createdFrom?: string;
  createdTo?: string;
}

export interface TransferPage {
  items: Transfer[];
  nextCursor: string | null;
}

/** Keyset paging on the time-ordered id: stable under inserts, no OFFSET scans. */
export async function listTransfers(
  db: Queryable,
  filter: TransferFilter,
  page: { limit: number; after?: string },
): Promise<TransferPage> {
  const { rows } = await db.query<TransferRow>(
    `SELECT * FROM transfers
      WHERE ($1::text IS NULL OR status = $1)
        AND ($2::text IS NULL OR ma_tinh = $2)
        AND ($3::text[] IS NULL OR ma_tinh = ANY($3))
        AND ($4::text IS NULL OR type = $4)
        AND ($5::text IS NULL OR client_id = $5)
        AND ($6::timestamptz IS NULL OR created_at >= $6)
        AND ($7::timestamptz IS NULL OR created_at < $7)
        AND ($8::text IS NULL OR id > $8)
      ORDER BY id
      LIMIT $9`,
    [
      filter.status ?? null, filter.maTinh ?? null, filter.provinces ?? null, filter.type ?? null,
      filter.clientId ?? null, filter.createdFrom ?? null, filter.createdTo ?? null, page.after ?? null,
      page.limit + 1,
    ],
  );
  const items = rows.slice(0, page.limit).map(fromRow);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > page.limit && last ? last.id : null };
}

export async function countTransfersByStatus(db: Queryable): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; count: string | number }>(
    'SELECT status, count(*) AS count FROM transfers GROUP BY status',
  );
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
}

/** Every field of T present, optional ones possibly undefined: an object literal of this type must name each. */
type EveryField<T> = { [K in keyof Required<T>]: T[K] };

export interface StatusMove {
  id: string;
  fromStatus: TransferStatus;
  toStatus: TransferStatus;
  /** The batch that holds the transfer afterwards; null takes it out of its batch. */
  batchId: string | null;
  card?: Record<string, unknown>;
  bhxhErrors?: unknown[];
  event: Omit<AuditEventInput, 'transferId' | 'fromStatus' | 'toStatus'>;
}

/**
 * Moves many transfers at once (a batch claimed, answered, failed or expired): one UPDATE and one
 * audit append for all of them. Each row moves only from the status the caller saw, so a transfer
 * changed meanwhile is left alone and reported back rather than overwritten.
 */
export async function moveTransfersInTx(tx: Queryable, moves: StatusMove[]): Promise<{ moved: string[]; skipped: string[] }> {
  if (moves.length === 0) return { moved: [], skipped: [] };
  for (const move of moves) assertMayMove(move.id, move.fromStatus, move.toStatus);
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE transfers t
        SET status = u.to_status, batch_id = u.batch_id, updated_at = now(),
            card = COALESCE(u.card::jsonb, t.card),
            -- A new delivery starts with a clean slate; earlier errors stay in the audit log.
            bhxh_errors = CASE WHEN u.to_status = 'returned' THEN u.errors::jsonb
                               WHEN u.to_status = 'sent' THEN NULL ELSE t.bhxh_errors END
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(id, from_status, to_status, batch_id, card, errors)
      WHERE t.id = u.id AND t.status = u.from_status
      RETURNING t.id`,
    [
      moves.map((move) => move.id),
      moves.map((move) => move.fromStatus),
      moves.map((move) => move.toStatus),
      moves.map((move) => move.batchId),
      moves.map((move) => (move.card ? JSON.stringify(move.card) : null)),
      moves.map((move) => (move.bhxhErrors ? JSON.stringify(move.bhxhErrors) : null)),
    ],
  );
  const movedIds = new Set(rows.map((row) => row.id));
  const moved = moves.filter((move) => movedIds.has(move.id));
  appendAuditEventsInTx(
    tx,
    // Named fields rather than a spread of the event (3.7% of dispatch's time: this runs for every
    // record of every batch); typed so that a field added to AuditEventInput must be named here too.
    moved.map(({ id, fromStatus, toStatus, event }): EveryField<AuditEventInput> => ({
      actor: event.actor, action: event.action, payload: event.payload, payloadSha256: event.payloadSha256, details: event.details,
      transferId: id, fromStatus, toStatus,
    })),
  );
  return { moved: moved.map((move) => move.id), skipped: moves.filter((move) => !movedIds.has(move.id)).map((move) => move.id) };
}
