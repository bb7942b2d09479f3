import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toBaoGiam } from '../../mappings/bao-giam.js';
import { missingForCard, toCapTheTe } from '../../mappings/cap-the-te.js';
import { Catalogues } from '../../src/catalogues/catalogues.js';
import type { CatalogueFile } from '../../src/catalogues/unit-catalogue.js';
import { addDays, compareDates, mustParseCalendarDate, type CalendarDate } from '../../src/domain/calendar-date.js';
import type { KhaiSinh, KhaiTu } from '../../src/domain/documents.js';
import { GatewayError } from '../../src/errors.js';
import { checkKhaiSinh } from '../../src/messages/birth/rules.js';
import { checkKhaiTu } from '../../src/messages/death/rules.js';
import { validateDocument } from '../../src/intake/validator.js';
import { packagePath } from '../../src/package-files.js';

/**
 * Whatever intake accepts, BHXH can take: every birth and death that passes the message schema and
 * the rules maps, and the mapped document passes BHXH's own schema. Names are arbitrary Unicode,
 * weighted towards what changes length in capitals (ligatures, 'ß', Greek with ypogegrammeni),
 * combining marks and characters outside the BMP; dates, units (from the catalogue) and codes are
 * mostly valid, so a good share of the records is accepted (the test asks for a tenth) and the
 * property is not vacuous.
 */

const catalogues = Catalogues.fromFiles({ units: packagePath('catalogues', 'units.json'), facilities: packagePath('catalogues', 'facilities.json') });
const unitFile = JSON.parse(readFileSync(packagePath('catalogues', 'units.json'), 'utf8')) as CatalogueFile;

const bhxh = new Ajv2020({ allErrors: true, strict: true });
const validCapTheTe = bhxh.compile(JSON.parse(readFileSync(packagePath('schemas', 'cap-the-te.schema.json'), 'utf8')));
const validBaoGiam = bhxh.compile(JSON.parse(readFileSync(packagePath('schemas', 'bao-giam.schema.json'), 'utf8')));

const RUNS = 1000;

/** Characters whose capitals are longer: two or three code points for one, before and after NFC. */
const GROWING = ['ß', 'ŉ', 'ǰ', 'ΐ', 'ΰ', 'և', 'ẖ', 'ẗ', 'ẘ', 'ẙ', 'ẚ', 'ﬀ', 'ﬁ', 'ﬂ', 'ﬃ', 'ﬄ', 'ﬅ', 'ﬆ', 'ﬓ', 'ﬔ', 'ᾷ', 'ῗ', 'ῧ', 'ὒ', 'ὔ', 'ὖ', 'ᾳ', 'ῳ'];
const VIETNAMESE = [...'aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ ĐƯƠ'];
/** Combining marks, the dialytika-tonos that NFC splits in two, and the iota subscript that capitals turn into a letter. */
const COMBINING = ['\u0300', '\u0301', '\u0303', '\u0309', '\u0323', '\u0302', '\u0306', '\u031b', '\u0344', '\u0345', '\u0308'];

const character = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...VIETNAMESE) },
  { weight: 3, arbitrary: fc.constantFrom(...GROWING) },
  { weight: 2, arbitrary: fc.constantFrom(...COMBINING) },
  { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((code) => String.fromCodePoint(code)) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);

const name = fc.oneof(
  fc.array(character, { minLength: 1, maxLength: 110 }).map((chars) => chars.join('')),
  fc.tuple(fc.constantFrom(...GROWING), fc.integer({ min: 40, max: 110 })).map(([char, count]) => char.repeat(count)),
  fc.tuple(fc.array(fc.constantFrom(...GROWING), { minLength: 1, maxLength: 8 }), fc.integer({ min: 40, max: 110 }))
    .map(([chars, count]) => Array.from({ length: count }, (_, index) => chars[index % chars.length]).join('')),
);
// Text is carried as it is, so its long forms may be plain repeats (cheaper to generate than 500 draws).
const text = fc.oneof(
  { weight: 4, arbitrary: fc.array(character, { minLength: 1, maxLength: 40 }).map((chars) => chars.join('')) },
  { weight: 1, arbitrary: fc.tuple(character, fc.integer({ min: 1, max: 520 })).map(([char, count]) => char.repeat(count)) },
);
const code = fc.stringMatching(/^[A-Za-z0-9._/:-]{1,64}$/);
// Built once each: building a regular-expression arbitrary costs milliseconds, drawing from one does not.
const DIGITS = new Map([3, 5, 6, 10, 12].map((length) => [length, fc.stringMatching(new RegExp(`^[0-9]{${length}}$`))]));
const digits = (length: 3 | 5 | 6 | 10 | 12) => DIGITS.get(length) as fc.Arbitrary<string>;
const facilityTail = fc.stringMatching(/^[0-9A-Z]{3}$/);
const danToc = fc.integer({ min: 1, max: 54 }).map((value) => String(value).padStart(2, '0'));
const quocTich = fc.oneof(fc.constant('VN'), fc.stringMatching(/^[A-Z]{2}$/));

const pad = (value: number, width: number) => String(value).padStart(width, '0');
const dateArb = (from: CalendarDate, days: number) => fc.integer({ min: 0, max: days }).map((offset) => addDays(from, offset));
/** A date as a registry writes it, in either of the two accepted forms. */
const written = (date: CalendarDate) =>
  fc.constantFrom(`${pad(date.day, 2)}.${pad(date.month, 2)}.${pad(date.year, 4)}`, `${pad(date.year, 4)}-${pad(date.month, 2)}-${pad(date.day, 2)}`);

/** A registering place from the list in force on that day, and a commune or district as the unit. */
function place(on: CalendarDate) {
  const list = unitFile.lists.find((candidate) =>
    compareDates(mustParseCalendarDate(candidate.validFrom), on) <= 0
    && (candidate.validUntil === undefined || compareDates(on, mustParseCalendarDate(candidate.validUntil)) <= 0));
  return fc.constantFrom(...(list?.provinces ?? [{ code: '08', name: 'none in force' }])).chain((province) => {
    const districts = province.districts ?? [];
    const communes = [...(province.communes ?? []), ...districts.flatMap((district) => district.communes ?? [])];
    return fc.record({
      maTinh: fc.constant(province.code),
      maHuyen: fc.option(districts.length ? fc.constantFrom(...districts.map((district) => district.code)) : digits(3), { nil: undefined }),
      maXa: communes.length ? fc.constantFrom(...communes.map((commune) => commune.code)) : digits(5),
    });
  });
}

const address = (maTinh: string) => fc.record({ maTinh: fc.constant(maTinh), maHuyen: fc.option(digits(3), { nil: undefined }), maXa: digits(5), dcChiTiet: text });

/** 4th digit: century (1900s 0/1, 2000s 2/3, 2100s 4/5) and sex; 5th–6th: year of birth. */
function personalNumber(born: CalendarDate, sex: 1 | 2 | 3) {
  const century = Math.floor((born.year - 1900) / 100) * 2;
  return fc.tuple(digits(3), sex === 3 ? fc.constantFrom(century, century + 1) : fc.constant(century + (sex === 2 ? 1 : 0)), digits(6))
    .map(([province, centuryAndSex, serial]) => `${province}${centuryAndSex}${pad(born.year % 100, 2)}${serial}`);
}

const compact = <T extends object>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

const births = dateArb({ year: 2004, month: 1, day: 1 }, 365 * 24).chain((registered) =>
  fc.record({
    registered: fc.constant(registered),
    today: dateArb(registered, 400),
    born: fc.integer({ min: 0, max: 6 * 366 }).map((days) => addDays(registered, -days)),
    sex: fc.constantFrom<1 | 2 | 3>(1, 2, 3),
    loai: fc.constantFrom<1 | 2 | 3 | 4 | 5>(1, 2, 3, 4, 5),
    noiDangKy: place(registered),
    useDistrict: fc.boolean(),
  }).chain(({ registered, today, born, sex, loai, noiDangKy, useDistrict }) => {
    const motherKnown = ![2, 4, 5].includes(loai);
    const fatherKnown = ![3, 4, 5].includes(loai);
    const parent = fc.integer({ min: 15 * 365, max: 60 * 365 }).chain((days) => written(addDays(born, -days)));
    const guardians = ['nguoi_di_khai', ...(motherKnown ? ['me'] : []), ...(fatherKnown ? ['cha'] : [])];
    return fc.record({
      today: fc.constant(today),
      raw: fc.record({
        messageId: code,
        maDonVi: fc.constant(useDistrict && noiDangKy.maHuyen ? noiDangKy.maHuyen : noiDangKy.maXa),
        maHoSoMCDT: fc.option(code, { nil: undefined }),
        bhyt: fc.option(fc.record({
          noiDangKyKCB: fc.option(facilityTail.map((tail) => `${noiDangKy.maTinh}${tail}`), { nil: undefined, freq: 8 }),
          nguoiGiamHoTheo: fc.option(fc.constantFrom(...guardians), { nil: undefined }),
          hinhThucNhanThe: fc.option(fc.constantFrom('tai_tru_so', 'buu_chinh'), { nil: undefined, freq: 8 }),
        }), { nil: undefined, freq: 8 }),
        hoTich: fc.record({
          soDangKy: code, quyenSo: code, trangSo: fc.option(code, { nil: undefined }),
          ngayDangKy: written(registered), noiDangKy: fc.constant(noiDangKy), soDinhDanh: personalNumber(born, sex),
          nksHoTen: name, nksGioiTinh: fc.constant(sex), nksNgaySinh: written(born), nksNoiSinh: text,
          nksQueQuan: fc.option(text, { nil: undefined }), nksDanToc: danToc, nksQuocTich: quocTich, nksLoaiKhaiSinh: fc.constant(loai),
          ...(motherKnown ? {
            meHoTen: name, meNgaySinh: fc.option(parent, { nil: undefined }), meDanToc: fc.option(danToc, { nil: undefined }),
            meNoiCuTru: fc.option(address(noiDangKy.maTinh), { nil: undefined, freq: 8 }), meSoDDCN: fc.option(digits(12), { nil: undefined }),
          } : {}),
          ...(fatherKnown ? {
            chaHoTen: name, chaNgaySinh: fc.option(parent, { nil: undefined }),
            chaNoiCuTru: fc.option(address(noiDangKy.maTinh), { nil: undefined, freq: 8 }), chaSoDDCN: fc.option(digits(12), { nil: undefined }),
          } : {}),
          nycHoTen: name, nycQuanHe: name, nycSoGiayToTuyThan: fc.option(digits(12), { nil: undefined }),
          nycNoiCuTru: fc.option(address(noiDangKy.maTinh), { nil: undefined, freq: 8 }),
        }),
      }).map(compact),
    });
  }),
);

const deaths = dateArb({ year: 2004, month: 1, day: 1 }, 365 * 24).chain((registered) =>
  fc.record({
    registered: fc.constant(registered),
    today: dateArb(registered, 400),
    died: fc.integer({ min: 0, max: 400 }).map((days) => addDays(registered, -days)),
    sex: fc.constantFrom<1 | 2 | 3>(1, 2, 3),
    noiDangKy: place(registered),
  }).chain(({ registered, today, died, sex, noiDangKy }) => {
    const born = fc.integer({ min: 0, max: 100 * 365 }).map((days) => addDays(died, -days)).filter((date) => date.year >= 1900);
    return born.chain((bornOn) => fc.record({
      today: fc.constant(today),
      raw: fc.record({
        messageId: code,
        maDonVi: fc.constant(noiDangKy.maXa),
        maHoSoMCDT: fc.option(code, { nil: undefined }),
        hoTich: fc.record({
          soDangKy: code, quyenSo: code, ngayDangKy: written(registered), noiDangKy: fc.constant(noiDangKy),
          nktHoTen: name, nktGioiTinh: fc.constant(sex), nktNgaySinh: written(bornOn), nktDanToc: fc.option(danToc, { nil: undefined }),
          nktQuocTich: fc.option(quocTich, { nil: undefined }), nktSoDDCN: personalNumber(bornOn, sex),
          nktMaSoBHXH: fc.option(digits(10), { nil: undefined }), nktNoiCuTru: address(noiDangKy.maTinh),
          nktNgayChet: written(died), nktNoiChet: text, gbtLoai: fc.integer({ min: 1, max: 7 }),
          gbtNgay: fc.option(written(died), { nil: undefined }), nycHoTen: name, nycQuanHe: name,
        }),
      }).map(compact),
    }));
  }),
);

/** The document intake would accept, or null when the schema or a rule refuses it. */
function accepted<T>(check: () => T): T | null {
  try {
    return check();
  } catch (error) {
    if (error instanceof GatewayError) return null;
    throw error;
  }
}

const ligatures = (count: number) => 'ﬃ'.repeat(count);

describe('what intake accepts, BHXH can take', () => {
  it('maps every birth that passes the schema and the rules to a CAP_THE_TE that passes BHXH\'s schema', () => {
    let mapped = 0;
    fc.assert(
      fc.property(births, ({ today, raw }) => {
        const doc = accepted(() => {
          const birth = validateDocument<KhaiSinh>('KhaiSinh', raw);
          checkKhaiSinh(birth, catalogues, today);
          return birth;
        });
        if (doc === null || missingForCard(doc).length > 0) return;
        const capTheTe = toCapTheTe(doc, { transferId: '0192f0c4-7d3a-7000-8000-000000000001' });
        expect(validCapTheTe(capTheTe), JSON.stringify(validCapTheTe.errors)).toBe(true);
        mapped += 1;
      }),
      {
        numRuns: RUNS,
        // The case of issue 11, always tried first: 100 code points, 300 in capitals.
        examples: [[{ today: { year: 2025, month: 3, day: 20 }, raw: khaiSinhWith(ligatures(100)) }]],
      },
    );
    expect(mapped).toBeGreaterThan(RUNS / 10);
  });

  it('maps every death that passes the schema and the rules to a BAO_GIAM that passes BHXH\'s schema', () => {
    let mapped = 0;
    fc.assert(
      fc.property(deaths, ({ today, raw }) => {
        const doc = accepted(() => {
          const death = validateDocument<KhaiTu>('KhaiTu', raw);
          checkKhaiTu(death, catalogues, today);
          return death;
        });
        if (doc === null) return;
        const baoGiam = toBaoGiam(doc, { transferId: '0192f0c4-7d3a-7000-8000-000000000002' });
        expect(validBaoGiam(baoGiam), JSON.stringify(validBaoGiam.errors)).toBe(true);
        mapped += 1;
      }),
      { numRuns: RUNS, examples: [[{ today: { year: 2025, month: 3, day: 20 }, raw: khaiTuWith(ligatures(100)) }]] },
    );
    expect(mapped).toBeGreaterThan(RUNS / 10);
  });
});

function khaiSinhWith(nksHoTen: string): Record<string, unknown> {
  return {
    messageId: 'msg-ligatures', maDonVi: '02215',
    bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'buu_chinh' },
    hoTich: {
      soDangKy: '1', quyenSo: '01/2025', ngayDangKy: '15.03.2025', noiDangKy: { maTinh: '08', maXa: '02215' },
      soDinhDanh: '008325000001', nksHoTen, nksGioiTinh: 2, nksNgaySinh: '01.03.2025', nksNoiSinh: 'Tuyên Quang',
      nksDanToc: '01', nksQuocTich: 'VN', nksLoaiKhaiSinh: 3,
      meHoTen: 'Trần Thị Bình', meNoiCuTru: { maTinh: '08', maXa: '02215', dcChiTiet: 'Số 5' },
      nycHoTen: 'Trần Thị Bình', nycQuanHe: 'Mẹ',
    },
  };
}

function khaiTuWith(nktHoTen: string): Record<string, unknown> {
  return {
    messageId: 'msg-ligatures', maDonVi: '02215',
    hoTich: {
      soDangKy: '1', quyenSo: '01/2025', ngayDangKy: '15.03.2025', noiDangKy: { maTinh: '08', maXa: '02215' },
      nktHoTen, nktGioiTinh: 1, nktNgaySinh: '12.05.1950', nktSoDDCN: '008050000001',
      nktNoiCuTru: { maTinh: '08', maXa: '02230', dcChiTiet: 'Thôn Đồng Cầu' }, nktNgayChet: '10.03.2025', nktNoiChet: 'Tuyên Quang',
      gbtLoai: 1, nycHoTen: 'Đặng Thị Hoa', nycQuanHe: 'Con',
    },
  };
}
