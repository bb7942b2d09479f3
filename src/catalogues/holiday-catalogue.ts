import { readFileSync } from 'node:fs';
import { parseCalendarDate, type CalendarDate } from '../domain/calendar-date.js';
import { WorkingCalendar } from '../domain/working-days.js';

interface DayEntry {
  date: string;
  name: string;
  source: string;
}

const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Every problem of one list, so an operator fixes the file in one pass. */
function readEntries(list: unknown, key: string, problems: string[]): Array<{ date: CalendarDate; iso: string }> {
  if (!Array.isArray(list)) {
    problems.push(`"${key}" must be a list`);
    return [];
  }
  const seen = new Set<string>();
  return list.flatMap((entry: Partial<DayEntry> | null, index) => {
    const where = `${key}[${index}]`;
    const iso = entry?.date;
    const date = typeof iso === 'string' && ISO_DAY.test(iso) ? parseCalendarDate(iso) : null;
    if (!date || iso === undefined) {
      problems.push(`${where}: "date" must be a real day written YYYY-MM-DD, got ${JSON.stringify(iso)}`);
      return [];
    }
    for (const field of ['name', 'source'] as const) {
      const text = entry?.[field];
      if (typeof text !== 'string' || text.trim() === '') problems.push(`${where} (${iso}): "${field}" must be a non-empty text`);
    }
    if (seen.has(iso)) {
      problems.push(`${where}: ${iso} is listed twice`);
      return [];
    }
    seen.add(iso);
    return [{ date, iso }];
  });
}

/**
 * Vietnam's days off and make-up working days (catalogues/holidays.json), checked whole: real dates,
 * each once, every entry named and sourced, a make-up day on a weekend (a weekday is working anyway,
 * so one listed there is a typo) and no day both off and working. Any problem refuses the file.
 */
export function holidayCalendarFromData(data: unknown): WorkingCalendar {
  const file = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  const problems: string[] = [];
  const daysOff = readEntries(file.daysOff, 'daysOff', problems);
  const makeUpDays = readEntries(file.makeUpWorkingDays, 'makeUpWorkingDays', problems);
  const offDates = new Set(daysOff.map((entry) => entry.iso));
  for (const { date, iso } of makeUpDays) {
    const weekday = new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
    if (weekday !== 0 && weekday !== 6) problems.push(`makeUpWorkingDays: ${iso} is a weekday, which is a working day already`);
    if (offDates.has(iso)) problems.push(`${iso} is both a day off and a make-up working day`);
  }
  if (problems.length > 0) throw new Error(`the holidays file is not valid: ${problems.join('; ')}`);
  return new WorkingCalendar(daysOff.map((entry) => entry.date), makeUpDays.map((entry) => entry.date));
}

export function holidayCalendarFromFile(path: string): WorkingCalendar {
  return holidayCalendarFromData(JSON.parse(readFileSync(path, 'utf8')));
}
