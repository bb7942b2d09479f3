import type { SerialisedBatch } from '../store/batches.js';

export type { SerialisedBatch };

/**
 * BHXH acknowledged a pushed batch (a 2xx). With 200 it answers results at once, applied by
 * src/dispatch/apply-results.ts (a record it leaves out waits for a later one); with 202
 * `{"accepted": n}` it only received the batch, and its results come later through
 * `POST /bhxh/v1/batches/{batchId}/results` (null here).
 */
export interface BhxhAnswer {
  httpStatus: number;
  results: unknown[] | null;
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

/**
 * The batch provably never reached BHXH (the connection was refused: not a byte was sent). Unlike a
 * timeout or a 5xx, nothing may be held by BHXH, so its records may go back to `queued`.
 */
export class NotReceivedError extends TransientDeliveryError {
  constructor(message: string) {
    super(message);
    this.name = 'NotReceivedError';
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
