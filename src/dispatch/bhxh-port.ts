import type { SerialisedBatch } from '../store/batches.js';

export type { SerialisedBatch };

/** BHXH's answer to a pushed batch: one result per record, applied by src/dispatch/apply-results.ts. */
export interface BhxhAnswer {
  httpStatus: number;
  results: unknown[];
}

/**
 * Where the dispatcher hands a batch to BHXH's receiving service (push, docs/API.md). It answers, or
 * throws one of the two errors below, which decide whether the batch is tried again.
 */
export interface BhxhPort {
  sendBatch(body: SerialisedBatch): Promise<BhxhAnswer>;
}

/** Worth trying again later: a timeout, a refused connection, 5xx, 408, 429 (with its Retry-After). */
export class TransientDeliveryError extends Error {
  constructor(message: string, readonly httpStatus?: number, readonly retryAfterMs?: number, readonly answer?: string) {
    super(message);
    this.name = 'TransientDeliveryError';
  }
}

/** BHXH refused the batch itself (any other 4xx): sending it again unchanged cannot help. */
export class PermanentDeliveryError extends Error {
  constructor(message: string, readonly httpStatus: number, readonly answer?: string) {
    super(message);
    this.name = 'PermanentDeliveryError';
  }
}
