import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { ApiClient } from '../auth/clients.js';
import type { GatewayMetrics } from '../metrics.js';
import type { Database, Queryable } from '../store/database.js';

export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

interface PendingChange {
  seq: string | number;
  at: Date | string;
  transfer_id: string;
  to_status: string;
  details: { errors?: unknown[] } | null;
  message_id: string;
  card: Record<string, unknown> | null;
}

const MAX_BACKOFF_MS = 15 * 60_000;
const CALLBACKS_PER_TICK = 200;

/**
 * Tells registry systems about every status change of their transfers. The audit log is the outbox:
 * each client has a cursor into it, so a change is announced only once it is committed, in the
 * order it happened (per transfer, and per client), and a receiver that is down is retried with
 * growing delays until it answers 2xx, without losing or reordering anything.
 */
export class CallbackDelivery {
  constructor(
    private readonly deps: {
      db: Database;
      logger: Logger;
      metrics: GatewayMetrics;
      timeoutMs: number;
      baseDelayMs: number;
    },
  ) {}

  async deliverDue(clientsWithCallbacks: ApiClient[]): Promise<number> {
    let delivered = 0;
    for (const client of clientsWithCallbacks) {
      delivered += await this.deliverFor(client);
    }
    return delivered;
  }

  /**
   * One callback per transaction: the cursor row is locked while its one change is posted and moves
   * on the moment the receiver says 2xx, so a crash can neither lose an acknowledged step nor send it
   * again. The row lock keeps one process per client at a time, so nothing goes out of order.
   */
  private async deliverFor(client: ApiClient): Promise<number> {
    const { db } = this.deps;
    await db.query('INSERT INTO callback_cursors (client_id) VALUES ($1) ON CONFLICT (client_id) DO NOTHING', [client.id]);
    let delivered = 0;
    for (let sent = 0; sent < CALLBACKS_PER_TICK; sent++) {
      const outcome = await db.transaction(async (tx) => {
        const cursor = (await tx.query<{ last_seq: string | number; failures: number }>(
          'SELECT last_seq, failures FROM callback_cursors WHERE client_id = $1 AND next_attempt_at <= now() FOR UPDATE SKIP LOCKED',
          [client.id],
        )).rows[0];
        if (!cursor) return 'not due';
        const [change] = await this.pendingChanges(tx, client.id, Number(cursor.last_seq));
        if (!change) return 'nothing pending';
        const failure = await this.post(client, change);
        if (failure) {
          const failures = Number(cursor.failures) + 1;
          const delay = Math.min(MAX_BACKOFF_MS, this.deps.baseDelayMs * 2 ** (failures - 1)) * (0.5 + Math.random());
          await tx.query(
            `UPDATE callback_cursors SET failures = $2, next_attempt_at = now() + make_interval(secs => $3::float8 / 1000), last_error = $4
              WHERE client_id = $1`,
            [client.id, failures, delay, failure],
          );
          this.deps.metrics.callbacks.inc({ outcome: 'failed' });
          this.deps.logger.warn({ client: client.id, transferId: change.transfer_id, error: failure, retryInMs: Math.round(delay) }, 'callback not delivered');
          return 'failed';
        }
        await tx.query('UPDATE callback_cursors SET last_seq = $2, failures = 0, last_error = NULL WHERE client_id = $1', [client.id, change.seq]);
        this.deps.metrics.callbacks.inc({ outcome: 'delivered' });
        return 'delivered';
      });
      if (outcome !== 'delivered') break;
      delivered += 1;
    }
    return delivered;
  }

  private async pendingChanges(tx: Queryable, clientId: string, afterSeq: number): Promise<PendingChange[]> {
    const { rows } = await tx.query<PendingChange>(
      `SELECT e.seq, e.at, e.transfer_id, e.to_status, e.details, t.message_id, t.card
         FROM audit_events e JOIN transfers t ON t.id = e.transfer_id
        WHERE t.client_id = $1 AND e.seq > $2 AND e.to_status IS NOT NULL AND e.from_status IS DISTINCT FROM e.to_status
        ORDER BY e.seq
        LIMIT 1`,
      [clientId, afterSeq],
    );
    return rows;
  }

  /** Null when the receiver answered 2xx, else why not. */
  private async post(client: ApiClient, change: PendingChange): Promise<string | null> {
    const body = JSON.stringify({
      transferId: change.transfer_id,
      messageId: change.message_id,
      status: change.to_status,
      at: new Date(change.at).toISOString(),
      ...(change.to_status === 'returned' && change.details?.errors ? { errors: change.details.errors } : {}),
      ...(change.to_status === 'issued' && change.card ? { card: change.card } : {}),
    });
    try {
      const response = await fetch(client.callbackUrl as string, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-signature': signBody(body, client.callbackSecret as string) },
        body,
        signal: AbortSignal.timeout(this.deps.timeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined);
      return response.status >= 200 && response.status < 300 ? null : `answered ${response.status}`;
    } catch (error) {
      return (error as Error).name === 'TimeoutError' ? 'no answer in time' : `cannot reach (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message})`;
    }
  }
}
