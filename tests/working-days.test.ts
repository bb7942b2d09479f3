import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { holidayCalendarFromFile } from '../src/catalogues/holiday-catalogue.js';
import { compareDates, mustParseCalendarDate, todayInVietnam, toIsoDate } from '../src/domain/calendar-date.js';
import { vietnamTimestamp } from '../src/domain/working-days.js';
import { loadConfig } from '../src/config.js';

const calendar = holidayCalendarFromFile(loadConfig({}).holidaysFile);
const day = (iso: string) => mustParseCalendarDate(iso);
/** An instant written as Vietnam's wall clock reads it. */
const at = (local: string) => new Date(`${local}+07:00`);

describe('working days', () => {
  it.each([
    ['a Tuesday', '2026-11-24', true],
    ['a Saturday', '2026-11-28', false],
    ['a Sunday', '2026-11-29', false],
    ['Tết Nguyên đán 2026, mùng 1', '2026-02-17', false],
    ['the last day before Tết 2025 (28 tháng Chạp)', '2025-01-27', false],
    ['Giỗ Tổ Hùng Vương 2025', '2025-04-07', false],
    ['the Monday in lieu of Giỗ Tổ 2026, a Sunday', '2026-04-27', false],
    ['a Monday swapped for a make-up Saturday (29.04.2024)', '2024-04-29', false],
    ['that make-up Saturday (04.05.2024)', '2024-05-04', true],
    ['Quốc khánh 2025 and its day before', '2025-09-01', false],
    ['the day after Tết 2024 ends', '2024-02-15', true],
  ])('%s (%s) is working: %s', (_name, iso, working) => {
    expect(calendar.isWorkingDay(day(iso))).toBe(working);
  });

  it('counts working days forward and back, never the day it starts from', () => {
    expect(toIsoDate(calendar.addWorkingDays(day('2026-02-13'), 1))).toBe('2026-02-23');
    expect(toIsoDate(calendar.addWorkingDays(day('2026-02-23'), -1))).toBe('2026-02-13');
    expect(toIsoDate(calendar.addWorkingDays(day('2026-02-14'), 0))).toBe('2026-02-14');
    expect(toIsoDate(calendar.addWorkingDays(day('2025-04-25'), 1))).toBe('2025-04-26');
  });
});

describe('due dates (5 working days unless said)', () => {
  it.each([
    ['received Monday 10:00: due by the end of the following Monday', '2026-11-23T10:00:00', 5, '2026-11-30'],
    ['received Monday 14:59:59: still that day', '2026-11-23T14:59:59.999', 5, '2026-11-30'],
    ['received Monday at 15:00: counts from Tuesday', '2026-11-23T15:00:00', 5, '2026-12-01'],
    ['received Saturday: counts from Monday', '2026-11-28T09:00:00', 5, '2026-12-07'],
    ['received Friday before Tết 2026: the Tết week does not count', '2026-02-13T10:00:00', 5, '2026-02-27'],
    ['received Friday before Tết 2026 after 15:00: counts from the Monday after Tết', '2026-02-13T16:30:00', 5, '2026-03-02'],
    ['received on mùng 1 Tết 2026', '2026-02-17T09:00:00', 5, '2026-03-02'],
    ['received on a make-up Saturday: it counts, the bridged holiday does not', '2025-04-26T10:00:00', 5, '2025-05-07'],
    ['re-issue without a change, before 15:00: the same working day', '2026-11-24T11:00:00', 0, '2026-11-24'],
    ['re-issue without a change, after 15:00: the next working day', '2026-11-27T15:30:00', 0, '2026-11-30'],
    ['re-issue with a change: 3 working days', '2026-04-29T09:00:00', 3, '2026-05-06'],
  ])('%s', (_name, local, workingDays, due) => {
    expect(toIsoDate(calendar.dueDate(at(local), workingDays))).toBe(due);
  });

  it('reads the clock in Vietnam, not in UTC', () => {
    // 18:00 UTC on Sunday is 01:00 on Monday in Vietnam: a Monday morning dossier.
    expect(toIsoDate(calendar.dueDate(new Date('2026-11-22T18:00:00Z'), 5))).toBe('2026-11-30');
    // 08:00 UTC is 15:00 in Vietnam: the cut-off.
    expect(toIsoDate(calendar.dueDate(new Date('2026-11-23T07:59:59Z'), 0))).toBe('2026-11-23');
    expect(toIsoDate(calendar.dueDate(new Date('2026-11-23T08:00:00Z'), 0))).toBe('2026-11-24');
  });

  it('is due by the end of the due day in Vietnam', () => {
    expect(vietnamTimestamp(calendar.dueBy(at('2026-11-23T10:00:00'), 5))).toBe('2026-12-01T00:00:00+07:00');
  });

  it('refuses a negative or fractional number of working days', () => {
    expect(() => calendar.dueDate(at('2026-11-23T10:00:00'), -1)).toThrow(RangeError);
    expect(() => calendar.addWorkingDays(day('2026-11-23'), 1.5)).toThrow(RangeError);
  });
});

describe('the registration instant before which a record is overdue', () => {
  it.each([
    ['on a Sunday: the Friday a week before, 15:00', '2026-11-29T10:00:00', '2026-11-20T15:00:00+07:00'],
    ['on the first working day after Tết 2026: Tết is skipped', '2026-02-23T09:00:00', '2026-02-06T15:00:00+07:00'],
    ['the day after', '2026-02-24T09:00:00', '2026-02-09T15:00:00+07:00'],
    ['during Tết: as on the first working day after it', '2026-02-18T09:00:00', '2026-02-06T15:00:00+07:00'],
  ])('%s', (_name, now, instant) => {
    expect(vietnamTimestamp(calendar.overdueIfReceivedBefore(at(now), 5))).toBe(instant);
  });
});

describe('properties', () => {
  const instant = fc.date({ min: new Date('2023-12-01T00:00:00Z'), max: new Date('2027-12-31T00:00:00Z'), noInvalidDate: true });
  const workingDays = fc.integer({ min: 0, max: 12 });

  it('a due date is a working day, never before the day the dossier was received', () => {
    fc.assert(fc.property(instant, workingDays, (receivedAt, count) => {
      const due = calendar.dueDate(receivedAt, count);
      expect(calendar.isWorkingDay(due)).toBe(true);
      expect(compareDates(due, todayInVietnam(receivedAt))).toBeGreaterThanOrEqual(0);
    }));
  });

  it('a later dossier is never due earlier, and one more working day is always later', () => {
    fc.assert(fc.property(instant, instant, workingDays, (first, second, count) => {
      const [earlier, later] = first <= second ? [first, second] : [second, first];
      expect(compareDates(calendar.dueDate(earlier, count), calendar.dueDate(later, count))).toBeLessThanOrEqual(0);
      expect(compareDates(calendar.dueDate(earlier, count), calendar.dueDate(earlier, count + 1))).toBeLessThan(0);
    }));
  });

  it('a record is overdue at `now` exactly when it was registered before the report\'s instant', () => {
    fc.assert(fc.property(instant, instant, workingDays, (receivedAt, now, count) => {
      const overdue = calendar.dueBy(receivedAt, count) <= now;
      expect(receivedAt < calendar.overdueIfReceivedBefore(now, count)).toBe(overdue);
    }), { numRuns: 2000 });
    // Random pairs rarely fall on the edge; these sit on it.
    fc.assert(fc.property(instant, workingDays, (now, count) => {
      const edge = calendar.overdueIfReceivedBefore(now, count);
      expect(calendar.dueBy(new Date(edge.getTime() - 1), count) <= now).toBe(true);
      expect(calendar.dueBy(edge, count) <= now).toBe(false);
    }));
  });
});
