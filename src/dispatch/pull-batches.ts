import { actsForProvince, type ApiClient } from '../auth/clients.js';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import { claimIntoBatchesInTx, findBatch, serialisedBatchBody, type Loai, type SerialisedBatch } from '../store/batches.js';
import type { Database } from '../store/database.js';
import { applyResultsInTx, type AppliedResults } from './apply-results.js';

export interface LeaseRequest {
  maTinh: string;
  loai: Loai;
  max: number;
  leaseSeconds: number;
}

export interface PullBatchesDependencies {
  db: Database;
  metrics: GatewayMetrics;
  /** The gateway's batch size: a lease never holds more. */
  maxBatchSize: number;
  /** Counts applied results in the metrics, as for a pushed batch's answer. */
  countResults: (applied: AppliedResults) => void;
}

/** BHXH fetching batches itself and answering them (pull, docs/API.md); each client within its provinces. */
export class PullBatches {
  constructor(private readonly deps: PullBatchesDependencies) {}

  /** Claims up to `max` queued records of one province and type as a leased batch; null when none waits. */
  async lease(client: ApiClient, request: LeaseRequest): Promise<SerialisedBatch | null> {
    const { db, metrics, maxBatchSize } = this.deps;
    const { maTinh, loai, leaseSeconds } = request;
    if (!actsForProvince(client, maTinh)) throw new GatewayError('FORBIDDEN', `Province ${maTinh} is outside this client's units`);
    // BHXH cannot know the gateway's batch size, so asking for more is not an error.
    const max = Math.min(request.max, maxBatchSize);
    const [batch] = await db.transaction((tx) =>
      claimIntoBatchesInTx(tx, { mode: 'pull', batchSize: max, limit: max, maTinh, loai, actor: client.id, leasedBy: client.id, leaseSeconds }),
    );
    if (!batch) return null;
    metrics.batches.inc({ mode: 'pull', loai });
    return serialisedBatchBody(db, batch, { leaseExpiresAt: batch.leaseExpiresAt });
  }

  /** Applies BHXH's results to a batch of the client's provinces; any other batch is 404 NOT_FOUND. */
  async answer(client: ApiClient, batchId: string, results: unknown[]): Promise<Pick<AppliedResults, 'accepted' | 'rejected'>> {
    const { db } = this.deps;
    const batch = await findBatch(db, batchId);
    if (!batch || !actsForProvince(client, batch.maTinh)) throw new GatewayError('NOT_FOUND', 'No such batch');
    const applied = await db.transaction((tx) => applyResultsInTx(tx, batch.id, results, client.id));
    this.deps.countResults(applied);
    return { accepted: applied.accepted, rejected: applied.rejected };
  }
}
