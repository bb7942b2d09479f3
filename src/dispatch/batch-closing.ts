import { batchMembersInTx, setBatchStatusInTx, setMemberOutcomesInTx, type Batch } from '../store/batches.js';
import type { Queryable } from '../store/database.js';
import { moveBatchTransfersInTx, moveTransfersInTx } from '../store/transfers.js';

/**
 * A pushed batch BHXH acknowledged (any 2xx): its records move sending → sent, where they wait for
 * their results, and the batch is `delivered`. Nothing is moved twice: a second acknowledgement of
 * the same batch (a takeover's) finds no record still `sending`.
 */
export async function acknowledgeBatchInTx(tx: Queryable, batchId: string, httpStatus: number, actor: string): Promise<number> {
  const moved = await moveBatchTransfersInTx(tx, batchId, {
    fromStatus: 'sending', toStatus: 'sent', leaveBatch: false,
    event: { actor, action: 'dispatch.acknowledged', details: { batchId, httpStatus } },
  });
  await tx.query("UPDATE batches SET status = 'delivered', delivered_at = now() WHERE id = $1 AND status = 'open'", [batchId]);
  return moved.length;
}

/**
 * A pushed batch that could not be delivered (attempts exhausted, or BHXH refused it): its records
 * still `sending` become `failed`, keeping the reason, and wait for an operator's replay.
 */
export async function failBatchInTx(tx: Queryable, batch: Batch, reason: string, actor: string): Promise<number> {
  const event = { actor, action: 'dispatch.failed', details: { batchId: batch.id, reason } };
  const moved = [
    ...await moveBatchTransfersInTx(tx, batch.id, { fromStatus: 'sending', toStatus: 'failed', leaveBatch: true, event }),
    // A batch claimed before `sending` existed (migration 009) holds its records as `sent` while it
    // is still unacknowledged; they fail with it rather than stay `sent` for a batch that is over.
    ...await moveBatchTransfersInTx(tx, batch.id, { fromStatus: 'sent', toStatus: 'failed', leaveBatch: true, event }),
  ];
  await setMemberOutcomesInTx(tx, batch.id, moved.map((transferId) => ({ transferId, outcome: 'failed' })));
  await setBatchStatusInTx(tx, batch.id, 'failed', reason);
  return moved.length;
}

/**
 * A pushed batch that provably never reached BHXH (its connection was refused before a byte was
 * sent): its records go back to `queued`, correctable again, to be claimed into a new batch once
 * BHXH answers; the batch ends `released` and is never sent.
 */
export async function releaseBatchInTx(tx: Queryable, batch: Batch, reason: string, actor: string): Promise<number> {
  const moved = await moveBatchTransfersInTx(tx, batch.id, {
    fromStatus: 'sending', toStatus: 'queued', leaveBatch: true,
    event: { actor, action: 'dispatch.released', details: { batchId: batch.id, reason } },
  });
  await setMemberOutcomesInTx(tx, batch.id, moved.map((transferId) => ({ transferId, outcome: 'released' })));
  await setBatchStatusInTx(tx, batch.id, 'released', reason);
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
