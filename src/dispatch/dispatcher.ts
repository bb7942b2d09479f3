import { hostname } from 'node:os';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import {
  BhxhPushClient,
  PermanentDeliveryError,
  TransientDeliveryError,
  type BhxhAnswer,
} from '../../adapters/bhxh-push-client.js';
import type { ClientRegistry } from '../auth/clients.js';
import type { GatewayConfig } from '../config.js';
import type { GatewayMetrics } from '../metrics.js';
import { claimIntoBatchesInTx, findBatch, listBatchIds, recordAttemptInTx, serialisedBatchBody, type SerialisedBatch } from '../store/batches.js';
import type { Database } from '../store/database.js';
import { applyResultsInTx, type AppliedResults } from './apply-results.js';
import { expireLeasesInTx, failBatchInTx } from './batch-closing.js';
import { CallbackDelivery } from './callbacks.js';

export const QUEUES = { runs: 'dispatch-runs', deliveries: 'batch-deliveries', maintenance: 'maintenance', replays: 'bulk-replays' } as const;

const ACTOR = 'dispatcher';
const BREAKER_STATES = { closed: 0, halfOpen: 1, open: 2 } as const;

export interface DispatcherDependencies {
  config: GatewayConfig;
  db: Database;
  redisUrl: string;
  clients: ClientRegistry;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Extra job handlers sharing the dispatcher's Redis (bulk replays). */
  replayProcessor?: (job: Job<{ replayJobId: string }>) => Promise<unknown>;
}

export interface RunSummary {
  batches: number;
  records: number;
  resumed: number;
}

/**
 * Where queued transfers leave for BHXH. BullMQ schedules the periodic run (a job scheduler every
 * DISPATCH_INTERVAL_MS) and the maintenance tick; global concurrency 1 makes one run at a time across
 * every gateway process on this Redis. A run claims records into batches in PostgreSQL, then one
 * delivery job per batch (job id = batch id) pushes it behind an opossum breaker; BullMQ retries it
 * with jittered exponential backoff, and a delivery whose process died is picked up again when its
 * lock lapses. PostgreSQL, not Redis, holds what was sent and answered.
 */
export class Dispatcher {
  readonly breaker: CircuitBreaker<[SerialisedBatch], BhxhAnswer> | null;
  private readonly connection: Redis;
  private readonly queues: { runs: Queue; deliveries: Queue; maintenance: Queue; replays: Queue };
  private readonly workers: Worker[] = [];
  private readonly callbacks: CallbackDelivery;
  private readonly workerId = `${hostname()}:${process.pid}`;
  private closing: Promise<void> | undefined;

  constructor(private readonly deps: DispatcherDependencies) {
    const { config } = deps;
    // BullMQ's blocking workers need ioredis to retry forever rather than fail a command.
    this.connection = new Redis(deps.redisUrl, { maxRetriesPerRequest: null });
    this.connection.on('error', (error) => deps.logger.warn({ err: error }, 'dispatcher Redis connection'));
    const queueOptions = { connection: this.connection, prefix: config.queuePrefix };
    this.queues = {
      runs: new Queue(QUEUES.runs, queueOptions),
      deliveries: new Queue(QUEUES.deliveries, queueOptions),
      maintenance: new Queue(QUEUES.maintenance, queueOptions),
      replays: new Queue(QUEUES.replays, queueOptions),
    };
    this.breaker = config.bhxhPushUrl ? this.buildBreaker(config.bhxhPushUrl) : null;
    this.callbacks = new CallbackDelivery({
      db: deps.db, logger: deps.logger, metrics: deps.metrics, timeoutMs: config.callbackTimeoutMs, baseDelayMs: config.retryBaseDelayMs,
    });
  }

  private buildBreaker(baseUrl: string) {
    const { config, metrics, logger } = this.deps;
    const client = new BhxhPushClient({ baseUrl, token: config.bhxhPushToken, timeoutMs: config.bhxhTimeoutMs });
    const breaker = new CircuitBreaker((body: SerialisedBatch) => client.sendBatch(body), {
      // The client enforces BHXH_TIMEOUT_MS itself and aborts the request, so the breaker need not.
      timeout: false,
      resetTimeout: config.breakerResetMs,
      volumeThreshold: config.breakerVolumeThreshold,
      errorThresholdPercentage: 50,
      // BHXH refusing one batch says nothing about BHXH being down.
      errorFilter: (error: unknown) => error instanceof PermanentDeliveryError,
    });
    metrics.breakerState.set(BREAKER_STATES.closed);
    breaker.on('open', () => {
      metrics.breakerState.set(BREAKER_STATES.open);
      logger.warn({ resetMs: config.breakerResetMs }, 'BHXH circuit breaker opened: deliveries wait');
    });
    breaker.on('halfOpen', () => {
      metrics.breakerState.set(BREAKER_STATES.halfOpen);
      logger.info('BHXH circuit breaker half-open: one trial delivery');
    });
    breaker.on('close', () => {
      metrics.breakerState.set(BREAKER_STATES.closed);
      logger.info('BHXH circuit breaker closed');
    });
    return breaker;
  }

  get breakerState(): 'closed' | 'halfOpen' | 'open' | 'disabled' {
    if (!this.breaker) return 'disabled';
    return this.breaker.opened ? 'open' : this.breaker.halfOpen ? 'halfOpen' : 'closed';
  }

  /** Registers the schedulers and starts this process's workers. */
  async start(): Promise<void> {
    const { config } = this.deps;
    await this.queues.runs.setGlobalConcurrency(1);
    await this.queues.maintenance.setGlobalConcurrency(1);
    await this.queues.runs.upsertJobScheduler('periodic-dispatch', { every: config.dispatchIntervalMs }, {
      name: 'run', data: { requestedBy: 'scheduler' }, opts: { removeOnComplete: 100, removeOnFail: 100 },
    });
    await this.queues.maintenance.upsertJobScheduler('maintenance-tick', { every: config.maintenanceIntervalMs }, {
      name: 'tick', opts: { removeOnComplete: true, removeOnFail: 100 },
    });
    const workerOptions = { connection: this.connection, prefix: config.queuePrefix };
    // Runs and maintenance allow one job at a time across all processes: a job whose process died
    // must be taken over as soon as a dead delivery is, or it would block everyone until then.
    const takeover = { lockDuration: config.deliveryLockMs, stalledInterval: config.deliveryLockMs };
    this.workers.push(
      new Worker(QUEUES.runs, async (job) => this.runOnce(String(job.data?.requestedBy ?? ACTOR)), { ...workerOptions, ...takeover, concurrency: 1 }),
      new Worker(QUEUES.deliveries, async (job, token) => this.deliver(job, token), {
        ...workerOptions,
        concurrency: config.deliveryConcurrency,
        lockDuration: config.deliveryLockMs,
        stalledInterval: config.deliveryLockMs,
        // A process that died mid-delivery is taken over this many times before BullMQ gives up;
        // even then the batch stays open in PostgreSQL and the next run resumes it.
        maxStalledCount: 10,
        settings: { backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) => this.retryDelay(attemptsMade, error) },
      }),
      new Worker(QUEUES.maintenance, async () => this.maintain(), { ...workerOptions, ...takeover, concurrency: 1 }),
    );
    if (this.deps.replayProcessor) {
      this.workers.push(new Worker(QUEUES.replays, this.deps.replayProcessor, { ...workerOptions, concurrency: 1 }));
    }
    for (const worker of this.workers) {
      worker.on('error', (error) => this.deps.logger.warn({ err: error, queue: worker.name }, 'worker error'));
      worker.on('failed', (job, error) => this.deps.logger.warn({ queue: worker.name, jobId: job?.id, err: error }, 'job failed'));
    }
  }

  /** Exponential from RETRY_BASE_DELAY_MS, with full jitter around it, never sooner than Retry-After. */
  retryDelay(attemptsMade: number, error?: Error): number {
    const base = this.deps.config.retryBaseDelayMs * 2 ** Math.max(0, attemptsMade - 1);
    const jittered = Math.round(base * (0.5 + Math.random()));
    const retryAfter = error instanceof TransientDeliveryError ? error.retryAfterMs ?? 0 : 0;
    return Math.max(jittered, retryAfter);
  }

  async requestRun(requestedBy: string): Promise<string> {
    const job = await this.queues.runs.add('run', { requestedBy }, { removeOnComplete: 100, removeOnFail: 100 });
    return String(job.id);
  }

  async nextRunAt(): Promise<string | null> {
    const scheduler = await this.queues.runs.getJobScheduler('periodic-dispatch');
    return scheduler?.next ? new Date(scheduler.next).toISOString() : null;
  }

  async enqueueReplay(replayJobId: string): Promise<void> {
    // A bulk replay resumes where its committed chunks stopped, so retrying it after a failure is safe.
    await this.queues.replays.add('replay', { replayJobId }, {
      jobId: replayJobId, attempts: 5, backoff: { type: 'exponential', delay: this.deps.config.retryBaseDelayMs },
      removeOnComplete: 100, removeOnFail: 100,
    });
  }

  /** One dispatch run: resume batches left open by a crash, then batch everything queued. */
  async runOnce(actor: string): Promise<RunSummary> {
    const { config, db, metrics } = this.deps;
    const summary: RunSummary = { batches: 0, records: 0, resumed: 0 };
    if (!this.breaker) return summary;
    const open = await listBatchIds(db, 'open', 'push');
    await this.enqueueDeliveries(open);
    summary.resumed = open.length;
    while (!this.breaker.opened) {
      const batches = await db.transaction((tx) =>
        claimIntoBatchesInTx(tx, { mode: 'push', batchSize: config.dispatchBatchSize, limit: config.dispatchBatchSize * 20, actor }),
      );
      if (batches.length === 0) break;
      for (const batch of batches) metrics.batches.inc({ mode: 'push', loai: batch.loai });
      await this.enqueueDeliveries(batches.map((batch) => batch.id));
      summary.batches += batches.length;
      summary.records += batches.reduce((sum, batch) => sum + batch.recordCount, 0);
    }
    if (summary.batches > 0 || summary.resumed > 0) this.deps.logger.info({ ...summary, actor }, 'dispatch run');
    return summary;
  }

  private async enqueueDeliveries(batchIds: string[]): Promise<void> {
    if (batchIds.length === 0) return;
    await this.queues.deliveries.addBulk(
      batchIds.map((batchId) => ({
        name: 'deliver',
        data: { batchId },
        opts: {
          // One job per batch: adding it again while it waits or retries is a no-op.
          jobId: batchId,
          attempts: this.deps.config.dispatchMaxAttempts + 1,
          backoff: { type: 'jittered-exponential' },
          removeOnComplete: true,
          removeOnFail: true,
        },
      })),
    );
  }

  /** One delivery attempt of one batch. PostgreSQL counts the attempts, so a resumed job keeps the count. */
  async deliver(job: Job<{ batchId: string }>, token?: string): Promise<string> {
    const { db, config, metrics, logger } = this.deps;
    const breaker = this.breaker;
    const batch = await findBatch(db, job.data.batchId);
    if (!batch || batch.status !== 'open' || !breaker) return 'nothing to deliver';
    if (breaker.opened) return this.waitForBreaker(job, token);
    const body = await serialisedBatchBody(db, batch);
    const attempt = batch.attempts + 1;
    const startedAt = new Date();
    let answer: BhxhAnswer;
    try {
      answer = await breaker.fire(body);
    } catch (error) {
      if ((error as { code?: string }).code === 'EOPENBREAKER') return this.waitForBreaker(job, token);
      const permanent = error instanceof PermanentDeliveryError;
      const exhausted = attempt >= config.dispatchMaxAttempts;
      const message = (error as Error).message;
      metrics.deliveryAttempts.inc({ outcome: permanent ? 'permanent' : 'transient' });
      await db.transaction(async (tx) => {
        await recordAttemptInTx(tx, {
          batchId: batch.id, attempt, worker: this.workerId, startedAt, outcome: permanent ? 'permanent' : 'transient',
          httpStatus: (error as { httpStatus?: number }).httpStatus,
          error: [message, (error as { answer?: string }).answer].filter(Boolean).join(': '),
        });
        if (permanent || exhausted) {
          const reason = permanent ? `BHXH refused the batch: ${message}` : `not delivered after ${attempt} attempts: ${message}`;
          await failBatchInTx(tx, batch, reason, ACTOR);
        }
      });
      if (permanent || exhausted) {
        logger.warn({ batchId: batch.id, attempt, error: message }, 'batch failed');
        return 'failed';
      }
      logger.info({ batchId: batch.id, attempt, error: message }, 'batch delivery will be retried');
      throw error;
    }
    metrics.bhxhLatency.observe((Date.now() - startedAt.getTime()) / 1000);
    metrics.deliveryAttempts.inc({ outcome: 'answered' });
    const { applied, unanswered } = await db.transaction(async (tx) => {
      await recordAttemptInTx(tx, { batchId: batch.id, attempt, worker: this.workerId, startedAt, outcome: 'answered', httpStatus: answer.httpStatus });
      const result = await applyResultsInTx(tx, batch.id, answer.results, 'bhxh');
      // BHXH answers a pushed batch in full; a record it left out (or answered unreadably) would
      // otherwise wait in `sent` forever. It fails, with the reason, for an operator to replay.
      const left = result.unanswered === 0 ? 0
        : await failBatchInTx(tx, batch, 'BHXH\'s answer had no applicable result for this record', ACTOR, { onlyIfUnanswered: true });
      return { applied: result, unanswered: left };
    });
    if (unanswered > 0) logger.warn({ batchId: batch.id, unanswered }, 'records without a result in BHXH\'s answer failed');
    this.countResults(applied);
    if (applied.rejected.length > 0) logger.warn({ batchId: batch.id, rejected: applied.rejected }, 'BHXH answered results that were not applied');
    return `answered: ${applied.accepted} applied, ${applied.rejected.length} rejected`;
  }

  countResults(applied: AppliedResults): void {
    const { metrics } = this.deps;
    if (applied.issued) metrics.results.inc({ outcome: 'issued' }, applied.issued);
    if (applied.processed) metrics.results.inc({ outcome: 'processed' }, applied.processed);
    if (applied.returned) metrics.results.inc({ outcome: 'returned' }, applied.returned);
    if (applied.rejected.length) metrics.results.inc({ outcome: 'rejected' }, applied.rejected.length);
    for (const code of applied.returnedCodes) metrics.returnedErrors.inc({ code });
  }

  /** While the breaker is open the batch waits, without spending an attempt and without spinning. */
  private async waitForBreaker(job: Job, token?: string): Promise<never> {
    await job.moveToDelayed(Date.now() + this.deps.config.breakerResetMs, token);
    throw new DelayedError();
  }

  /** Lease expiry and callbacks: small, periodic, one process at a time. */
  async maintain(): Promise<void> {
    const expired = await this.deps.db.transaction((tx) => expireLeasesInTx(tx, ACTOR));
    if (expired.records > 0) this.deps.logger.info(expired, 'pull leases expired: records back to queued');
    await this.callbacks.deliverDue(this.deps.clients.withCallbacks());
  }

  /** Idempotent; closes every worker and queue even if one fails, then the connection it opened. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Workers first: a delivery in flight finishes (or times out) and is recorded before the breaker goes.
      await Promise.allSettled(this.workers.map((worker) => worker.close()));
      this.breaker?.shutdown();
      await Promise.allSettled(Object.values(this.queues).map((queue) => queue.close()));
      this.connection.disconnect();
    })();
    return this.closing;
  }
}
