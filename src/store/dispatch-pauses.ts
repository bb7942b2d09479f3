import { appendAuditEventInTx } from './audit-log.js';
import type { Database, Queryable } from './database.js';

/** '*' holds every province. Pausing is an operator's act on the flow, so it is audited too. */
export async function setPaused(db: Database, maTinh: string, paused: boolean, actor: string): Promise<string[]> {
  await db.transaction(async (tx) => {
    if (paused) {
      await tx.query(
        'INSERT INTO dispatch_pauses (ma_tinh, paused_by) VALUES ($1, $2) ON CONFLICT (ma_tinh) DO NOTHING', [maTinh, actor],
      );
    } else if (maTinh === '*') {
      await tx.query('DELETE FROM dispatch_pauses');
    } else {
      await tx.query('DELETE FROM dispatch_pauses WHERE ma_tinh = $1', [maTinh]);
    }
    appendAuditEventInTx(tx, { actor, action: paused ? 'dispatch.paused' : 'dispatch.resumed', details: { maTinh } });
  });
  return listPaused(db);
}

export async function listPaused(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ ma_tinh: string }>('SELECT ma_tinh FROM dispatch_pauses ORDER BY ma_tinh');
  return rows.map((row) => row.ma_tinh);
}
