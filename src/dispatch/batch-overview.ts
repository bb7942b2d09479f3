import { provinceScope, type ApiClient } from '../auth/clients.js';
import { listRecentBatches, type Batch, type BatchStatus } from '../store/batches.js';
import type { Database } from '../store/database.js';

export type { BatchStatus };

/** What operators read of batches: the latest, with their attempts and last error, of their provinces. */
export class BatchOverview {
  constructor(private readonly db: Database) {}

  recent(client: ApiClient, query: { status?: BatchStatus; limit: number }): Promise<Batch[]> {
    return listRecentBatches(this.db, { ...query, provinces: provinceScope(client) });
  }
}
