import { provinceScope, type ApiClient } from '../auth/clients.js';
import { listAuditEvents, verifyAuditChain, type AuditEvent, type ChainVerdict } from '../store/audit-log.js';
import type { Database } from '../store/database.js';
import { findTransfer } from '../store/transfers.js';
import { assertMayTouch } from '../transfers/access.js';

/** A hold or release of every province concerns each of them. */
const EVERY_PROVINCE = '*';

export interface AuditEventQuery {
  transferId?: string;
  afterSeq?: number;
  limit: number;
}

/** Reading the audit log (docs/API.md, "Audit"); nothing here writes it. */
export class AuditLog {
  constructor(private readonly db: Database) {}

  /**
   * Events oldest first, of the client's provinces only: a transfer it may not read is answered
   * 404 NOT_FOUND, as the transfer itself is, and a list without a transfer leaves out the other
   * provinces' events.
   */
  async events(client: ApiClient, query: AuditEventQuery): Promise<AuditEvent[]> {
    const provinces = provinceScope(client);
    if (provinces && query.transferId !== undefined) assertMayTouch(await findTransfer(this.db, query.transferId), client);
    return listAuditEvents(this.db, { ...query, provinces: provinces && [...provinces, EVERY_PROVINCE] });
  }

  verify(): Promise<ChainVerdict> {
    return verifyAuditChain(this.db);
  }
}
