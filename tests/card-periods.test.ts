import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseTuThang,
  pupilCardPeriod,
  schoolYearOf,
  under6CardPeriod,
  type CalendarMonth,
  type PupilCardInputs,
} from '../mappings/card-periods.js';
import { addDays, addYears, compareDates, daysInMonth, mustParseCalendarDate, type CalendarDate } from '../src/domain/calendar-date.js';

const day = (text: string) => mustParseCalendarDate(text);
const month = (text: string) => parseTuThang(text) as CalendarMonth;

/** A pupil of grade 5, paid for a school year; each case changes what it is about. */
function pupil(change: Partial<PupilCardInputs> = {}): PupilCardInputs {
  return { birth: day('15.03.2016'), tuThang: month('09/2026'), soThang: 12, lop: '5', ...change };
}

function cardOf(inputs: PupilCardInputs) {
  const outcome = pupilCardPeriod(inputs);
  if (!outcome.ok) throw new Error(`refused: ${JSON.stringify(outcome.refusals)}`);
  return outcome.card;
}

function refusalsOf(inputs: PupilCardInputs) {
  const outcome = pupilCardPeriod(inputs);
  if (outcome.ok) throw new Error(`not refused: ${JSON.stringify(outcome.card)}`);
  return outcome.refusals.map(({ path, code }) => ({ path, code }));
}

const period = (inputs: PupilCardInputs) => {
  const { from, to } = cardOf(inputs);
  return [from, to];
};

describe('under6CardPeriod', () => {
  it.each([
    ['born in March: until 30 September of the year it turns 6', '15.03.2026', '30.09.2032'],
    ['born on 1 January: until 30 September, nearly 6 years and 9 months', '01.01.2026', '30.09.2032'],
    ['born on 30 September: until 30 September of the year it turns 6', '30.09.2026', '30.09.2032'],
    ['born on 1 October: until the last day of October of the year it turns 6', '01.10.2026', '31.10.2032'],
    ['born in November: until the last day of November', '15.11.2026', '30.11.2032'],
    ['born on 31 December: until 31 December of the year it turns 6', '31.12.2026', '31.12.2032'],
    ['born on 29 February: until 30 September, though it turns 6 in a common year', '29.02.2024', '30.09.2030'],
  ])('%s (%s → %s)', (_name, born, validTo) => {
    expect(under6CardPeriod(day(born))).toEqual({ from: day(born), to: day(validTo) });
  });
});

describe('schoolYearOf', () => {
  it.each([
    ['September opens a school year', '09/2026', 2026],
    ['December is in the school year begun that September', '12/2026', 2026],
    ['January is in the school year begun the September before', '01/2027', 2026],
    ['August closes the school year begun the September before', '08/2027', 2026],
  ])('%s (%s → %i)', (_name, tuThang, startYear) => {
    expect(schoolYearOf(month(tuThang))).toEqual({
      startYear,
      first: { year: startYear, month: 9, day: 1 },
      last: { year: startYear + 1, month: 8, day: 31 },
    });
  });
});

describe('parseTuThang', () => {
  it('reads MM/yyyy', () => {
    expect(parseTuThang('09/2026')).toEqual({ year: 2026, month: 9 });
  });

  it.each(['9/2026', '13/2026', '00/2026', '2026-09', '09/26', ' 09/2026'])('refuses %j', (text) => {
    expect(parseTuThang(text)).toBeNull();
  });
});

describe('pupilCardPeriod: the months paid', () => {
  it.each([
    ['12 months from September: the school year', '09/2026', 12, '01.09.2026', '31.08.2027'],
    ['6 months from January', '01/2027', 6, '01.01.2027', '30.06.2027'],
    ['3 months from November: over New Year', '11/2026', 3, '01.11.2026', '31.01.2027'],
    ['12 months from March: over New Year, ending in February of a common year', '03/2026', 12, '01.03.2026', '28.02.2027'],
    ['3 months from December: February of a leap year', '12/2027', 3, '01.12.2027', '29.02.2028'],
  ])('%s', (_name, tuThang, soThang, from, to) => {
    expect(period(pupil({ tuThang: month(tuThang), soThang }))).toEqual([day(from), day(to)]);
  });

  it('gives a pupil group HS at benefit level 4', () => {
    expect(cardOf(pupil())).toMatchObject({ group: 'HS', benefitLevel: 4 });
  });

  it('gives group HS when the list does not say the grade', () => {
    expect(cardOf(pupil({ lop: undefined }))).toMatchObject({ group: 'HS', benefitLevel: 4 });
  });

  it.each(['SV1', 'SV2', 'SV6', 'SVCUOI'])('gives a student (%s) group SV at benefit level 4', (lop) => {
    expect(cardOf(pupil({ lop }))).toMatchObject({ group: 'SV', benefitLevel: 4 });
  });

  it.each([0, 1, 4, 9, 24])('refuses %i months: only 3, 6 or 12 are paid', (soThang) => {
    expect(refusalsOf(pupil({ soThang }))).toEqual([{ path: '/soThang', code: 'PAID_MONTHS_INVALID' }]);
  });

  it.each(['0', '13', 'SV7', 'sv1', 'lớp 5'])('refuses the grade %j', (lop) => {
    expect(refusalsOf(pupil({ lop }))).toEqual([{ path: '/lop', code: 'GRADE_INVALID' }]);
  });

  it('lists every wrong input at once', () => {
    expect(refusalsOf(pupil({ soThang: 5, lop: '13' }))).toEqual([
      { path: '/soThang', code: 'PAID_MONTHS_INVALID' },
      { path: '/lop', code: 'GRADE_INVALID' },
    ]);
  });
});

describe('pupilCardPeriod: a first-grader', () => {
  const firstGrader = (birth: string, change: Partial<PupilCardInputs> = {}) =>
    pupil({ birth: day(birth), lop: '1', ...change });

  it.each([
    ['born on 30 September: from 1 October, the day after its under-6 card', '30.09.2020', '01.10.2026'],
    ['born on 1 October: from 1 November, the day after its under-6 card ends on 31 October', '01.10.2020', '01.11.2026'],
    ['born on 31 December: from 1 January, the day after its under-6 card', '31.12.2020', '01.01.2027'],
    ['born on 29 February: from 1 October', '29.02.2020', '01.10.2026'],
    ['who started school at 7, its under-6 card long ended: still from 1 October', '15.03.2019', '01.10.2026'],
  ])('%s', (_name, birth, from) => {
    expect(period(firstGrader(birth))).toEqual([day(from), day('31.08.2027')]);
  });

  it('paid from January: from 1 January, the months before were not paid', () => {
    expect(period(firstGrader('15.03.2020', { tuThang: month('01/2027'), soThang: 6 }))).toEqual([day('01.01.2027'), day('30.06.2027')]);
  });

  it('refuses months paid that all fall while its under-6 card runs', () => {
    expect(refusalsOf(firstGrader('15.11.2020', { soThang: 3 }))).toEqual([{ path: '/tuThang', code: 'PERIOD_EMPTY' }]);
  });

  it('without a grade, still starts after the under-6 card', () => {
    expect(period(pupil({ birth: day('30.09.2020'), lop: undefined }))).toEqual([day('01.10.2026'), day('31.08.2027')]);
  });
});

describe('pupilCardPeriod: a 12th-grader', () => {
  const twelfthGrader = (tuThang: string) => pupil({ birth: day('15.03.2009'), lop: '12', tuThang: month(tuThang) });

  it.each([
    ['paid from January for 12 months: cut on 30 September of its final year', '01/2027', '01.01.2027', '30.09.2027'],
    ['paid from October for 12 months: ends on 30 September as paid', '10/2026', '01.10.2026', '30.09.2027'],
    ['paid from September for 12 months: ends on 31 August as paid, not stretched', '09/2026', '01.09.2026', '31.08.2027'],
  ])('%s', (_name, tuThang, from, to) => {
    expect(period(twelfthGrader(tuThang))).toEqual([day(from), day(to)]);
  });

  it('keeps group HS', () => {
    expect(cardOf(twelfthGrader('01/2027')).group).toBe('HS');
  });
});

describe('pupilCardPeriod: a first-year student (SV1)', () => {
  const firstYear = (change: Partial<PupilCardInputs>) => pupil({ birth: day('15.03.2008'), lop: 'SV1', ...change });

  it.each<[string, Partial<PupilCardInputs>, string, string]>([
    ['is covered from its enrolment date', { enrolment: day('05.09.2026') }, '05.09.2026', '31.08.2027'],
    ['without an enrolment date, from the first day of Từ tháng', {}, '01.09.2026', '31.08.2027'],
    ['enrolled before the months paid: from the first month paid', { enrolment: day('20.08.2026') }, '01.09.2026', '31.08.2027'],
    [
      'whose 12th-grade card still runs at enrolment: from the day after it ends',
      { enrolment: day('05.09.2026'), twelfthGradeCardEnd: day('30.09.2026') },
      '01.10.2026',
      '31.08.2027',
    ],
    [
      'whose 12th-grade card ended before enrolment: from its enrolment date',
      { enrolment: day('05.09.2026'), twelfthGradeCardEnd: day('31.08.2026') },
      '05.09.2026',
      '31.08.2027',
    ],
  ])('%s', (_name, change, from, to) => {
    expect(period(firstYear(change))).toEqual([day(from), day(to)]);
  });

  it('refuses an enrolment after the last month paid', () => {
    expect(refusalsOf(firstYear({ enrolment: day('01.09.2027') }))).toEqual([{ path: '/enrolment', code: 'PERIOD_EMPTY' }]);
  });

  it('refuses months paid that all fall while the 12th-grade card runs', () => {
    expect(refusalsOf(firstYear({ soThang: 3, twelfthGradeCardEnd: day('30.11.2026') }))).toEqual([
      { path: '/twelfthGradeCardEnd', code: 'PERIOD_EMPTY' },
    ]);
  });

  it('reads the enrolment date of a first-year student only', () => {
    expect(period(pupil({ lop: 'SV2', enrolment: day('05.09.2026') }))).toEqual([day('01.09.2026'), day('31.08.2027')]);
  });
});

describe('pupilCardPeriod: a final-year student (SVCUOI)', () => {
  const finalYear = (change: Partial<PupilCardInputs>) =>
    pupil({ birth: day('15.03.2004'), lop: 'SVCUOI', tuThang: month('01/2027'), ...change });

  it.each<[string, Partial<PupilCardInputs>, string]>([
    ['is covered until the last day of the month its course ends', { courseEnd: day('15.06.2027') }, '30.06.2027'],
    ['without a course end, for the months paid', {}, '31.12.2027'],
    ['whose course ends after the months paid: for the months paid', { courseEnd: day('15.03.2028') }, '31.12.2027'],
    ['whose course ends in the first month paid: until that month’s end', { courseEnd: day('03.01.2027') }, '31.01.2027'],
  ])('%s', (_name, change, to) => {
    expect(period(finalYear(change))).toEqual([day('01.01.2027'), day(to)]);
  });

  it('refuses a course that ends before the first month paid', () => {
    expect(refusalsOf(finalYear({ courseEnd: day('31.12.2026') }))).toEqual([{ path: '/courseEnd', code: 'PERIOD_EMPTY' }]);
  });

  it('reads the course end of a final-year student only', () => {
    expect(period(pupil({ lop: 'SV3', tuThang: month('01/2027'), courseEnd: day('15.06.2027') }))).toEqual([
      day('01.01.2027'),
      day('31.12.2027'),
    ]);
  });
});

const dates = (min: string, max: string) =>
  fc.date({ min: new Date(`${min}T00:00:00Z`), max: new Date(`${max}T00:00:00Z`), noInvalidDate: true }).map(
    (instant): CalendarDate => ({ year: instant.getUTCFullYear(), month: instant.getUTCMonth() + 1, day: instant.getUTCDate() }),
  );
const isLastDayOfMonth = (date: CalendarDate) => date.day === daysInMonth(date.year, date.month);

describe('card periods, for any input', () => {
  it('an under-6 card covers every day before the 6th birthday and ends on a month’s last day, 30 September at the latest for a child born by then', () => {
    fc.assert(
      fc.property(dates('1990-01-01', '2099-12-31'), (birth) => {
        const { from, to } = under6CardPeriod(birth);
        expect(from).toEqual(birth);
        expect(compareDates(to, addDays(addYears(birth, 6), -1))).toBeGreaterThanOrEqual(0);
        expect(isLastDayOfMonth(to)).toBe(true);
        expect(to.year).toBe(birth.year + 6);
        expect(to.month).toBe(Math.max(birth.month, 9));
      }),
    );
  });

  it('a pupil’s card lies within the months paid, after the under-6 card, and ends on a month’s last day', () => {
    const inputs = fc.record({
      birth: dates('1995-01-01', '2024-12-31'),
      tuThang: fc.record({ year: fc.integer({ min: 2020, max: 2035 }), month: fc.integer({ min: 1, max: 12 }) }),
      soThang: fc.constantFrom(3, 6, 12),
      lop: fc.constantFrom(undefined, '1', '2', '5', '9', '11', '12', 'SV1', 'SV2', 'SVCUOI'),
      enrolment: fc.option(dates('2019-06-01', '2036-12-31'), { nil: undefined }),
      twelfthGradeCardEnd: fc.option(dates('2019-06-01', '2036-12-31'), { nil: undefined }),
      courseEnd: fc.option(dates('2019-06-01', '2036-12-31'), { nil: undefined }),
    });
    let cards = 0;
    fc.assert(
      fc.property(inputs, (pupilInputs) => {
        const outcome = pupilCardPeriod(pupilInputs);
        if (!outcome.ok) {
          expect(outcome.refusals.map((refusal) => refusal.code)).toEqual(['PERIOD_EMPTY']);
          return;
        }
        cards += 1;
        const { from, to, group, benefitLevel } = outcome.card;
        const paidFrom = { year: pupilInputs.tuThang.year, month: pupilInputs.tuThang.month, day: 1 };
        expect(compareDates(from, to)).toBeLessThanOrEqual(0);
        expect(compareDates(paidFrom, from)).toBeLessThanOrEqual(0);
        expect(compareDates(from, under6CardPeriod(pupilInputs.birth).to)).toBeGreaterThan(0);
        expect(isLastDayOfMonth(to)).toBe(true);
        expect((to.year - paidFrom.year) * 12 + to.month - paidFrom.month).toBeLessThan(pupilInputs.soThang);
        if (pupilInputs.lop !== 'SV1') expect(from.day).toBe(1);
        if (pupilInputs.lop === '12') {
          expect(compareDates(to, { year: schoolYearOf(pupilInputs.tuThang).startYear + 1, month: 9, day: 30 })).toBeLessThanOrEqual(0);
        }
        expect(group).toBe(pupilInputs.lop?.startsWith('SV') ? 'SV' : 'HS');
        expect(benefitLevel).toBe(4);
      }),
      { numRuns: 500 },
    );
    expect(cards).toBeGreaterThan(250);
  });
});
