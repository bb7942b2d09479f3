import { actsForProvince, type ApiClient } from '../auth/clients.js';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import { DISPATCH_FACTS } from '../messages/registry.js';
import { claimIntoBatchesInTx, findBatch, serialisedBatchBody, type Batch, type Loai, type SerialisedBatch } from '../store/batches.js';
import type { Database } from '../store/database.js';
import { renewLease } from '../store/leases.js';
import { applyResultsInTx, type AppliedResults } from './apply-results.js';
import { batchHeadOf } from './batch-head.js';

export interface LeaseRequest {
  maTinh: string;
  loai: Loai;
  max: number;
  leaseSeconds: number;
}

export interface LeaseRenewal {
  batchId: string;
  leaseExpiresAt: string;
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
      claimIntoBatchesInTx(tx, {
        mode: 'pull', batchSize: max, limit: max, maTinh, loai, actor: client.id, leasedBy: client.id, leaseSeconds, kinds: DISPATCH_FACTS,
      }),
    );
    if (!batch) return null;
    metrics.batches.inc({ mode: 'pull', loai });
    return serialisedBatchBody(db, batch, { ...(await batchHeadOf(db, batch)), leaseExpiresAt: batch.leaseExpiresAt });
  }

  /**
   * Applies BHXH's results to a batch of the client's provinces: a leased batch's from its holder
   * only, a pushed batch's (acknowledged, its results coming later) from any BHXH client of the province.
   */
  async answer(client: ApiClient, batchId: string, results: unknown[]): Promise<Pick<AppliedResults, 'accepted' | 'rejected'>> {
    const { db } = this.deps;
    const batch = await this.batchFor(client, batchId);
    const applied = await db.transaction((tx) => applyResultsInTx(tx, batch.id, results, client.id));
    this.deps.countResults(applied);
    return { accepted: applied.accepted, rejected: applied.rejected };
  }

  /** Ends the holder's lease `leaseSeconds` from now, while it still runs; its records stay `sent`. */
  async renew(client: ApiClient, batchId: string, leaseSeconds: number): Promise<LeaseRenewal> {
    const { db } = this.deps;
    const batch = await this.batchFor(client, batchId);
    if (batch.leasedBy === null) throw new GatewayError('INVALID_STATE', 'This batch was pushed to BHXH, not leased: it has no lease to renew');
    const leaseExpiresAt = await renewLease(db, batch.id, client.id, leaseSeconds);
    if (leaseExpiresAt) return { batchId: batch.id, leaseExpiresAt };
    // Read again: the batch may have closed or expired since it was first read.
    const current = await findBatch(db, batch.id);
    throw new GatewayError('INVALID_STATE', current?.status === 'closed'
      ? 'Every record of this batch is answered: there is no lease left to renew'
      : 'This lease has run out: its unanswered records go back to queued, to be leased again in a new batch');
  }

  /**
   * The batch, if the client may act on it. Outside its provinces the batch does not exist for it
   * (404, as a transfer it may not see). A client of the province that does not hold the lease is
   * told so (403): it may see the batch, it may not answer for another client's lease.
   */
  private async batchFor(client: ApiClient, batchId: string): Promise<Batch> {
    const batch = await findBatch(this.deps.db, batchId);
    if (!batch || !actsForProvince(client, batch.maTinh)) throw new GatewayError('NOT_FOUND', 'No such batch');
    if (batch.leasedBy !== null && batch.leasedBy !== client.id) {
      throw new GatewayError('FORBIDDEN', 'This batch is leased by another BHXH client: only the lease holder may answer or renew it');
    }
    return batch;
  }
}
