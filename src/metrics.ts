import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TRANSFER_STATUSES } from './domain/transfer-status.js';
import type { Database } from './store/database.js';
import { countTransfersByStatus } from './store/transfers.js';

/** One registry per gateway instance, so tests can build many apps in one process. */
export function createMetrics(db: Database) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'lienthong_' });
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
    transfers: new Gauge({
      name: 'lienthong_transfers',
      help: 'Transfers by status (queue depth), read from the database at scrape time',
      labelNames: ['status'] as const,
      registers: [registry],
      async collect() {
        const counts = await countTransfersByStatus(db);
        for (const status of TRANSFER_STATUSES) this.set({ status }, counts[status] ?? 0);
      },
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createMetrics>;
