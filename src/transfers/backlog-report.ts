import { addDays, todayInVietnam, toIsoDate, type CalendarDate } from '../domain/calendar-date.js';
import { FINAL_STATUSES, type TransferStatus } from '../domain/transfer-status.js';
import type { Queryable } from '../store/database.js';

const DEADLINE_WORKING_DAYS = 5;

function isWorkingDay(date: CalendarDate): boolean {
  const weekday = new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
  return weekday !== 0 && weekday !== 6;
}

/**
 * The day from which a record still open has been waiting more than 5 working days, the limit of
 * Quy chế phối hợp 1123/QCPH-BHXH-STP (docs/DOMAIN.md, "Deadlines").
 * Weekends are skipped; public holidays are not known to the gateway yet, so they count as working.
 */
export function deadlineCutoff(now: Date): string {
  let day = todayInVietnam(now);
  let counted = 0;
  while (counted < DEADLINE_WORKING_DAYS) {
    day = addDays(day, -1);
    if (isWorkingDay(day)) counted += 1;
  }
  return `${toIsoDate(day)}T00:00:00+07:00`;
}

export interface ProvinceBacklog {
  maTinh: string;
  counts: Record<string, number>;
  oldestWaiting: string | null;
  pastDeadline: number;
}

/**
 * Per province: counts by status, the oldest record not yet final, and those past the deadline: the
 * backlog Công văn 2118/BHXH-CNTT asks provinces to follow (docs/DOMAIN.md, "Deadlines").
 */
export async function backlogReport(db: Queryable, now: Date, provinces?: string[]): Promise<{ deadline: string; provinces: ProvinceBacklog[] }> {
  const cutoff = deadlineCutoff(now);
  const { rows } = await db.query<{ ma_tinh: string; status: TransferStatus; count: string | number; oldest: Date | string | null; late: string | number }>(
    `SELECT ma_tinh, status, count(*) AS count,
            min(created_at) AS oldest,
            count(*) FILTER (WHERE created_at < $1::timestamptz) AS late
       FROM transfers
      WHERE ($2::text[] IS NULL OR ma_tinh = ANY($2))
      GROUP BY ma_tinh, status
      ORDER BY ma_tinh, status`,
    [cutoff, provinces ?? null],
  );
  const byProvince = new Map<string, ProvinceBacklog>();
  for (const row of rows) {
    const entry = byProvince.get(row.ma_tinh) ?? { maTinh: row.ma_tinh, counts: {}, oldestWaiting: null, pastDeadline: 0 };
    entry.counts[row.status] = Number(row.count);
    if (!FINAL_STATUSES.includes(row.status) && row.oldest) {
      const oldest = new Date(row.oldest).toISOString();
      if (entry.oldestWaiting === null || oldest < entry.oldestWaiting) entry.oldestWaiting = oldest;
      entry.pastDeadline += Number(row.late);
    }
    byProvince.set(row.ma_tinh, entry);
  }
  return { deadline: cutoff, provinces: [...byProvince.values()] };
}
