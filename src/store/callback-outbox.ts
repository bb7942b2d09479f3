import type { Database, Queryable } from './database.js';

/** One callback taken for delivery, with what its body is made of. */
export interface ClaimedCallback {
  auditSeq: number;
  clientId: string;
  transferId: string;
  messageId: string;
  status: string;
  at: string;
  /** The audit event's details (BHXH's errors on a return). */
  details: { errors?: unknown[] } | null;
  card: Record<string, unknown> | null;
  /** Attempts before this one. */
  attempts: number;
}

export interface OutboxEntry {
  auditSeq: number;
  clientId: string;
  transferId: string;
  status: string;
  at: string;
  attempts: number;
  lastError: string | null;
  lastAttemptAt: string | null;
  nextAttemptAt: string;
  inFlight: boolean;
}

const seconds = (ms: number) => ms / 1000;
const iso = (value: Date | string) => new Date(value).toISOString();

/**
 * Subscribes `subscribers`, and unsubscribes the other clients this process knows (`known`): their
 * clients file says they have no callback address. A client this process does not know is left as it
 * is, since another process's clients file may know it. At start (`dropBacklog`) their undelivered
 * callbacks go too; while running they are kept, unposted, so an address removed by mistake and put
 * back loses none. Answers how many callbacks were dropped, or kept.
 */
export async function syncSubscriptions(
  db: Database, subscribers: string[], known: string[], { dropBacklog }: { dropBacklog: boolean },
): Promise<{ dropped: number; kept: number }> {
  const unsubscribed = known.filter((id) => !subscribers.includes(id));
  return db.transaction(async (tx) => {
    await tx.query('DELETE FROM callback_subscriptions WHERE client_id = ANY($1::text[])', [unsubscribed]);
    await tx.query('INSERT INTO callback_subscriptions (client_id) SELECT unnest($1::text[]) ON CONFLICT (client_id) DO NOTHING', [subscribers]);
    if (dropBacklog) {
      const dropped = await tx.query('DELETE FROM callback_outbox WHERE client_id = ANY($1::text[])', [unsubscribed]);
      return { dropped: dropped.rowCount, kept: 0 };
    }
    const kept = await tx.query<{ count: string }>('SELECT count(*) AS count FROM callback_outbox WHERE client_id = ANY($1::text[])', [unsubscribed]);
    return { dropped: 0, kept: Number(kept.rows[0]?.count ?? 0) };
  });
}

/** Of these clients, those whose oldest callback is due: one index probe per client. */
export async function dueClients(db: Queryable, clientIds: string[]): Promise<string[]> {
  const { rows } = await db.query<{ client_id: string }>(
    `SELECT c.client_id
       FROM unnest($1::text[]) AS c(client_id)
       CROSS JOIN LATERAL (SELECT o.next_attempt_at FROM callback_outbox o WHERE o.client_id = c.client_id ORDER BY o.audit_seq LIMIT 1) AS head
      WHERE head.next_attempt_at <= now()`,
    [clientIds],
  );
  return rows.map((row) => row.client_id);
}

/**
 * Takes the client's oldest callbacks that are due, up to `limit` and up to the first one not due, when none is in flight, and leases them to
 * `holder` for `leaseMs`; none when it is not due or another process is claiming for this client.
 * Its own short transaction: the client's subscription row is locked first, and the backlog read by
 * a later statement, so that read sees the lease of whoever held the lock before.
 */
export async function claimCallbacks(db: Database, clientId: string, limit: number, holder: string, leaseMs: number): Promise<ClaimedCallback[]> {
  const rows = await db.transaction(async (tx) => {
    const turn = await tx.query('SELECT client_id FROM callback_subscriptions WHERE client_id = $1 FOR UPDATE SKIP LOCKED', [clientId]);
    if (turn.rows.length === 0) return [];
    const claimed = await tx.query<{
      audit_seq: string | number; transfer_id: string; attempts: number; message_id: string; card: Record<string, unknown> | null;
      at: Date | string; to_status: string; details: { errors?: unknown[] } | null;
    }>(
      `WITH backlog AS (
         SELECT audit_seq, next_attempt_at FROM callback_outbox WHERE client_id = $1 ORDER BY audit_seq LIMIT $2
       ), taken AS (
         -- Only the due run at the head, up to the first callback not due: a callback that joined
         -- late ahead of a failed one must not take the failed one along before its backoff ends.
         SELECT audit_seq FROM backlog
          WHERE audit_seq < COALESCE((SELECT min(audit_seq) FROM backlog WHERE next_attempt_at > now()), 'Infinity'::numeric)
           -- Audit events on different chains may commit out of seq order: a callback can join the
           -- backlog ahead of ones already in flight. The client waits until they are done, so it
           -- still has one holder at a time and none is posted twice at once.
           AND NOT EXISTS (SELECT FROM callback_outbox f WHERE f.client_id = $1 AND f.lease_holder IS NOT NULL AND f.next_attempt_at > now())
       )
       UPDATE callback_outbox o SET lease_holder = $3, next_attempt_at = now() + make_interval(secs => $4::float8)
         FROM taken, audit_events e, transfers t
        WHERE o.audit_seq = taken.audit_seq AND e.seq = o.audit_seq AND t.id = o.transfer_id
       RETURNING o.audit_seq, o.transfer_id, o.attempts, t.message_id, t.card, e.at, e.to_status, e.details`,
      [clientId, limit, holder, seconds(leaseMs)],
    );
    return claimed.rows;
  });
  return rows
    .map((row) => ({
      auditSeq: Number(row.audit_seq), clientId, transferId: row.transfer_id, messageId: row.message_id, status: row.to_status,
      at: iso(row.at), details: row.details, card: row.card, attempts: Number(row.attempts),
    }))
    .sort((a, b) => a.auditSeq - b.auditSeq);
}

/**
 * The receiver took the callback: it goes, and the next one the holder claimed gets a fresh lease
 * for its own post. False when that next one is no longer the holder's (its lease ran out and
 * another process took it over): the holder must stop.
 */
export async function recordDelivered(db: Queryable, auditSeq: number, next: { auditSeq: number; holder: string; leaseMs: number } | null): Promise<boolean> {
  if (!next) {
    await db.query('DELETE FROM callback_outbox WHERE audit_seq = $1', [auditSeq]);
    return true;
  }
  const { rowCount } = await db.query(
    `WITH delivered AS (DELETE FROM callback_outbox WHERE audit_seq = $1)
     UPDATE callback_outbox SET next_attempt_at = now() + make_interval(secs => $4::float8)
      WHERE audit_seq = $2 AND lease_holder = $3`,
    [auditSeq, next.auditSeq, next.holder, seconds(next.leaseMs)],
  );
  return rowCount === 1;
}

/**
 * The receiver did not take it: it waits `delayMs` before its next attempt, and the callbacks the
 * holder claimed after it go back, since none may leave before it. They were all due when claimed
 * (a claim takes only the due run), so handing them back due takes no one's backoff away.
 */
export async function recordFailed(db: Queryable, callback: { auditSeq: number; clientId: string }, holder: string, error: string, delayMs: number): Promise<void> {
  await db.query(
    `WITH failed AS (
       UPDATE callback_outbox SET attempts = attempts + 1, last_error = $4, last_attempt_at = now(),
              next_attempt_at = now() + make_interval(secs => $5::float8), lease_holder = NULL
        WHERE audit_seq = $1 AND lease_holder = $3
     )
     UPDATE callback_outbox SET lease_holder = NULL, next_attempt_at = now()
      WHERE client_id = $2 AND audit_seq > $1 AND lease_holder = $3`,
    [callback.auditSeq, callback.clientId, holder, error, seconds(delayMs)],
  );
}

/** Hands back what a stopping process still held, due at once, so another need not wait out the lease. */
export async function releaseLeases(db: Queryable, holder: string): Promise<void> {
  await db.query('UPDATE callback_outbox SET lease_holder = NULL, next_attempt_at = now() WHERE lease_holder = $1', [holder]);
}

export interface OutboxQuery {
  clientId?: string;
  /** Only callbacks that failed at least once. */
  failingOnly: boolean;
  /** Only those after this event. */
  afterSeq: number;
  limit: number;
  /** Only callbacks of transfers registered in these provinces; undefined for all. */
  provinces?: string[];
}

export async function listOutbox(db: Queryable, query: OutboxQuery): Promise<OutboxEntry[]> {
  const { rows } = await db.query<{
    audit_seq: string | number; client_id: string; transfer_id: string; to_status: string; at: Date | string; attempts: number;
    last_error: string | null; last_attempt_at: Date | string | null; next_attempt_at: Date | string; in_flight: boolean;
  }>(
    `SELECT o.audit_seq, o.client_id, o.transfer_id, e.to_status, e.at, o.attempts, o.last_error, o.last_attempt_at, o.next_attempt_at,
            (o.lease_holder IS NOT NULL AND o.next_attempt_at > now()) AS in_flight
       FROM callback_outbox o JOIN audit_events e ON e.seq = o.audit_seq
      WHERE ($1::text IS NULL OR o.client_id = $1) AND (NOT $2::boolean OR o.attempts > 0) AND o.audit_seq > $3
        AND ($5::text[] IS NULL OR EXISTS (SELECT 1 FROM transfers t WHERE t.id = o.transfer_id AND t.ma_tinh = ANY($5)))
      ORDER BY o.audit_seq
      LIMIT $4`,
    [query.clientId ?? null, query.failingOnly, query.afterSeq, query.limit, query.provinces ?? null],
  );
  return rows.map((row) => ({
    auditSeq: Number(row.audit_seq), clientId: row.client_id, transferId: row.transfer_id, status: row.to_status, at: iso(row.at),
    attempts: Number(row.attempts), lastError: row.last_error, lastAttemptAt: row.last_attempt_at === null ? null : iso(row.last_attempt_at),
    nextAttemptAt: iso(row.next_attempt_at), inFlight: row.in_flight,
  }));
}

/**
 * Makes the failing callbacks not in flight due now (of one client, or of all); answers how many.
 * In flight ones are left to their holder: it records their outcome itself.
 */
export async function makeFailingDue(tx: Queryable, clientId: string | undefined, provinces: string[] | undefined): Promise<number> {
  const { rowCount } = await tx.query(
    `UPDATE callback_outbox o SET next_attempt_at = now()
      WHERE o.attempts > 0 AND o.lease_holder IS NULL AND o.next_attempt_at > now() AND ($1::text IS NULL OR o.client_id = $1)
        AND ($2::text[] IS NULL OR EXISTS (SELECT 1 FROM transfers t WHERE t.id = o.transfer_id AND t.ma_tinh = ANY($2)))`,
    [clientId ?? null, provinces ?? null],
  );
  return rowCount;
}
