import type { Queryable } from './database.js';

/** One client's callbacks that did not get through, summed up. */
export interface ClientCallbackFailures {
  clientId: string;
  failing: number;
  /** When the oldest of them happened (its audit event). */
  oldestAt: string;
  /** The error of the most recent failed attempt, and when it was. */
  latestError: string | null;
  lastAttemptAt: string | null;
  /** The soonest any of them is tried again. */
  nextAttemptAt: string;
}

const iso = (value: Date | string) => new Date(value).toISOString();

/**
 * Failing callbacks per receiving client, of the transfers of the given provinces (undefined: all):
 * grouped in the database, so every client is counted whole however many fail. Read through the
 * failing-only index (callback_outbox_failing), which holds at most the head of each client's backlog.
 */
export async function failingCallbacksByClient(db: Queryable, provinces?: string[]): Promise<ClientCallbackFailures[]> {
  const { rows } = await db.query<{
    client_id: string; failing: string | number; oldest_at: Date | string; latest_error: string | null;
    last_attempt_at: Date | string | null; next_attempt_at: Date | string;
  }>(
    `SELECT o.client_id, count(*) AS failing, min(e.at) AS oldest_at,
            (array_agg(o.last_error ORDER BY o.last_attempt_at DESC NULLS LAST, o.audit_seq DESC))[1] AS latest_error,
            max(o.last_attempt_at) AS last_attempt_at, min(o.next_attempt_at) AS next_attempt_at
       FROM callback_outbox o JOIN audit_events e ON e.seq = o.audit_seq
      WHERE o.attempts > 0
        AND ($1::text[] IS NULL OR EXISTS (SELECT 1 FROM transfers t WHERE t.id = o.transfer_id AND t.ma_tinh = ANY($1)))
      GROUP BY o.client_id
      ORDER BY o.client_id`,
    [provinces ?? null],
  );
  return rows.map((row) => ({
    clientId: row.client_id, failing: Number(row.failing), oldestAt: iso(row.oldest_at), latestError: row.latest_error,
    lastAttemptAt: row.last_attempt_at === null ? null : iso(row.last_attempt_at), nextAttemptAt: iso(row.next_attempt_at),
  }));
}
