/**
 * The days a health-insurance card runs, for the groups the gateway computes cards for: children
 * under 6 (their card from the birth procedure) and pupils and students (D03-TS lists). One module, so
 * the pupil's card can start exactly where the child's card ends. Pure: the same inputs always give the
 * same period. Sources and worked examples: docs/DOMAIN.md, "Card validity for a child under 6" and
 * "Card periods for pupils and students".
 */
import { addDays, compareDates, daysInMonth, type CalendarDate } from '../src/domain/calendar-date.js';
import type { ErrorDetail } from '../src/errors.js';

/** A month of a year, as a D03-TS list's "Từ tháng" names it (`MM/yyyy`). */
export interface CalendarMonth {
  readonly year: number;
  readonly month: number;
}

export interface CardPeriod {
  from: CalendarDate;
  to: CalendarDate;
}

const SEPTEMBER = 9;
const OCTOBER = 10;

const firstDayOf = ({ year, month }: CalendarMonth): CalendarDate => ({ year, month, day: 1 });
const lastDayOf = ({ year, month }: CalendarMonth): CalendarDate => ({ year, month, day: daysInMonth(year, month) });
const latest = (first: CalendarDate, ...others: CalendarDate[]) =>
  others.reduce((best, date) => (compareDates(date, best) > 0 ? date : best), first);
const earliest = (first: CalendarDate, ...others: CalendarDate[]) =>
  others.reduce((best, date) => (compareDates(date, best) < 0 ? date : best), first);

function addMonths({ year, month }: CalendarMonth, months: number): CalendarMonth {
  const index = year * 12 + (month - 1) + months;
  return { year: Math.floor(index / 12), month: (index % 12) + 1 };
}

/**
 * Luật Bảo hiểm y tế, Điều 16, and Nghị định 146/2018/NĐ-CP, Điều 13, kept by Nghị định 188/2025/NĐ-CP:
 * a child born on or before 30 September keeps its card until 30 September of the year it turns 6, so
 * the card reaches the start of its first school year; a child born later keeps it until the last day
 * of the month it turns 6. The month of the 6th birthday is the birth month, so a 29 February birth
 * needs no special case.
 */
export function under6CardPeriod(birth: CalendarDate): CardPeriod {
  const yearTurningSix = birth.year + 6;
  const to =
    birth.month <= SEPTEMBER
      ? { year: yearTurningSix, month: SEPTEMBER, day: 30 }
      : lastDayOf({ year: yearTurningSix, month: birth.month });
  return { from: birth, to };
}

/**
 * The school year a month falls in, named by the calendar year it begins in. The Ministry of Education
 * and Training's yearly plan for the school year (Khung kế hoạch thời gian năm học) opens every year in
 * early September and closes with the summer; the gateway counts a school year from 1 September to
 * 31 August, so that every month belongs to exactly one.
 */
export function schoolYearOf(month: CalendarMonth): { startYear: number; first: CalendarDate; last: CalendarDate } {
  const startYear = month.month >= SEPTEMBER ? month.year : month.year - 1;
  return { startYear, first: { year: startYear, month: SEPTEMBER, day: 1 }, last: { year: startYear + 1, month: 8, day: 31 } };
}

const TU_THANG = /^(\d{2})\/(\d{4})$/;

/** Reads "Từ tháng" as the form writes it, `MM/yyyy`; null unless it names a real month. */
export function parseTuThang(text: string): CalendarMonth | null {
  const match = TU_THANG.exec(text);
  if (!match) return null;
  const month = Number(match[1]);
  const year = Number(match[2]);
  if (month < 1 || month > 12 || year < 1800) return null;
  return { year, month };
}

/** Nghị định 146/2018/NĐ-CP, Điều 13.7: a pupil or student pays for 3, 6 or 12 months at a time. */
export const PAID_MONTH_COUNTS: readonly number[] = [3, 6, 12];

const GRADES = new Set(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12']);
const STUDENT_YEARS = new Set(['SV1', 'SV2', 'SV3', 'SV4', 'SV5', 'SV6', 'SVCUOI']);

export interface PupilCardInputs {
  birth: CalendarDate;
  /** The first month paid. */
  tuThang: CalendarMonth;
  /** How many months are paid: 3, 6 or 12. */
  soThang: number;
  /** Grade `1`–`12`, or `SV1`…`SV6`, `SVCUOI` for students; undefined when the list does not say. */
  lop?: string | undefined;
  /** A first-year student's enrolment date; read for `SV1` only. */
  enrolment?: CalendarDate | undefined;
  /** The end of a 12th-grade card a first-year student still holds; read for `SV1` only. */
  twelfthGradeCardEnd?: CalendarDate | undefined;
  /** The day a final-year student's course ends; read for `SVCUOI` only. */
  courseEnd?: CalendarDate | undefined;
}

export interface PupilCard extends CardPeriod {
  /** Quyết định 1351/QĐ-BHXH: the card code's group, `HS` for pupils, `SV` for students. */
  group: 'HS' | 'SV';
  /** Pupils and students are paid at benefit level 4, the card code's third character. */
  benefitLevel: 4;
}

/**
 * A card, or why there can be none. A refusal's path is a JSON Pointer into the inputs, the same as
 * into a D03-TS row for the columns they share (`/tuThang`, `/soThang`, `/lop`).
 */
export type PupilCardOutcome = { ok: true; card: PupilCard } | { ok: false; refusals: ErrorDetail[] };

/**
 * Nghị định 146/2018/NĐ-CP, Điều 13.7, as continued by Nghị định 188/2025/NĐ-CP: the card runs over
 * the months paid, from the first day of "Từ tháng" to the last day of the last month paid, narrowed
 * at either end for the years where one card hands over to the next.
 */
export function pupilCardPeriod(inputs: PupilCardInputs): PupilCardOutcome {
  const { birth, tuThang, soThang, lop } = inputs;
  const refusals: ErrorDetail[] = [];
  if (!PAID_MONTH_COUNTS.includes(soThang)) {
    refusals.push({ path: '/soThang', code: 'PAID_MONTHS_INVALID', message: 'a pupil or student pays for 3, 6 or 12 months' });
  }
  if (lop !== undefined && !GRADES.has(lop) && !STUDENT_YEARS.has(lop)) {
    refusals.push({ path: '/lop', code: 'GRADE_INVALID', message: 'the grade is 1 to 12, or SV1 to SV6 or SVCUOI for a student' });
  }
  if (refusals.length > 0) return { ok: false, refusals };

  const paidFrom = firstDayOf(tuThang);
  const paidTo = lastDayOf(addMonths(tuThang, soThang - 1));
  const schoolYear = schoolYearOf(tuThang);
  // A child under 6 already holds its own card (group TE, paid by the state); a pupil's card for the
  // same days would be paid twice. For a first-grader born on or before 30 September this is the
  // 1 October start of the decree itself.
  let from = latest(paidFrom, addDays(under6CardPeriod(birth).to, 1));
  let to = paidTo;
  let emptyBecause: ErrorDetail = {
    path: '/tuThang',
    code: 'PERIOD_EMPTY',
    message: 'the months paid all fall while the child’s under-6 card still runs',
  };

  if (lop === '1') {
    // Điều 13.7: a first-grader is covered from 1 October of its first school year, when the under-6
    // card of a child who started school at 6 has just ended.
    from = latest(from, { year: schoolYear.startYear, month: OCTOBER, day: 1 });
  }
  if (lop === '12') {
    // Điều 13.7: a 12th-grader's card ends on 30 September of its final year, the end of the school
    // year it leaves; a first-year student's card takes over from there.
    to = earliest(to, { year: schoolYear.startYear + 1, month: SEPTEMBER, day: 30 });
  }
  if (lop === 'SV1') {
    // Điều 13.7: a first-year student is covered from its enrolment date, unless its 12th-grade card
    // still runs. Never before the months paid, which are what the card is bought with.
    const afterTwelfthGrade = inputs.twelfthGradeCardEnd ? [addDays(inputs.twelfthGradeCardEnd, 1)] : [];
    from = latest(from, inputs.enrolment ?? paidFrom, ...afterTwelfthGrade);
    if (inputs.enrolment && compareDates(inputs.enrolment, paidTo) > 0) {
      emptyBecause = { path: '/enrolment', code: 'PERIOD_EMPTY', message: 'the student enrols after the last month paid' };
    } else if (inputs.twelfthGradeCardEnd && compareDates(inputs.twelfthGradeCardEnd, paidTo) >= 0) {
      emptyBecause = { path: '/twelfthGradeCardEnd', code: 'PERIOD_EMPTY', message: 'the 12th-grade card still runs through the months paid' };
    }
  }
  if (lop === 'SVCUOI' && inputs.courseEnd) {
    // Điều 13.7: a final-year student is covered until the last day of the month its course ends,
    // and no longer than the months paid.
    to = earliest(to, lastDayOf(inputs.courseEnd));
    if (compareDates(lastDayOf(inputs.courseEnd), paidFrom) < 0) {
      emptyBecause = { path: '/courseEnd', code: 'PERIOD_EMPTY', message: 'the course ends before the first month paid' };
    }
  }

  if (compareDates(from, to) > 0) return { ok: false, refusals: [emptyBecause] };
  // Without a grade the group is HS: pupils far outnumber students among those who join through their
  // school, so HS is wrong least often, and a list of students can say so with SV1…SVCUOI.
  const group = lop !== undefined && STUDENT_YEARS.has(lop) ? 'SV' : 'HS';
  return { ok: true, card: { from, to, group, benefitLevel: 4 } };
}
