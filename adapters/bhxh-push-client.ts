import {
  NotReceivedError,
  PermanentDeliveryError,
  TransientDeliveryError,
  type BhxhAnswer,
  type BhxhPort,
  type SerialisedBatch,
} from '../src/dispatch/bhxh-port.js';

export interface BhxhPushClientOptions {
  baseUrl: string;
  token?: string;
  timeoutMs: number;
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Where a batch leaves the gateway for BHXH's receiving service (push, docs/API.md). */
export class BhxhPushClient implements BhxhPort {
  private readonly url: string;

  constructor(private readonly options: BhxhPushClientOptions) {
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/batches`;
  }

  async sendBatch(body: SerialisedBatch): Promise<BhxhAnswer> {
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': body.batchId,
          ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
        },
        // As bytes: fetch would otherwise first scan the whole string for lone surrogates (toUSVString),
        // which the stored documents cannot hold.
        body: Buffer.from(body.json, 'utf8'),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      const name = (error as Error).name;
      // Refused at connect: the request never left, so BHXH cannot hold the batch.
      if (cause === 'ECONNREFUSED') throw new NotReceivedError(`cannot reach BHXH (${cause})`);
      throw new TransientDeliveryError(
        name === 'TimeoutError' ? `no answer within ${this.options.timeoutMs} ms` : `cannot reach BHXH (${cause ?? (error as Error).message})`,
      );
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new TransientDeliveryError(`answer cut off (${(error as Error).message})`, response.status);
    }
    if (response.status === 200) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new TransientDeliveryError('answer 200 is not JSON', 200);
      }
      const results = (parsed as { results?: unknown }).results;
      if (!Array.isArray(results)) throw new TransientDeliveryError('answer 200 has no results list', 200);
      return { httpStatus: 200, results };
    }
    // Received, results later (docs/API.md, "Push"): the body's count is informative only.
    if (response.status >= 200 && response.status < 300) return { httpStatus: response.status, results: null };
    const status = response.status;
    // BHXH's answer body may quote the records, so it goes only to the attempt's row in PostgreSQL,
    // never into the message that logs and audit events carry.
    const answer = text ? text.slice(0, 1000) : undefined;
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) throw new PermanentDeliveryError(`BHXH answered ${status}`, status, answer);
    throw new TransientDeliveryError(
      `BHXH answered ${status}`, status, status === 429 || status === 503 ? retryAfterMs(response.headers.get('retry-after')) : undefined, answer,
    );
  }
}
