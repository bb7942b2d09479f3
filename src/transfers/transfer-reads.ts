import type { ApiClient } from '../auth/clients.js';
import { FINAL_STATUSES, TRANSFER_STATUSES } from '../domain/transfer-status.js';
import type { WorkingCalendar } from '../domain/working-days.js';
import { listAuditEvents } from '../store/audit-log.js';
import { deliveryHistory } from '../store/batches.js';
import type { Database } from '../store/database.js';
import { countTransfersByStatus, findTransfer, lastPageCursor, listOpenDueTransfers, listTransfers, type Transfer, type TransferFilter, type TransferPage } from '../store/transfers.js';
import { backlogHistory, backlogReport } from './backlog-report.js';
import { assertMayTouch } from './access.js';
import { transferDetail } from './transfer-views.js';

/** What the doors read of transfers: one whole, pages of them, counts and the backlog. */
export class TransferReads {
  constructor(private readonly db: Database) {}

  /** One transfer the client may read, whole; any other is 404 NOT_FOUND, so its id reveals nothing. */
  async detail(transferId: string, client: ApiClient) {
    return this.detailOf(assertMayTouch(await findTransfer(this.db, transferId), client));
  }

  /** The whole view of a transfer just read or changed: its row, its audit history and every delivery. */
  async detailOf(transfer: Transfer) {
    const [history, deliveries] = await Promise.all([
      listAuditEvents(this.db, { transferId: transfer.id, limit: 1000 }),
      deliveryHistory(this.db, transfer.id),
    ]);
    return transferDetail(transfer, history, deliveries);
  }

  list(filter: TransferFilter, page: Parameters<typeof listTransfers>[2]): Promise<TransferPage> {
    return listTransfers(this.db, filter, page);
  }

  /** Where the last page of this filter starts (null: the first page is the last). */
  lastPage(filter: TransferFilter, limit: number): Promise<string | null> {
    return lastPageCursor(this.db, filter, limit);
  }

  /** Open requests with a due date of their own (card re-issues), soonest due first. */
  openDue(provinces: string[] | undefined, limit: number): Promise<Transfer[]> {
    return listOpenDueTransfers(this.db, { openStatuses: TRANSFER_STATUSES.filter((status) => !FINAL_STATUSES.includes(status)), provinces, limit });
  }

  countByStatus(provinces?: string[]): Promise<Record<string, number>> {
    return countTransfersByStatus(this.db, provinces);
  }

  backlog(calendar: WorkingCalendar, now: Date, provinces?: string[]) {
    return backlogReport(this.db, calendar, now, provinces);
  }

  backlogHistory(calendar: WorkingCalendar, now: Date, days: number, provinces?: string[]) {
    return backlogHistory(this.db, calendar, now, days, provinces);
  }
}
