/**
 * Calendar dates without a time zone. Hộ tịch records carry `dd.MM.yyyy` (or `YYYY-MM-DD`), BHXH
 * formats `YYYYMMDD`; a registration date is a civil day, never an instant, so no Date objects here.
 */
export interface CalendarDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

const HOTICH_DATE = /^(\d{2})\.(\d{2})\.(\d{4})$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] as number);
}

/** Parses `dd.MM.yyyy` or `YYYY-MM-DD`; null unless it names a real day. */
export function parseCalendarDate(text: string): CalendarDate | null {
  let year: number, month: number, day: number;
  const hotich = HOTICH_DATE.exec(text);
  if (hotich) {
    day = Number(hotich[1]);
    month = Number(hotich[2]);
    year = Number(hotich[3]);
  } else {
    const iso = ISO_DATE.exec(text);
    if (!iso) return null;
    year = Number(iso[1]);
    month = Number(iso[2]);
    day = Number(iso[3]);
  }
  if (year < 1800 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  return { year, month, day };
}

/** Parses a date the schema has already accepted. */
export function mustParseCalendarDate(text: string): CalendarDate {
  const parsed = parseCalendarDate(text);
  if (!parsed) throw new Error('date was not checked by the schema');
  return parsed;
}

export function compareDates(a: CalendarDate, b: CalendarDate): number {
  return a.year - b.year || a.month - b.month || a.day - b.day;
}

/** The same day `years` later; 29 February falls on 1 March in a common year. */
export function addYears(date: CalendarDate, years: number): CalendarDate {
  const year = date.year + years;
  if (date.month === 2 && date.day === 29 && daysInMonth(year, 2) === 28) {
    return { year, month: 3, day: 1 };
  }
  return { year, month: date.month, day: date.day };
}

export function addDays(date: CalendarDate, days: number): CalendarDate {
  const moved = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: moved.getUTCFullYear(), month: moved.getUTCMonth() + 1, day: moved.getUTCDate() };
}

const pad = (value: number, width: number) => String(value).padStart(width, '0');

export function toIsoDate(date: CalendarDate): string {
  return `${pad(date.year, 4)}-${pad(date.month, 2)}-${pad(date.day, 2)}`;
}

export function toBhxhDate(date: CalendarDate): string {
  return `${pad(date.year, 4)}${pad(date.month, 2)}${pad(date.day, 2)}`;
}

/** Today in Vietnam (UTC+7, no daylight saving), the day a registry officer sees on the wall. */
export function todayInVietnam(now: Date = new Date()): CalendarDate {
  const shifted = new Date(now.getTime() + 7 * 3600_000);
  return { year: shifted.getUTCFullYear(), month: shifted.getUTCMonth() + 1, day: shifted.getUTCDate() };
}
