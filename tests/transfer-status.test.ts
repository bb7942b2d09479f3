import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CARD_NOT_YET_SENT,
  CORRECTABLE_STATUSES,
  FINAL_STATUSES,
  INITIAL_STATUSES,
  mayMove,
  REPLAYABLE_STATUSES,
  RESENDABLE_STATUSES,
  TRANSFER_STATES,
  TRANSFER_STATUSES,
  TransitionNotAllowed,
  type TransferStatus,
} from '../src/domain/transfer-status.js';
import { newId } from '../src/domain/ids.js';
import { WorkingCalendar } from '../src/domain/working-days.js';
import { createMetrics } from '../src/metrics.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { migrate } from '../src/store/migrate.js';
import { changeTransferInTx, findTransfer, insertTransferInTx, lockTransferInTx, moveTransfersInTx, type Transfer } from '../src/store/transfers.js';
import { backlogReport } from '../src/transfers/backlog-report.js';
import { personalNumber } from './support/fixtures.js';
import { TEST_DATABASE_URL, uniqueSchema } from './support/gateway.js';

const schema = uniqueSchema('status');
let db: Database;

beforeAll(async () => {
  db = await openDatabase({ url: TEST_DATABASE_URL, schema, dataDir: tmpdir() });
  await migrate(db);
});
afterAll(async () => {
  await db?.exec(`DROP SCHEMA ${schema} CASCADE`);
  await db?.close();
});

const event = { actor: 'test', action: 'test.move' };
const pairs = TRANSFER_STATUSES.flatMap((from) => TRANSFER_STATUSES.map((to) => [from, to] as const));
const allowed = pairs.filter(([from, to]) => mayMove(from, to));
const forbidden = pairs.filter(([from, to]) => !mayMove(from, to));

/** A transfer put straight into a status, as no code path may: the starting point of one move. */
async function transferIn(status: TransferStatus, maTinh = '08'): Promise<Transfer> {
  const id = newId();
  await db.query(
    `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document)
     VALUES ($1, 'KHAI_SINH', 'hotich-08', $1, $2, $3, '02215', $4, '{}', '[]', '{}')`,
    [id, status, maTinh, personalNumber()],
  );
  return (await findTransfer(db, id)) as Transfer;
}

async function auditEventsOf(transferId: string): Promise<Array<{ from_status: string | null; to_status: string | null }>> {
  const { rows } = await db.query<{ from_status: string | null; to_status: string | null }>(
    'SELECT from_status, to_status FROM audit_events WHERE transfer_id = $1 ORDER BY seq', [transferId],
  );
  return rows;
}

describe('the status table', () => {
  it('names every status as officers say it', () => {
    expect(Object.fromEntries(TRANSFER_STATUSES.map((status) => [status, TRANSFER_STATES[status].vietnamese]))).toEqual({
      received: 'chưa gửi', queued: 'chờ gửi', sending: 'đang gửi', sent: 'đã gửi', issued: 'đã cấp thẻ', processed: 'đã báo giảm',
      returned: 'bị trả về', failed: 'gửi không thành công', deceased: 'không gửi, đã khai tử', merged: 'đã gộp',
      closed: 'đã đóng',
    });
  });

  it('gives the eligibility lists the code used to spell out', () => {
    expect(INITIAL_STATUSES).toEqual(['received', 'queued']);
    expect(CORRECTABLE_STATUSES).toEqual(['received', 'queued', 'returned']);
    expect(CARD_NOT_YET_SENT).toEqual(['received', 'queued', 'returned', 'failed']);
    expect(REPLAYABLE_STATUSES).toEqual(['returned', 'failed']);
    expect(RESENDABLE_STATUSES).toEqual(['returned']);
    expect(FINAL_STATUSES).toEqual(['issued', 'processed', 'deceased', 'merged', 'closed']);
  });

  it('has no way back from a card issued, a removal processed, a failure to an issue, or out of merged', () => {
    expect(mayMove('issued', 'queued')).toBe(false);
    expect(mayMove('processed', 'queued')).toBe(false);
    expect(mayMove('failed', 'issued')).toBe(false);
    expect(mayMove('queued', 'failed')).toBe(false);
    expect(mayMove('sent', 'deceased')).toBe(false);
    // A record in a pushed batch BHXH may already hold: neither corrected nor retired by a death.
    expect(mayMove('sending', 'deceased')).toBe(false);
    expect(CORRECTABLE_STATUSES).not.toContain('sending');
    expect(mayMove('sending', 'issued')).toBe(false);
    expect(TRANSFER_STATUSES.filter((to) => mayMove('merged', to))).toEqual([]);
  });

  it('gives the push its moves: claimed sending, acknowledged sent, released back to queued, or failed', () => {
    expect(TRANSFER_STATES.queued.to.sending).toEqual(['claim']);
    expect(TRANSFER_STATES.sending.to).toEqual({ sending: ['dossier'], sent: ['acknowledged'], failed: ['undelivered'], queued: ['released'] });
  });

  it('is what PostgreSQL\'s CHECK constraint on transfers.status allows, no more and no less', async () => {
    const { rows } = await db.query<{ definition: string }>(
      `SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint
        WHERE conname = 'transfers_status_check' AND conrelid = 'transfers'::regclass`,
    );
    expect(rows).toHaveLength(1);
    const definition = (rows[0] as { definition: string }).definition;
    const listed = [...definition.matchAll(/'([^']*)'::text/g)].map((match) => match[1]);
    expect(definition).toMatch(/^CHECK \(\(status = ANY \(ARRAY\[/);
    expect([...listed].sort()).toEqual([...TRANSFER_STATUSES].sort());
  });

  it('labels the transfers gauge with every status', async () => {
    const metrics = createMetrics(db);
    const text = await metrics.registry.getSingleMetricAsString('lienthong_transfers');
    expect([...text.matchAll(/lienthong_transfers\{status="([a-z]+)"\}/g)].map((match) => match[1])).toEqual([...TRANSFER_STATUSES]);
  });
});

describe('the store makes only the moves of the table', () => {
  it.each(allowed)('%s → %s: changeTransferInTx makes it, with its audit event', async (from, to) => {
    const { id } = await transferIn(from);
    const changed = await db.transaction(async (tx) => changeTransferInTx(tx, (await lockTransferInTx(tx, id)) as Transfer, { status: to }, event));
    expect(changed.status).toBe(to);
    expect((await findTransfer(db, id))?.status).toBe(to);
    expect(await auditEventsOf(id)).toEqual([{ from_status: from, to_status: to }]);
  });

  it.each(allowed)('%s → %s: moveTransfersInTx makes it, with its audit event', async (from, to) => {
    const { id } = await transferIn(from);
    const result = await db.transaction((tx) => moveTransfersInTx(tx, [{ id, fromStatus: from, toStatus: to, batchId: null, event }]));
    expect(result).toEqual({ moved: [id], skipped: [] });
    expect((await findTransfer(db, id))?.status).toBe(to);
    expect(await auditEventsOf(id)).toEqual([{ from_status: from, to_status: to }]);
  });

  it(`refuses every other move (${forbidden.length}), with either function, and writes nothing`, async () => {
    for (const [from, to] of forbidden) {
      const before = await transferIn(from);
      // The transaction commits: what a refused call wrote would stay.
      await db.transaction(async (tx) => {
        const current = (await lockTransferInTx(tx, before.id)) as Transfer;
        await expect(changeTransferInTx(tx, current, { status: to, card: { maThe: 'X' } }, event)).rejects.toThrow(TransitionNotAllowed);
        await expect(moveTransfersInTx(tx, [{ id: before.id, fromStatus: from, toStatus: to, batchId: null, event }])).rejects.toThrow(TransitionNotAllowed);
      });
      expect(await findTransfer(db, before.id), `${from} → ${to}`).toEqual(before);
      expect(await auditEventsOf(before.id)).toEqual([]);
    }
  });

  it('a batch of moves with one the table refuses moves none of them', async () => {
    const queued = await transferIn('queued');
    const issued = await transferIn('issued');
    await db.transaction(async (tx) => {
      await expect(moveTransfersInTx(tx, [
        { id: queued.id, fromStatus: 'queued', toStatus: 'sent', batchId: null, event },
        { id: issued.id, fromStatus: 'issued', toStatus: 'queued', batchId: null, event },
      ])).rejects.toMatchObject({ name: 'TransitionNotAllowed', transferId: issued.id, from: 'issued', to: 'queued' });
    });
    expect(await findTransfer(db, queued.id)).toEqual(queued);
    expect(await findTransfer(db, issued.id)).toEqual(issued);
  });

  it('a change made from a status the row no longer has writes nothing', async () => {
    const before = await transferIn('returned');
    const stale = { ...before, status: 'failed' as const };
    await db.transaction(async (tx) => {
      await expect(changeTransferInTx(tx, stale, { status: 'queued' }, event)).rejects.toThrow(/not failed any more/);
    });
    expect(await findTransfer(db, before.id)).toEqual(before);
    expect(await auditEventsOf(before.id)).toEqual([]);
  });

  it.each(TRANSFER_STATUSES)('a new transfer may begin %s only if the table says so', async (status) => {
    const id = newId();
    const insert = db.transaction((tx) => insertTransferInTx(
      tx,
      { id, type: 'KHAI_SINH', clientId: 'hotich-08', messageId: id, status, maTinh: '08', maDonVi: '02215', soDinhDanh: personalNumber(), document: {}, missing: [], bhxhDocument: {} },
      event,
    ));
    if (INITIAL_STATUSES.includes(status)) {
      expect((await insert).status).toBe(status);
      expect(await auditEventsOf(id)).toEqual([{ from_status: null, to_status: status }]);
    } else {
      await expect(insert).rejects.toThrow(TransitionNotAllowed);
      expect(await findTransfer(db, id)).toBeNull();
    }
  });
});

describe('final statuses', () => {
  it('the backlog counts deceased and merged records as done, not as waiting past the deadline', async () => {
    const maTinh = '79';
    const waiting = await transferIn('queued', maTinh);
    for (const status of ['issued', 'deceased', 'merged'] as const) await transferIn(status, maTinh);
    const monthLater = new Date(Date.parse(waiting.createdAt) + 30 * 86_400_000);
    const report = await backlogReport(db, new WorkingCalendar([], []), monthLater, [maTinh]);
    expect(report.provinces).toEqual([{
      maTinh, counts: { queued: 1, issued: 1, deceased: 1, merged: 1 }, oldestWaiting: waiting.createdAt, pastDeadline: 1, pastDueDate: 0,
      awaitingBhxhPastDeadline: 0, awaitingBhxhOldest: [],
    }]);
  });
});
