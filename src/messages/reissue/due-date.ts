import type { CalendarDate } from '../../domain/calendar-date.js';
import type { LyDoCapLai } from '../../domain/documents.js';
import type { WorkingCalendar } from '../../domain/working-days.js';

/**
 * QĐ 595/QĐ-BHXH art. 30.2: a lost or damaged card the same working day, a change within 3
 * working days (docs/DOMAIN.md, "Card re-issue and change").
 */
export const WORKING_DAYS_BY_REASON: Record<LyDoCapLai, number> = { mat: 0, hong: 0, thay_doi_thong_tin: 3 };

/**
 * The day a request received at `receivedAt` is due (hanTra): counted as every deadline is, from the
 * day it is received, or the next working day when it arrives after 15:00 or on a day off.
 */
export function hanTraOf(calendar: WorkingCalendar, receivedAt: Date, lyDo: LyDoCapLai): CalendarDate {
  return calendar.dueDate(receivedAt, WORKING_DAYS_BY_REASON[lyDo]);
}
