import { afterEach, expect, it } from 'vitest';
import { failBatchInTx } from '../src/dispatch/batch-closing.js';
import { findBatch, type Batch } from '../src/store/batches.js';
import { khaiSinh } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * A pushed batch still open when the gateway was upgraded to the `sending` status holds its records
 * as `sent` (they were claimed so): if it then fails, they must fail with it, not stay `sent` for a
 * batch that is over, where no result could reach them and a death of the person would wait forever.
 */
let gateway: TestGateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

it('fails the records of a batch claimed before `sending` existed together with the batch', async () => {
  gateway = await startTestGateway();
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    const response = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
    expect(response.statusCode, response.body).toBe(202);
    ids.push(response.json().transferId);
  }
  // What the previous version left behind: an open push batch whose records are `sent`.
  await gateway.db.query(
    `INSERT INTO batches (id, ma_tinh, loai, mode, status, record_count, push_started_at) VALUES ('legacy-batch', '08', 'CAP_THE_TE', 'push', 'open', 2, now())`,
  );
  await gateway.db.query(
    `INSERT INTO batch_members (batch_id, transfer_id, position) SELECT 'legacy-batch', id, position FROM unnest($1::text[]) WITH ORDINALITY AS m(id, position)`,
    [ids],
  );
  await gateway.db.query(`UPDATE transfers SET status = 'sent', batch_id = 'legacy-batch' WHERE id = ANY($1)`, [ids]);

  const failed = await gateway.db.transaction(async (tx) =>
    failBatchInTx(tx, (await findBatch(tx, 'legacy-batch', true)) as Batch, 'BHXH refused the batch: 400', 'dispatcher'));

  expect(failed).toBe(2);
  const { rows } = await gateway.db.query<{ status: string; batch_id: string | null }>('SELECT status, batch_id FROM transfers WHERE id = ANY($1)', [ids]);
  expect(rows).toEqual([{ status: 'failed', batch_id: null }, { status: 'failed', batch_id: null }]);
  const events = await gateway.db.query<{ from_status: string; to_status: string }>(
    "SELECT from_status, to_status FROM audit_events WHERE transfer_id = ANY($1) AND action = 'dispatch.failed'", [ids]);
  expect(events.rows).toEqual([{ from_status: 'sent', to_status: 'failed' }, { from_status: 'sent', to_status: 'failed' }]);
  expect((await findBatch(gateway.db, 'legacy-batch'))?.status).toBe('failed');
});
