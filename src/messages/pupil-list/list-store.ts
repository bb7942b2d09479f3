/**
 * Storage of schools' D03-TS lists (migration 011): the list, its first answer and every row with
 * what the checks found. SQL only; what a row's status is and what a list may do is list-service's.
 */
import type { Queryable } from '../../store/database.js';
import type { TransferStatus } from '../../store/transfers.js';
import type { D03Row, RowProblem } from './d03-row.js';
import type { PersonKey } from './row-checks.js';

export type ListStatus = 'checked' | 'queued' | 'replaced';
export type RowStatus = 'invalid' | 'queued';

export interface StoredList {
  listId: string;
  clientId: string;
  contentSha256: string;
  answer: unknown;
  maTinh: string;
  maDonVi: string;
  tenDonVi: string | null;
  kyKeKhai: string;
  format: string;
  status: ListStatus;
  replacedBy: string | null;
  rowCount: number;
  validCount: number;
  invalidCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface StoredRow {
  position: number;
  stt: number;
  status: RowStatus;
  row: D03Row;
  readProblems: RowProblem[];
  problems: RowProblem[];
  warnings: RowProblem[];
  /** ISO dates of the card period, valid rows only. */
  cardFrom: string | null;
  cardTo: string | null;
  /** The transfer carrying the row to BHXH, once sent. */
  transferId: string | null;
  /** Where that transfer is, and what BHXH answered. */
  bhxh: RowAtBhxh | null;
}

export interface RowAtBhxh {
  status: TransferStatus;
  /** An issued card: maThe, gtTheTu, gtTheDen (yyyyMMdd). */
  card: { maThe?: string; gtTheTu?: string; gtTheDen?: string } | null;
  errors: Array<{ MA_LOI: string; MO_TA?: string }> | null;
}

interface ListRecord {
  list_id: string; client_id: string; content_sha256: string; answer: unknown; ma_tinh: string; ma_don_vi: string;
  ten_don_vi: string | null; ky_ke_khai: string; format: string; status: ListStatus; replaced_by: string | null; row_count: number;
  valid_count: number; invalid_count: number; created_at: Date; updated_at: Date;
}

const LIST_COLUMNS = `list_id, client_id, content_sha256, answer, ma_tinh, ma_don_vi, ten_don_vi, ky_ke_khai, format, status, replaced_by,
  row_count, valid_count, invalid_count, created_at, updated_at`;

function listOf(record: ListRecord): StoredList {
  return {
    listId: record.list_id, clientId: record.client_id, contentSha256: record.content_sha256, answer: record.answer,
    maTinh: record.ma_tinh, maDonVi: record.ma_don_vi, tenDonVi: record.ten_don_vi, kyKeKhai: record.ky_ke_khai,
    format: record.format, status: record.status, replacedBy: record.replaced_by, rowCount: record.row_count, validCount: record.valid_count,
    invalidCount: record.invalid_count, createdAt: new Date(record.created_at).toISOString(), updatedAt: new Date(record.updated_at).toISOString(),
  };
}

interface RowRecord {
  position: number; stt: number; status: RowStatus; row: D03Row; read_problems: RowProblem[]; problems: RowProblem[];
  warnings: RowProblem[]; card_from: string | null; card_to: string | null; transfer_id: string | null;
  transfer_status: TransferStatus | null; card: RowAtBhxh['card']; bhxh_errors: RowAtBhxh['errors'];
}

/** A row and, once sent, its transfer's status and BHXH's answer: `FROM ROWS_WITH_TRANSFERS`. */
const ROW_COLUMNS = `r.position, r.stt, r.status, r.row, r.read_problems, r.problems, r.warnings, r.card_from::text AS card_from,
  r.card_to::text AS card_to, r.transfer_id, t.status AS transfer_status, t.card, t.bhxh_errors`;
const ROWS_WITH_TRANSFERS = 'pupil_list_rows r LEFT JOIN transfers t ON t.id = r.transfer_id';

function rowOf(record: RowRecord): StoredRow {
  return {
    position: record.position, stt: record.stt, status: record.status, row: record.row, readProblems: record.read_problems,
    problems: record.problems, warnings: record.warnings, cardFrom: record.card_from, cardTo: record.card_to, transferId: record.transfer_id,
    bhxh: record.transfer_status === null ? null : { status: record.transfer_status, card: record.card, errors: record.bhxh_errors },
  };
}

export async function findListByIdempotencyKey(db: Queryable, clientId: string, key: string): Promise<StoredList | null> {
  const { rows } = await db.query<ListRecord>(`SELECT ${LIST_COLUMNS} FROM pupil_lists WHERE client_id = $1 AND idempotency_key = $2`, [clientId, key]);
  return rows[0] ? listOf(rows[0]) : null;
}

export async function findList(db: Queryable, listId: string): Promise<StoredList | null> {
  const { rows } = await db.query<ListRecord>(`SELECT ${LIST_COLUMNS} FROM pupil_lists WHERE list_id = $1`, [listId]);
  return rows[0] ? listOf(rows[0]) : null;
}

/** The list, locked until the transaction ends, so two corrections of one list take turns. */
export async function lockList(tx: Queryable, listId: string): Promise<StoredList | null> {
  const { rows } = await tx.query<ListRecord>(`SELECT ${LIST_COLUMNS} FROM pupil_lists WHERE list_id = $1 FOR UPDATE`, [listId]);
  return rows[0] ? listOf(rows[0]) : null;
}

/**
 * Which of these people are listed in the period elsewhere than on `exceptListId`, in one query for a
 * whole list: on a list not replaced, as rows that are not invalid; or, whatever their list became,
 * carried by a record that left for BHXH or waits to (queued, sending, sent, issued), unless that record
 * is one `exceptListId` carries on itself. Keys come back as `d:<personal number>` and `b:<BHXH number>`.
 */
export async function listedPersonKeys(db: Queryable, kyKeKhai: string, people: readonly PersonKey[], exceptListId?: string): Promise<Set<string>> {
  const personalNumbers = people.flatMap((person) => (person.soDinhDanh ? [person.soDinhDanh] : []));
  const bhxhNumbers = people.flatMap((person) => (person.maSoBhxh ? [person.maSoBhxh] : []));
  if (personalNumbers.length === 0 && bhxhNumbers.length === 0) return new Set();
  // The numbers go as one comma-separated text each (they are digits only, as the row checks keep them):
  // pg writes a JS array as an array literal by concatenating its elements one by one, which for a
  // 30,000-row list was about 50 MB of strings made and dropped.
  const { rows } = await db.query<{ key: string }>(
    `SELECT key FROM (
       SELECT 'd:' || so_dinh_danh AS key, list_id, transfer_id FROM pupil_list_rows
        WHERE ky_ke_khai = $1 AND status <> 'invalid' AND so_dinh_danh = ANY(string_to_array($2, ',')) AND list_id IS DISTINCT FROM $4
       UNION ALL
       SELECT 'b:' || ma_so_bhxh, list_id, transfer_id FROM pupil_list_rows
        WHERE ky_ke_khai = $1 AND status <> 'invalid' AND ma_so_bhxh = ANY(string_to_array($3, ',')) AND list_id IS DISTINCT FROM $4
     ) AS found
     WHERE NOT EXISTS (SELECT FROM pupil_lists l WHERE l.list_id = found.list_id AND l.status = 'replaced')
        OR (EXISTS (SELECT FROM transfers t WHERE t.id = found.transfer_id AND t.status IN ('queued', 'sending', 'sent', 'issued'))
            AND NOT EXISTS (SELECT FROM pupil_list_rows mine WHERE mine.list_id = $4 AND mine.transfer_id = found.transfer_id))`,
    [kyKeKhai, personalNumbers.join(','), bhxhNumbers.join(','), exceptListId ?? null],
  );
  return new Set(rows.map((row) => row.key));
}

export async function markReplacedInTx(tx: Queryable, listId: string, replacedBy: string): Promise<void> {
  await tx.query("UPDATE pupil_lists SET status = 'replaced', replaced_by = $2, updated_at = now() WHERE list_id = $1", [listId, replacedBy]);
}

export interface NewList {
  listId: string;
  clientId: string;
  idempotencyKey: string;
  contentSha256: string;
  answer: unknown;
  maTinh: string;
  maDonVi: string;
  tenDonVi?: string | undefined;
  kyKeKhai: string;
  format: string;
  status: ListStatus;
  validCount: number;
  invalidCount: number;
}

/** A row as written: its STT is the row's own, and its person keys are kept for the cross-list check. */
export type RowToStore = Omit<StoredRow, 'stt' | 'bhxh'> & { soDinhDanh: string | null; maSoBhxh: string | null };

function rowsJson(kyKeKhai: string, rows: readonly RowToStore[]): string {
  return JSON.stringify(rows.map((row) => ({
    position: row.position, stt: row.row.stt, status: row.status, row: row.row, read_problems: row.readProblems,
    problems: row.problems, warnings: row.warnings, card_from: row.cardFrom, card_to: row.cardTo,
    ky_ke_khai: kyKeKhai, so_dinh_danh: row.soDinhDanh, ma_so_bhxh: row.maSoBhxh, transfer_id: row.transferId,
  })));
}

const RECORDSET = `jsonb_to_recordset($2::jsonb) AS r(position integer, stt integer, status text, row jsonb, read_problems jsonb,
  problems jsonb, warnings jsonb, card_from date, card_to date, ky_ke_khai text, so_dinh_danh text, ma_so_bhxh text, transfer_id text)`;

/**
 * Rows per statement when writing many: a 30,000-row list as one statement was one JSON text of
 * about 15 MB, held at once as a string, as the bytes sent and as the rows built for it; in chunks
 * only one chunk's worth is alive at a time, for the same number of rows a second.
 */
const ROWS_PER_STATEMENT = 2_000;

function* chunksOf<T>(items: readonly T[]): Generator<readonly T[]> {
  for (let start = 0; start < items.length; start += ROWS_PER_STATEMENT) yield items.slice(start, start + ROWS_PER_STATEMENT);
}

/** The list and all its rows, a chunk of rows a statement. */
export async function insertListInTx(tx: Queryable, list: NewList, rows: readonly RowToStore[]): Promise<void> {
  await tx.query(
    `INSERT INTO pupil_lists (list_id, client_id, idempotency_key, content_sha256, answer, ma_tinh, ma_don_vi, ten_don_vi,
       ky_ke_khai, format, status, row_count, valid_count, invalid_count)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [list.listId, list.clientId, list.idempotencyKey, list.contentSha256, JSON.stringify(list.answer), list.maTinh, list.maDonVi,
      list.tenDonVi ?? null, list.kyKeKhai, list.format, list.status, rows.length, list.validCount, list.invalidCount],
  );
  for (const chunk of chunksOf(rows)) {
    await tx.query(
      `INSERT INTO pupil_list_rows (list_id, position, stt, status, row, read_problems, problems, warnings, card_from, card_to,
         ky_ke_khai, so_dinh_danh, ma_so_bhxh, transfer_id)
       SELECT $1, position, stt, status, row, read_problems, problems, warnings, card_from, card_to, ky_ke_khai, so_dinh_danh, ma_so_bhxh,
              transfer_id
         FROM ${RECORDSET}`,
      [list.listId, rowsJson(list.kyKeKhai, chunk)],
    );
  }
}

/** Rewrites the given rows (a correction and the rows whose outcome it changed). */
export async function updateRowsInTx(tx: Queryable, listId: string, kyKeKhai: string, rows: readonly RowToStore[]): Promise<void> {
  for (const chunk of chunksOf(rows)) {
    await tx.query(
      `UPDATE pupil_list_rows AS t SET stt = r.stt, status = r.status, row = r.row, read_problems = r.read_problems,
         problems = r.problems, warnings = r.warnings, card_from = r.card_from, card_to = r.card_to,
         so_dinh_danh = r.so_dinh_danh, ma_so_bhxh = r.ma_so_bhxh, transfer_id = r.transfer_id
         FROM ${RECORDSET}
        WHERE t.list_id = $1 AND t.position = r.position`,
      [listId, rowsJson(kyKeKhai, chunk)],
    );
  }
}

export async function updateListInTx(tx: Queryable, listId: string, status: ListStatus, validCount: number, invalidCount: number): Promise<void> {
  await tx.query(
    'UPDATE pupil_lists SET status = $2, valid_count = $3, invalid_count = $4, updated_at = now() WHERE list_id = $1',
    [listId, status, validCount, invalidCount],
  );
}

/** A page of rows in file order, after `afterPosition`. */
export async function listRowsPage(db: Queryable, listId: string, afterPosition: number, limit: number): Promise<StoredRow[]> {
  const { rows } = await db.query<RowRecord>(
    `SELECT ${ROW_COLUMNS} FROM ${ROWS_WITH_TRANSFERS} WHERE r.list_id = $1 AND r.position > $2 ORDER BY r.position LIMIT $3`,
    [listId, afterPosition, limit],
  );
  return rows.map(rowOf);
}

export async function allRows(db: Queryable, listId: string): Promise<StoredRow[]> {
  const { rows } = await db.query<RowRecord>(`SELECT ${ROW_COLUMNS} FROM ${ROWS_WITH_TRANSFERS} WHERE r.list_id = $1 ORDER BY r.position`, [listId]);
  return rows.map(rowOf);
}

export async function rowAt(db: Queryable, listId: string, position: number): Promise<StoredRow | null> {
  const { rows } = await db.query<RowRecord>(`SELECT ${ROW_COLUMNS} FROM ${ROWS_WITH_TRANSFERS} WHERE r.list_id = $1 AND r.position = $2`, [listId, position]);
  return rows[0] ? rowOf(rows[0]) : null;
}

/** Links rows to the transfers that carry them to BHXH. */
export async function setRowTransfersInTx(tx: Queryable, listId: string, links: ReadonlyArray<{ position: number; transferId: string }>): Promise<void> {
  for (const chunk of chunksOf(links)) {
    await tx.query(
      `UPDATE pupil_list_rows r SET transfer_id = l.transfer_id
         FROM unnest($2::int[], $3::text[]) AS l(position, transfer_id)
        WHERE r.list_id = $1 AND r.position = l.position`,
      [listId, chunk.map((link) => link.position), chunk.map((link) => link.transferId)],
    );
  }
}

/** The maDonVi and kyKeKhai a batch of the list's rows is headed by. */
export async function listHead(db: Queryable, listId: string): Promise<{ maDonVi: string; kyKeKhai: string } | null> {
  const { rows } = await db.query<{ ma_don_vi: string; ky_ke_khai: string }>('SELECT ma_don_vi, ky_ke_khai FROM pupil_lists WHERE list_id = $1', [listId]);
  return rows[0] ? { maDonVi: rows[0].ma_don_vi, kyKeKhai: rows[0].ky_ke_khai } : null;
}
