import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import type { ClientRegistry } from '../auth/clients.js';
import { Availability, isConnectionError, type AvailabilityChange } from '../availability.js';
import type { GatewayConfig } from '../config.js';
import { unavailable } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import { DISPATCH_FACTS } from '../messages/registry.js';
import { batchHeadOf } from './batch-head.js';
import {
  claimIntoBatchesInTx, countOpenPushBatches, findBatch, listBatchIds, markPushStarted, recordAttemptInTx, serialisedBatchBody,
  type Batch, type SerialisedBatch,
} from '../store/batches.js';
import type { Database } from '../store/database.js';
import { listPaused } from '../store/dispatch-pauses.js';
import { applyResultsInTx, type AppliedResults } from './apply-results.js';
import { NotReceivedError, PermanentDeliveryError, TransientDeliveryError, type BhxhAnswer, type BhxhPort } from './bhxh-port.js';
import { acknowledgeBatchInTx, expireLeasesInTx, failBatchInTx, releaseBatchInTx } from './batch-closing.js';

export const QUEUES = { runs: 'dispatch-runs', deliveries: 'batch-deliveries', maintenance: 'maintenance', replays: 'bulk-replays' } as const;

const ACTOR = 'dispatcher';
/** Claims of pushed batches take turns across processes, so two never fill the same room in the window. */
const CLAIM_LOCK = 'SELECT pg_advisory_xact_lock(7412, hashtext(current_schema()))';
const BREAKER_STATES = { closed: 0, halfOpen: 1, open: 2 } as const;

export interface DispatcherDependencies {
  config: GatewayConfig;
  db: Database;
  redisUrl: string;
  clients: ClientRegistry;
  logger: Logger;
  metrics: GatewayMetrics;
  /** BHXH's receiving service; without it nothing is pushed and BHXH leases batches itself. */
  bhxh?: BhxhPort;
  /** More periodic work for the maintenance tick, one process at a time (the dossier retention sweep). */
  maintenanceTasks?: Array<() => Promise<void>>;
  /** Extra job handlers sharing the dispatcher's Redis (bulk replays). */
  replayProcessor?: (job: Job<{ replayJobId: string }>) => Promise<unknown>;
  /** How often a started dispatcher checks that Redis still holds its job schedulers. */
  scheduleCheckMs?: number;
  /** How long a call made for an HTTP request may wait for Redis before it is answered 503. */
  redisCallTimeoutMs?: number;
}

const SCHEDULERS = { dispatch: 'periodic-dispatch', maintenance: 'maintenance-tick' } as const;

export interface RunSummary {
  batches: number;
  records: number;
  resumed: number;
}

/**
 * Where queued transfers leave for BHXH. BullMQ schedules the periodic run (a job scheduler every
 * DISPATCH_INTERVAL_MS) and the maintenance tick; global concurrency 1 makes one run at a time across
 * every gateway process on this Redis. A run claims records into batches in PostgreSQL, no more
 * batches than DELIVERY_CONCURRENCY waiting for BHXH's acknowledgement across every process, and
 * each batch BHXH acknowledges makes room for the next, so a BHXH that answers drains the backlog
 * in one run and one that does not leaves it `queued`. One delivery job per batch (job id = batch
 * id) pushes it behind an opossum breaker; BullMQ retries it
 * with jittered exponential backoff, and a delivery whose process died is picked up again by the
 * next process started on its host, or anywhere once its lock lapses. PostgreSQL, not Redis, holds
 * what was sent and answered, so what an emptied Redis lost is put back from it.
 */
export class Dispatcher {
  readonly breaker: CircuitBreaker<[SerialisedBatch], BhxhAnswer> | null;
  /** Whether Redis answers, as this dispatcher's connections last found. */
  readonly redis = new Availability('redis');
  private readonly connection: Redis;
  private readonly queues: { runs: Queue; deliveries: Queue; maintenance: Queue; replays: Queue };
  /** Connection and queues for calls an HTTP request waits on (see the constructor). */
  private readonly producerConnection: Redis;
  private readonly producers: { runs: Queue; replays: Queue };
  private readonly workers: Worker[] = [];
  /** Recorded with each delivery attempt in PostgreSQL. */
  private readonly workerId = `${hostname()}:${process.pid}`;
  /**
   * This process's name on its BullMQ workers, kept by Redis on each job they take and on their
   * connections. Unique per start, so a restarted process with the same pid (PID 1 in a container)
   * is not taken for its dead predecessor.
   */
  private readonly workerName = `${this.workerId}:${randomBytes(4).toString('hex')}`;
  private readonly unsubscribe: Array<() => void> = [];
  private scheduleCheck: NodeJS.Timeout | undefined;
  private restoring: Promise<void> | undefined;
  private started = false;
  private closing: Promise<void> | undefined;
  /** The start's look for jobs of a dead process of this host, still watching their locks. */
  private takingBack: Promise<void> | undefined;
  private readonly stopWaiting = new AbortController();

  constructor(private readonly deps: DispatcherDependencies) {
    const { config } = deps;
    // BullMQ's blocking workers need ioredis to retry forever rather than fail a command.
    this.connection = new Redis(deps.redisUrl, { maxRetriesPerRequest: null });
    this.watchConnection(this.connection);
    // A run requested, a replay queued or the next run looked up by an operator must not wait out an
    // outage with the request held open (BullMQ, "Failing fast when Redis is down"): no offline
    // queue, no resending after a reconnect, and a bound on a Redis that accepts but does not answer.
    this.producerConnection = new Redis(deps.redisUrl, {
      enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: this.redisCallTimeoutMs,
    });
    this.watchConnection(this.producerConnection);
    const queueOptions = { connection: this.connection, prefix: config.queuePrefix };
    this.queues = {
      runs: new Queue(QUEUES.runs, queueOptions),
      deliveries: new Queue(QUEUES.deliveries, queueOptions),
      maintenance: new Queue(QUEUES.maintenance, queueOptions),
      replays: new Queue(QUEUES.replays, queueOptions),
    };
    const producerOptions = { connection: this.producerConnection, prefix: config.queuePrefix };
    this.producers = { runs: new Queue(QUEUES.runs, producerOptions), replays: new Queue(QUEUES.replays, producerOptions) };
    // Without a listener a queue prints every connection error of an outage to stderr, unstructured.
    for (const queue of [...Object.values(this.queues), ...Object.values(this.producers)]) {
      queue.on('error', (error) => this.onRedisError(error, queue.name));
    }
    this.breaker = deps.bhxh ? this.buildBreaker(deps.bhxh) : null;
    this.unsubscribe.push(this.report(deps.db.availability), this.report(this.redis));
  }

  private get redisCallTimeoutMs(): number {
    return this.deps.redisCallTimeoutMs ?? 3000;
  }

  private watchConnection(connection: Redis): void {
    connection.on('error', (error) => this.onRedisError(error, 'connection'));
    connection.on('close', () => {
      if (!this.closing) this.redis.markDown(new Error('connection closed'));
    });
    connection.on('ready', () => this.redis.markUp());
  }

  /** Connection errors are one outage, logged when it starts and ends; anything else is logged as it comes. */
  private onRedisError(error: Error, source: string): void {
    if (this.closing) return;
    if (isConnectionError(error)) this.redis.markDown(error);
    else this.deps.logger.warn({ err: error, source }, 'BullMQ error');
  }

  /** A dependency's outage in the log (twice: down, back) and in lienthong_dependency_up. */
  private report(availability: Availability): () => void {
    const { logger, metrics } = this.deps;
    metrics.dependencyUp.set({ dependency: availability.dependency }, availability.up ? 1 : 0);
    return availability.onChange((change: AvailabilityChange) => {
      metrics.dependencyUp.set({ dependency: change.dependency }, change.up ? 1 : 0);
      if (change.up) {
        logger.warn({ dependency: change.dependency, downForMs: change.downForMs }, `${change.dependency} reachable again`);
      } else if (change.dependency === 'redis') {
        logger.warn({ dependency: change.dependency, error: change.error }, 'redis unreachable: dispatch, callbacks and operator calls that need it wait; intake goes on');
      } else {
        logger.warn({ dependency: change.dependency, error: change.error }, `${change.dependency} unreachable: requests that need it are answered 503`);
      }
    });
  }

  private buildBreaker(bhxh: BhxhPort) {
    const { config, metrics, logger } = this.deps;
    const breaker = new CircuitBreaker((body: SerialisedBatch) => bhxh.sendBatch(body), {
      // The port enforces BHXH_TIMEOUT_MS itself and aborts the request, so the breaker need not.
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

  /**
   * Registers the schedulers, starts this process's workers, and takes back what this host's dead
   * processes still held. From then on it re-creates from PostgreSQL what Redis lost, on every
   * reconnect and whenever a periodic look finds a scheduler gone (a Redis restarted empty).
   */
  async start(): Promise<void> {
    const { config } = this.deps;
    await this.registerSchedulers();
    const workerOptions = { connection: this.connection, prefix: config.queuePrefix, name: this.workerName };
    // A job whose process died is found by BullMQ's stalled check once its lock has lapsed: the
    // check marks the jobs it sees active and moves them back on its next round if the lock is
    // gone. At most DELIVERY_LOCK_MS plus one interval after the crash, not twice the lock time.
    // Runs and maintenance allow one job at a time across all processes: theirs are taken over as
    // soon as a dead delivery is, or they would block everyone until then.
    const takeover = { lockDuration: config.deliveryLockMs, stalledInterval: Math.min(config.deliveryLockMs, 5000) };
    this.workers.push(
      new Worker(QUEUES.runs, async (job) => this.runOnce(String(job.data?.requestedBy ?? ACTOR)), { ...workerOptions, ...takeover, concurrency: 1 }),
      new Worker(QUEUES.deliveries, async (job, token) => this.deliver(job, token), {
        ...workerOptions,
        ...takeover,
        concurrency: config.deliveryConcurrency,
        // A process that died mid-delivery is taken over this many times before BullMQ gives up;
        // even then the batch stays open in PostgreSQL and the next run resumes it.
        maxStalledCount: 10,
        settings: { backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) => this.retryDelay(attemptsMade, error) },
      }),
      new Worker(QUEUES.maintenance, async () => this.maintain(), { ...workerOptions, ...takeover, concurrency: 1 }),
    );
    if (this.deps.replayProcessor) {
      this.workers.push(new Worker(QUEUES.replays, this.deps.replayProcessor, { ...workerOptions, ...takeover, concurrency: 1 }));
    }
    for (const worker of this.workers) {
      worker.on('error', (error) => this.onRedisError(error, worker.name));
      worker.on('failed', (job, error) => {
        // A database or Redis outage fails every job at once; it is logged as the outage.
        if (!isConnectionError(error)) this.deps.logger.warn({ queue: worker.name, jobId: job?.id, err: error }, 'job failed');
      });
    }
    await Promise.all(this.workers.map((worker) => worker.waitUntilReady()));
    // Not awaited: telling a dead holder from a live one takes up to most of DELIVERY_LOCK_MS, and
    // the process serves meanwhile.
    this.takingBack = this.takeBackFromDeadProcesses().then(
      (taken) => {
        if (taken.length > 0) this.deps.logger.warn({ jobs: taken }, 'took back the jobs of a process of this host that is gone');
      },
      (error: unknown) => {
        if (!this.closing && !isConnectionError(error)) this.deps.logger.warn({ err: error }, 'taking back the jobs of a process that is gone failed');
      },
    );
    this.started = true;
    // Connection failures are the outage already logged; the next reconnect or check tries again.
    const restoreFailed = (error: unknown) => {
      if (!isConnectionError(error)) this.deps.logger.warn({ err: error }, 'restoring the dispatch jobs from PostgreSQL failed');
    };
    // The first 'ready' was the start; each later one follows a reconnect.
    this.connection.on('ready', () => void this.restore().catch(restoreFailed));
    this.scheduleCheck = setInterval(() => void this.checkSchedulers().catch(restoreFailed), this.deps.scheduleCheckMs ?? 10_000);
    this.scheduleCheck.unref();
  }

  private async registerSchedulers(): Promise<void> {
    const { config } = this.deps;
    await this.queues.runs.setGlobalConcurrency(1);
    await this.queues.maintenance.setGlobalConcurrency(1);
    await this.queues.runs.upsertJobScheduler(SCHEDULERS.dispatch, { every: config.dispatchIntervalMs }, {
      name: 'run', data: { requestedBy: 'scheduler' }, opts: { removeOnComplete: 100, removeOnFail: 100 },
    });
    await this.queues.maintenance.upsertJobScheduler(SCHEDULERS.maintenance, { every: config.maintenanceIntervalMs }, {
      name: 'tick', opts: { removeOnComplete: true, removeOnFail: 100 },
    });
  }

  private async schedulersLost(): Promise<boolean> {
    const [dispatch, maintenance] = await Promise.all([
      this.queues.runs.getJobScheduler(SCHEDULERS.dispatch),
      this.queues.maintenance.getJobScheduler(SCHEDULERS.maintenance),
    ]);
    return !dispatch || !maintenance;
  }

  /** The cheap periodic look: Redis may have lost its data without this process seeing a reconnect. */
  private async checkSchedulers(): Promise<void> {
    if (this.closing || !this.redis.up) return;
    if (await this.schedulersLost()) await this.restore();
  }

  /**
   * PostgreSQL is the truth; Redis holds only what makes things happen. After a reconnect, or a
   * Redis that came back empty (no persistence, a failover to an empty replica), this puts back the
   * schedulers and their one-at-a-time limit, a delivery job for every push batch open in PostgreSQL
   * and a job for every bulk replay still running. Adding a job under an id Redis still holds does
   * nothing, so doing this after a mere reconnect costs a few reads.
   */
  restore(): Promise<void> {
    if (!this.started || this.closing) return Promise.resolve();
    this.restoring ??= this.restoreFromDatabase().finally(() => {
      this.restoring = undefined;
    });
    return this.restoring;
  }

  private async restoreFromDatabase(): Promise<void> {
    const lost = await this.schedulersLost();
    if (lost) await this.registerSchedulers();
    const { openBatches, runningReplays } = await this.requeueFromDatabase();
    if (lost) {
      this.deps.logger.warn(
        { openBatches, runningReplays },
        'Redis had lost the job schedulers: re-created them, and the jobs of open batches and running replays, from PostgreSQL',
      );
    }
  }

  /**
   * A job for every push batch open in PostgreSQL and every bulk replay still running. Run by every
   * maintenance tick too: a process that died between committing a claim (or a replay) and queueing
   * its job left it with none, and it goes on within a tick rather than at the next run.
   */
  private async requeueFromDatabase(): Promise<{ openBatches: number; runningReplays: number }> {
    const batches = await listBatchIds(this.deps.db, 'open', 'push');
    await this.enqueueDeliveries(batches);
    const { rows } = await this.deps.db.query<{ id: string }>("SELECT id FROM replay_jobs WHERE status = 'running' ORDER BY id");
    if (this.deps.replayProcessor) for (const row of rows) await this.addReplay(this.queues.replays, row.id);
    return { openBatches: batches.length, runningReplays: rows.length };
  }

  /**
   * A process killed mid-job (SIGKILL, a crash, a container restart) leaves its jobs active under a
   * lock that only lapses after DELIVERY_LOCK_MS. A process of the same host with no worker
   * connection left in Redis may be gone, and then will never finish them; so this start moves them
   * back to waiting before their lock lapses. But a process closing gracefully drops its workers'
   * connections first while its delivery still runs, renewing the job's lock: a job is taken only once
   * its lock is seen going unrenewed (lockNotRenewed), or the batch would be pushed twice at once.
   * Only this host's: a process elsewhere may only have lost its connection for a moment and still be
   * sending, so its jobs wait for their lock to lapse. Where Redis does not list client names (some
   * managed services refuse CLIENT SETNAME), nothing can be told and nothing is taken.
   */
  private async takeBackFromDeadProcesses(): Promise<string[]> {
    const host = `${hostname()}:`;
    const candidates: Array<{ queue: Queue; job: Job; lockKey: string; token: string }> = [];
    for (const worker of this.workers) {
      const queue = Object.values(this.queues).find((candidate) => candidate.name === worker.name);
      if (!queue) continue;
      const held = (await queue.getActive()).filter((job) => job.processedBy?.startsWith(host) && job.processedBy !== this.workerName);
      if (held.length === 0) continue;
      const connected = (await queue.getWorkers()).map((client) => String(client.rawname ?? ''));
      const alive = (name: string) => connected.some((rawname) => rawname.endsWith(`:w:${name}`));
      if (!alive(this.workerName)) continue;
      for (const job of held) {
        if (alive(job.processedBy as string)) continue;
        const lockKey = `${queue.toKey(String(job.id))}:lock`;
        // Read now, not when it is moved: by then a lapsed lock may be another worker's, with its own token.
        const token = await this.connection.get(lockKey);
        // No lock: it has lapsed already and the stalled check moves the job.
        if (token !== null) candidates.push({ queue, job, lockKey, token });
      }
    }
    if (candidates.length === 0) return [];
    const unrenewed = await this.lockNotRenewed(candidates.map((candidate) => candidate.lockKey));
    const taken: string[] = [];
    for (const { queue, job, lockKey, token } of candidates) {
      if (this.closing || !unrenewed.has(lockKey)) continue;
      try {
        await job.moveToWait(token);
        taken.push(`${queue.name}/${job.id}`);
      } catch {
        // Finished, moved or locked anew meanwhile: the token no longer matches.
      }
    }
    return taken;
  }

  /**
   * The locks among these that nobody renews. BullMQ renews a job's lock every quarter to half of its
   * duration, so a live holder's never runs below half: one found below a quarter (a quarter's slack for
   * a busy holder) without having risen since it was first read is held by nobody. Each is read again
   * every sixteenth of the duration until it rises (renewed: its holder lives, even with its workers'
   * connections closed), falls that low, or lapses (then BullMQ's stalled check moves its job). A
   * reading apart by less than half the shortest renewal period always sees a renewal as a rise.
   */
  private async lockNotRenewed(lockKeys: string[]): Promise<Set<string>> {
    const lockMs = this.deps.config.deliveryLockMs;
    const unrenewed = new Set<string>();
    let watched = new Map<string, number>();
    for (const key of lockKeys) watched.set(key, await this.connection.pttl(key));
    for (;;) {
      for (const [key, remainingMs] of watched) {
        // Negative: lapsed (or, never for a BullMQ lock, without expiry).
        if (remainingMs < 0) watched.delete(key);
        else if (remainingMs <= lockMs / 4) {
          unrenewed.add(key);
          watched.delete(key);
        }
      }
      if (watched.size === 0 || this.closing) return unrenewed;
      try {
        await sleep(Math.ceil(lockMs / 16), undefined, { signal: this.stopWaiting.signal });
      } catch {
        return unrenewed;
      }
      const next = new Map<string, number>();
      for (const [key, before] of watched) {
        const remainingMs = await this.connection.pttl(key);
        if (remainingMs <= before) next.set(key, remainingMs);
      }
      watched = next;
    }
  }

  /** Exponential from RETRY_BASE_DELAY_MS, with full jitter around it, never sooner than Retry-After. */
  retryDelay(attemptsMade: number, error?: Error): number {
    const base = this.deps.config.retryBaseDelayMs * 2 ** Math.max(0, attemptsMade - 1);
    const jittered = Math.round(base * (0.5 + Math.random()));
    const retryAfter = error instanceof TransientDeliveryError ? error.retryAfterMs ?? 0 : 0;
    return Math.max(jittered, retryAfter);
  }

  /**
   * A Redis call an HTTP request waits on: answered 503 (UNAVAILABLE, Retry-After) within
   * redisCallTimeoutMs when Redis is down or does not answer. The timeout also covers a queue whose
   * first connection never became ready, which no ioredis option bounds.
   */
  private async forRequest<T>(work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        work(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(Object.assign(new Error('Command timed out'), { code: 'ETIMEDOUT' })), this.redisCallTimeoutMs);
        }),
      ]);
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      this.redis.markDown(error);
      throw unavailable('Redis, which holds the dispatch queues, is unavailable; try again later');
    } finally {
      clearTimeout(timer);
    }
  }

  async requestRun(requestedBy: string): Promise<string> {
    const job = await this.forRequest(() => this.producers.runs.add('run', { requestedBy }, { removeOnComplete: 100, removeOnFail: 100 }));
    return String(job.id);
  }

  async nextRunAt(): Promise<string | null> {
    const scheduler = await this.forRequest(() => this.producers.runs.getJobScheduler(SCHEDULERS.dispatch));
    return scheduler?.next ? new Date(scheduler.next).toISOString() : null;
  }

  async enqueueReplay(replayJobId: string): Promise<void> {
    await this.forRequest(() => this.addReplay(this.producers.replays, replayJobId));
  }

  private async addReplay(queue: Queue, replayJobId: string): Promise<void> {
    // A bulk replay resumes where its committed chunks stopped, so retrying it after a failure is safe.
    await queue.add('replay', { replayJobId }, {
      jobId: replayJobId, attempts: 5, backoff: { type: 'exponential', delay: this.deps.config.retryBaseDelayMs },
      removeOnComplete: 100, removeOnFail: 100,
    });
  }

  /**
   * One dispatch run: resume batches left open by a crash, then claim as many batches as BHXH may be
   * sent at once. The deliveries claim the rest, one batch for each batch BHXH acknowledges.
   */
  async runOnce(actor: string): Promise<RunSummary> {
    const summary: RunSummary = { batches: 0, records: 0, resumed: 0 };
    if (!this.breaker) return summary;
    const open = await listBatchIds(this.deps.db, 'open', 'push');
    await this.enqueueDeliveries(open);
    summary.resumed = open.length;
    const claimed = await this.claimWindow(actor);
    summary.batches = claimed.length;
    summary.records = claimed.reduce((sum, batch) => sum + batch.recordCount, 0);
    if (summary.batches > 0 || summary.resumed > 0) this.deps.logger.info({ ...summary, actor }, 'dispatch run');
    return summary;
  }

  /**
   * Fills the room left in the delivery window: DELIVERY_CONCURRENCY pushed batches not yet
   * acknowledged, counted in PostgreSQL across processes; a paused province's held batches take no
   * room. Nothing is claimed while the breaker is open: records wait `queued`, still correctable.
   */
  private async claimWindow(actor: string): Promise<Batch[]> {
    const { config, db, metrics } = this.deps;
    if (!this.breaker || this.breaker.opened || this.closing) return [];
    const batches = await db.transaction(async (tx) => {
      await tx.query(CLAIM_LOCK);
      const room = config.deliveryConcurrency - (await countOpenPushBatches(tx, { skipPaused: true }));
      if (room <= 0) return [];
      return claimIntoBatchesInTx(tx, {
        mode: 'push', batchSize: config.dispatchBatchSize, limit: room * config.dispatchBatchSize, maxBatches: room, actor, kinds: DISPATCH_FACTS,
      });
    });
    if (batches.length === 0) return batches;
    // Test-only (tests/dispatch.processes.test.ts): dies where a crash leaves a claim without its jobs,
    // which the maintenance tick queues again.
    if (process.env.LIENTHONG_CRASH_AT === 'after-claim') process.kill(process.pid, 'SIGKILL');
    for (const batch of batches) metrics.batches.inc({ mode: 'push', loai: batch.loai });
    await this.enqueueDeliveries(batches.map((batch) => batch.id));
    return batches;
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
    const paused = await listPaused(db);
    if (paused.includes(batch.maTinh) || paused.includes('*')) return this.waitWhilePaused(job, token);
    if (breaker.opened) return this.notSentWhileOpen(job, batch, token);
    const body = await serialisedBatchBody(db, batch, await batchHeadOf(db, batch));
    // Only a batch no push ever began can prove, by a refused connection, that BHXH never had it.
    const firstPush = batch.pushStartedAt === null;
    if (firstPush) await markPushStarted(db, batch.id);
    const attempt = batch.attempts + 1;
    const startedAt = new Date();
    let answer: BhxhAnswer;
    try {
      answer = await breaker.fire(body);
    } catch (error) {
      if ((error as { code?: string }).code === 'EOPENBREAKER') return this.notSentWhileOpen(job, batch, token);
      const permanent = error instanceof PermanentDeliveryError;
      const notReceived = error instanceof NotReceivedError && firstPush;
      const exhausted = attempt >= config.dispatchMaxAttempts;
      const message = (error as Error).message;
      metrics.deliveryAttempts.inc({ outcome: permanent ? 'permanent' : 'transient' });
      const ended = await db.transaction(async (tx) => {
        await recordAttemptInTx(tx, {
          batchId: batch.id, attempt, worker: this.workerId, startedAt, outcome: permanent ? 'permanent' : 'transient',
          httpStatus: (error as { httpStatus?: number }).httpStatus,
          error: [message, (error as { answer?: string }).answer].filter(Boolean).join(': '),
        });
        if (permanent || exhausted || notReceived) {
          // Read again under its lock: another delivery of the same batch (a takeover, a resend
          // after Redis came back empty) may have had BHXH's answer meanwhile, and that stands.
          const current = await findBatch(tx, batch.id, true);
          if (current?.status !== 'open') return 'answered by another delivery';
          if (notReceived) {
            await releaseBatchInTx(tx, current, `not received by BHXH: ${message}`, ACTOR);
            return 'released';
          }
          const reason = permanent ? `BHXH refused the batch: ${message}` : `not delivered after ${attempt} attempts: ${message}`;
          await failBatchInTx(tx, current, reason, ACTOR);
          return 'failed';
        }
        return null;
      });
      if (ended === 'failed') logger.warn({ batchId: batch.id, attempt, error: message }, 'batch failed');
      if (ended === 'released') logger.warn({ batchId: batch.id, error: message }, 'BHXH refused the connection: batch released, its records queued again');
      if (ended) return ended;
      logger.info({ batchId: batch.id, attempt, error: message }, 'batch delivery will be retried');
      throw error;
    }
    metrics.bhxhLatency.observe((Date.now() - startedAt.getTime()) / 1000);
    metrics.deliveryAttempts.inc({ outcome: 'answered' });
    const applied = await db.transaction(async (tx) => {
      await recordAttemptInTx(tx, { batchId: batch.id, attempt, worker: this.workerId, startedAt, outcome: 'answered', httpStatus: answer.httpStatus });
      await acknowledgeBatchInTx(tx, batch.id, answer.httpStatus, ACTOR);
      return answer.results === null ? null : applyResultsInTx(tx, batch.id, answer.results, 'bhxh');
    });
    await this.claimWindow(ACTOR).catch((error: unknown) => {
      // Acknowledged all the same; the next run claims what this could not.
      if (!isConnectionError(error)) logger.warn({ err: error }, 'claiming the next batch failed');
    });
    if (!applied) return `acknowledged (${answer.httpStatus}): results to come`;
    this.countResults(applied);
    if (applied.unanswered > 0) logger.info({ batchId: batch.id, unanswered: applied.unanswered }, 'records left out of BHXH\'s answer wait sent for their results');
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

  /**
   * While the breaker is open nothing is sent. A batch no push ever began goes back to `queued`
   * (released): BHXH cannot hold it. One pushed already may be held by BHXH (a timeout, a 5xx, a
   * process that died mid-push): it waits, without spending an attempt and without spinning, to be
   * resent as it is.
   */
  private async notSentWhileOpen(job: Job, batch: Batch, token?: string): Promise<string> {
    if (batch.pushStartedAt === null) {
      const released = await this.deps.db.transaction(async (tx) => {
        const current = await findBatch(tx, batch.id, true);
        if (current?.status !== 'open' || current.pushStartedAt !== null) return false;
        await releaseBatchInTx(tx, current, 'not sent: BHXH unavailable (circuit breaker open)', ACTOR);
        return true;
      });
      if (released) return 'released';
    }
    await job.moveToDelayed(Date.now() + this.deps.config.breakerResetMs, token);
    throw new DelayedError();
  }

  /** An operator holds the batch's province: it waits, without spending an attempt, until resumed. */
  private async waitWhilePaused(job: Job, token?: string): Promise<never> {
    await job.moveToDelayed(Date.now() + this.deps.config.maintenanceIntervalMs, token);
    throw new DelayedError();
  }

  /** Jobs lost in a crash window, and lease expiry: small, periodic, one process at a time. */
  async maintain(): Promise<void> {
    await this.requeueFromDatabase();
    const expired = await this.deps.db.transaction((tx) => expireLeasesInTx(tx, ACTOR));
    if (expired.records > 0) this.deps.logger.info(expired, 'pull leases expired: records back to queued');
    for (const task of this.deps.maintenanceTasks ?? []) await task();
  }

  /** Idempotent; closes every worker and queue even if one fails, then the connection it opened. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.scheduleCheck);
      this.stopWaiting.abort();
      for (const unsubscribe of this.unsubscribe) unsubscribe();
      // Workers first: a delivery in flight finishes (or times out) and is recorded before the breaker
      // goes. Without Redis that wait would last until Redis is back (a stop during an outage would
      // hang), so they stop at once and what they held is taken over as a dead process's is.
      const force = !this.redis.up;
      await Promise.allSettled(this.workers.map((worker) => worker.close(force)));
      // Stopped watching locks at once; its last Redis call answers before the connection goes.
      if (!force) await this.takingBack;
      this.breaker?.shutdown();
      await Promise.allSettled([...Object.values(this.queues), ...Object.values(this.producers)].map((queue) => queue.close()));
      this.connection.disconnect();
      this.producerConnection.disconnect();
    })();
    return this.closing;
  }
}
