/**
 * Months as a D03-TS list names them (`kyKeKhai`, "Từ tháng": `MM/yyyy`), and the school year a
 * month belongs to. A school year runs from 1 September to 31 August: the Ministry of Education and
 * Training's yearly school calendar opens it in early September, and pupils' cards turn over with it
 * (a first-grader is covered from 1 October, a 12th-grader until 30 September). Ending it on 31 August
 * rather than with the last lessons in May is the gateway's own choice, so that every month belongs
 * to exactly one school year.
 */
export interface CalendarMonth {
  readonly year: number;
  /** 1–12. */
  readonly month: number;
}

export interface SchoolYear {
  /** September of the year it begins. */
  readonly first: CalendarMonth;
  /** August of the year after. */
  readonly last: CalendarMonth;
}

const MONTH_TEXT = /^(0[1-9]|1[0-2])\/(\d{4})$/;
const SEPTEMBER = 9;

/** Parses `MM/yyyy`; null unless it is one. */
export function parseMonth(text: string): CalendarMonth | null {
  const match = MONTH_TEXT.exec(text);
  return match ? { year: Number(match[2]), month: Number(match[1]) } : null;
}

export function formatMonth(month: CalendarMonth): string {
  return `${String(month.month).padStart(2, '0')}/${String(month.year).padStart(4, '0')}`;
}

/** Months counted from year 0, so months compare and subtract as numbers. */
export function monthNumber(month: CalendarMonth): number {
  return month.year * 12 + month.month - 1;
}

export function schoolYearOf(month: CalendarMonth): SchoolYear {
  const startYear = month.month >= SEPTEMBER ? month.year : month.year - 1;
  return { first: { year: startYear, month: SEPTEMBER }, last: { year: startYear + 1, month: SEPTEMBER - 1 } };
}

export function inSchoolYear(month: CalendarMonth, schoolYear: SchoolYear): boolean {
  const number = monthNumber(month);
  return number >= monthNumber(schoolYear.first) && number <= monthNumber(schoolYear.last);
}
