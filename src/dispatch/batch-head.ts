import { dispatchFactsOf } from '../messages/registry.js';
import type { Batch } from '../store/batches.js';
import type { Queryable } from '../store/database.js';

/** What heads a batch's body beside its id, province and type: its group's fields (a list's unit and period), if any. */
export async function batchHeadOf(db: Queryable, batch: Batch): Promise<Record<string, unknown>> {
  const head = dispatchFactsOf(batch.loai).batchHead;
  return batch.groupKey !== null && head ? head(db, batch.groupKey) : {};
}
