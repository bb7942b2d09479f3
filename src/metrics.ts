import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { describeFailure } from './availability.js';
import { TRANSFER_STATUSES } from './domain/transfer-status.js';
import type { Queryable } from './store/database.js';
import { countTransfersByStatusAndProvince } from './store/status-counts.js';

interface TransferGauges {
  byStatus: Gauge<'status'>;
  byProvince: Gauge<'status' | 'ma_tinh'>;
  countedAt: Gauge;
}

/**
 * Keeps the transfer gauges current by counting every METRICS_REFRESH_MS, so that a scrape only
 * reads memory: counting is a pass over every transfer, and scrapes come from any number of
 * Prometheus servers, at their pace, and keep coming while the database struggles. Between counts,
 * and while the database does not answer, the gauges hold the last count, and
 * lienthong_transfers_counted_timestamp_seconds says how old it is.
 */
export class TransferCountRefresher {
  private timer: NodeJS.Timeout | undefined;
  /** The latest count asked for, settled either way; counts run one after another. */
  private latest: Promise<void> = Promise.resolve();
  private underWay = 0;
  private failing = false;

  constructor(private readonly db: Queryable, private readonly gauges: TransferGauges) {}

  /** Counts now, after any count under way. Rejects if the database does not answer; the gauges keep their values. */
  refresh(): Promise<void> {
    this.underWay += 1;
    const count = this.latest.then(() => this.count()).finally(() => {
      this.underWay -= 1;
    });
    this.latest = count.catch(() => undefined);
    return count;
  }

  /** Counts at once, then every `intervalMs` on a timer that does not keep the process alive. */
  start(intervalMs: number, logger: Logger): void {
    if (this.timer) return;
    const tick = () => {
      // A database slower than the period would otherwise gather counts waiting for it.
      if (this.underWay > 0) return;
      this.refresh().then(
        () => {
          if (this.failing) logger.info('transfer counts for /metrics read again');
          this.failing = false;
        },
        (error: unknown) => {
          if (!this.failing) logger.warn({ error: describeFailure(error) }, 'transfer counts for /metrics could not be read: the gauges keep the last count');
          this.failing = true;
        },
      );
    };
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a count under way, so none runs on a database being closed. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.latest;
  }

  private async count(): Promise<void> {
    const counts = await countTransfersByStatusAndProvince(this.db);
    const { byStatus, byProvince, countedAt } = this.gauges;
    // Every status of the state table, zeros included, and whatever else the table holds (a status
    // a newer process added): an absent series would read as "no data", not as none waiting.
    const totals = new Map<string, number>(TRANSFER_STATUSES.map((status) => [status, 0]));
    for (const { status, count } of counts) totals.set(status, (totals.get(status) ?? 0) + count);
    const provinces = new Set(counts.map(({ maTinh }) => maTinh));
    // Set in one synchronous stretch: a scrape sees the whole of one count or of the one before.
    byStatus.reset();
    for (const [status, total] of totals) byStatus.set({ status }, total);
    byProvince.reset();
    for (const maTinh of provinces) for (const status of totals.keys()) byProvince.set({ status, ma_tinh: maTinh }, 0);
    for (const { status, maTinh, count } of counts) byProvince.set({ status, ma_tinh: maTinh }, count);
    countedAt.set(Date.now() / 1000);
  }
}

/** One registry per gateway instance, so tests can build many apps in one process. */
export function createMetrics(db: Queryable) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'lienthong_' });
  const transferGauges: TransferGauges = {
    byStatus: new Gauge({
      name: 'lienthong_transfers',
      help: 'Transfers by status (queue depth), as last counted (see lienthong_transfers_counted_timestamp_seconds)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    byProvince: new Gauge({
      name: 'lienthong_transfers_by_province',
      help: 'Transfers by status and province (ma_tinh), as last counted',
      labelNames: ['status', 'ma_tinh'] as const,
      registers: [registry],
    }),
    countedAt: new Gauge({
      name: 'lienthong_transfers_counted_timestamp_seconds',
      help: 'When the transfer gauges were last counted, in Unix seconds; 0 before the first count',
      registers: [registry],
    }),
  };
  // Every status shows from the start, before the first count has answered.
  for (const status of TRANSFER_STATUSES) transferGauges.byStatus.set({ status }, 0);
  transferGauges.countedAt.set(0);
  return {
    registry,
    httpDuration: new Histogram({
      name: 'lienthong_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    batches: new Counter({
      name: 'lienthong_batches_total',
      help: 'Batches formed, by mode (push, pull) and document type',
      labelNames: ['mode', 'loai'] as const,
      registers: [registry],
    }),
    deliveryAttempts: new Counter({
      name: 'lienthong_delivery_attempts_total',
      help: 'Deliveries of batches to BHXH, by outcome (answered, transient, permanent)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    bhxhLatency: new Histogram({
      name: 'lienthong_bhxh_request_duration_seconds',
      help: 'Time BHXH took to answer a pushed batch',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    breakerState: new Gauge({
      name: 'lienthong_bhxh_breaker_state',
      help: 'Circuit breaker in front of BHXH: 0 closed, 1 half-open, 2 open',
      registers: [registry],
    }),
    results: new Counter({
      name: 'lienthong_bhxh_results_total',
      help: 'Per-record results from BHXH, by outcome (issued, processed, returned, rejected)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    returnedErrors: new Counter({
      name: 'lienthong_bhxh_returned_errors_total',
      help: 'Errors BHXH returned records with, by its error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    callbacks: new Counter({
      name: 'lienthong_callbacks_total',
      help: 'Callbacks to registry systems, by outcome (delivered, failed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    dependencyUp: new Gauge({
      name: 'lienthong_dependency_up',
      help: 'Whether the latest call to a dependency (database, redis) reached it: 1 yes, 0 no',
      labelNames: ['dependency'] as const,
      registers: [registry],
    }),
    transferCounts: new TransferCountRefresher(db, transferGauges),
  };
}

export type GatewayMetrics = ReturnType<typeof createMetrics>;
