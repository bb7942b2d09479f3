import { provinceScope, type ApiClient } from '../../auth/clients.js';
import type { Queryable } from '../../store/database.js';
import type { TransferStatus } from '../../store/transfers.js';
import { rowStatusOf, type RowViewStatus } from './list-service.js';
import type { ListStatus, RowStatus } from './list-store.js';

/** A list as the operators' console shows it among others: who sent it, for when, how many rows. */
export interface ListSummary {
  listId: string;
  maTinh: string;
  maDonVi: string;
  tenDonVi: string | null;
  kyKeKhai: string;
  status: ListStatus;
  rows: number;
  valid: number;
  invalid: number;
  createdAt: string;
}

/**
 * Operators follow schools' lists of their provinces: the latest lists, of one school if asked, and
 * for one list how many of its rows stand where (docs/API.md, "Console"). Reading one list's rows is
 * PupilLists.read, which decides who sees a list.
 */
export class ListOverview {
  constructor(private readonly db: Queryable) {}

  /** Newest first by the list's UUIDv7 id, read backwards along the primary key to the limit. */
  async recent(operator: ApiClient, query: { maDonVi?: string; limit: number }): Promise<ListSummary[]> {
    const { rows } = await this.db.query<{
      list_id: string; ma_tinh: string; ma_don_vi: string; ten_don_vi: string | null; ky_ke_khai: string; status: ListStatus;
      row_count: number; valid_count: number; invalid_count: number; created_at: Date | string;
    }>(
      `SELECT list_id, ma_tinh, ma_don_vi, ten_don_vi, ky_ke_khai, status, row_count, valid_count, invalid_count, created_at
         FROM pupil_lists
        WHERE ($1::text[] IS NULL OR ma_tinh = ANY($1)) AND ($2::text IS NULL OR ma_don_vi = $2)
        ORDER BY list_id DESC
        LIMIT $3`,
      [provinceScope(operator) ?? null, query.maDonVi ?? null, query.limit],
    );
    return rows.map((row) => ({
      listId: row.list_id, maTinh: row.ma_tinh, maDonVi: row.ma_don_vi, tenDonVi: row.ten_don_vi, kyKeKhai: row.ky_ke_khai, status: row.status,
      rows: Number(row.row_count), valid: Number(row.valid_count), invalid: Number(row.invalid_count), createdAt: new Date(row.created_at).toISOString(),
    }));
  }

  /** How many of a list's rows stand at each status, as the school reads them (rowStatusOf). */
  async rowStatuses(listId: string, listStatus: ListStatus): Promise<Partial<Record<RowViewStatus, number>>> {
    const { rows } = await this.db.query<{ status: RowStatus; transfer_status: TransferStatus | null; count: string | number }>(
      `SELECT r.status, t.status AS transfer_status, count(*) AS count
         FROM pupil_list_rows r LEFT JOIN transfers t ON t.id = r.transfer_id
        WHERE r.list_id = $1
        GROUP BY r.status, t.status`,
      [listId],
    );
    const counts: Partial<Record<RowViewStatus, number>> = {};
    for (const row of rows) {
      const status = rowStatusOf({ status: row.status, bhxh: row.transfer_status === null ? null : { status: row.transfer_status, card: null, errors: null } }, listStatus);
      counts[status] = (counts[status] ?? 0) + Number(row.count);
    }
    return counts;
  }
}
