import type { Queryable } from './database.js';

/**
 * Moves the end of a pull lease to `leaseSeconds` from now, for its holder only, while the lease
 * still runs: the batch is still `delivered` and its end is not yet past. One statement, so a
 * renewal racing the expiry sweep (batch-closing.ts expireLeasesInTx, which locks the same row) has
 * one winner: whichever commits second sees the other's row and finds nothing to do.
 * Returns the new end, or null when there was no running lease of `holder` to renew.
 */
export async function renewLease(db: Queryable, batchId: string, holder: string, leaseSeconds: number): Promise<string | null> {
  const { rows } = await db.query<{ lease_expires_at: Date | string }>(
    `UPDATE batches SET lease_expires_at = now() + make_interval(secs => $3::int)
      WHERE id = $1 AND status = 'delivered' AND leased_by = $2 AND lease_expires_at > now()
      RETURNING lease_expires_at`,
    [batchId, holder, leaseSeconds],
  );
  return rows[0] ? new Date(rows[0].lease_expires_at).toISOString() : null;
}
