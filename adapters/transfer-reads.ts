import { listAuditEvents, type AuditEvent } from '../src/store/audit-log.js';
import { deliveryHistory, type DeliveryHistory } from '../src/store/batches.js';
import type { Queryable } from '../src/store/database.js';

/** What a transfer's detail view shows besides the row: its audit history and every delivery. */
export async function readTransferHistory(db: Queryable, transferId: string): Promise<[AuditEvent[], DeliveryHistory[]]> {
  return Promise.all([listAuditEvents(db, { transferId, limit: 1000 }), deliveryHistory(db, transferId)]);
}
