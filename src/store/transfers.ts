import { assertMayMove, type TransferStatus } from '../domain/transfer-status.js';
import { GatewayError } from '../errors.js';
import { appendAuditEventInTx, appendAuditEventsInTx, type AuditEventInput } from './audit-log.js';
import type { Queryable } from './database.js';

export type { TransferStatus } from '../domain/transfer-status.js';

/**
 * The types transfers are stored under, one key each. Storage names none: src/messages/registry.ts,
 * the one list of message types, declares its types into this interface (declaration merging), so
 * every transfer written or read is checked against the registry's list at compile time, while
 * storage imports nothing from the message modules.
 */
export interface StoredTransferTypes {}
export type TransferType = keyof StoredTransferTypes;

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
  /** The batch holding the transfer while it is `sending` or `sent`. */
  batchId: string | null;
  /** The one-stop-shop dossier code this transfer came with or was matched to. */
  maHoSo: string | null;
  /** What it asks for, where its type has kinds that different roles may see (a re-issue's lyDo). */
  reason: string | null;
  /** The day (YYYY-MM-DD) by whose end it is due, where its type has a deadline of its own. */
  dueOn: string | null;
  /** The person's BHXH number, where its type names people by it too (a re-issue's, given or derived). */
  maSoBhxh: string | null;
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
  reason?: string | null;
  due_on?: string | null;
  ma_so_bhxh?: string | null;
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
    reason: row.reason ?? null,
    dueOn: row.due_on ?? null,
    maSoBhxh: row.ma_so_bhxh ?? null,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

export type NewTransfer = Omit<Transfer, 'createdAt' | 'updatedAt' | 'bhxhErrors' | 'card' | 'batchId' | 'maHoSo' | 'reason' | 'dueOn' | 'maSoBhxh'>
  & { maHoSo?: string; reason?: string; dueOn?: string; maSoBhxh?: string };

const UNIQUE_VIOLATION = '23505';

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const pgError = error as { code?: string; constraint?: string; message?: string };
  if (pgError?.code !== UNIQUE_VIOLATION) return false;
  if (constraint === undefined) return true;
  // pg names the constraint; PGlite only puts it in the message.
  return pgError.constraint === constraint || (pgError.message ?? '').includes(constraint);
}

/**
 * Creates a transfer and its first audit event in the caller's transaction. A unique index refusing
 * the row (one birth, one death per person) is thrown as PostgreSQL's error: the module whose rule
 * the index is says what it means (isUniqueViolation).
 */
export async function insertTransferInTx(
  tx: Queryable,
  transfer: NewTransfer,
  event: Omit<AuditEventInput, 'transferId' | 'fromStatus' | 'toStatus'>,
): Promise<Transfer> {
  assertMayMove(transfer.id, null, transfer.status);
  const inserted = await tx.query<TransferRow>(
    `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, ma_ho_so, reason, due_on, ma_so_bhxh)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11::jsonb, $12, $13, $14, $15)
     RETURNING *`,
    [
      transfer.id, transfer.type, transfer.clientId, transfer.messageId, transfer.status, transfer.maTinh,
      transfer.maDonVi, transfer.soDinhDanh, JSON.stringify(transfer.document), JSON.stringify(transfer.missing),
      transfer.bhxhDocument === null ? null : JSON.stringify(transfer.bhxhDocument), transfer.maHoSo ?? null,
      transfer.reason ?? null, transfer.dueOn ?? null, transfer.maSoBhxh ?? null,
    ],
  );
  appendAuditEventInTx(tx, { ...event, transferId: transfer.id, fromStatus: null, toStatus: transfer.status });
  return fromRow(inserted.rows[0] as TransferRow);
}

const TRANSFERS_PER_INSERT = 2_000;

/**
 * Creates many transfers, each with its first audit event, in the caller's transaction: one INSERT
 * whatever their number (a school's list may send tens of thousands of rows at once).
 */
export async function insertTransfersInTx(
  tx: Queryable,
  transfers: readonly NewTransfer[],
  eventOf: (transfer: NewTransfer) => Omit<AuditEventInput, 'transferId' | 'fromStatus' | 'toStatus'>,
): Promise<void> {
  for (const transfer of transfers) assertMayMove(transfer.id, null, transfer.status);
  // A chunk a statement, so only one chunk's JSON text is alive at a time.
  for (let start = 0; start < transfers.length; start += TRANSFERS_PER_INSERT) {
    await tx.query(
      `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, ma_ho_so,
         ma_so_bhxh)
       SELECT id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, ma_ho_so, ma_so_bhxh
         FROM jsonb_to_recordset($1::jsonb) AS t(id text, type text, client_id text, message_id text, status text, ma_tinh text,
           ma_don_vi text, so_dinh_danh text, document jsonb, missing jsonb, bhxh_document jsonb, ma_ho_so text, ma_so_bhxh text)`,
      [JSON.stringify(transfers.slice(start, start + TRANSFERS_PER_INSERT).map((transfer) => ({
        id: transfer.id, type: transfer.type, client_id: transfer.clientId, message_id: transfer.messageId, status: transfer.status,
        ma_tinh: transfer.maTinh, ma_don_vi: transfer.maDonVi, so_dinh_danh: transfer.soDinhDanh, document: transfer.document,
        missing: transfer.missing, bhxh_document: transfer.bhxhDocument, ma_ho_so: transfer.maHoSo ?? null, ma_so_bhxh: transfer.maSoBhxh ?? null,
      })))],
    );
  }
  appendAuditEventsInTx(tx, transfers.map((transfer) => ({ ...eventOf(transfer), transferId: transfer.id, fromStatus: null, toStatus: transfer.status })));
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

/**
 * Reads transfers and holds their rows until the transaction ends, in id order (so two such calls
 * cannot deadlock), many at a time: the ids go as one comma-joined text, as no transfer id holds a comma.
 */
export async function lockTransfersInTx(tx: Queryable, ids: readonly string[]): Promise<Transfer[]> {
  const locked: Transfer[] = [];
  const sorted = [...ids].sort();
  for (let start = 0; start < sorted.length; start += TRANSFERS_PER_INSERT) {
    const { rows } = await tx.query<TransferRow>(
      "SELECT * FROM transfers WHERE id = ANY(string_to_array($1, ',')) ORDER BY id FOR UPDATE",
      [sorted.slice(start, start + TRANSFERS_PER_INSERT).join(',')],
    );
    locked.push(...rows.map(fromRow));
  }
  return locked;
}

export interface TransferChange {
  status: TransferStatus;
  document?: Record<string, unknown>;
  missing?: string[];
  soDinhDanh?: string;
  /** null: the request no longer names a BHXH number the gateway knows. */
  maSoBhxh?: string | null;
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
    ['ma_so_bhxh', change.maSoBhxh, ''],
    ['ma_tinh', change.maTinh, ''],
    ['ma_don_vi', change.maDonVi, ''],
    ['ma_ho_so', change.maHoSo, ''],
    ['bhxh_document', json(change.bhxhDocument), '::jsonb'],
    ['bhxh_errors', json(change.bhxhErrors), '::jsonb'],
    ['card', json(change.card), '::jsonb'],
  ];
  const present = columns.filter(([, value]) => value !== undefined);
  const assignments = present.map(([column, , cast], index) => `${column} = $${index + 3}${cast}`);
  // A unique index refusing the change is thrown as PostgreSQL's error, as for insertTransferInTx.
  const updated = await tx.query<TransferRow>(
    `UPDATE transfers SET ${assignments.join(', ')}, updated_at = now(), change_xid = pg_current_xact_id()
      WHERE id = $1 AND status = $2 RETURNING *`,
    [current.id, current.status, ...present.map(([, value]) => value)],
  );
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
  /**
   * Restricts to these kinds of transfer, each a type and the reasons of it that may be read (a
   * role that sees only some re-issues); undefined means every kind.
   */
  kinds?: ReadableKind[];
  createdFrom?: string;
  createdTo?: string;
  /** One of BHXH's error codes (MA_LOI) on a returned transfer. */
  bhxhErrorCode?: string;
}

/** A type of transfer, and of it only those with one of these reasons. */
export interface ReadableKind {
  type: TransferType;
  reasons: string[];
}

/** The kinds as the listing's SQL compares them: `type:reason`. */
const kindKeys = (kinds: ReadableKind[] | undefined) => kinds?.flatMap(({ type, reasons }) => reasons.map((reason) => `${type}:${reason}`)) ?? null;

export interface TransferPage {
  items: Transfer[];
  nextCursor: string | null;
}

/**
 * Where a reader of a list stands. It has been given every matching transfer as it stood in the
 * snapshot `seen` (null: nothing yet), and, of the changes made visible between `seen` and `window`,
 * those up to (afterXid, afterId) in the order (change_xid, id).
 */
interface ListCursor {
  seen: string | null;
  window: string;
  afterXid: string;
  afterId: string;
}

const XID8_MAX = 2n ** 64n - 1n;
const OLD_CURSOR = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// A list row's transfer is `<listId>:<stt>`.
const TRANSFER_ID = /^[0-9A-Za-z:-]{1,64}$/;
const BASE36 = /^[0-9a-z]{1,13}$/;

const fromBase36 = (text: string) => [...text].reduce((value, digit) => value * 36n + BigInt(parseInt(digit, 36)), 0n);

/**
 * A snapshot as pg_snapshot writes it ("xmin:xmax:xip,…") made short and URL-safe: base 36, xmax
 * and each transaction in progress as the step from the one before. A busy server has many.
 */
function snapshotToCursor(snapshot: string): string {
  const [xmin, xmax, ...xips] = snapshot.split(/[:,]/).filter((part) => part !== '').map(BigInt) as [bigint, bigint, ...bigint[]];
  return [xmin, xmax - xmin, ...xips.map((xip, index) => xip - (index === 0 ? xmin : (xips[index - 1] as bigint)))]
    .map((value) => value.toString(36)).join('.');
}

/** The pg_snapshot text of a cursor's snapshot, or null unless PostgreSQL would take it as one. */
function snapshotFromCursor(text: string): string | null {
  const parts = text.split('.');
  if (parts.length < 2 || !parts.every((part) => BASE36.test(part))) return null;
  const [xmin, span, ...steps] = parts.map(fromBase36) as [bigint, bigint, ...bigint[]];
  const xmax = xmin + span;
  if (xmin < 1n || xmax > XID8_MAX) return null;
  const xips: bigint[] = [];
  for (const [index, step] of steps.entries()) {
    if (index > 0 && step === 0n) return null;
    const xip = (index === 0 ? xmin : (xips[index - 1] as bigint)) + step;
    if (xip >= xmax) return null;
    xips.push(xip);
  }
  return `${xmin}:${xmax}:${xips.join(',')}`;
}

function encodeCursor(cursor: ListCursor): string {
  return [
    cursor.seen === null ? '' : snapshotToCursor(cursor.seen), snapshotToCursor(cursor.window), BigInt(cursor.afterXid).toString(36), cursor.afterId,
  ].join('~');
}

function decodeCursor(text: string): ListCursor {
  const refuse = (code: string, message: string) =>
    new GatewayError('VALIDATION_FAILED', 'The request querystring is not valid', [{ path: '/querystring/cursor', code, message }]);
  if (OLD_CURSOR.test(text)) {
    throw refuse('OLD_CURSOR', 'this cursor is from the earlier paging by transfer id, which could skip records; start again without a cursor');
  }
  const [seen, window, afterXid, afterId, ...rest] = text.split('~');
  const seenSnapshot = seen === '' ? null : snapshotFromCursor(seen ?? '');
  const windowSnapshot = snapshotFromCursor(window ?? '');
  const xid = afterXid !== undefined && BASE36.test(afterXid) ? fromBase36(afterXid) : null;
  if (rest.length > 0 || (seen !== '' && seenSnapshot === null) || windowSnapshot === null || xid === null || xid > XID8_MAX || !TRANSFER_ID.test(afterId ?? '')) {
    throw refuse('INVALID_CURSOR', 'not a cursor this gateway gave out; start again without a cursor');
  }
  return { seen: seenSnapshot, window: windowSnapshot, afterXid: String(xid), afterId: afterId as string };
}

/** The filter's conditions on $1…$7, and the BHXH error code and the kinds on the parameters given. */
const filterMatches = (errorCodeParameter: number, kindsParameter: number) => `($1::text IS NULL OR status = $1)
        AND ($2::text IS NULL OR ma_tinh = $2)
        AND ($3::text[] IS NULL OR ma_tinh = ANY($3))
        AND ($4::text IS NULL OR type = $4)
        AND ($5::text IS NULL OR client_id = $5)
        AND ($6::timestamptz IS NULL OR created_at >= $6)
        AND ($7::timestamptz IS NULL OR created_at < $7)
        AND ($${errorCodeParameter}::text IS NULL OR bhxh_errors @> jsonb_build_array(jsonb_build_object('MA_LOI', $${errorCodeParameter}::text)))
        AND ($${kindsParameter}::text[] IS NULL OR type || ':' || coalesce(reason, '') = ANY($${kindsParameter}))`;

/**
 * A cursor whose page is the last `limit` transfers matching the filter (the latest changes), read
 * backwards along the change index; null when they fit on the first page. It is an ordinary cursor
 * taken in the current snapshot, so paging on from it skips nothing that changes afterwards.
 */
export async function lastPageCursor(db: Queryable, filter: TransferFilter, limit: number): Promise<string | null> {
  const { rows } = await db.query<{ change_position: string; id: string; listed_in: string }>(
    `SELECT change_xid::text AS change_position, id, pg_current_snapshot()::text AS listed_in FROM transfers
      WHERE ${filterMatches(8, 9)}
      ORDER BY change_xid DESC, id DESC
      OFFSET $10 LIMIT 1`,
    [
      filter.status ?? null, filter.maTinh ?? null, filter.provinces ?? null, filter.type ?? null,
      filter.clientId ?? null, filter.createdFrom ?? null, filter.createdTo ?? null, filter.bhxhErrorCode ?? null,
      kindKeys(filter.kinds), limit,
    ],
  );
  const anchor = rows[0];
  return anchor ? encodeCursor({ seen: null, window: anchor.listed_in, afterXid: anchor.change_position, afterId: anchor.id }) : null;
}

/**
 * A page of transfers in the order they last changed, and where the next page starts: null when
 * this one is empty, so a poller keeps the last cursor it was given and asks again with it later.
 *
 * Paging by an id or a sequence taken before commit would skip a row that commits after a later
 * one was read, and a row that changes after the reader passed it; so each row carries the id of the
 * transaction that last wrote it (change_xid), and a cursor holds PostgreSQL snapshots: what a
 * reader was given is "everything visible in snapshot A, and what became visible between A and B up
 * to a position". Anything committing later was not visible in B and comes after, in order, however
 * late it commits (the way PgQ cuts its event batches between two snapshots). Nothing waits for
 * transactions still open, anywhere on the server: a reader sees each change as soon as it is
 * committed.
 */
export async function listTransfers(
  db: Queryable,
  filter: TransferFilter,
  page: { limit: number; after?: string },
): Promise<TransferPage> {
  const cursor = page.after === undefined ? null : decodeCursor(page.after);
  const matches = filterMatches(13, 14);
  const columns = 'transfers.*, change_xid::text AS change_position, pg_current_snapshot()::text AS listed_in';
  const { rows } = await db.query<TransferRow & { change_position: string; listed_in: string; later: boolean }>(
    `SELECT * FROM (
       (SELECT ${columns}, false AS later FROM transfers
         WHERE $10::pg_snapshot IS NOT NULL AND ${matches}
           AND (change_xid, id) > ($11::xid8, $12::text) AND change_xid < pg_snapshot_xmax($10::pg_snapshot)
           AND pg_visible_in_snapshot(change_xid, $10::pg_snapshot)
           AND ($9::pg_snapshot IS NULL OR NOT pg_visible_in_snapshot(change_xid, $9::pg_snapshot))
         ORDER BY change_xid, id
         LIMIT $8)
       UNION ALL
       (SELECT ${columns}, true AS later FROM transfers
         WHERE ${matches}
           AND ($10::pg_snapshot IS NULL
                OR (change_xid >= pg_snapshot_xmin($10::pg_snapshot) AND NOT pg_visible_in_snapshot(change_xid, $10::pg_snapshot)))
           -- Always so, unless the rows were loaded from another server's dump: transaction ids from
           -- this server's future are left out, rather than served again on every page.
           AND pg_visible_in_snapshot(change_xid, pg_current_snapshot())
         ORDER BY change_xid, id
         LIMIT $8)
     ) AS page
     ORDER BY later, change_xid, id
     LIMIT $8`,
    [
      filter.status ?? null, filter.maTinh ?? null, filter.provinces ?? null, filter.type ?? null,
      filter.clientId ?? null, filter.createdFrom ?? null, filter.createdTo ?? null, page.limit,
      cursor?.seen ?? null, cursor?.window ?? null, cursor?.afterXid ?? null, cursor?.afterId ?? null,
      filter.bhxhErrorCode ?? null, kindKeys(filter.kinds),
    ],
    // Planned with the cursor in hand: without one, half the statement is false and drops out.
    { prepared: false },
  );
  const last = rows[rows.length - 1];
  if (!last) return { items: [], nextCursor: null };
  const next: ListCursor = last.later
    ? { seen: cursor?.window ?? null, window: last.listed_in, afterXid: last.change_position, afterId: last.id }
    : { seen: cursor?.seen ?? null, window: cursor?.window as string, afterXid: last.change_position, afterId: last.id };
  return { items: rows.map(fromRow), nextCursor: encodeCursor(next) };
}

/**
 * Open transfers that have a due date of their own (a card re-issue's hanTra), soonest due first, of
 * the given provinces (undefined: all): read through the status index, so the cost follows what is open.
 */
export async function listOpenDueTransfers(
  db: Queryable, query: { openStatuses: readonly string[]; provinces?: string[]; limit: number },
): Promise<Transfer[]> {
  const { rows } = await db.query<TransferRow>(
    `SELECT * FROM transfers
      WHERE status = ANY($1::text[]) AND due_on IS NOT NULL AND ($2::text[] IS NULL OR ma_tinh = ANY($2))
      ORDER BY due_on, id
      LIMIT $3`,
    [query.openStatuses, query.provinces ?? null, query.limit],
  );
  return rows.map(fromRow);
}

/** Transfers per status, of the given provinces (undefined: all). */
export async function countTransfersByStatus(db: Queryable, provinces?: string[]): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; count: string | number }>(
    'SELECT status, count(*) AS count FROM transfers WHERE ($1::text[] IS NULL OR ma_tinh = ANY($1)) GROUP BY status',
    [provinces ?? null],
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
        SET status = u.to_status, batch_id = u.batch_id, updated_at = now(), change_xid = pg_current_xact_id(),
            card = COALESCE(u.card::jsonb, t.card),
            -- A new delivery starts with a clean slate; earlier errors stay in the audit log.
            bhxh_errors = CASE WHEN u.to_status = 'returned' THEN u.errors::jsonb
                               WHEN u.to_status IN ('sending', 'sent') THEN NULL ELSE t.bhxh_errors END
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
    // Named fields rather than a spread of the event, which showed in dispatch's profile (this runs
    // for every record of every batch); typed so that a field added to AuditEventInput must be named here too.
    moved.map(({ id, fromStatus, toStatus, event }): EveryField<AuditEventInput> => ({
      actor: event.actor, action: event.action, payload: event.payload, payloadSha256: event.payloadSha256, details: event.details,
      transferId: id, fromStatus, toStatus,
    })),
  );
  return { moved: moved.map((move) => move.id), skipped: moves.filter((move) => !movedIds.has(move.id)).map((move) => move.id) };
}

export interface BatchMove {
  fromStatus: TransferStatus;
  toStatus: TransferStatus;
  /** Whether the records leave the batch (released, failed) or stay in it (acknowledged). */
  leaveBatch: boolean;
  event: Omit<AuditEventInput, 'transferId' | 'fromStatus' | 'toStatus'>;
}

/**
 * Moves every record a batch still holds in `fromStatus` (a pushed batch acknowledged by BHXH, or
 * released): one UPDATE found through the batch's members, one audit append. A record that left the
 * batch or its status meanwhile is left alone. Answers the ids moved.
 */
export async function moveBatchTransfersInTx(tx: Queryable, batchId: string, move: BatchMove): Promise<string[]> {
  assertMayMove(`(batch ${batchId})`, move.fromStatus, move.toStatus);
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE transfers t
        SET status = $3, batch_id = CASE WHEN $4 THEN NULL ELSE t.batch_id END, updated_at = now(), change_xid = pg_current_xact_id()
      WHERE t.id IN (SELECT m.transfer_id FROM batch_members m WHERE m.batch_id = $1)
        AND t.batch_id = $1 AND t.status = $2
      RETURNING t.id`,
    [batchId, move.fromStatus, move.toStatus, move.leaveBatch],
  );
  const { event } = move;
  appendAuditEventsInTx(tx, rows.map(({ id }): EveryField<AuditEventInput> => ({
    actor: event.actor, action: event.action, payload: event.payload, payloadSha256: event.payloadSha256, details: event.details,
    transferId: id, fromStatus: move.fromStatus, toStatus: move.toStatus,
  })));
  return rows.map((row) => row.id);
}
