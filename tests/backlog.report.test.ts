import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/domain/ids.js';
import { FINAL_STATUSES, TRANSFER_STATUSES, type TransferStatus } from '../src/domain/transfer-status.js';
import { holidayCalendarFromFile } from '../src/catalogues/holiday-catalogue.js';
import { packagePath } from '../src/package-files.js';
import { appendAuditEventInTx } from '../src/store/audit-log.js';
import { TransferReads } from '../src/transfers/transfer-reads.js';
import { personalNumber } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/** An instant written as Vietnam's wall clock reads it. */
const at = (local: string) => new Date(`${local}+07:00`);

let gateway: TestGateway;
let now = at('2026-02-24T09:00:00');
const personalNumbers: string[] = [];

beforeAll(async () => {
  gateway = await startTestGateway({ now: () => now });
});
afterAll(async () => {
  await gateway?.close();
});

/** A record as the report sees it: registered at `registered`, now in `status`. */
async function record(maTinh: string, status: TransferStatus, registered: string, batchId: string | null = null): Promise<string> {
  const id = newId();
  const soDinhDanh = personalNumber();
  personalNumbers.push(soDinhDanh);
  await gateway.db.query(
    `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, batch_id, created_at)
     VALUES ($1, 'KHAI_SINH', 'hotich-08', $1, $2, $3, '02215', $4, '{}', '[]', '{}', $5, $6)`,
    [id, status, maTinh, soDinhDanh, batchId, at(registered)],
  );
  return id;
}

async function backlogAt(local: string, as: 'operator' | 'operator01' = 'operator') {
  now = at(local);
  const response = await gateway.request(as, { method: 'GET', url: '/ops/v1/reports/backlog' });
  expect(response.statusCode).toBe(200);
  return response;
}

async function provinceAt(local: string, maTinh: string) {
  return (await backlogAt(local)).json().provinces.find((entry: { maTinh: string }) => entry.maTinh === maTinh);
}

describe('the backlog report counts 5 working days', () => {
  it('skips Tết 2026 and cuts off at 15:00: on 24.02 only what was registered before 09.02 15:00 is late', async () => {
    const lateAtBhxh = await record('08', 'sent', '2026-02-09T14:59:59', 'batch-tet-1');
    await record('08', 'sent', '2026-02-09T15:00:00', 'batch-tet-1');
    // Weekends alone would make it late since 17.02; the Tết week makes it due 24.02.
    await record('08', 'sent', '2026-02-10T10:00:00', 'batch-tet-2');
    await record('08', 'queued', '2026-02-05T10:00:00');
    await record('08', 'issued', '2026-01-05T10:00:00');

    const response = await backlogAt('2026-02-24T09:00:00');
    expect(response.json().deadline).toBe('2026-02-09T15:00:00+07:00');
    expect(response.json().provinces).toContainEqual({
      maTinh: '08',
      counts: { issued: 1, queued: 1, sent: 3 },
      oldestWaiting: at('2026-02-05T10:00:00').toISOString(),
      pastDeadline: 2,
      pastDueDate: 0,
      awaitingBhxhPastDeadline: 1,
      awaitingBhxhOldest: [{ transferId: lateAtBhxh, batchId: 'batch-tet-1', receivedAt: at('2026-02-09T14:59:59').toISOString() }],
    });
  });

  it('makes a dossier received at 15:00 due a working day later than one received just before', async () => {
    const before = await record('01', 'sent', '2026-11-23T14:59:00', 'batch-cut-off');
    const after = await record('01', 'sent', '2026-11-23T15:00:00', 'batch-cut-off');
    const lateIds = async (local: string) => ((await provinceAt(local, '01')).awaitingBhxhOldest as Array<{ transferId: string }>).map((entry) => entry.transferId);

    // Both are due by the end of a working day: Monday 30.11 for the first, Tuesday 01.12 for the second.
    expect(await lateIds('2026-11-30T23:59:59')).toEqual([]);
    expect(await lateIds('2026-12-01T00:00:00')).toEqual([before]);
    expect(await lateIds('2026-12-01T23:59:59')).toEqual([before]);
    expect(await lateIds('2026-12-02T00:00:00')).toEqual([before, after]);
    expect((await provinceAt('2026-12-02T00:00:00', '01')).awaitingBhxhPastDeadline).toBe(2);
  });

  it('names the 10 oldest overdue records BHXH holds, oldest first, and counts them all', async () => {
    const ids: string[] = [];
    for (let day = 1; day <= 12; day += 1) ids.push(await record('79', 'sent', `2026-10-${String(day).padStart(2, '0')}T09:00:00`, `batch-79-${day}`));
    await record('79', 'failed', '2026-09-30T09:00:00');

    const province = await provinceAt('2026-11-27T10:00:00', '79');
    expect(province.pastDeadline).toBe(13);
    expect(province.awaitingBhxhPastDeadline).toBe(12);
    expect(province.awaitingBhxhOldest.map((entry: { transferId: string }) => entry.transferId)).toEqual(ids.slice(0, 10));
    expect(province.awaitingBhxhOldest[0]).toEqual({ transferId: ids[0], batchId: 'batch-79-1', receivedAt: at('2026-10-01T09:00:00').toISOString() });
  });

  it('keeps to the operator\'s provinces and shows no personal data', async () => {
    const response = await backlogAt('2026-12-15T10:00:00', 'operator01');
    expect(response.json().provinces.map((entry: { maTinh: string }) => entry.maTinh)).toEqual(['01']);
    const everything = (await backlogAt('2026-12-15T10:00:00')).body;
    for (const soDinhDanh of personalNumbers) expect(everything).not.toContain(soDinhDanh);
  });
});

describe('the backlog over time (the console\'s chart)', () => {
  it('counts, at the end of each day, the records registered by then and not yet final, and those of them past the deadline', async () => {
    const calendar = holidayCalendarFromFile(packagePath('catalogues', 'holidays.json'));
    const DAY = 24 * 3600_000;
    const realNow = Date.now();
    const registered = (daysAgo: number) => new Date(realNow - daysAgo * DAY);
    const insert = async (created: Date, status: TransferStatus) => {
      const id = newId();
      await gateway.db.query(
        `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, created_at)
         VALUES ($1, 'KHAI_SINH', 'hotich-08', $1, $2, '45', '02215', $3, '{}', '[]', '{}', $4)`,
        [id, status, personalNumber(), created],
      );
      return id;
    };
    await insert(registered(10), 'queued');
    const issuedToday = [await insert(registered(3), 'sent'), await insert(registered(20), 'sent')];
    // They reach a final status now: waiting every day before today, not at today's end.
    await gateway.db.transaction(async (tx) => {
      for (const transferId of issuedToday) appendAuditEventInTx(tx, { actor: 'test', action: 'result.issued', transferId, fromStatus: 'sent', toStatus: 'issued' });
    });
    const asOf = new Date(realNow + 1000);
    const series = (await new TransferReads(gateway.db).backlogHistory(calendar, asOf, 14, ['45'])).get('45');
    expect(series).toHaveLength(14);
    const [first, yesterday, today] = [series?.[0], series?.[12], series?.[13]];
    expect(today).toEqual({ day: expect.any(String), waiting: 1, pastDeadline: Number(registered(10) < calendar.overdueIfReceivedBefore(asOf, 5)) });
    // 13 days ago only the one registered 20 days ago was there; yesterday all three were.
    expect(first?.waiting).toBe(1);
    expect(yesterday?.waiting).toBe(3);
    const yesterdayEnd = new Date(Date.parse(`${yesterday?.day}T00:00:00+07:00`) + DAY);
    const cutoff = calendar.overdueIfReceivedBefore(yesterdayEnd, 5);
    expect(yesterday?.pastDeadline).toBe([registered(10), registered(3), registered(20)].filter((created) => created < cutoff).length);
    expect(yesterday?.pastDeadline).toBeGreaterThanOrEqual(1);
    // Days run oldest first, one a day, ending today in Vietnam.
    const days = (series ?? []).map((point) => point.day);
    expect(days).toEqual([...days].sort());
    expect(new Set(days).size).toBe(14);
  });

  it('leaves out records final before the window began, and keeps to the provinces asked for', async () => {
    const calendar = holidayCalendarFromFile(packagePath('catalogues', 'holidays.json'));
    const DAY = 24 * 3600_000;
    const realNow = Date.now();
    const insert = async (maTinh: string, status: TransferStatus) => {
      const id = newId();
      await gateway.db.query(
        `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, created_at)
         VALUES ($1, 'KHAI_SINH', 'hotich-08', $1, $2, $3, '02215', $4, '{}', '[]', '{}', $5)`,
        [id, status, maTinh, personalNumber(), new Date(realNow - 30 * DAY)],
      );
      return id;
    };
    const finishedNow = await insert('55', 'issued');
    await insert('55', 'queued');
    await insert('56', 'queued');
    await gateway.db.transaction(async (tx) => {
      appendAuditEventInTx(tx, { actor: 'test', action: 'result.issued', transferId: finishedNow, fromStatus: 'sent', toStatus: 'issued' });
    });
    const reads = new TransferReads(gateway.db);
    // Three weeks on, the issued one was final before the chart's first day: only the queued one waited.
    const later = await reads.backlogHistory(calendar, new Date(realNow + 20 * DAY), 14, ['55']);
    expect([...later.keys()]).toEqual(['55']);
    expect(later.get('55')?.map((point) => point.waiting)).toEqual(Array(14).fill(1));
    // Three days on, it was waiting until today, when it became final.
    const soon = (await reads.backlogHistory(calendar, new Date(realNow + 3 * DAY), 14, ['55', '56']));
    expect([...soon.keys()].sort()).toEqual(['55', '56']);
    expect(soon.get('55')?.[0]?.waiting).toBe(2);
    expect(soon.get('55')?.[13]?.waiting).toBe(1);
    expect(soon.get('56')?.map((point) => point.waiting)).toEqual(Array(14).fill(1));
  });

  it('counts a record with a due date of its own (a re-issue\'s hanTra) late from the day after it, as the report does', async () => {
    const calendar = holidayCalendarFromFile(packagePath('catalogues', 'holidays.json'));
    const DAY = 24 * 3600_000;
    const realNow = Date.now();
    const asOf = new Date(realNow + 1000);
    const vietnamDay = (instant: number) => new Date(instant + 7 * 3600_000).toISOString().slice(0, 10);
    const dueOn = vietnamDay(realNow - 5 * DAY);
    await gateway.db.query(
      `INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document, created_at, reason, due_on)
       VALUES ($1, 'CAP_LAI_THE', 'bhxh-08', $1, 'sent', '57', '02215', $2, '{}', '[]', '{}', $3, 'mat', $4)`,
      [newId(), personalNumber(), new Date(realNow - 6 * DAY), dueOn],
    );
    const series = (await new TransferReads(gateway.db).backlogHistory(calendar, asOf, 14, ['57'])).get('57') ?? [];
    // Registered six days ago, due five days ago: not late by the 5 working days, late by its hanTra.
    expect(series.filter((point) => point.waiting === 1).map((point) => point.pastDeadline)).toEqual(series.filter((point) => point.waiting === 1).map((point) => Number(point.day >= dueOn)));
    expect(series.at(-1)).toMatchObject({ waiting: 1, pastDeadline: 1 });
    expect(series.find((point) => point.day === dueOn)?.pastDeadline).toBe(1);
  });

  it('finds the records that became final through an index of exactly the final statuses', async () => {
    const { rows } = await gateway.db.query<{ indexdef: string }>(
      "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'audit_events_final_by_time'", [gateway.schema],
    );
    const named = [...(rows[0]?.indexdef ?? '').matchAll(/'([a-z_]+)'/g)].map((match) => match[1]);
    expect(named.sort()).toEqual([...FINAL_STATUSES].sort());
    expect(TRANSFER_STATUSES.filter((status) => !FINAL_STATUSES.includes(status)).some((status) => named.includes(status))).toBe(false);
  });
});
