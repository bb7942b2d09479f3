import type { Queryable } from './database.js';

export interface StatusCount {
  status: string;
  maTinh: string;
  count: number;
}

/**
 * How many transfers hold each status, per province: one pass over the (status, ma_tinh, id)
 * index, as costly as counting by status alone. Run by the metrics refresher, never per scrape.
 */
export async function countTransfersByStatusAndProvince(db: Queryable): Promise<StatusCount[]> {
  const { rows } = await db.query<{ status: string; ma_tinh: string; count: string | number }>(
    'SELECT status, ma_tinh, count(*) AS count FROM transfers GROUP BY status, ma_tinh',
  );
  return rows.map((row) => ({ status: row.status, maTinh: row.ma_tinh, count: Number(row.count) }));
}
