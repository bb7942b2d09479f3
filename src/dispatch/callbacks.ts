import { createHmac, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { provinceScope, type ApiClient } from '../auth/clients.js';
import type { GatewayMetrics } from '../metrics.js';
import { appendAuditEventInTx } from '../store/audit-log.js';
import {
  claimCallbacks, dueClients, listOutbox, makeFailingDue, recordDelivered, recordFailed, releaseLeases, syncSubscriptions,
  type ClaimedCallback, type OutboxEntry,
} from '../store/callback-outbox.js';
import type { Database } from '../store/database.js';

/** The signature the earlier versions sent, alone: HMAC-SHA256 of the body. */
export function legacySignature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/**
 * `X-Signature` as docs/API.md describes it: `t` (unix seconds) and `v1`, the HMAC of `<t>.<body>`,
 * so a receiver can refuse an old or replayed call; then the earlier `sha256=` element, so a receiver
 * that looks for it in the header goes on working. A client configured with `callbackSignature:
 * "sha256"` compares the whole header, as the earlier documentation showed, and gets the earlier form.
 */
export function signatureHeader(body: string, secret: string, unixSeconds: number, form: ApiClient['callbackSignature']): string {
  if (form === 'sha256') return legacySignature(body, secret);
  const v1 = createHmac('sha256', secret).update(`${unixSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${unixSeconds},v1=${v1},${legacySignature(body, secret)}`;
}

export function callbackBody(callback: ClaimedCallback): string {
  return JSON.stringify({
    eventId: String(callback.auditSeq),
    transferId: callback.transferId,
    messageId: callback.messageId,
    status: callback.status,
    at: callback.at,
    ...(callback.status === 'returned' && callback.details?.errors ? { errors: callback.details.errors } : {}),
    ...(callback.status === 'issued' && callback.card ? { card: callback.card } : {}),
  });
}

const MAX_BACKOFF_MS = 15 * 60_000;
/** Claimed at once per client: one claim transaction for many callbacks, each still recorded alone. */
const CLAIM_SIZE = 50;
/** A client gives up its turn after this many, so other due clients get one when every slot is busy. */
const CALLBACKS_PER_TURN = 500;
/** Beyond the POST's own timeout, the time a lease allows for recording its outcome. */
const LEASE_MARGIN_MS = 5_000;

export interface CallbackDeliveryDependencies {
  db: Database;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Clients with a callback address and secret. */
  clients: ApiClient[];
  /** Every client of this process's clients file, with a callback or not. */
  knownClientIds: string[];
  timeoutMs: number;
  baseDelayMs: number;
  /** Clients posted to at the same time. */
  concurrency: number;
  /** How often due callbacks are looked for. */
  intervalMs: number;
}

/**
 * Tells registry systems about every status change of their transfers. The database writes one outbox
 * row per change in the change's own transaction (migration 010); this posts them, outside any
 * transaction: a short one takes a client's due rows and leases them, the POST follows, and another
 * short one records its outcome. A crash between a receiver's 2xx and that record sends the callback
 * again, with the same eventId. Each client is served on its own, up to `concurrency` at a time, in
 * the order its changes happened; a failed callback is retried with growing delays until 2xx, and
 * the client's later callbacks wait behind it. Several processes share the work through the leases.
 */
export class CallbackDelivery {
  private clients: Map<string, ApiClient>;
  private knownClientIds: string[];
  private started = false;
  /** Clients this process is posting to now. */
  private readonly serving = new Map<string, Promise<void>>();
  /** Names this process's leases, unique per start. */
  private readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private looking: Promise<void> | undefined;
  /** A due client found no free slot: look again as soon as one frees. */
  private crowded = false;
  /** The last `follow`, which the next one waits for. */
  private following: Promise<void> = Promise.resolve();

  constructor(private readonly deps: CallbackDeliveryDependencies) {
    this.clients = new Map(deps.clients.map((client) => [client.id, client]));
    this.knownClientIds = deps.knownClientIds;
  }

  private get leaseMs(): number {
    return this.deps.timeoutMs + LEASE_MARGIN_MS;
  }

  /** At start: the database's subscriptions follow what this process's clients file says of its clients. */
  async subscribe(): Promise<void> {
    const { dropped } = await syncSubscriptions(this.deps.db, [...this.clients.keys()], this.knownClientIds, { dropBacklog: true });
    if (dropped > 0) this.deps.logger.warn({ dropped }, 'callbacks of clients that no longer have a callback address dropped');
  }

  /**
   * After the clients file changed: posts go to each client's address and secret as the file says now
   * (a turn under way finishes with the old ones), and subscriptions follow; a client whose address
   * went keeps its undelivered callbacks (see `syncSubscriptions`). Calls run one after another, in
   * the order the file was read, so an older file's subscriptions never land after a newer one's.
   */
  follow(clients: ApiClient[], knownClientIds: string[]): Promise<void> {
    const next = this.following.then(async () => {
      if (this.stopping.signal.aborted) return;
      this.clients = new Map(clients.map((client) => [client.id, client]));
      this.knownClientIds = knownClientIds;
      const { kept } = await syncSubscriptions(this.deps.db, [...this.clients.keys()], this.knownClientIds, { dropBacklog: false });
      if (kept > 0) {
        this.deps.logger.warn({ kept }, 'callbacks: a client lost its callback address; its undelivered callbacks are kept, not posted, until it has one again or the gateway restarts');
      }
      if (this.started) this.start();
    });
    this.following = next.catch(() => undefined);
    return next;
  }

  start(): void {
    this.started = true;
    if (this.clients.size === 0 || this.timer) return;
    this.timer = setInterval(() => void this.deliverDue(), this.deps.intervalMs);
    void this.deliverDue();
  }

  /**
   * Starts serving every due client not already served here, while slots are free; does not wait for
   * their posts. Resolves once they are started.
   */
  private deliverDue(): Promise<void> {
    this.looking ??= this.startDueClients().finally(() => {
      this.looking = undefined;
    });
    return this.looking;
  }

  private async startDueClients(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    const candidates = [...this.clients.keys()].filter((id) => !this.serving.has(id));
    if (candidates.length === 0) return;
    let due: string[];
    try {
      due = await dueClients(this.deps.db, candidates);
    } catch (error) {
      this.deps.logger.warn({ error: (error as Error).message }, 'callbacks: cannot look for due callbacks');
      return;
    }
    this.crowded = false;
    for (const clientId of due) {
      if (this.stopping.signal.aborted) return;
      if (this.serving.size >= this.deps.concurrency) {
        this.crowded = true;
        return;
      }
      const client = this.clients.get(clientId);
      if (!client) continue;
      const turn = this.serve(client).finally(() => {
        this.serving.delete(clientId);
        if (this.crowded) void this.deliverDue();
      });
      this.serving.set(clientId, turn);
    }
  }

  /** One client's turn: its due callbacks in order, until none is due, one fails, or the turn is used up. */
  private async serve(client: ApiClient): Promise<void> {
    try {
      for (let sent = 0; sent < CALLBACKS_PER_TURN && !this.stopping.signal.aborted;) {
        const claimed = await claimCallbacks(this.deps.db, client.id, CLAIM_SIZE, this.holder, this.leaseMs);
        if (claimed.length === 0) return;
        for (const [index, callback] of claimed.entries()) {
          const next = claimed[index + 1];
          const failure = await this.post(client, callback);
          if (failure) {
            await this.noteFailure(client, callback, failure);
            return;
          }
          this.deps.metrics.callbacks.inc({ outcome: 'delivered' });
          sent += 1;
          const stillOurs = await recordDelivered(this.deps.db, callback.auditSeq, next ? { auditSeq: next.auditSeq, holder: this.holder, leaseMs: this.leaseMs } : null);
          if (!stillOurs) return;
          if (this.stopping.signal.aborted) return;
        }
      }
    } catch (error) {
      // What it had leased is sent again once the lease runs out: at least once, never lost.
      this.deps.logger.warn({ client: client.id, error: (error as Error).message }, 'callbacks: the database failed during a turn');
    }
  }

  private async noteFailure(client: ApiClient, callback: ClaimedCallback, failure: string): Promise<void> {
    // Stopping aborted the POST: the receiver is not at fault, and another process may go on at once.
    if (this.stopping.signal.aborted) return;
    const attempts = callback.attempts + 1;
    const delay = Math.min(MAX_BACKOFF_MS, this.deps.baseDelayMs * 2 ** (attempts - 1)) * (0.5 + Math.random());
    await recordFailed(this.deps.db, callback, this.holder, failure, delay);
    this.deps.metrics.callbacks.inc({ outcome: 'failed' });
    this.deps.logger.warn(
      { client: client.id, transferId: callback.transferId, eventId: String(callback.auditSeq), error: failure, attempts, retryInMs: Math.round(delay) },
      'callback not delivered',
    );
  }

  /** Null when the receiver answered 2xx, else why not. */
  private async post(client: ApiClient, callback: ClaimedCallback): Promise<string | null> {
    const body = callbackBody(callback);
    const signature = signatureHeader(body, client.callbackSecret as string, Math.floor(Date.now() / 1000), client.callbackSignature);
    try {
      const response = await fetch(client.callbackUrl as string, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-signature': signature },
        body,
        signal: AbortSignal.any([AbortSignal.timeout(this.deps.timeoutMs), this.stopping.signal]),
      });
      await response.arrayBuffer().catch(() => undefined);
      return response.status >= 200 && response.status < 300 ? null : `answered ${response.status}`;
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') return 'no answer in time';
      if ((error as Error).name === 'AbortError') return 'the gateway stopped';
      return `cannot reach (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message})`;
    }
  }

  /** Stops looking, aborts the posts in flight and hands their callbacks back for another process. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await this.following;
    await this.looking;
    while (this.serving.size > 0) await Promise.allSettled([...this.serving.values()]);
    await releaseLeases(this.deps.db, this.holder).catch((error: Error) => {
      this.deps.logger.warn({ error: error.message }, 'callbacks: leases not handed back; they run out by themselves');
    });
  }
}

export interface CallbackListQuery {
  clientId?: string;
  state: 'failing' | 'pending';
  after?: number;
  limit: number;
}

/** An outbox entry as operators see it: its event id is the callback's `eventId`, as the receiver saw it. */
export type CallbackView = Omit<OutboxEntry, 'auditSeq'> & { eventId: string };

const view = ({ auditSeq, ...entry }: OutboxEntry): CallbackView => ({ eventId: String(auditSeq), ...entry });

/** Operators watch callbacks that do not get through and send them again now (docs/API.md, "Callbacks"). */
export class CallbackOperations {
  constructor(private readonly db: Database) {}

  /** Callbacks not yet delivered, oldest first; an operator of some provinces sees those of its provinces' transfers. */
  async list(operator: ApiClient, query: CallbackListQuery): Promise<{ items: CallbackView[]; nextCursor: string | null }> {
    const entries = await listOutbox(this.db, {
      clientId: query.clientId, failingOnly: query.state === 'failing', afterSeq: query.after ?? 0, limit: query.limit,
      provinces: provinceScope(operator),
    });
    const last = entries.at(-1);
    return { items: entries.map(view), nextCursor: entries.length === query.limit && last ? String(last.auditSeq) : null };
  }

  /** Failing callbacks become due now, without waiting out their delay; audited with the operator. */
  async retry(operator: ApiClient, clientId: string | undefined): Promise<{ retried: number }> {
    return this.db.transaction(async (tx) => {
      const provinces = provinceScope(operator);
      const retried = await makeFailingDue(tx, clientId, provinces);
      // An event of no transfer is shown to a province's auditors by its maTinh ('*': every province's).
      const maTinh = provinces?.length === 1 ? provinces[0] : '*';
      appendAuditEventInTx(tx, { actor: operator.id, action: 'callbacks.retried', details: { clientId: clientId ?? null, retried, maTinh } });
      return { retried };
    });
  }
}
