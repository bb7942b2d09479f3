import { newId } from '../domain/ids.js';
import type { Queryable } from './database.js';
import { moveTransfersInTx, type StatusMove, type TransferType } from './transfers.js';

export type Loai = 'CAP_THE_TE' | 'BAO_GIAM';
export type BatchMode = 'push' | 'pull';
export type BatchStatus = 'open' | 'delivered' | 'closed' | 'failed' | 'expired';

/** Which BHXH document each kind of transfer becomes. */
export const LOAI_OF_TYPE: Partial<Record<TransferType, Loai>> = { KHAI_SINH: 'CAP_THE_TE', KHAI_TU: 'BAO_GIAM' };
const TYPE_OF_LOAI: Record<Loai, TransferType> = { CAP_THE_TE: 'KHAI_SINH', BAO_GIAM: 'KHAI_TU' };

export interface Batch {
  id: string;
  maTinh: string;
  loai: Loai;
  mode: BatchMode;
  status: BatchStatus;
  recordCount: number;
  attempts: number;
  leasedBy: string | null;
  leaseExpiresAt: string | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  closedAt: string | null;
}

interface BatchRow {
  id: string;
  ma_tinh: string;
  loai: Loai;
  mode: BatchMode;
  status: BatchStatus;
  record_count: number;
  attempts: number;
  leased_by: string | null;
  lease_expires_at: Date | string | null;
  last_error: string | null;
  created_at: Date | string;
  delivered_at: Date | string | null;
  closed_at: Date | string | null;
}

const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString());

function fromRow(row: BatchRow): Batch {
  return {
    id: row.id,
    maTinh: row.ma_tinh,
    loai: row.loai,
    mode: row.mode,
    status: row.status,
    recordCount: Number(row.record_count),
    attempts: Number(row.attempts),
    leasedBy: row.leased_by,
    leaseExpiresAt: iso(row.lease_expires_at),
    lastError: row.last_error,
    createdAt: iso(row.created_at) as string,
    deliveredAt: iso(row.delivered_at),
    closedAt: iso(row.closed_at),
  };
}

export interface ClaimRequest {
  mode: BatchMode;
  batchSize: number;
  /** Most records to claim in this call. */
  limit: number;
  maTinh?: string;
  loai?: Loai;
  actor: string;
  /** Pull mode: the lease. */
  leasedBy?: string;
  leaseSeconds?: number;
}

/**
 * Claims `queued` transfers into batches, one province and document type each, at most `batchSize`
 * records a batch. The batch and its members are recorded, and the transfers become `sent`, in the
 * caller's transaction — before any call to BHXH — so a crash after it resends the very same batch.
 * SKIP LOCKED lets another process claim other rows meanwhile; paused provinces are left waiting.
 */
export async function claimIntoBatchesInTx(tx: Queryable, request: ClaimRequest): Promise<Batch[]> {
  await retireCardsOfDeceasedInTx(tx, request.actor);
  const types = request.loai ? [TYPE_OF_LOAI[request.loai]] : Object.values(TYPE_OF_LOAI);
  const { rows } = await tx.query<{ id: string; ma_tinh: string; type: TransferType }>(
    `SELECT id, ma_tinh, type FROM transfers
      WHERE status = 'queued' AND type = ANY($1::text[])
        AND ($2::text IS NULL OR ma_tinh = $2)
        AND NOT EXISTS (SELECT 1 FROM dispatch_pauses p WHERE p.ma_tinh = transfers.ma_tinh OR p.ma_tinh = '*')
        -- A card whose person's death is registered never leaves, even if it became queued after
        -- retireCardsOfDeceasedInTx looked (each statement sees its own snapshot).
        AND NOT (type = 'KHAI_SINH' AND EXISTS (
              SELECT 1 FROM transfers death WHERE death.type = 'KHAI_TU' AND death.so_dinh_danh = transfers.so_dinh_danh))
        -- One person, in order: a death waits while that person's card transfer is with BHXH.
        AND NOT (type = 'KHAI_TU' AND EXISTS (
              SELECT 1 FROM transfers card
               WHERE card.type = 'KHAI_SINH' AND card.so_dinh_danh = transfers.so_dinh_danh AND card.status = 'sent'))
      ORDER BY id
      LIMIT $3
      FOR UPDATE SKIP LOCKED`,
    [types, request.maTinh ?? null, request.limit],
  );
  const groups = new Map<string, Array<{ id: string; maTinh: string; loai: Loai }>>();
  for (const row of rows) {
    const loai = LOAI_OF_TYPE[row.type] as Loai;
    const key = `${row.ma_tinh}/${loai}`;
    const group = groups.get(key) ?? [];
    group.push({ id: row.id, maTinh: row.ma_tinh, loai });
    groups.set(key, group);
  }
  const batches: Batch[] = [];
  const moves: StatusMove[] = [];
  for (const group of groups.values()) {
    for (let start = 0; start < group.length; start += request.batchSize) {
      const members = group.slice(start, start + request.batchSize);
      const first = members[0] as (typeof members)[number];
      const batchId = newId();
      const inserted = await tx.query<BatchRow>(
        `INSERT INTO batches (id, ma_tinh, loai, mode, status, record_count, leased_by, lease_expires_at, delivered_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7,
                 CASE WHEN $8::int IS NULL THEN NULL ELSE now() + make_interval(secs => $8::int) END,
                 CASE WHEN $4 = 'pull' THEN now() END)
         RETURNING *`,
        [batchId, first.maTinh, first.loai, request.mode, request.mode === 'pull' ? 'delivered' : 'open', members.length,
          request.leasedBy ?? null, request.leaseSeconds ?? null],
      );
      await tx.query(
        `INSERT INTO batch_members (batch_id, transfer_id, position)
         SELECT $1, id, position FROM unnest($2::text[]) WITH ORDINALITY AS m(id, position)`,
        [batchId, members.map((member) => member.id)],
      );
      batches.push(fromRow(inserted.rows[0] as BatchRow));
      for (const member of members) {
        moves.push({
          id: member.id, fromStatus: 'queued', toStatus: 'sent', batchId,
          event: { actor: request.actor, action: request.mode === 'pull' ? 'dispatch.leased' : 'dispatch.batched', details: { batchId } },
        });
      }
    }
  }
  await moveTransfersInTx(tx, moves);
  return batches;
}

/**
 * A card that came back to `queued` (resent, replayed, lease expired) after its person's death was
 * registered must never reach BHXH: it ends `deceased` here, the last gate before a batch.
 */
async function retireCardsOfDeceasedInTx(tx: Queryable, actor: string): Promise<void> {
  const { rows } = await tx.query<{ id: string; death: string }>(
    `SELECT card.id, death.id AS death FROM transfers card
       JOIN transfers death ON death.type = 'KHAI_TU' AND death.so_dinh_danh = card.so_dinh_danh
      WHERE card.type = 'KHAI_SINH' AND card.status = 'queued'
      FOR UPDATE OF card SKIP LOCKED`,
  );
  await moveTransfersInTx(tx, rows.map((row) => ({
    id: row.id, fromStatus: 'queued', toStatus: 'deceased', batchId: null,
    event: { actor, action: 'transfer.person-deceased', details: { death: row.death } },
  })));
}

export async function findBatch(db: Queryable, id: string, forUpdate = false): Promise<Batch | null> {
  const { rows } = await db.query<BatchRow>(`SELECT * FROM batches WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/** A batch as BHXH receives it: the body's JSON text, and the batch id (a push's Idempotency-Key). */
export interface SerialisedBatch {
  batchId: string;
  json: string;
}

/**
 * The batch as BHXH receives it, pushed or pulled; the same every time it is sent, since its records
 * are locked in `sent`. Each record is its stored BHXH document's JSON text, spliced in as PostgreSQL
 * prints it rather than parsed into objects and serialised again (about 8% more records a second
 * dispatched, measured against the earlier build).
 */
export async function serialisedBatchBody(db: Queryable, batch: Batch, extra: Record<string, unknown> = {}): Promise<SerialisedBatch> {
  const { rows } = await db.query<{ document: string }>(
    `SELECT COALESCE(t.bhxh_document::text, 'null') AS document FROM batch_members m JOIN transfers t ON t.id = m.transfer_id
      WHERE m.batch_id = $1 ORDER BY m.position`,
    [batch.id],
  );
  const head = JSON.stringify({ batchId: batch.id, maTinh: batch.maTinh, loai: batch.loai, ...extra });
  return { batchId: batch.id, json: `${head.slice(0, -1)},"records":[${rows.map((row) => row.document).join(',')}]}` };
}

export async function listBatchIds(db: Queryable, status: BatchStatus, mode: BatchMode): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM batches WHERE status = $1 AND mode = $2 ORDER BY id', [status, mode]);
  return rows.map((row) => row.id);
}

export interface AttemptRecord {
  batchId: string;
  attempt: number;
  worker: string;
  startedAt: Date;
  outcome: 'answered' | 'transient' | 'permanent';
  httpStatus?: number;
  error?: string;
}

export async function recordAttemptInTx(tx: Queryable, attempt: AttemptRecord): Promise<void> {
  await tx.query(
    `INSERT INTO delivery_attempts (batch_id, attempt, worker, started_at, finished_at, outcome, http_status, error)
     VALUES ($1, $2, $3, $4, now(), $5, $6, $7)`,
    [attempt.batchId, attempt.attempt, attempt.worker, attempt.startedAt.toISOString(), attempt.outcome, attempt.httpStatus ?? null, attempt.error ?? null],
  );
  await tx.query('UPDATE batches SET attempts = GREATEST(attempts, $2), last_error = $3 WHERE id = $1', [
    attempt.batchId, attempt.attempt, attempt.error ?? null,
  ]);
}

export interface BatchMember {
  transferId: string;
  position: number;
  outcome: string | null;
  transferStatus: string;
  transferBatchId: string | null;
  type: TransferType;
}

export async function batchMembersInTx(tx: Queryable, batchId: string): Promise<BatchMember[]> {
  const { rows } = await tx.query<{ transfer_id: string; position: number; outcome: string | null; status: string; batch_id: string | null; type: TransferType }>(
    `SELECT m.transfer_id, m.position, m.outcome, t.status, t.batch_id, t.type
       FROM batch_members m JOIN transfers t ON t.id = m.transfer_id
      WHERE m.batch_id = $1 ORDER BY m.position FOR UPDATE OF t`,
    [batchId],
  );
  return rows.map((row) => ({
    transferId: row.transfer_id, position: Number(row.position), outcome: row.outcome,
    transferStatus: row.status, transferBatchId: row.batch_id, type: row.type,
  }));
}

export async function setMemberOutcomesInTx(tx: Queryable, batchId: string, outcomes: Array<{ transferId: string; outcome: string }>): Promise<void> {
  if (outcomes.length === 0) return;
  await tx.query(
    `UPDATE batch_members m SET outcome = u.outcome
       FROM unnest($2::text[], $3::text[]) AS u(transfer_id, outcome)
      WHERE m.batch_id = $1 AND m.transfer_id = u.transfer_id`,
    [batchId, outcomes.map((o) => o.transferId), outcomes.map((o) => o.outcome)],
  );
}

/** Closes the batch once every member has an outcome; otherwise marks it delivered. */
export async function settleBatchStatusInTx(tx: Queryable, batchId: string): Promise<BatchStatus> {
  const { rows } = await tx.query<{ status: BatchStatus }>(
    `UPDATE batches b
        SET status = CASE WHEN EXISTS (SELECT 1 FROM batch_members m WHERE m.batch_id = b.id AND m.outcome IS NULL)
                          THEN 'delivered' ELSE 'closed' END,
            delivered_at = COALESCE(delivered_at, now()),
            closed_at = CASE WHEN EXISTS (SELECT 1 FROM batch_members m WHERE m.batch_id = b.id AND m.outcome IS NULL)
                             THEN NULL ELSE now() END
      WHERE id = $1 AND status IN ('open', 'delivered')
      RETURNING status`,
    [batchId],
  );
  return rows[0]?.status ?? 'closed';
}

export async function setBatchStatusInTx(tx: Queryable, batchId: string, status: BatchStatus, lastError?: string): Promise<void> {
  await tx.query(
    `UPDATE batches SET status = $2, last_error = COALESCE($3, last_error), closed_at = now() WHERE id = $1`,
    [batchId, status, lastError ?? null],
  );
}

export interface DeliveryHistory {
  batchId: string;
  mode: BatchMode;
  batchStatus: BatchStatus;
  outcome: string | null;
  createdAt: string;
  attempts: Array<{ attempt: number; at: string; outcome: string; httpStatus: number | null; error: string | null }>;
}

/** Every batch a transfer was ever in, with each delivery attempt: a replay never hides what came before. */
export async function deliveryHistory(db: Queryable, transferId: string): Promise<DeliveryHistory[]> {
  const { rows } = await db.query<{
    batch_id: string; mode: BatchMode; status: BatchStatus; outcome: string | null; created_at: Date | string;
    attempts: Array<{ attempt: number; at: string; outcome: string; http_status: number | null; error: string | null }> | null;
  }>(
    `SELECT m.batch_id, b.mode, b.status, m.outcome, b.created_at,
            (SELECT json_agg(json_build_object('attempt', a.attempt, 'at', a.finished_at, 'outcome', a.outcome,
                                               'http_status', a.http_status, 'error', a.error) ORDER BY a.id)
               FROM delivery_attempts a WHERE a.batch_id = m.batch_id) AS attempts
       FROM batch_members m JOIN batches b ON b.id = m.batch_id
      WHERE m.transfer_id = $1
      ORDER BY b.created_at`,
    [transferId],
  );
  return rows.map((row) => ({
    batchId: row.batch_id,
    mode: row.mode,
    batchStatus: row.status,
    outcome: row.outcome,
    createdAt: new Date(row.created_at).toISOString(),
    attempts: (row.attempts ?? []).map((a) => ({
      attempt: Number(a.attempt), at: new Date(a.at).toISOString(), outcome: a.outcome, httpStatus: a.http_status, error: a.error,
    })),
  }));
}
