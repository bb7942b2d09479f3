import { batchMembersInTx, setBatchStatusInTx, setMemberOutcomesInTx, type Batch } from '../store/batches.js';
import type { Queryable } from '../store/database.js';
import { moveTransfersInTx } from '../store/transfers.js';

/**
 * A batch that could not be delivered: its unanswered records become `failed`, keeping the reason,
 * and wait for an operator's replay.
 */
export async function failBatchInTx(
  tx: Queryable,
  batch: Batch,
  reason: string,
  actor: string,
  options: { onlyIfUnanswered?: boolean } = {},
): Promise<number> {
  const pending = (await batchMembersInTx(tx, batch.id)).filter(
    (member) => member.outcome === null && member.transferStatus === 'sent' && member.transferBatchId === batch.id,
  );
  // After an answer: a batch whose every record was answered is closed, and stays closed.
  if (options.onlyIfUnanswered && pending.length === 0) return 0;
  const { moved } = await moveTransfersInTx(
    tx,
    pending.map((member) => ({
      id: member.transferId, fromStatus: 'sent', toStatus: 'failed', batchId: null,
      event: { actor, action: 'dispatch.failed', details: { batchId: batch.id, reason } },
    })),
  );
  await setMemberOutcomesInTx(tx, batch.id, moved.map((transferId) => ({ transferId, outcome: 'failed' })));
  await setBatchStatusInTx(tx, batch.id, 'failed', reason);
  return moved.length;
}

/**
 * Pull leases that ran out without results: their records go back to `queued` for the next lease
 * or push, and a late result for them is rejected. SKIP LOCKED lets several processes sweep at once.
 */
export async function expireLeasesInTx(tx: Queryable, actor: string): Promise<{ batches: number; records: number }> {
  const { rows } = await tx.query<{ id: string }>(
    `SELECT id FROM batches
      WHERE mode = 'pull' AND status = 'delivered' AND lease_expires_at < now()
      ORDER BY lease_expires_at
      LIMIT 100
      FOR UPDATE SKIP LOCKED`,
  );
  let records = 0;
  for (const { id } of rows) {
    const pending = (await batchMembersInTx(tx, id)).filter(
      (member) => member.outcome === null && member.transferStatus === 'sent' && member.transferBatchId === id,
    );
    const { moved } = await moveTransfersInTx(
      tx,
      pending.map((member) => ({
        id: member.transferId, fromStatus: 'sent', toStatus: 'queued', batchId: null,
        event: { actor, action: 'dispatch.lease-expired', details: { batchId: id } },
      })),
    );
    await setMemberOutcomesInTx(tx, id, moved.map((transferId) => ({ transferId, outcome: 'expired' })));
    await setBatchStatusInTx(tx, id, 'expired');
    records += moved.length;
  }
  return { batches: rows.length, records };
}
