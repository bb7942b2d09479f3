import { newId } from '../domain/ids.js';
import type { Queryable } from './database.js';
import { moveTransfersInTx, type StatusMove, type TransferType } from './transfers.js';

/**
 * BHXH's document types, one key each, as TransferType is made: src/messages/registry.ts declares
 * its list into this interface, so storage names no message type.
 */
export interface BhxhDocumentTypes {}
export type Loai = keyof BhxhDocumentTypes;
export type BatchMode = 'push' | 'pull';
/**
 * open: pushed, not yet acknowledged by BHXH (resent as it is); delivered: BHXH has it, results may
 * still come; closed: every member answered; failed: could not be delivered; expired: a lease ran
 * out; released: a push that provably never reached BHXH, its records back in `queued`.
 */
export type BatchStatus = 'open' | 'delivered' | 'closed' | 'failed' | 'expired' | 'released';

/**
 * What one kind of transfer that BHXH receives hands the claim; the caller passes them
 * (src/messages/registry.ts lists them), so the claim itself knows no message type.
 */
export interface ClaimKind {
  /** The type its transfers are stored under. */
  transferType: TransferType;
  /** The BHXH document its records become. */
  loai: Loai;
  /** BHXH's OK for one of its records issues a card (`issued`, with it), rather than only records it (`processed`). */
  issuesCard: boolean;
  /**
   * An SQL condition on a queued row of `transfers` of this type that holds it back from a batch
   * for now. Each statement sees its own snapshot, so it is checked in the claim's own SELECT.
   */
  heldBackWhen?: string;
  /**
   * Run first in the claim's transaction: a last gate before a batch, which may move records itself.
   * It looks at no more than the `window` oldest waiting records of its type, those the claim is
   * about to reach: a look over the whole backlog would cost each claim as much as the backlog.
   */
  beforeClaimInTx?: (tx: Queryable, context: { actor: string; window: number }) => Promise<void>;
  /**
   * An SQL expression on a queued row of `transfers` of this type naming the group it is batched
   * with: a batch never holds two groups, and remembers its own (`Batch.groupKey`). Without it the
   * records of a province and type all batch together.
   */
  groupKey?: string;
  /**
   * The order of a batch's records within the batch, given their ids as claimed (in id text order):
   * for a type whose ids do not sort as its records should be read. Batches are still filled in id
   * order, so the order holds within each batch, not across a group split over several.
   */
  orderMembers?: (ids: readonly string[]) => string[];
}

export interface Batch {
  id: string;
  maTinh: string;
  loai: Loai;
  /** What its records share beyond province and type (ClaimKind.groupKey), or null. */
  groupKey: string | null;
  mode: BatchMode;
  status: BatchStatus;
  recordCount: number;
  attempts: number;
  leasedBy: string | null;
  leaseExpiresAt: string | null;
  lastError: string | null;
  /** When a push of it first began (push only): from then on BHXH may hold it. */
  pushStartedAt: string | null;
  createdAt: string;
  deliveredAt: string | null;
  closedAt: string | null;
}

interface BatchRow {
  id: string;
  ma_tinh: string;
  loai: Loai;
  group_key: string | null;
  mode: BatchMode;
  status: BatchStatus;
  record_count: number;
  attempts: number;
  leased_by: string | null;
  lease_expires_at: Date | string | null;
  last_error: string | null;
  push_started_at: Date | string | null;
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
    groupKey: row.group_key,
    mode: row.mode,
    status: row.status,
    recordCount: Number(row.record_count),
    attempts: Number(row.attempts),
    leasedBy: row.leased_by,
    leaseExpiresAt: iso(row.lease_expires_at),
    lastError: row.last_error,
    pushStartedAt: iso(row.push_started_at),
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
  /** Most batches to make in this call (push: no more than BHXH can be sent at once). */
  maxBatches?: number;
  maTinh?: string;
  loai?: Loai;
  actor: string;
  /** Pull mode: the lease. */
  leasedBy?: string;
  leaseSeconds?: number;
  /** What may be claimed, each kind with its BHXH document, holds and last gate. */
  kinds: readonly ClaimKind[];
}

/**
 * Claims `queued` transfers into batches, one province, document type and group each, at most `batchSize`
 * records a batch. The batch and its members are recorded, and the transfers move, in the caller's
 * transaction — before any call to BHXH — so a crash after it resends the very same batch. A pushed
 * record becomes `sending` until BHXH acknowledges its batch; a leased one is `sent` at once (the
 * lease is BHXH's acknowledgement). SKIP LOCKED lets another process claim other rows meanwhile;
 * paused provinces are left waiting. One UPDATE and one audit append for all the claimed records.
 */
export async function claimIntoBatchesInTx(tx: Queryable, request: ClaimRequest): Promise<Batch[]> {
  const kinds = request.kinds.filter((kind) => !request.loai || kind.loai === request.loai);
  if (kinds.length === 0) return [];
  // The claim walks the waiting records oldest first along transfers_queued_by_age and stops at
  // `limit`: about a millisecond for 500. Sorting every waiting record instead, as the planner
  // chooses whenever its statistics lag behind a backlog (after an outage, a bulk load) — hundreds
  // of milliseconds for each claim of 100,000 — is ruled out here; and so is JIT-compiling a
  // statement it estimates dear (its holds are correlated subqueries): about 150 ms to save nothing.
  await tx.query('SET LOCAL enable_sort = off');
  await tx.query('SET LOCAL jit = off');
  for (const kind of kinds) await kind.beforeClaimInTx?.(tx, { actor: request.actor, window: request.limit });
  const types = kinds.map((kind) => kind.transferType);
  // Each kind's hold, on its own rows: $4 onwards are the types of the kinds that hold records back,
  // in order (only those: a parameter no condition names would have no type PostgreSQL can tell).
  const holding = kinds.filter((kind) => kind.heldBackWhen);
  const held = holding.map((kind, index) => `(type = $${index + 4} AND (${kind.heldBackWhen}))`);
  const claimable = `status = 'queued' AND type = ANY($1::text[])
        AND ($2::text IS NULL OR ma_tinh = $2)
        AND NOT (id = ANY($3::text[]))
        AND NOT EXISTS (SELECT 1 FROM dispatch_pauses p WHERE p.ma_tinh = transfers.ma_tinh OR p.ma_tinh = '*')
        ${held.length > 0 ? `AND NOT (${held.join(' OR ')})` : ''}`;
  // Each kind that batches its records by group names the group with its SQL; the parameters after
  // the holds are those kinds' types, in order.
  const grouping = kinds.filter((kind) => kind.groupKey);
  const groupOf = grouping.length > 0
    ? `CASE type ${grouping.map((kind, index) => `WHEN $${holding.length + index + 4} THEN (${kind.groupKey})`).join(' ')} END`
    : 'NULL::text';
  const next = holding.length + grouping.length + 4;
  const loaiOf = new Map(kinds.map((kind) => [kind.transferType, kind.loai]));
  // Batch by batch, the oldest claimable record names the province, type and group of the next one,
  // which takes their oldest: fair by age, and full even when provinces interleave.
  const planned: Array<{ id: string; maTinh: string; loai: Loai; groupKey: string | null; ids: string[] }> = [];
  const taken: string[] = [];
  const maxBatches = request.maxBatches ?? Math.ceil(request.limit / request.batchSize);
  while (planned.length < maxBatches && taken.length < request.limit) {
    const values = [types, request.maTinh ?? null, taken, ...holding.map((kind) => kind.transferType), ...grouping.map((kind) => kind.transferType)];
    const head = (await tx.query<{ ma_tinh: string; type: TransferType; group_key: string | null }>(
      `SELECT ma_tinh, type, ${groupOf} AS group_key FROM transfers WHERE ${claimable} ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`, values,
    )).rows[0];
    if (!head) break;
    const { rows } = await tx.query<{ id: string }>(
      `SELECT id FROM transfers WHERE ${claimable} AND ma_tinh = $${next} AND type = $${next + 1}
          AND ${groupOf} IS NOT DISTINCT FROM $${next + 3}::text
        ORDER BY id LIMIT $${next + 2} FOR UPDATE SKIP LOCKED`,
      [...values, head.ma_tinh, head.type, Math.min(request.batchSize, request.limit - taken.length), head.group_key],
    );
    if (rows.length === 0) break;
    const claimed = rows.map((row) => row.id);
    const ids = kinds.find((kind) => kind.transferType === head.type)?.orderMembers?.(claimed) ?? claimed;
    planned.push({ id: newId(), maTinh: head.ma_tinh, loai: loaiOf.get(head.type) as Loai, groupKey: head.group_key, ids });
    taken.push(...ids);
  }
  if (planned.length === 0) return [];
  const pull = request.mode === 'pull';
  const inserted = await tx.query<BatchRow>(
    `INSERT INTO batches (id, ma_tinh, loai, group_key, mode, status, record_count, leased_by, lease_expires_at, delivered_at)
     SELECT b.id, b.ma_tinh, b.loai, b.group_key, $4, $5, b.record_count, $6,
            CASE WHEN $7::int IS NULL THEN NULL ELSE now() + make_interval(secs => $7::int) END,
            CASE WHEN $4 = 'pull' THEN now() END
       FROM unnest($1::text[], $2::text[], $3::text[], $8::int[], $9::text[]) WITH ORDINALITY AS b(id, ma_tinh, loai, record_count, group_key, position)
      ORDER BY b.position
     RETURNING *`,
    [planned.map((batch) => batch.id), planned.map((batch) => batch.maTinh), planned.map((batch) => batch.loai), request.mode,
      pull ? 'delivered' : 'open', request.leasedBy ?? null, request.leaseSeconds ?? null, planned.map((batch) => batch.ids.length),
      planned.map((batch) => batch.groupKey)],
  );
  const members = planned.flatMap((batch) => batch.ids.map((id, index) => ({ batchId: batch.id, id, position: index + 1 })));
  await tx.query(
    `INSERT INTO batch_members (batch_id, transfer_id, position)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[])`,
    [members.map((member) => member.batchId), members.map((member) => member.id), members.map((member) => member.position)],
  );
  const action = pull ? 'dispatch.leased' : 'dispatch.batched';
  // One event per batch, shared by its records: the audit log seals a run of such events at once.
  const events = new Map(planned.map((batch) => [batch.id, { actor: request.actor, action, details: { batchId: batch.id } }]));
  await moveTransfersInTx(tx, members.map((member): StatusMove => ({
    id: member.id, fromStatus: 'queued', toStatus: pull ? 'sent' : 'sending', batchId: member.batchId,
    event: events.get(member.batchId) as StatusMove['event'],
  })));
  const byId = new Map((inserted.rows as BatchRow[]).map((row) => [row.id, fromRow(row)]));
  return planned.map((batch) => byId.get(batch.id) as Batch);
}

/** How many pushed batches wait for BHXH to acknowledge them, in every process; or only those of provinces not paused. */
export async function countOpenPushBatches(db: Queryable, options: { skipPaused?: boolean } = {}): Promise<number> {
  const { rows } = await db.query<{ count: string | number }>(
    `SELECT count(*) AS count FROM batches b
      WHERE b.status = 'open' AND b.mode = 'push'
        AND NOT ($1 AND EXISTS (SELECT 1 FROM dispatch_pauses p WHERE p.ma_tinh = b.ma_tinh OR p.ma_tinh = '*'))`,
    [options.skipPaused ?? false],
  );
  return Number(rows[0]?.count ?? 0);
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

/** Records that a push of the batch begins: said before the first byte leaves for BHXH. */
export async function markPushStarted(db: Queryable, batchId: string): Promise<void> {
  await db.query('UPDATE batches SET push_started_at = COALESCE(push_started_at, now()) WHERE id = $1', [batchId]);
}

/**
 * The latest batches, newest first, of the given provinces (undefined: all). By id, not created_at:
 * ids are UUIDv7 (`newId`), ordered by the time they were made, and the primary key reads them
 * backwards up to the limit where created_at, unindexed, would sort the whole table.
 */
export async function listRecentBatches(db: Queryable, query: { provinces?: string[]; status?: BatchStatus; limit: number }): Promise<Batch[]> {
  const { rows } = await db.query<BatchRow>(
    `SELECT * FROM batches
      WHERE ($1::text[] IS NULL OR ma_tinh = ANY($1)) AND ($2::text IS NULL OR status = $2)
      ORDER BY id DESC LIMIT $3`,
    [query.provinces ?? null, query.status ?? null, query.limit],
  );
  return rows.map(fromRow);
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
  /** The BHXH number the record names its person by, where its type keeps one: an issued card must carry it. */
  maSoBhxh: string | null;
}

export async function batchMembersInTx(tx: Queryable, batchId: string): Promise<BatchMember[]> {
  const { rows } = await tx.query<{
    transfer_id: string; position: number; outcome: string | null; status: string; batch_id: string | null; type: TransferType; ma_so_bhxh: string | null;
  }>(
    `SELECT m.transfer_id, m.position, m.outcome, t.status, t.batch_id, t.type, t.ma_so_bhxh
       FROM batch_members m JOIN transfers t ON t.id = m.transfer_id
      WHERE m.batch_id = $1 ORDER BY t.id FOR UPDATE OF t`,
    [batchId],
  );
  // Locked in id order, as every other writer of many transfers locks them (lockTransfersInTx): a
  // batch's positions may follow another order (a list's STT), and two orders could deadlock.
  return rows.map((row) => ({
    transferId: row.transfer_id, position: Number(row.position), outcome: row.outcome,
    transferStatus: row.status, transferBatchId: row.batch_id, type: row.type, maSoBhxh: row.ma_so_bhxh ?? null,
  })).sort((a, b) => a.position - b.position);
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
