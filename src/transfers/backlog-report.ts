import { todayInVietnam, toIsoDate } from '../domain/calendar-date.js';
import { vietnamTimestamp, type WorkingCalendar } from '../domain/working-days.js';
import { FINAL_STATUSES, TRANSFER_STATUSES, statusesMovedBy, type TransferStatus } from '../domain/transfer-status.js';
import type { Queryable } from '../store/database.js';

/** Quy chế phối hợp 1123/QCPH-BHXH-STP: at most 5 working days from registration to card. */
const BACKLOG_DEADLINE_WORKING_DAYS = 5;

/** How many of a province's overdue records BHXH holds unanswered the report names: enough to chase. */
export const AWAITING_BHXH_SAMPLE_SIZE = 10;

/**
 * BHXH has these and only its result moves them on (`sent`: acknowledged, or leased, not answered);
 * an overdue one is for an operator to chase at BHXH rather than at the gateway.
 */
const AWAITING_BHXH: readonly TransferStatus[] = statusesMovedBy('result');

export interface AwaitingBhxh {
  transferId: string;
  /** The batch BHXH received it in, the reference BHXH knows. */
  batchId: string | null;
  receivedAt: string;
}

export interface ProvinceBacklog {
  maTinh: string;
  counts: Record<string, number>;
  oldestWaiting: string | null;
  pastDeadline: number;
  /** Of `pastDeadline`, those late against a due date of their own (a card re-issue's hanTra). */
  pastDueDate: number;
  /** Of `pastDeadline`, those BHXH holds and has not answered. */
  awaitingBhxhPastDeadline: number;
  /** The oldest of them, oldest first, at most AWAITING_BHXH_SAMPLE_SIZE. */
  awaitingBhxhOldest: AwaitingBhxh[];
}

export interface BacklogReport {
  /**
   * Records not final that were registered before this instant are past the deadline; a record with
   * a due date of its own (hanTra) is past it once that day has ended.
   */
  deadline: string;
  provinces: ProvinceBacklog[];
}

const toIso = (value: Date | string) => new Date(value).toISOString();

/**
 * Per province: counts by status, the oldest record not yet final, those past the deadline (5 working
 * days from registration, public holidays and the 15:00 cut-off counted, docs/DOMAIN.md "Deadlines";
 * a card re-issue against its own due date, hanTra) and the overdue ones BHXH has not answered: the
 * backlog Công văn 2118/BHXH-CNTT asks provinces to follow. Two statements whatever the size of the
 * table: the calendar gives the one registration instant before which every record is late, and the
 * day before which every due date has passed, and rows are compared with them.
 */
export async function backlogReport(db: Queryable, calendar: WorkingCalendar, now: Date, provinces?: string[]): Promise<BacklogReport> {
  const cutoff = calendar.overdueIfReceivedBefore(now, BACKLOG_DEADLINE_WORKING_DAYS);
  const today = toIsoDate(todayInVietnam(now));
  const scope = provinces ?? null;
  // $1 the registration cut-off, $2 today in Vietnam, in both statements.
  const late = 'CASE WHEN due_on IS NULL THEN created_at < $1::timestamptz ELSE due_on < $2::text END';
  const [counts, awaiting] = await Promise.all([
    db.query<{ ma_tinh: string; status: TransferStatus; count: string | number; oldest: Date | string | null; late: string | number; past_due: string | number }>(
      `SELECT ma_tinh, status, count(*) AS count,
              min(created_at) AS oldest,
              count(*) FILTER (WHERE ${late}) AS late,
              count(*) FILTER (WHERE due_on < $2::text) AS past_due
         FROM transfers
        WHERE ($3::text[] IS NULL OR ma_tinh = ANY($3))
        GROUP BY ma_tinh, status
        ORDER BY ma_tinh, status`,
      [cutoff, today, scope],
    ),
    db.query<{ ma_tinh: string; id: string; batch_id: string | null; created_at: Date | string }>(
      `SELECT ma_tinh, id, batch_id, created_at
         FROM (SELECT ma_tinh, id, batch_id, created_at,
                      row_number() OVER (PARTITION BY ma_tinh ORDER BY created_at, id) AS rank
                 FROM transfers
                WHERE status = ANY($4::text[]) AND ${late}
                  AND ($3::text[] IS NULL OR ma_tinh = ANY($3))) AS overdue
        WHERE rank <= $5
        ORDER BY ma_tinh, rank`,
      [cutoff, today, scope, AWAITING_BHXH, AWAITING_BHXH_SAMPLE_SIZE],
    ),
  ]);
  const byProvince = new Map<string, ProvinceBacklog>();
  const entryFor = (maTinh: string) => {
    let entry = byProvince.get(maTinh);
    if (!entry) {
      entry = { maTinh, counts: {}, oldestWaiting: null, pastDeadline: 0, pastDueDate: 0, awaitingBhxhPastDeadline: 0, awaitingBhxhOldest: [] };
      byProvince.set(maTinh, entry);
    }
    return entry;
  };
  for (const row of counts.rows) {
    const entry = entryFor(row.ma_tinh);
    entry.counts[row.status] = Number(row.count);
    if (FINAL_STATUSES.includes(row.status)) continue;
    if (row.oldest) {
      const oldest = toIso(row.oldest);
      if (entry.oldestWaiting === null || oldest < entry.oldestWaiting) entry.oldestWaiting = oldest;
    }
    entry.pastDeadline += Number(row.late);
    entry.pastDueDate += Number(row.past_due);
    if (AWAITING_BHXH.includes(row.status)) entry.awaitingBhxhPastDeadline += Number(row.late);
  }
  for (const row of awaiting.rows) {
    entryFor(row.ma_tinh).awaitingBhxhOldest.push({ transferId: row.id, batchId: row.batch_id, receivedAt: toIso(row.created_at) });
  }
  return { deadline: vietnamTimestamp(cutoff), provinces: [...byProvince.values()] };
}

export interface BacklogDay {
  /** The Vietnamese calendar day (YYYY-MM-DD), counted at its end (or now, for today). */
  day: string;
  waiting: number;
  pastDeadline: number;
}

const VIETNAM_OFFSET_MS = 7 * 3600_000;
const DAY_MS = 24 * 3600_000;

/** Final statuses as SQL literals: the partial index of migration 018 is used only by a query naming them. */
const FINAL_LIST = FINAL_STATUSES.map((status) => {
  if (!/^[a-z_]+$/.test(status)) throw new Error(`Unexpected status name ${status}`);
  return `'${status}'`;
}).join(', ');
const NOT_FINAL: readonly TransferStatus[] = TRANSFER_STATUSES.filter((status) => !FINAL_STATUSES.includes(status));

/**
 * Per province, how many records were waiting (not final) at the end of each of the last `days`
 * days, and how many of those were past the deadline then (or their own due date, hanTra). Computed from the transfers and the
 * audit log (when each reached a final status), so it needs no sampling job and has history from
 * the first day.
 *
 * Only two kinds of record can have been waiting on a day of the window: those not final now, and
 * those that became final since the window's first day ended; a record final before then was final
 * on every day shown. So the statement reads those alone: the first through the status index, the
 * second through the index of final events by time (migration 018), and looks up each one's final
 * event by transfer. Its cost follows the backlog and the window's traffic, not every record ever
 * received. (A table of finished days would be cheaper still on a huge window, but it goes stale when
 * the holiday catalogue or a late audit event changes the past; at 14 days this is cheap enough.)
 */
export async function backlogHistory(
  db: Queryable, calendar: WorkingCalendar, now: Date, days: number, provinces?: string[],
): Promise<Map<string, BacklogDay[]>> {
  const todayStart = Math.floor((now.getTime() + VIETNAM_OFFSET_MS) / DAY_MS) * DAY_MS - VIETNAM_OFFSET_MS;
  const ends = Array.from({ length: days }, (_, index) => {
    const end = todayStart + (index - days + 2) * DAY_MS;
    return new Date(Math.min(end, now.getTime()));
  });
  const dayOf = (end: Date) => new Date(end.getTime() + VIETNAM_OFFSET_MS - 1).toISOString().slice(0, 10);
  const { rows } = await db.query<{ position: number; ma_tinh: string; waiting: string | number; late: string | number }>(
    `WITH days AS (SELECT * FROM unnest($1::timestamptz[], $2::timestamptz[], $6::text[]) WITH ORDINALITY AS d(day_end, cutoff, date_then, position)),
          candidates AS (
            SELECT id, ma_tinh, created_at, due_on FROM transfers
             WHERE status = ANY($3::text[]) AND ($4::text[] IS NULL OR ma_tinh = ANY($4))
            UNION
            SELECT t.id, t.ma_tinh, t.created_at, t.due_on FROM transfers t
             WHERE t.id IN (SELECT transfer_id FROM audit_events
                             WHERE to_status IN (${FINAL_LIST}) AND at >= $5::timestamptz AND transfer_id IS NOT NULL)
               AND ($4::text[] IS NULL OR t.ma_tinh = ANY($4))),
          finals AS (
            SELECT c.id, (SELECT min(e.at) FROM audit_events e WHERE e.transfer_id = c.id AND e.to_status IN (${FINAL_LIST})) AS final_at
              FROM candidates c)
     SELECT d.position, c.ma_tinh, count(*) AS waiting,
            count(*) FILTER (WHERE CASE WHEN c.due_on IS NULL THEN c.created_at < d.cutoff ELSE c.due_on < d.date_then END) AS late
       FROM days d
       JOIN candidates c ON c.created_at < d.day_end
       JOIN finals f ON f.id = c.id
      WHERE f.final_at IS NULL OR f.final_at >= d.day_end
      GROUP BY d.position, c.ma_tinh`,
    [ends, ends.map((end) => calendar.overdueIfReceivedBefore(end, BACKLOG_DEADLINE_WORKING_DAYS)), NOT_FINAL, provinces ?? null, ends[0] ?? now,
      // As the report: a record with a due date of its own (hanTra) is late once that day has ended.
      ends.map((end) => new Date(end.getTime() + VIETNAM_OFFSET_MS).toISOString().slice(0, 10))],
  );
  const history = new Map<string, BacklogDay[]>();
  for (const row of rows) {
    let series = history.get(row.ma_tinh);
    if (!series) {
      series = ends.map((end) => ({ day: dayOf(end), waiting: 0, pastDeadline: 0 }));
      history.set(row.ma_tinh, series);
    }
    const point = series[Number(row.position) - 1];
    if (point) Object.assign(point, { waiting: Number(row.waiting), pastDeadline: Number(row.late) });
  }
  return history;
}
