import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { RETRY_AFTER_SECONDS, GatewayError } from '../errors.js';

/**
 * A bound on the bytes of large bodies read at once. Each request with a body over `largeBody` bytes
 * (by Content-Length; a chunked one counts as its route's limit) takes its size from the budget in
 * `onRequest`, before a byte of it is read, and gives it back when its answer is sent or its
 * connection ends. Past the budget it is answered 503 with Retry-After: twenty 18 MB SOAP dossiers
 * at once, each held with its parsed copies, ended a process at its heap limit. A request alone
 * larger than the budget is let through when nothing else is being read, or it could never pass.
 */
export class BodyBudget {
  private used = 0;

  constructor(private readonly bytes: number) {}

  /** Whether `size` bytes were taken; false when they would pass the budget. */
  take(size: number): boolean {
    if (this.used > 0 && this.used + size > this.bytes) return false;
    this.used += size;
    return true;
  }

  give(size: number): void {
    this.used -= size;
  }

  get inUse(): number {
    return this.used;
  }
}

/**
 * What a request takes from the budget: nothing for a small body; a chunked one counts as its route's
 * limit, since no route reads more than its own; one announced larger than that limit takes nothing,
 * left to the 413 its route answers rather than made to wait for room it could never use.
 */
export function chargeFor(headers: { 'content-length'?: string; 'transfer-encoding'?: string }, routeLimit: number, largeBody: number): number {
  const length = headers['content-length'];
  const chunked = length === undefined && headers['transfer-encoding'] !== undefined;
  const size = chunked ? routeLimit : Number(length ?? 0);
  return size > routeLimit || !(size > largeBody) ? 0 : size;
}

declare module 'fastify' {
  interface FastifyInstance {
    bodyBudget: BodyBudget;
  }
}

export const bodyBudgetPlugin = fp(
  async function bodyBudget(app: FastifyInstance, options: { bytes: number; largeBody: number; unknownLength: number }) {
    const budget = new BodyBudget(options.bytes);
    app.decorate('bodyBudget', budget);
    app.addHook('onRequest', async (request, reply) => {
      const size = chargeFor(request.headers, request.routeOptions.bodyLimit ?? options.unknownLength, options.largeBody);
      if (size === 0) return;
      if (!budget.take(size)) {
        throw new GatewayError('UNAVAILABLE', 'Too many large requests are being read at once; try again shortly', [
          { path: '', code: 'BUSY', message: `large bodies in flight are bounded to ${options.bytes} bytes` },
        ], { 'retry-after': String(RETRY_AFTER_SECONDS) });
      }
      let given = false;
      const giveBack = () => {
        if (given) return;
        given = true;
        budget.give(size);
      };
      // 'close' comes once the answer is sent or the connection ends, whichever first.
      reply.raw.once('close', giveBack);
    });
  },
  { name: 'lienthong-body-budget', fastify: '5.x' },
);
