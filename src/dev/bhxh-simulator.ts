import Fastify, { type FastifyInstance } from 'fastify';
import type { Loai } from '../store/batches.js';

/** Enough to answer any retry of a batch still being delivered. */
const RECENT_ANSWERS = 1000;

export interface SimulatedBatch {
  batchId: string;
  maTinh: string;
  loai: Loai;
  /** A batch of a school's list: its unit and period. */
  maDonVi?: string;
  kyKeKhai?: string;
  records: Array<Record<string, unknown>>;
}

/**
 * What the simulator does with one delivery: answer per record (a `result` of null leaves the record
 * out, to be answered later), only accept it (202, results later), fail with a status, or never answer.
 */
export type Behaviour =
  | { kind: 'answer'; result?: (record: Record<string, unknown>) => Record<string, unknown> | null }
  | { kind: 'accept' }
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'hang' };

export interface Delivery {
  batchId: string;
  idempotencyKey: string | undefined;
  authorization: string | undefined;
  body: SimulatedBatch;
  answeredWith: number | 'hang';
}

/**
 * BHXH's answer for a record it accepts: a made-up card for a birth, nothing for a death, for a
 * card asked for again (it names its due day, HAN_TRA) a new card valid from that day to the year's
 * end, and for a pupil's list row (SO_THANG) a card of group HS at benefit level 4 in its facility's
 * province, for the period the gateway asked for.
 */
export function issueCard(record: Record<string, unknown>): Record<string, unknown> {
  if (record.NGAY_CHET !== undefined) return { MA_HO_SO: record.MA_HO_SO, KET_QUA: 'OK' };
  if (record.SO_THANG !== undefined) {
    const maSoBhxh = String(record.MA_SO_BHXH ?? String(record.SO_DINH_DANH).slice(-10));
    return {
      MA_HO_SO: record.MA_HO_SO, KET_QUA: 'OK', MA_SO_BHXH: maSoBhxh,
      MA_THE: `HS4${String(record.MA_DKBD).slice(0, 2)}${maSoBhxh}`, GT_THE_TU: record.GT_THE_TU, GT_THE_DEN: record.GT_THE_DEN,
    };
  }
  if (typeof record.HAN_TRA === 'string') {
    const maSoBhxh = typeof record.MA_SO_BHXH === 'string' ? record.MA_SO_BHXH : String(record.SO_DINH_DANH).slice(-10);
    // The old card's kind and province where it names one; a made-up household card otherwise.
    const prefix = typeof record.MA_THE === 'string' ? record.MA_THE.slice(0, 5) : 'GD400';
    return {
      MA_HO_SO: record.MA_HO_SO, KET_QUA: 'OK', MA_SO_BHXH: maSoBhxh,
      MA_THE: `${prefix}${maSoBhxh}`, GT_THE_TU: record.HAN_TRA, GT_THE_DEN: `${record.HAN_TRA.slice(0, 4)}1231`,
    };
  }
  const maSoBhxh = String(record.SO_DINH_DANH).slice(-10);
  return {
    MA_HO_SO: record.MA_HO_SO, KET_QUA: 'OK', MA_SO_BHXH: maSoBhxh,
    MA_THE: `TE1${String(record.MA_TINH)}${maSoBhxh}`, GT_THE_TU: record.GT_THE_TU, GT_THE_DEN: record.GT_THE_DEN,
  };
}

/**
 * A BHXH receiving service on loopback: a real HTTP server that takes `POST /batches`, follows a
 * script of behaviours (the last one repeats), answers a repeated Idempotency-Key with its first
 * answer as BHXH does, and remembers every delivery. Integration tests script it; dev mode runs it
 * as the push target so that a newcomer's first birth ends `issued` (src/main.ts).
 */
export class BhxhSimulator {
  readonly deliveries: Delivery[] = [];
  private script: Behaviour[] = [{ kind: 'answer' }];
  private readonly answered = new Map<string, { status: number; body: unknown }>();
  private readonly hanging = new Set<() => void>();
  private readonly waiters: Array<{ predicate: () => boolean; resolve: () => void }> = [];
  private server: FastifyInstance | undefined;
  url = '';

  /** `keepHistory: false` (dev mode) forgets deliveries and keeps only recent answers, so memory stays flat. */
  constructor(private readonly options: { keepHistory?: boolean } = {}) {}

  /** Behaviours for the next deliveries, in order; the last one stays. */
  setScript(...behaviours: Behaviour[]): void {
    this.script = behaviours;
  }

  /** On `port` when given: a test that stops BHXH starts it again where the gateway expects it. */
  async start(port = 0): Promise<string> {
    const app = Fastify({ bodyLimit: 64 * 1024 * 1024 });
    app.post<{ Body: SimulatedBatch }>('/batches', async (request, reply) => {
      const idempotencyKey = request.headers['idempotency-key'] as string | undefined;
      const behaviour = (this.script.length > 1 ? this.script.shift() : this.script[0]) as Behaviour;
      const delivery: Delivery = {
        batchId: request.body.batchId, idempotencyKey, authorization: request.headers.authorization,
        body: request.body,
        answeredWith: behaviour.kind === 'hang' ? 'hang' : behaviour.kind === 'status' ? behaviour.status : behaviour.kind === 'accept' ? 202 : 200,
      };
      if (this.options.keepHistory !== false) this.deliveries.push(delivery);
      this.notify();
      if (behaviour.kind === 'hang') {
        await new Promise<void>((resolve) => {
          this.hanging.add(resolve);
          // The response's close, not the request's: the request closes as soon as its body is read.
          reply.raw.once('close', () => {
            this.hanging.delete(resolve);
            resolve();
          });
        });
        return reply.code(503).send();
      }
      if (behaviour.kind === 'status') {
        return reply.code(behaviour.status).headers(behaviour.headers ?? {}).send(behaviour.body ?? '');
      }
      const remembered = idempotencyKey ? this.answered.get(idempotencyKey) : undefined;
      if (remembered) return reply.code(remembered.status).send(remembered.body);
      const answer = behaviour.kind === 'accept'
        ? { status: 202, body: { accepted: request.body.records.length } }
        : { status: 200, body: { results: request.body.records.map((record) => (behaviour.result ?? issueCard)(record)).filter((result) => result !== null) } };
      if (idempotencyKey) this.remember(idempotencyKey, answer);
      return reply.code(answer.status).send(answer.body);
    });
    await app.listen({ port, host: '127.0.0.1' });
    this.server = app;
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('simulator has no port');
    this.url = `http://127.0.0.1:${address.port}`;
    return this.url;
  }

  private remember(idempotencyKey: string, answer: { status: number; body: unknown }): void {
    this.answered.set(idempotencyKey, answer);
    if (this.options.keepHistory === false && this.answered.size > RECENT_ANSWERS) {
      this.answered.delete(this.answered.keys().next().value as string);
    }
  }

  /** Resolves once `predicate` holds, checked after every delivery. */
  waitFor(predicate: (simulator: BhxhSimulator) => boolean): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ predicate: () => predicate(this), resolve }));
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.predicate()) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  /** Every record id BHXH received, once per distinct batch it came in. */
  recordsReceived(): string[] {
    const seen = new Map<string, Set<string>>();
    for (const delivery of this.deliveries) {
      for (const record of delivery.body.records) {
        const id = String(record.MA_HO_SO);
        const batches = seen.get(id) ?? new Set();
        batches.add(delivery.batchId);
        seen.set(id, batches);
      }
    }
    return [...seen.entries()].flatMap(([id, batches]) => [...batches].map(() => id));
  }

  async close(): Promise<void> {
    for (const release of this.hanging) release();
    await this.server?.close();
  }
}

