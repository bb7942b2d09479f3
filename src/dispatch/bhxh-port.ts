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
  declare readonly answer?: string;

  constructor(message: string, readonly httpStatus?: number, readonly retryAfterMs?: number, answer?: string) {
    super(message);
    this.name = 'TransientDeliveryError';
    keepOutOfLogs(this, answer);
  }
}

/** BHXH refused the batch itself (any other 4xx): sending it again unchanged cannot help. */
export class PermanentDeliveryError extends Error {
  declare readonly answer?: string;

  constructor(message: string, readonly httpStatus: number, answer?: string) {
    super(message);
    this.name = 'PermanentDeliveryError';
    keepOutOfLogs(this, answer);
  }
}

/**
 * BHXH's answer may quote the records (names, ID numbers): the attempt row keeps it, but pino's
 * error serializer copies every enumerable property of a logged error, so this one is not.
 */
function keepOutOfLogs(error: Error, answer: string | undefined): void {
  Object.defineProperty(error, 'answer', { value: answer, enumerable: false });
}
