import { newId } from '../domain/ids.js';
import { provinceScope, type ApiClient } from '../auth/clients.js';
import { REPLAYABLE_STATUSES } from '../domain/transfer-status.js';
import { GatewayError } from '../errors.js';
import type { Database, Queryable } from '../store/database.js';
import { changeTransferInTx, lockTransferInTx, moveTransfersInTx, type Transfer, type TransferType } from '../store/transfers.js';
import { assertMayTouch } from './access.js';

export interface ReplayFilter {
  status?: 'failed' | 'returned';
  unit?: string;
  type?: TransferType;
  errorCode?: string;
  from?: string;
  to?: string;
}

export interface ReplayJob {
  jobId: string;
  status: 'running' | 'done' | 'failed';
  matched: number;
  replayed: number;
  skipped: number;
  reason: string;
  requestedBy: string;
  filter: ReplayFilter;
  createdAt: string;
  finishedAt: string | null;
}

const MAX_BULK = 200_000;
const CHUNK = 500;

/** failed → queued always; returned → queued only once it is complete again (it may have been corrected). */
function replayable(transfer: Pick<Transfer, 'status' | 'missing' | 'bhxhDocument'>): boolean {
  return REPLAYABLE_STATUSES.includes(transfer.status) && transfer.missing.length === 0 && transfer.bhxhDocument !== null;
}

/**
 * Operators send failed or returned transfers again (docs/API.md, "Operators"). A replay is a status
 * change like any other: audited with the operator and the reason, and the earlier batches and
 * attempts stay.
 */
export class Replays {
  constructor(private readonly deps: { db: Database; enqueue: (replayJobId: string) => Promise<void> }) {}

  async replayOne(transferId: string, reason: string, client: ApiClient): Promise<Transfer> {
    return this.deps.db.transaction(async (tx) => {
      const current = assertMayTouch(await lockTransferInTx(tx, transferId), client);
      if (!replayable(current)) {
        throw new GatewayError('INVALID_STATE', REPLAYABLE_STATUSES.includes(current.status)
          ? 'The transfer is incomplete; correct it first'
          : `Only ${REPLAYABLE_STATUSES.join(' or ')} transfers can be replayed; this one is ${current.status}`);
      }
      return changeTransferInTx(tx, current, { status: 'queued' }, { actor: client.id, action: 'transfer.replayed', details: { reason } });
    });
  }

  private async matching(db: Queryable, filter: ReplayFilter, client: ApiClient, limit: number): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>(
      `SELECT id FROM transfers
        WHERE status = $1
          AND ($2::text IS NULL OR ma_tinh = $2)
          AND ($3::text[] IS NULL OR ma_tinh = ANY($3))
          AND ($4::text IS NULL OR type = $4)
          AND ($5::text IS NULL OR bhxh_errors @> jsonb_build_array(jsonb_build_object('MA_LOI', $5::text)))
          AND ($6::timestamptz IS NULL OR updated_at >= $6)
          AND ($7::timestamptz IS NULL OR updated_at < $7)
        ORDER BY id
        LIMIT $8`,
      [filter.status ?? 'failed', filter.unit ?? null, provinceScope(client) ?? null, filter.type ?? null,
        filter.errorCode ?? null, filter.from ?? null, filter.to ?? null, limit],
    );
    return rows.map((row) => row.id);
  }

  async preview(filter: ReplayFilter, client: ApiClient): Promise<{ matched: number; sample: string[] }> {
    const ids = await this.matching(this.deps.db, filter, client, MAX_BULK);
    return { matched: ids.length, sample: ids.slice(0, 20) };
  }

  /** Freezes the matching set now, so the job replays what the operator previewed and no more. */
  async startBulk(filter: ReplayFilter, reason: string, client: ApiClient): Promise<{ jobId: string; matched: number }> {
    const ids = await this.matching(this.deps.db, filter, client, MAX_BULK);
    const jobId = newId();
    await this.deps.db.query(
      `INSERT INTO replay_jobs (id, requested_by, reason, filter, matched, status, transfer_ids)
       VALUES ($1, $2, $3, $4::jsonb, $5, 'running', $6::jsonb)`,
      [jobId, client.id, reason, JSON.stringify(filter), ids.length, JSON.stringify(ids)],
    );
    // Test-only (tests/dispatch.processes.test.ts): dies where a crash leaves a running replay without
    // its job, which the dispatcher's maintenance tick queues again.
    if (process.env.LIENTHONG_CRASH_AT === 'after-replay-insert') process.kill(process.pid, 'SIGKILL');
    await this.deps.enqueue(jobId);
    return { jobId, matched: ids.length };
  }

  /** Runs in a BullMQ worker; each chunk commits with its audit events and its progress. */
  async processBulk(jobId: string): Promise<void> {
    const { db } = this.deps;
    const job = (await db.query<{ transfer_ids: string[]; requested_by: string; reason: string; replayed: number; skipped: number }>(
      'SELECT transfer_ids, requested_by, reason, replayed, skipped FROM replay_jobs WHERE id = $1', [jobId],
    )).rows[0];
    if (!job) return;
    for (let start = Number(job.replayed) + Number(job.skipped); start < job.transfer_ids.length; start += CHUNK) {
      const chunk = job.transfer_ids.slice(start, start + CHUNK);
      await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: string; status: string; missing: string[]; has_document: boolean }>(
          `SELECT id, status, missing, bhxh_document IS NOT NULL AS has_document FROM transfers
            WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
          [chunk],
        );
        const eligible = rows.filter((row) => replayable({ status: row.status as Transfer['status'], missing: row.missing, bhxhDocument: row.has_document ? {} : null }));
        const { moved } = await moveTransfersInTx(tx, eligible.map((row) => ({
          id: row.id, fromStatus: row.status as Transfer['status'], toStatus: 'queued' as const, batchId: null,
          event: { actor: job.requested_by, action: 'transfer.replayed', details: { reason: job.reason, replayJobId: jobId } },
        })));
        await tx.query('UPDATE replay_jobs SET replayed = replayed + $2, skipped = skipped + $3 WHERE id = $1', [jobId, moved.length, chunk.length - moved.length]);
      });
    }
    await db.query("UPDATE replay_jobs SET status = 'done', finished_at = now() WHERE id = $1", [jobId]);
  }

  async markFailed(jobId: string): Promise<void> {
    await this.deps.db.query("UPDATE replay_jobs SET status = 'failed', finished_at = now() WHERE id = $1 AND status = 'running'", [jobId]);
  }

  async progress(jobId: string, client: ApiClient): Promise<ReplayJob> {
    const row = (await this.deps.db.query<{
      id: string; status: ReplayJob['status']; matched: number; replayed: number; skipped: number; reason: string;
      requested_by: string; filter: ReplayFilter; created_at: Date | string; finished_at: Date | string | null;
    }>('SELECT id, status, matched, replayed, skipped, reason, requested_by, filter, created_at, finished_at FROM replay_jobs WHERE id = $1', [jobId])).rows[0];
    if (!row || (provinceScope(client) && row.requested_by !== client.id)) throw new GatewayError('NOT_FOUND', 'No such replay job');
    return {
      jobId: row.id, status: row.status, matched: Number(row.matched), replayed: Number(row.replayed), skipped: Number(row.skipped),
      reason: row.reason, requestedBy: row.requested_by, filter: row.filter,
      createdAt: new Date(row.created_at).toISOString(), finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null,
    };
  }
}
