import { addDays, todayInVietnam, toIsoDate, type CalendarDate } from './calendar-date.js';

/** Nghị định 63/2024/NĐ-CP: a dossier received at or after 15:00 counts from the next working day. */
const CUT_OFF_HOUR = 15;

const VIETNAM_OFFSET_MS = 7 * 3600_000;

/** The instant a civil day in Vietnam begins, plus `hours` (UTC+7 all year: Vietnam has no daylight saving). */
function vietnamInstant(date: CalendarDate, hours = 0): Date {
  return new Date(Date.UTC(date.year, date.month - 1, date.day, hours) - VIETNAM_OFFSET_MS);
}

/** An instant as Vietnam's wall clock reads it, offset included: `2026-02-13T15:00:00+07:00`. */
export function vietnamTimestamp(instant: Date): string {
  return `${new Date(instant.getTime() + VIETNAM_OFFSET_MS).toISOString().slice(0, 19)}+07:00`;
}

function vietnamHour(instant: Date): number {
  return new Date(instant.getTime() + VIETNAM_OFFSET_MS).getUTCHours();
}

/**
 * Vietnam's working days: Monday to Friday, except the public holidays and their days off in lieu,
 * plus the Saturdays declared working to make up for a bridged day ("làm bù"). Both lists come from
 * the holidays catalogue (catalogues/holidays.json); this class only counts.
 *
 * "Due in N working days" (docs/DOMAIN.md, "Deadlines"): counting starts on the day the dossier is
 * received if that is a working day and it arrives before 15:00, otherwise on the next working day;
 * the due day is the Nth working day after that day, and the dossier is due by the end of it. So a
 * dossier received Monday 10:00 with 5 working days is due by the end of the following Monday, one
 * received Monday 15:00 by the end of the following Tuesday, and with 0 working days one is due the
 * day counting starts.
 */
export class WorkingCalendar {
  private readonly daysOff: ReadonlySet<string>;
  private readonly makeUpDays: ReadonlySet<string>;

  constructor(daysOff: Iterable<CalendarDate>, makeUpWorkingDays: Iterable<CalendarDate>) {
    this.daysOff = new Set([...daysOff].map(toIsoDate));
    this.makeUpDays = new Set([...makeUpWorkingDays].map(toIsoDate));
  }

  isWorkingDay(date: CalendarDate): boolean {
    const iso = toIsoDate(date);
    if (this.makeUpDays.has(iso)) return true;
    const weekday = new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
    return weekday !== 0 && weekday !== 6 && !this.daysOff.has(iso);
  }

  /**
   * The `count`th working day after `date` (before it when negative); `date` itself is never counted,
   * whether or not it is a working day. With 0, `date` itself.
   */
  addWorkingDays(date: CalendarDate, count: number): CalendarDate {
    if (!Number.isInteger(count)) throw new RangeError(`a number of working days must be whole, got ${count}`);
    const step = count < 0 ? -1 : 1;
    let day = date;
    for (let counted = 0; counted < Math.abs(count);) {
      day = addDays(day, step);
      if (this.isWorkingDay(day)) counted += 1;
    }
    return day;
  }

  /** The working day a dossier received at `receivedAt` counts from (the 15:00 cut-off applied). */
  countsFrom(receivedAt: Date): CalendarDate {
    const day = todayInVietnam(receivedAt);
    return this.isWorkingDay(day) && vietnamHour(receivedAt) < CUT_OFF_HOUR ? day : this.addWorkingDays(day, 1);
  }

  /** The day by whose end a dossier received at `receivedAt` is due, `workingDays` working days on. */
  dueDate(receivedAt: Date, workingDays: number): CalendarDate {
    if (workingDays < 0) throw new RangeError(`a deadline cannot be ${workingDays} working days`);
    return this.addWorkingDays(this.countsFrom(receivedAt), workingDays);
  }

  /** The instant the due day ends: from then on, a dossier not yet done is past its deadline. */
  dueBy(receivedAt: Date, workingDays: number): Date {
    return vietnamInstant(addDays(this.dueDate(receivedAt, workingDays), 1));
  }

  /**
   * The registrations already past a deadline of `workingDays` at `now` are exactly those received
   * before the returned instant, so a report compares one column with one value instead of working
   * out a due date per row. It is 15:00 on the working day before the earliest day counting may start
   * from for a due day not yet ended: any later dossier counts from that day or after.
   */
  overdueIfReceivedBefore(now: Date, workingDays: number): Date {
    if (workingDays < 0) throw new RangeError(`a deadline cannot be ${workingDays} working days`);
    const today = todayInVietnam(now);
    const firstDueDayNotEnded = this.isWorkingDay(today) ? today : this.addWorkingDays(today, 1);
    const lastStartAlreadyLate = this.addWorkingDays(firstDueDayNotEnded, -(workingDays + 1));
    return vietnamInstant(lastStartAlreadyLate, CUT_OFF_HOUR);
  }
}
