import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { FacilityCatalogue } from '../src/catalogues/facility-catalogue.js';
import type { CalendarDate } from '../src/domain/calendar-date.js';
import { normaliseDocument } from '../src/intake/validator.js';
import type { D03Row } from '../src/messages/pupil-list/d03-row.js';
import { checkList, personKeysOf, type ListContext, type PersonKey } from '../src/messages/pupil-list/row-checks.js';
import { readSchema } from '../src/package-files.js';

/**
 * The row checks of a D03-TS list (src/messages/pupil-list/row-checks.ts): one failing row per
 * rule, a valid row, duplicates within the list, the look-up of other lists of the period, the day
 * the personal number became the preferred identifier, the school year "Từ tháng" must fall in, and
 * the JSON body's schema.
 */

// Province 08 lists its facilities, so a well-formed 08 code outside the list is unknown.
const facilities = FacilityCatalogue.fromData({ facilities: [{ code: '08001', name: 'Bệnh viện Đa khoa tỉnh' }, { code: '08C51', name: 'Trạm y tế' }] });
const TODAY: CalendarDate = { year: 2026, month: 10, day: 15 };
const context = (overrides: Partial<ListContext> = {}): ListContext => ({ kyKeKhai: '10/2026', today: TODAY, catalogues: { facilities }, ...overrides });

/** A boy born in 2015 (personal number: province 008, digit 2 = male born 2000–2099, year 15). */
const pupil = (overrides: Partial<Record<keyof D03Row, unknown>> = {}): D03Row => {
  const row: Record<string, unknown> = {
    stt: 1,
    hoTen: 'Nguyễn Văn An',
    soDinhDanh: '008215000123',
    ngaySinh: '15/03/2015',
    gioiTinh: 'Nam',
    diaChi: 'Phường Phan Thiết, Tuyên Quang',
    noiDangKyKCB: '08001',
    ngayBienLai: '01/10/2026',
    soBienLai: 'BL0001',
    soTien: 884520,
    tuThang: '10/2026',
    soThang: 12,
    lop: '6',
    ...overrides,
  };
  for (const [field, value] of Object.entries(row)) if (value === undefined) delete row[field];
  return row as unknown as D03Row;
};
/** The same pupil known by a BHXH number only, so date and sex cases do not also break the personal number. */
const byBhxhNumber = (overrides: Partial<Record<keyof D03Row, unknown>> = {}) => pupil({ soDinhDanh: undefined, maSoBhxh: '0815000123', ...overrides });

const problemsOf = (rows: D03Row[], ctx = context()) => checkList(rows, ctx).problems.map(({ stt, path, code }) => ({ stt, path, code }));

describe('a valid row', () => {
  it('is valid, with no problem and no warning, its text as stored', () => {
    const result = checkList([pupil()], context());
    expect(result).toEqual({
      rows: [pupil()], valid: [pupil()], invalid: [], problems: [], warnings: [], problemsOf: [[]], warningsOf: [[]],
      cardsOf: [expect.objectContaining({ group: expect.stringMatching(/^(HS|SV)$/) })],
    });
  });

  it('takes sex as Nam/Nữ in any case or 1/2, and a name in NFD or with stray spaces as the same name in NFC', () => {
    const rows = [
      pupil({ stt: 1, gioiTinh: 'NAM' }),
      pupil({ stt: 2, gioiTinh: '1', soDinhDanh: '008215000124' }),
      pupil({ stt: 3, gioiTinh: 'Nữ'.normalize('NFD'), soDinhDanh: '008315000125' }),
      pupil({ stt: 4, gioiTinh: '2', soDinhDanh: '008315000126', hoTen: '  Lê   Thị\tHồng '.normalize('NFD') }),
      pupil({ stt: 5, hoTen: "Ksor H'Nhi", soDinhDanh: '066315000127', gioiTinh: 'nữ' }),
    ];
    const result = checkList(rows, context());
    expect(result.problems).toEqual([]);
    expect(result.valid.map((row) => row.hoTen)).toEqual(['Nguyễn Văn An', 'Nguyễn Văn An', 'Nguyễn Văn An', 'Lê Thị Hồng', "Ksor H'Nhi"]);
    expect(result.valid[3]?.hoTen).toBe('Lê Thị Hồng'.normalize('NFC'));
  });
});

describe('one failing row per rule', () => {
  const cases: Array<[string, D03Row, Array<{ path: string; code: string }>]> = [
    ['no name', pupil({ hoTen: undefined }), [{ path: '/hoTen', code: 'REQUIRED' }]],
    ['an empty name', pupil({ hoTen: '   ' }), [{ path: '/hoTen', code: 'REQUIRED' }]],
    ['a name with a digit', pupil({ hoTen: 'Nguyễn Văn 2' }), [{ path: '/hoTen', code: 'PATTERN' }]],
    ['a name with a symbol', pupil({ hoTen: 'Nguyễn <Văn> An' }), [{ path: '/hoTen', code: 'PATTERN' }]],
    ['a name over 100 characters', pupil({ hoTen: `Nguyễn ${'A'.repeat(100)}` }), [{ path: '/hoTen', code: 'MAXLENGTH' }]],
    ['no birth date', byBhxhNumber({ ngaySinh: undefined }), [{ path: '/ngaySinh', code: 'REQUIRED' }]],
    ['31 February', byBhxhNumber({ ngaySinh: '31/02/2015' }), [{ path: '/ngaySinh', code: 'FORMAT' }]],
    ['a birth date not dd/MM/yyyy', byBhxhNumber({ ngaySinh: '2015-03-15' }), [{ path: '/ngaySinh', code: 'FORMAT' }]],
    ['a birth after today', byBhxhNumber({ ngaySinh: '16/10/2026' }), [{ path: '/ngaySinh', code: 'DATE_IN_FUTURE' }]],
    ['a 4-year-old', byBhxhNumber({ ngaySinh: '01/01/2022' }), [{ path: '/ngaySinh', code: 'AGE_IMPLAUSIBLE' }]],
    ['a birth year a century out', byBhxhNumber({ ngaySinh: '15/03/1915' }), [{ path: '/ngaySinh', code: 'AGE_IMPLAUSIBLE' }]],
    ['no sex', byBhxhNumber({ gioiTinh: undefined }), [{ path: '/gioiTinh', code: 'REQUIRED' }]],
    ['sex 3', byBhxhNumber({ gioiTinh: '3' }), [{ path: '/gioiTinh', code: 'ENUM' }]],
    ['neither number', pupil({ soDinhDanh: undefined }), [{ path: '/soDinhDanh', code: 'REQUIRED' }]],
    ['a personal number of 9 digits', pupil({ soDinhDanh: '008215000' }), [{ path: '/soDinhDanh', code: 'PATTERN' }]],
    ['a BHXH number of 12 digits', pupil({ maSoBhxh: '081500012345' }), [{ path: '/maSoBhxh', code: 'PATTERN' }]],
    ['a girl\'s personal number for a boy', pupil({ soDinhDanh: '008315000123' }), [{ path: '/soDinhDanh', code: 'PERSONAL_NUMBER_MISMATCH' }]],
    ['a personal number of another birth year', pupil({ soDinhDanh: '008216000123' }), [{ path: '/soDinhDanh', code: 'PERSONAL_NUMBER_MISMATCH' }]],
    ['a personal number of another century', pupil({ soDinhDanh: '008015000123' }), [{ path: '/soDinhDanh', code: 'PERSONAL_NUMBER_MISMATCH' }]],
    ['no facility', pupil({ noiDangKyKCB: undefined }), [{ path: '/noiDangKyKCB', code: 'REQUIRED' }]],
    ['a facility code of 4 characters', pupil({ noiDangKyKCB: '8001' }), [{ path: '/noiDangKyKCB', code: 'PATTERN' }]],
    ['a facility not in its province\'s list', pupil({ noiDangKyKCB: '08999' }), [{ path: '/noiDangKyKCB', code: 'FACILITY_UNKNOWN' }]],
    ['no first month', pupil({ tuThang: undefined }), [{ path: '/tuThang', code: 'REQUIRED' }]],
    ['month 13', pupil({ tuThang: '13/2026' }), [{ path: '/tuThang', code: 'FORMAT' }]],
    ['a first month before the school year', pupil({ tuThang: '08/2026' }), [{ path: '/tuThang', code: 'OUTSIDE_SCHOOL_YEAR' }]],
    ['no number of months', pupil({ soThang: undefined }), [{ path: '/soThang', code: 'REQUIRED' }]],
    ['5 months', pupil({ soThang: 5 }), [{ path: '/soThang', code: 'PAID_MONTHS_INVALID' }]],
    ['months paid all within the under-6 card', pupil({ soDinhDanh: '008220000123', ngaySinh: '15/11/2020', lop: '1', tuThang: '09/2026', soThang: 3 }), [{ path: '/tuThang', code: 'PERIOD_EMPTY' }]],
    ['a negative amount', pupil({ soTien: -1 }), [{ path: '/soTien', code: 'MINIMUM' }]],
    ['a fraction of a đồng', pupil({ hoTroNSDP: 1.5 }), [{ path: '/hoTroNSDP', code: 'TYPE' }]],
    ['an amount that is not a number', pupil({ hoTroKhac: Number.NaN }), [{ path: '/hoTroKhac', code: 'TYPE' }]],
    ['a receipt on 30 February', pupil({ ngayBienLai: '30/02/2026' }), [{ path: '/ngayBienLai', code: 'FORMAT' }]],
    ['a receipt dated after today', pupil({ ngayBienLai: '16/10/2026' }), [{ path: '/ngayBienLai', code: 'DATE_IN_FUTURE' }]],
    ['grade 13', pupil({ lop: '13' }), [{ path: '/lop', code: 'GRADE_INVALID' }]],
  ];

  it.each(cases)('%s', (_name, row, expected) => {
    const result = checkList([row], context());
    expect(result.problems.map(({ path, code }) => ({ path, code }))).toEqual(expected);
    expect(result.problems.every((problem) => problem.stt === row.stt && problem.message.length > 0)).toBe(true);
    expect(result.valid).toEqual([]);
    expect(result.invalid).toHaveLength(1);
  });

  it('reports every problem of a row, not only the first', () => {
    const row = pupil({ hoTen: undefined, ngaySinh: '31/02/2015', gioiTinh: 'X', noiDangKyKCB: '08999', soThang: 4, tuThang: '09/2027', soTien: -5 });
    expect(problemsOf([row]).map((problem) => `${problem.path} ${problem.code}`).sort()).toEqual([
      '/gioiTinh ENUM', '/hoTen REQUIRED', '/ngaySinh FORMAT', '/noiDangKyKCB FACILITY_UNKNOWN',
      '/soThang PAID_MONTHS_INVALID', '/soTien MINIMUM', '/tuThang OUTSIDE_SCHOOL_YEAR',
    ]);
  });

  it('names no one in its messages: no name, number or date of the rows goes into a problem or a warning', () => {
    const rows = [
      pupil({ stt: 1, hoTen: 'Trần Thị 9', ngaySinh: '16/10/2026' }),
      pupil({ stt: 2, soDinhDanh: '008315000456', maSoBhxh: '0815000456' }),
      pupil({ stt: 3, soDinhDanh: '008315000456', noiDangKyKCB: '08999' }),
      byBhxhNumber({ stt: 4, maSoBhxh: '0815000456', ngaySinh: '31/02/2015' }),
      // An age, with the year the school year begins, gives the birth year.
      byBhxhNumber({ stt: 5, maSoBhxh: '0815000789', ngaySinh: '15/03/1915' }),
    ];
    const result = checkList(rows, context({ alreadyListed: () => true }));
    const texts = [...result.problems, ...result.warnings].map((problem) => problem.message);
    expect(texts.length).toBeGreaterThan(8);
    const personal = ['Trần', '008315000456', '0815000456', '16/10/2026', '31/02/2015', '1915', '111'];
    expect(texts.filter((text) => personal.some((value) => text.includes(value)))).toEqual([]);
  });

  it('keeps rows apart: one row\'s problems do not touch the next', () => {
    const result = checkList([pupil({ stt: 1, soThang: 5 }), pupil({ stt: 2, soDinhDanh: '008215000999' })], context());
    expect(result.problems.map(({ stt, code }) => ({ stt, code }))).toEqual([{ stt: 1, code: 'PAID_MONTHS_INVALID' }]);
    expect(result.valid.map((row) => row.stt)).toEqual([2]);
    expect(result.invalid.map((row) => row.stt)).toEqual([1]);
  });
});

describe('the same person twice in one list', () => {
  it('marks both rows, each naming the other\'s STT, by personal number', () => {
    const rows = [pupil({ stt: 1 }), pupil({ stt: 2, soDinhDanh: '008215000999' }), pupil({ stt: 3, hoTen: 'Nguyễn Văn Ân' })];
    const result = checkList(rows, context());
    expect(result.problems).toEqual([
      { stt: 1, path: '/soDinhDanh', code: 'DUPLICATE_PERSON', message: 'the same person is also on row 3 of this list' },
      { stt: 3, path: '/soDinhDanh', code: 'DUPLICATE_PERSON', message: 'the same person is also on row 1 of this list' },
    ]);
    expect(result.valid.map((row) => row.stt)).toEqual([2]);
  });

  it('by BHXH number, also when only one of the rows has a personal number too, and names every other row', () => {
    const rows = [
      byBhxhNumber({ stt: 4 }),
      pupil({ stt: 7, maSoBhxh: '0815000123' }),
      byBhxhNumber({ stt: 9 }),
      byBhxhNumber({ stt: 10, maSoBhxh: '0815000999' }),
    ];
    const result = checkList(rows, context());
    expect(result.problems.map(({ stt, path, message }) => ({ stt, path, message }))).toEqual([
      { stt: 4, path: '/maSoBhxh', message: 'the same person is also on row 7, 9 of this list' },
      { stt: 7, path: '/maSoBhxh', message: 'the same person is also on row 4, 9 of this list' },
      { stt: 9, path: '/maSoBhxh', message: 'the same person is also on row 4, 7 of this list' },
    ]);
    expect(result.valid.map((row) => row.stt)).toEqual([10]);
  });

  it('names at most ten other rows and counts the rest', () => {
    const rows = Array.from({ length: 13 }, (_, index) => pupil({ stt: index + 1 }));
    const first = checkList(rows, context()).problems[0];
    expect(first?.message).toBe('the same person is also on row 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 2 more of this list');
  });

  it('flags each of 3,000 rows sharing one number, each message naming ten rows and counting the rest', () => {
    const rows = Array.from({ length: 3000 }, (_, index) => pupil({ stt: index + 1 }));
    const duplicates = checkList(rows, context()).problems.filter((problem) => problem.code === 'DUPLICATE_PERSON');
    expect(duplicates.map((problem) => problem.stt)).toEqual(rows.map((row) => row.stt));
    expect(duplicates[0]?.message).toBe('the same person is also on row 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 2989 more of this list');
    expect(duplicates[2999]?.message).toBe('the same person is also on row 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 2989 more of this list');
    expect(Math.max(...duplicates.map((problem) => problem.message.length))).toBeLessThan(120);
  });

  it('counts a row sharing both numbers once', () => {
    const rows = Array.from({ length: 12 }, (_, index) => pupil({ stt: index + 1, maSoBhxh: '0815000123' }));
    expect(checkList(rows, context()).problems[0]?.message).toBe('the same person is also on row 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 1 more of this list');
  });

  it('does not match malformed numbers', () => {
    const rows = [pupil({ stt: 1, soDinhDanh: '123' }), pupil({ stt: 2, soDinhDanh: '123' })];
    expect(problemsOf(rows).map(({ code }) => code)).toEqual(['PATTERN', 'PATTERN']);
  });

  it('marks two rows with the same STT, which a correction could not tell apart', () => {
    const rows = [pupil({ stt: 5 }), pupil({ stt: 5, soDinhDanh: '008215000999' })];
    expect(problemsOf(rows)).toEqual([
      { stt: 5, path: '/stt', code: 'DUPLICATE_STT' },
      { stt: 5, path: '/stt', code: 'DUPLICATE_STT' },
    ]);
  });

  it('gives each of 2,000 rows sharing an STT its own problems, by position', () => {
    const rows = Array.from({ length: 2000 }, (_, index) => pupil({ stt: 1, soDinhDanh: `0082150${String(index).padStart(5, '0')}`, ...(index === 7 && { soThang: 5 }) }));
    const byPosition = checkList(rows, context()).problemsOf;
    expect(byPosition).toHaveLength(2000);
    byPosition.forEach((problems, position) => {
      expect(problems.map(({ code }) => code)).toEqual(position === 7 ? ['PAID_MONTHS_INVALID', 'DUPLICATE_STT'] : ['DUPLICATE_STT']);
    });
  });

});

describe('the same person on another list of the period', () => {
  // What the store will answer: the people on other lists of 10/2026, found in one look-up.
  const otherLists = { personalNumbers: new Set(['008215000123']), bhxhNumbers: new Set(['0815000777']) };
  const asked: PersonKey[] = [];
  const alreadyListed = (person: PersonKey) => {
    asked.push(person);
    return (person.soDinhDanh !== undefined && otherLists.personalNumbers.has(person.soDinhDanh))
      || (person.maSoBhxh !== undefined && otherLists.bhxhNumbers.has(person.maSoBhxh));
  };

  it('marks the rows the look-up finds, by either number, and only those', () => {
    const rows = [pupil({ stt: 1 }), pupil({ stt: 2, soDinhDanh: '008215000999' }), byBhxhNumber({ stt: 3, maSoBhxh: '0815000777' })];
    const result = checkList(rows, context({ alreadyListed }));
    expect(result.problems).toEqual([
      { stt: 1, path: '/soDinhDanh', code: 'ALREADY_LISTED', message: 'this person is already on another list of the period 10/2026' },
      { stt: 3, path: '/maSoBhxh', code: 'ALREADY_LISTED', message: 'this person is already on another list of the period 10/2026' },
    ]);
    expect(result.valid.map((row) => row.stt)).toEqual([2]);
    expect(asked).toEqual([{ soDinhDanh: '008215000123' }, { soDinhDanh: '008215000999' }, { maSoBhxh: '0815000777' }]);
  });

  it('gives the store every well-formed person of the list to look up at once', () => {
    const rows = [pupil({ stt: 1, maSoBhxh: '0815000123' }), pupil({ stt: 2, soDinhDanh: ' 008215000999 ' }), pupil({ stt: 3, soDinhDanh: 'x' })];
    expect(personKeysOf(rows)).toEqual([{ soDinhDanh: '008215000123', maSoBhxh: '0815000123' }, { soDinhDanh: '008215000999' }]);
  });

  it('is not asked about anyone without a well-formed number', () => {
    const calls: PersonKey[] = [];
    checkList([pupil({ soDinhDanh: '12' })], context({ alreadyListed: (person) => (calls.push(person), true) }));
    expect(calls).toEqual([]);
  });
});

describe('the personal number, preferred from 1 August 2025', () => {
  // A list of the 2024–2025 school year, sent on either side of the day.
  const onlyBhxh = byBhxhNumber({ tuThang: '07/2025', soThang: 3, ngayBienLai: '01/07/2025' });
  const sentOn = (today: CalendarDate) => checkList([onlyBhxh], context({ kyKeKhai: '07/2025', today }));

  it('a row with only a BHXH number sent on 31 July 2025 is valid without a warning', () => {
    expect(sentOn({ year: 2025, month: 7, day: 31 })).toMatchObject({ problems: [], warnings: [], valid: [onlyBhxh] });
  });

  it('the same row sent on 1 August 2025 is still valid, with a warning asking for the personal number', () => {
    const result = sentOn({ year: 2025, month: 8, day: 1 });
    expect(result.problems).toEqual([]);
    expect(result.valid).toEqual([onlyBhxh]);
    expect(result.warnings.map(({ stt, path, code }) => ({ stt, path, code }))).toEqual([{ stt: 1, path: '/soDinhDanh', code: 'BHXH_NUMBER_ONLY' }]);
  });

  it('a row with both numbers, or only the personal number, is not warned', () => {
    const result = checkList([pupil({ stt: 1, maSoBhxh: '0815000123' }), pupil({ stt: 2, soDinhDanh: '008215000999' })], context());
    expect(result.warnings).toEqual([]);
  });
});

describe('"Từ tháng" within the school year of the list\'s period (1 September – 31 August)', () => {
  const codesFor = (kyKeKhai: string, tuThang: string) => problemsOf([pupil({ tuThang })], context({ kyKeKhai })).map(({ code }) => code);

  it('a list of 10/2026: 09/2026 and 08/2027 are in, 08/2026 and 09/2027 are out', () => {
    expect(codesFor('10/2026', '09/2026')).toEqual([]);
    expect(codesFor('10/2026', '08/2027')).toEqual([]);
    expect(codesFor('10/2026', '08/2026')).toEqual(['OUTSIDE_SCHOOL_YEAR']);
    expect(codesFor('10/2026', '09/2027')).toEqual(['OUTSIDE_SCHOOL_YEAR']);
  });

  it('a list of 08/2026 belongs to the school year that ends then; one of 09/2026 to the next', () => {
    expect(codesFor('08/2026', '09/2026')).toEqual(['OUTSIDE_SCHOOL_YEAR']);
    expect(codesFor('09/2026', '09/2026')).toEqual([]);
    const earlier = checkList([pupil({ tuThang: '01/2026', ngayBienLai: undefined })], context({ kyKeKhai: '08/2026' }));
    expect(earlier.problems).toEqual([]);
  });

  it('names the school year in its message', () => {
    expect(checkList([pupil({ tuThang: '08/2026' })], context()).problems[0]?.message).toBe(
      "must be within the school year of the list's period 10/2026: 09/2026 to 08/2027",
    );
  });

});

describe('a whole list', () => {
  it('30,000 rows, every one checked: duplicates and other lists included', () => {
    const rows = Array.from({ length: 30_000 }, (_, index) =>
      pupil({ stt: index + 1, soDinhDanh: `008215${String(index).padStart(6, '0')}`, maSoBhxh: `08${String(index).padStart(8, '0')}` }));
    rows.push(pupil({ stt: 30_001, soDinhDanh: '008215029999' }));
    const result = checkList(rows, context({ alreadyListed: (person) => person.soDinhDanh === '008215000042' }));
    expect(result.valid).toHaveLength(29_998);
    expect(result.problems.map(({ stt, code }) => `${stt} ${code}`)).toEqual(['43 ALREADY_LISTED', '30000 DUPLICATE_PERSON', '30001 DUPLICATE_PERSON']);
  });

  it('refuses a period that is not MM/yyyy: the door must have checked it', () => {
    expect(() => checkList([pupil()], context({ kyKeKhai: '2026-10' }))).toThrow(/kyKeKhai/);
  });
});

describe('schemas/d03-ts.schema.json', () => {
  // The options of src/intake/validator.ts, which every upload goes through.
  const ajv = new Ajv2020({ allErrors: true, strict: true, coerceTypes: 'array', useDefaults: false });
  addFormats.default(ajv, ['email']);
  const validate = ajv.compile(readSchema('d03-ts.schema.json'));
  const check = (body: unknown) => {
    const document = normaliseDocument(body);
    return validate(document) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath} ${error.keyword}`);
  };
  const body = (rows: unknown[], top: Record<string, unknown> = {}) => ({ kyKeKhai: '10/2026', rows, ...top });

  it('takes a list whose rows the checks then judge: a wrong value is the row\'s problem, not the body\'s', () => {
    const document = normaliseDocument(body([pupil(), pupil({ stt: 2, soDinhDanh: '008215000999', ngaySinh: '31/02/2015', gioiTinh: 'X', soThang: 5 })])) as { rows: D03Row[] };
    expect(validate(document)).toBe(true);
    expect(problemsOf(document.rows).map(({ stt, code }) => `${stt} ${code}`)).toEqual(['2 FORMAT', '2 ENUM', '2 PAID_MONTHS_INVALID']);
  });

  it('has every field of the row shape and of the list header, and no other', () => {
    const row = { ...pupil(), maSoBhxh: '0815000123', hoTroNSDP: 0, hoTroKhac: 0, maNhanVienThu: 'NV01', ghiChu: 'chuyển trường' };
    expect(check(body([row]))).toEqual([]);
    expect(check(body([{ ...pupil(), hoVaTen: 'x' }]))).toEqual(['/rows/0 additionalProperties']);
    expect(check(body([pupil()], { maDonVi: 'TZ0801A', tenDonVi: 'Trường THPT Chuyên Hà Giang' }))).toEqual([]);
    expect(check(body([pupil()], { loaiDoiTuong: 'HS' }))).toEqual([' additionalProperties']);
  });

  it('refuses what is not a list at all: no period, a period not MM/yyyy, no rows, no STT, text for a number', () => {
    expect(check({ rows: [pupil()] })).toEqual([' required']);
    expect(check(body([pupil()], { kyKeKhai: '13/2026' }))).toEqual(['/kyKeKhai pattern']);
    expect(check(body([]))).toEqual(['/rows minItems']);
    expect(check(body([pupil({ stt: undefined })]))).toEqual(['/rows/0 required']);
    expect(check(body([pupil({ stt: 0 })]))).toEqual(['/rows/0/stt minimum']);
    expect(check(body([pupil({ soTien: 'nhiều' })]))).toEqual(['/rows/0/soTien type']);
  });

  it('bounds every string and the number of rows', () => {
    expect(check(body([pupil({ soDinhDanh: '0'.repeat(33) })]))).toEqual(['/rows/0/soDinhDanh maxLength']);
    expect(check(body([pupil({ hoTen: 'A'.repeat(201) })]))).toEqual(['/rows/0/hoTen maxLength']);
    expect(check(body([pupil({ diaChi: 'x'.repeat(501) })]))).toEqual(['/rows/0/diaChi maxLength']);
    expect(check(body([pupil({ hoTen: 'An\u0007' })]))).toEqual(['/rows/0/hoTen pattern']);
    const row = pupil();
    expect(check(body(Array.from({ length: 50_000 }, () => row)))).toEqual([]);
    expect(check(body(Array.from({ length: 50_001 }, () => row)))).toEqual(['/rows maxItems']);
  });
});
