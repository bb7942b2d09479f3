import { PAID_MONTH_COUNTS, parseTuThang, pupilCardPeriod, schoolYearOf, type CalendarMonth, type PupilCard } from '../../../mappings/card-periods.js';
import type { Catalogues } from '../../catalogues/catalogues.js';
import { compareDates, daysInMonth, type CalendarDate } from '../../domain/calendar-date.js';
import { personalNumberAgrees } from '../../domain/personal-number.js';
import { normaliseText } from '../../intake/validator.js';
import type { D03Row, RowProblem } from './d03-row.js';

/**
 * The checks BHXH makes by hand on each row of a D03-TS list (docs/DOMAIN.md, "Pupils' and
 * students' lists: the row checks"), made at once so a school corrects its list before it leaves. Every problem of
 * every row is reported, each with a stable code and a JSON Pointer into the row. A row with
 * problems is invalid; a warning (the BHXH number alone where the personal number is preferred)
 * leaves it valid. Nothing here names a person's data in a message: the school has the row.
 */

/** The identifiers a person is known by on a list: the personal number first, else the BHXH number. */
export interface PersonKey {
  soDinhDanh?: string;
  maSoBhxh?: string;
}

/**
 * Whether the person is already on another list of the same period, from any school. The store
 * answers it: it looks up every person of the list at once (`personKeysOf`) before the check, so the
 * check stays synchronous and pure. A list that replaces an earlier one must not find itself there.
 */
export type AlreadyListed = (person: PersonKey) => boolean;

export interface ListContext {
  /** The list's period, `MM/yyyy`, already checked by the door. */
  kyKeKhai: string;
  /** Today in Vietnam: no birth or receipt after it. */
  today: CalendarDate;
  /** The facility list carries no dates, so the one in force now stands for the list's period. */
  catalogues: Pick<Catalogues, 'facilities'>;
  alreadyListed?: AlreadyListed;
}

export interface ListCheck {
  /** Every row normalised (as `valid` and `invalid` hold them), in the order given. */
  rows: D03Row[];
  /** Rows without problems (warnings allowed), their text in NFC with tidy spaces, as they will be stored. */
  valid: D03Row[];
  /** Rows with at least one problem, normalised the same way, kept for the school to correct. */
  invalid: D03Row[];
  /** In row order; a row's own problems first, then those found against other rows and lists. */
  problems: RowProblem[];
  /** What the school should fix but BHXH still accepts; never makes a row invalid. */
  warnings: RowProblem[];
  /**
   * Each row's own problems and warnings by its position in `rows`: rows may share an STT, so the STT
   * cannot tell whose a problem is.
   */
  problemsOf: RowProblem[][];
  warningsOf: RowProblem[][];
  /** Each row's card period, by position, where its values give one (every valid row's does). */
  cardsOf: Array<PupilCard | undefined>;
}

/**
 * From this day the personal number identifies a participant in place of the BHXH number (Công văn
 * 1804/BHXH-QLT); either is accepted, and a list sent from then on with only a BHXH number is warned.
 */
const PERSONAL_NUMBER_PREFERRED_FROM: CalendarDate = { year: 2025, month: 8, day: 1 };

/**
 * Ages, counted by calendar year as the Education Law counts a first-grader's (6 in the year the
 * school year begins), a pupil or student can plausibly have. One year under 6 allows an early
 * starter; 70 bounds adult learners and still catches a birth year typed a century out. Both bounds
 * are the gateway's own choice.
 */
const YOUNGEST_AGE = 5;
const OLDEST_AGE = 70;

const NAME_MAX_LENGTH = 100;
// The grades mappings/card-periods.ts computes cards for; it refuses any other with the same code.
const LOP = new Set(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', 'SV1', 'SV2', 'SV3', 'SV4', 'SV5', 'SV6', 'SVCUOI']);
const AMOUNTS = ['soTien', 'hoTroNSDP', 'hoTroKhac'] as const;
const REQUIRED_FIELDS = ['hoTen', 'ngaySinh', 'gioiTinh', 'noiDangKyKCB', 'tuThang', 'soThang'] as const;
/** How many other rows a duplicate's message names before it only counts the rest. */
const MAX_NAMED_ROWS = 10;

// Letters in runs, joined by one space, hyphen or apostrophe (Ê Đê names such as H'Hen carry one).
const PLAUSIBLE_NAME = /^[\p{L}\p{M}]+(?:[ '’-][\p{L}\p{M}]+)*$/u;
const PERSONAL_NUMBER = /^\d{12}$/;
const BHXH_NUMBER = /^\d{10}$/;
const FACILITY_CODE = /^[0-9]{2}[0-9A-Z]{3}$/;
const ROW_DATE = /^(\d{2})\/(\d{2})\/(\d{4})$/;

/** Parses `dd/MM/yyyy`, the form's dates; null unless it names a real day. */
export function parseRowDate(text: string): CalendarDate | null {
  const match = ROW_DATE.exec(text);
  if (!match) return null;
  const day = Number(match[1]);
  const month = Number(match[2]);
  const year = Number(match[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  return { year, month, day };
}

/** The form's sex, `Nam`/`Nữ` (any case) or `1`/`2`, as the health-insurance code 1/2. */
export function sexCode(text: string): 1 | 2 | undefined {
  const lower = text.normalize('NFC').toLowerCase();
  return lower === 'nam' || lower === '1' ? 1 : lower === 'nữ' || lower === '2' ? 2 : undefined;
}

/** The row with every text field in NFC, trimmed, inner spaces collapsed, and empty text left out. */
export function normaliseRow(row: D03Row): D03Row {
  const normalised: Record<string, unknown> = { ...row };
  for (const field in normalised) {
    const value = normalised[field];
    if (value === undefined) delete normalised[field];
    else if (typeof value === 'string') {
      const text = normaliseText(value);
      if (text === '') delete normalised[field];
      else normalised[field] = text;
    }
  }
  return normalised as unknown as D03Row;
}

/** The well-formed identifiers of a row: what duplicates are matched by and the store is asked about. */
export function personKeyOf(row: D03Row): PersonKey | undefined {
  const soDinhDanh = row.soDinhDanh !== undefined && PERSONAL_NUMBER.test(row.soDinhDanh) ? row.soDinhDanh : undefined;
  const maSoBhxh = row.maSoBhxh !== undefined && BHXH_NUMBER.test(row.maSoBhxh) ? row.maSoBhxh : undefined;
  if (soDinhDanh === undefined && maSoBhxh === undefined) return undefined;
  return { ...(soDinhDanh !== undefined && { soDinhDanh }), ...(maSoBhxh !== undefined && { maSoBhxh }) };
}

/** Every person of a list, for the store's one look-up of the other lists of the period. */
export function personKeysOf(rows: readonly D03Row[]): PersonKey[] {
  return rows.map((row) => personKeyOf(normaliseRow(row))).filter((key): key is PersonKey => key !== undefined);
}

interface PreparedContext {
  period: string;
  /** The calendar year the list's school year begins in (docs/DOMAIN.md, "Card periods for pupils and students"). */
  schoolYearStart: number;
  /** The school year's first and last months, `MM/yyyy`, for messages. */
  schoolYearMonths: string;
  today: CalendarDate;
  personalNumberPreferred: boolean;
  facilities: ListContext['catalogues']['facilities'];
}

const monthText = ({ year, month }: CalendarMonth) => `${String(month).padStart(2, '0')}/${year}`;

function prepare(context: ListContext): PreparedContext {
  const period = parseTuThang(context.kyKeKhai);
  if (!period) throw new Error(`kyKeKhai "${context.kyKeKhai}" was not checked as MM/yyyy`);
  const schoolYear = schoolYearOf(period);
  return {
    period: context.kyKeKhai,
    schoolYearStart: schoolYear.startYear,
    schoolYearMonths: `${monthText(schoolYear.first)} to ${monthText(schoolYear.last)}`,
    today: context.today,
    personalNumberPreferred: compareDates(context.today, PERSONAL_NUMBER_PREFERRED_FROM) >= 0,
    facilities: context.catalogues.facilities,
  };
}

const isMissing = (value: unknown) => value === undefined || value === '';

/** The checks of one row that need no other row, into `problems` and `warnings`. */
/** The row's own checks; returns the card period it computed on the way, when the row's values give one. */
function checkOwnFields(row: D03Row, context: PreparedContext, problems: RowProblem[], warnings: RowProblem[]): PupilCard | undefined {
  const { stt } = row;
  const problem = (path: string, code: string, message: string) => problems.push({ stt, path, code, message });

  for (const field of REQUIRED_FIELDS) {
    if (isMissing(row[field])) problem(`/${field}`, 'REQUIRED', 'is required');
  }

  if (!isMissing(row.hoTen)) {
    const name = row.hoTen as string;
    if ([...name].length > NAME_MAX_LENGTH) problem('/hoTen', 'MAXLENGTH', `must be at most ${NAME_MAX_LENGTH} characters`);
    else if (!PLAUSIBLE_NAME.test(name)) problem('/hoTen', 'PATTERN', 'must be letters and single spaces (a hyphen or apostrophe between letters)');
  }

  const { soDinhDanh, maSoBhxh } = row;
  if (isMissing(soDinhDanh) && isMissing(maSoBhxh)) {
    problem('/soDinhDanh', 'REQUIRED', 'a personal number (12 digits) or a BHXH number (10 digits) is required');
  }
  const personalNumberWellFormed = !isMissing(soDinhDanh) && PERSONAL_NUMBER.test(soDinhDanh as string);
  if (!isMissing(soDinhDanh) && !personalNumberWellFormed) problem('/soDinhDanh', 'PATTERN', 'a personal number is 12 digits');
  if (!isMissing(maSoBhxh) && !BHXH_NUMBER.test(maSoBhxh as string)) problem('/maSoBhxh', 'PATTERN', 'a BHXH number is 10 digits');
  if (isMissing(soDinhDanh) && !isMissing(maSoBhxh) && context.personalNumberPreferred) {
    warnings.push({ stt, path: '/soDinhDanh', code: 'BHXH_NUMBER_ONLY', message: 'since 01/08/2025 the personal number identifies a participant: add it (the BHXH number alone is still accepted)' });
  }

  // Only a birth date that passed its own checks is compared with the personal number and the months paid.
  let born: CalendarDate | null = null;
  if (!isMissing(row.ngaySinh)) {
    const date = parseRowDate(row.ngaySinh as string);
    const age = date ? context.schoolYearStart - date.year : 0;
    if (!date) problem('/ngaySinh', 'FORMAT', 'must be a real date as dd/MM/yyyy');
    else if (compareDates(date, context.today) > 0) problem('/ngaySinh', 'DATE_IN_FUTURE', 'the birth date is after today');
    else if (age < YOUNGEST_AGE || age > OLDEST_AGE) {
      problem('/ngaySinh', 'AGE_IMPLAUSIBLE', `a pupil or student turns ${YOUNGEST_AGE} to ${OLDEST_AGE} in the year the school year begins (${context.schoolYearStart}); this birth date is outside that range`);
    } else born = date;
  }

  let sex: 1 | 2 | undefined;
  if (!isMissing(row.gioiTinh)) {
    sex = sexCode(row.gioiTinh as string);
    if (sex === undefined) problem('/gioiTinh', 'ENUM', 'must be Nam or Nữ (or 1 or 2)');
  }
  if (personalNumberWellFormed && born && sex !== undefined && !personalNumberAgrees(soDinhDanh as string, born, sex)) {
    problem('/soDinhDanh', 'PERSONAL_NUMBER_MISMATCH', 'the 4th digit (century and sex) and 5th–6th (year of birth) must agree with ngaySinh and gioiTinh');
  }

  if (!isMissing(row.noiDangKyKCB)) {
    const facility = row.noiDangKyKCB as string;
    if (!FACILITY_CODE.test(facility)) problem('/noiDangKyKCB', 'PATTERN', 'a facility code is 2 digits (its province) and 3 capital letters or digits');
    else for (const detail of context.facilities.check(facility, '/noiDangKyKCB')) problems.push({ stt, ...detail });
  }

  if (!isMissing(row.ngayBienLai)) {
    const receipt = parseRowDate(row.ngayBienLai as string);
    if (!receipt) problem('/ngayBienLai', 'FORMAT', 'must be a real date as dd/MM/yyyy');
    else if (compareDates(receipt, context.today) > 0) problem('/ngayBienLai', 'DATE_IN_FUTURE', 'the receipt date is after today');
  }
  for (const field of AMOUNTS) {
    const amount = row[field];
    if (amount === undefined) continue;
    if (!Number.isSafeInteger(amount)) problem(`/${field}`, 'TYPE', 'must be a whole number of đồng');
    else if (amount < 0) problem(`/${field}`, 'MINIMUM', 'must not be negative');
  }

  let paidFrom: CalendarMonth | null = null;
  if (!isMissing(row.tuThang)) {
    paidFrom = parseTuThang(row.tuThang as string);
    if (!paidFrom) problem('/tuThang', 'FORMAT', 'must be a month as MM/yyyy');
    else if (schoolYearOf(paidFrom).startYear !== context.schoolYearStart) {
      problem('/tuThang', 'OUTSIDE_SCHOOL_YEAR', `must be within the school year of the list's period ${context.period}: ${context.schoolYearMonths}`);
    }
  }
  const paidMonthsValid = row.soThang !== undefined && PAID_MONTH_COUNTS.includes(row.soThang);
  if (row.soThang !== undefined && !paidMonthsValid) problem('/soThang', 'PAID_MONTHS_INVALID', 'a pupil or student pays for 3, 6 or 12 months');
  const gradeValid = isMissing(row.lop) || LOP.has(row.lop as string);
  if (!gradeValid) problem('/lop', 'GRADE_INVALID', 'the grade is 1 to 12, or SV1 to SV6 or SVCUOI for a student');

  // Months paid that no card can cover (all of them while the under-6 card still runs) are refused
  // here, where the school can still change "Từ tháng", rather than when the card is computed.
  if (born && paidFrom && paidMonthsValid && gradeValid) {
    const outcome = pupilCardPeriod({ birth: born, tuThang: paidFrom, soThang: row.soThang as number, lop: row.lop });
    if (!outcome.ok) for (const refusal of outcome.refusals) problems.push({ stt, ...refusal });
    else return outcome.card;
  }
  return undefined;
}

/** "3, 7, 12", or past MAX_NAMED_ROWS rows "2, 3, …, 11 and 2 more": `count` is how many rows there are in all. */
function rowNumbers(named: number[], count: number): string {
  return count > named.length ? `${named.join(', ')} and ${count - named.length} more` : named.join(', ');
}

/**
 * A person already on another list of the period. Always a row's last problem: the list service adds it
 * after the rest of the checks, once it has asked the store under the period's lock.
 */
export function alreadyListedProblem(stt: number, key: PersonKey, kyKeKhai: string): RowProblem {
  return {
    stt,
    path: key.soDinhDanh !== undefined ? '/soDinhDanh' : '/maSoBhxh',
    code: 'ALREADY_LISTED',
    message: `this person is already on another list of the period ${kyKeKhai}`,
  };
}

/** Indexes of rows by a key, keeping only keys more than one row shares. */
function sharedKeys(keys: Array<string | undefined>): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  keys.forEach((key, index) => {
    if (key === undefined) return;
    const indexes = byKey.get(key);
    if (indexes) indexes.push(index);
    else byKey.set(key, [index]);
  });
  for (const [key, indexes] of byKey) if (indexes.length < 2) byKey.delete(key);
  return byKey;
}

/**
 * Checks a whole list: every row on its own, then the same person twice (by personal number, or by
 * BHXH number: one per person for life) or the same STT twice, then each person against the other
 * lists of the period. Pure: the same rows and context give the same answer.
 */
export function checkList(rows: readonly D03Row[], context: ListContext): ListCheck {
  const prepared = prepare(context);
  const normalised = rows.map(normaliseRow);
  const problemsOf: RowProblem[][] = normalised.map(() => []);
  const warningsOf: RowProblem[][] = normalised.map(() => []);
  const cardsOf = normalised.map((row, index) => checkOwnFields(row, prepared, problemsOf[index] as RowProblem[], warningsOf[index] as RowProblem[]));

  const personKeys = normalised.map(personKeyOf);
  const samePersonalNumber = sharedKeys(personKeys.map((key) => key?.soDinhDanh));
  const sameBhxhNumber = sharedKeys(personKeys.map((key) => key?.maSoBhxh));
  const sameStt = sharedKeys(normalised.map((row) => String(row.stt)));
  const bothNumbers = new Map<string, number>();
  for (const key of personKeys) {
    if (key?.soDinhDanh === undefined || key.maSoBhxh === undefined) continue;
    const pair = `${key.soDinhDanh}|${key.maSoBhxh}`;
    bothNumbers.set(pair, (bothNumbers.get(pair) ?? 0) + 1);
  }

  normalised.forEach((row, index) => {
    const problems = problemsOf[index] as RowProblem[];
    const key = personKeys[index];
    const byPersonalNumber = key?.soDinhDanh !== undefined ? samePersonalNumber.get(key.soDinhDanh) : undefined;
    const byBhxhNumber = key?.maSoBhxh !== undefined ? sameBhxhNumber.get(key.maSoBhxh) : undefined;
    if (byPersonalNumber || byBhxhNumber) {
      const path = byPersonalNumber ? '/soDinhDanh' : '/maSoBhxh';
      problems.push({ stt: row.stt, path, code: 'DUPLICATE_PERSON', message: `the same person is also on row ${otherRows(index, byPersonalNumber, byBhxhNumber)} of this list` });
    }
    if (sameStt.has(String(row.stt))) {
      problems.push({ stt: row.stt, path: '/stt', code: 'DUPLICATE_STT', message: 'another row of this list has the same STT' });
    }
    if (key && context.alreadyListed?.(key)) problems.push(alreadyListedProblem(row.stt, key, prepared.period));
  });

  const result: ListCheck = { rows: normalised, valid: [], invalid: [], problems: [], warnings: [], problemsOf, warningsOf, cardsOf };
  normalised.forEach((row, index) => {
    const problems = problemsOf[index] as RowProblem[];
    result.warnings.push(...(warningsOf[index] as RowProblem[]));
    if (problems.length === 0) result.valid.push(row);
    else {
      result.invalid.push(row);
      result.problems.push(...problems);
    }
  });
  return result;

  /**
   * The other rows the same person is on, as a message names them. Thousands of rows may share a number
   * (a placeholder such as 000000000000): only the first MAX_NAMED_ROWS + 1 indexes of each group are
   * looked at, so each row's message costs the same however large its group.
   */
  function otherRows(index: number, byPersonalNumber: number[] | undefined, byBhxhNumber: number[] | undefined): string {
    const others = new Set<number>();
    for (const group of [byPersonalNumber, byBhxhNumber]) {
      for (const other of (group ?? []).slice(0, MAX_NAMED_ROWS + 1)) if (other !== index) others.add(other);
    }
    // Rows sharing both numbers are in both groups: counted once.
    const key = personKeys[index];
    const inBoth = byPersonalNumber && byBhxhNumber ? (bothNumbers.get(`${key?.soDinhDanh}|${key?.maSoBhxh}`) ?? 0) : 0;
    const count = (byPersonalNumber?.length ?? 0) + (byBhxhNumber?.length ?? 0) - inBoth - 1;
    const named = [...others].sort((a, b) => a - b).slice(0, MAX_NAMED_ROWS).map((other) => (normalised[other] as D03Row).stt);
    return rowNumbers(named, count);
  }
}
