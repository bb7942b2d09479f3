import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnitCatalogue } from '../src/catalogues/unit-catalogue.js';
import type { KhaiSinh } from '../src/domain/documents.js';
import { khaiSinh, personalNumber } from './support/fixtures.js';
import { countRows, startTestGateway, TEST_CLIENTS, type ClientName, type TestGateway } from './support/gateway.js';

/**
 * Every KhaiSinh validation rule (schemas/khai-sinh.schema.json, src/messages/birth/rules.ts, the
 * unit catalogue) with a failing case over the JSON door: the status, the error code, the JSON
 * Pointer and detail code of the offending field, and that nothing at all was stored.
 */

// The shared test clients are scoped to provinces 08 and 01, and a registry client may only send for
// its own provinces (403 comes before the unit catalogue is consulted). Unknown or retired provinces
// can only be reached by a client scoped to all provinces, so this file adds one for itself.
Object.assign(TEST_CLIENTS, { registryAll: { id: 'hotich-all-validation', roles: ['registry'], units: ['*'] } });
const REGISTRY_ALL = 'registryAll' as ClientName;

/** The clock of the second gateway: after the 34-province list came into force on 2025-07-01. */
const AFTER_REFORM = new Date('2025-08-01T03:00:00Z');

/** A catalogue whose province 08 lists its districts and communes, so a commune code is checked. */
const communeCatalogue = UnitCatalogue.fromData({
  lists: [
    {
      name: 'test list with communes',
      validFrom: '2004-01-01',
      provinces: [
        {
          code: '08',
          name: 'Tuyên Quang',
          districts: [{ code: '070', name: 'Thành phố Tuyên Quang', communes: [{ code: '02215', name: 'Phường Phan Thiết' }] }],
        },
      ],
    },
  ],
});

let gateway: TestGateway;
let later: TestGateway;
let withCommunes: TestGateway;
beforeAll(async () => {
  [gateway, later, withCommunes] = await Promise.all([
    startTestGateway(),
    startTestGateway({ now: () => AFTER_REFORM }),
    startTestGateway({ units: communeCatalogue }),
  ]);
});
afterAll(async () => {
  await Promise.all([gateway?.close(), later?.close(), withCommunes?.close()]);
});

type HoTich = KhaiSinh['hoTich'];
type Doc = Record<string, unknown>;

/** A valid birth with some hoTich fields replaced; a field given as undefined is left out of the JSON. */
const birth = (hoTich: Partial<Record<keyof HoTich, unknown>>, top: Doc = {}): Doc =>
  ({ ...khaiSinh({ hoTich: hoTich as Partial<HoTich> }), ...top });

const NO_MOTHER = { meHoTen: undefined, meNgaySinh: undefined, meDanToc: undefined, meQuocTich: undefined, meLoaiCuTru: undefined, meNoiCuTru: undefined, meSoDDCN: undefined };
const NO_FATHER = { chaHoTen: undefined, chaNgaySinh: undefined, chaDanToc: undefined, chaQuocTich: undefined };
const BHYT = { noiDangKyKCB: '08001', hinhThucNhanThe: 'buu_chinh' } as const;

/** Province 02 (Hà Giang), which the 34-province list of 2025-07-01 no longer has. */
const HA_GIANG = { noiDangKy: { maTinh: '02', maHuyen: '024', maXa: '00688' } };

async function storedCounts(g: TestGateway) {
  return {
    transfers: await countRows(g.db, 'transfers'),
    inbound_messages: await countRows(g.db, 'inbound_messages'),
    audit_events: await countRows(g.db, 'audit_events'),
  };
}

const post = (g: TestGateway, doc: unknown, as: ClientName = 'registry08') =>
  g.request(as, { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc as object });

const read = async (g: TestGateway, transferId: string, as: ClientName = 'registry08') => {
  const response = await g.request(as, { method: 'GET', url: `/ngsp/v1/transfers/${transferId}` });
  expect(response.statusCode).toBe(200);
  return response.json();
};

interface RefusalCase {
  name: string;
  doc: () => Doc;
  status: number;
  code: string;
  path: string;
  detail: string;
  as?: ClientName;
  on?: () => TestGateway;
}

/** Posts the document and checks the refusal, its detail, and that no table gained a row. */
async function expectRefused({ doc, status, code, path, detail, as, on }: RefusalCase) {
  const g = on?.() ?? gateway;
  const before = await storedCounts(g);
  const response = await post(g, doc(), as);
  expect(response.statusCode).toBe(status);
  const body = response.json();
  expect(body.error.code).toBe(code);
  expect(body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path, code: detail })]));
  expect(await storedCounts(g)).toEqual(before);
}

const schemaCases: RefusalCase[] = [
  { name: 'refuses a birth whose child name (/hoTich/nksHoTen) is missing', doc: () => birth({ nksHoTen: undefined }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksHoTen', detail: 'REQUIRED' },
  { name: 'refuses a birth whose child name is only spaces (empty after trimming)', doc: () => birth({ nksHoTen: '   ' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksHoTen', detail: 'REQUIRED' },
  { name: 'refuses a birth without a messageId', doc: () => birth({}, { messageId: undefined }), status: 400, code: 'VALIDATION_FAILED', path: '/messageId', detail: 'REQUIRED' },
  { name: 'refuses a birth without its registration place', doc: () => birth({ noiDangKy: undefined }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/noiDangKy', detail: 'REQUIRED' },
  { name: 'refuses an unknown field inside hoTich', doc: () => birth({ nksBietDanh: 'Bé Na' } as Partial<HoTich>), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksBietDanh', detail: 'ADDITIONALPROPERTIES' },
  { name: 'refuses an unknown top-level field', doc: () => birth({}, { ghiChu: 'x' }), status: 400, code: 'VALIDATION_FAILED', path: '/ghiChu', detail: 'ADDITIONALPROPERTIES' },
  { name: 'refuses an unknown field inside noiDangKy', doc: () => birth({ noiDangKy: { maTinh: '08', maHuyen: '070', maXa: '02215', tenXa: 'Phan Thiết' } as HoTich['noiDangKy'] }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/noiDangKy/tenXa', detail: 'ADDITIONALPROPERTIES' },
  { name: 'refuses an unknown field inside bhyt', doc: () => birth({}, { bhyt: { ...BHYT, nguoiGiamHoTheo: 'me', maThe: 'TE1' } }), status: 400, code: 'VALIDATION_FAILED', path: '/bhyt/maThe', detail: 'ADDITIONALPROPERTIES' },
  { name: 'refuses a birth date that does not exist (31.02.2025)', doc: () => birth({ nksNgaySinh: '31.02.2025' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksNgaySinh', detail: 'FORMAT' },
  { name: 'refuses 29.02 in a common year (29.02.2025)', doc: () => birth({ nksNgaySinh: '29.02.2025' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksNgaySinh', detail: 'FORMAT' },
  { name: 'refuses a birth date written 2025/03/01', doc: () => birth({ nksNgaySinh: '2025/03/01' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksNgaySinh', detail: 'FORMAT' },
  { name: 'refuses a birth date written without leading zeros (1.3.2025)', doc: () => birth({ nksNgaySinh: '1.3.2025' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksNgaySinh', detail: 'FORMAT' },
  { name: 'refuses a birth date written as US month/day (03.31.2025)', doc: () => birth({ nksNgaySinh: '03.31.2025' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksNgaySinh', detail: 'FORMAT' },
  { name: 'refuses an ISO birth date with a time (2025-03-01T00:00:00Z)', doc: () => birth({ nksNgaySinh: '2025-03-01T00:00:00Z' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksNgaySinh', detail: 'FORMAT' },
  { name: 'refuses a registration date that does not exist (31.04.2025)', doc: () => birth({ ngayDangKy: '31.04.2025' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/ngayDangKy', detail: 'FORMAT' },
  { name: 'refuses a mother birth date in the wrong shape (12/05/1995)', doc: () => birth({ meNgaySinh: '12/05/1995' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/meNgaySinh', detail: 'FORMAT' },
  { name: 'refuses a sex code other than 1, 2 or 3', doc: () => birth({ nksGioiTinh: 4 }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksGioiTinh', detail: 'ENUM' },
  { name: 'refuses an nksLoaiKhaiSinh other than 1 to 5', doc: () => birth({ nksLoaiKhaiSinh: 6 }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksLoaiKhaiSinh', detail: 'ENUM' },
  { name: 'refuses a personal number of 11 digits', doc: () => birth({ soDinhDanh: '00832500012' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/soDinhDanh', detail: 'PATTERN' },
  { name: 'refuses a facility code of 4 characters (0801)', doc: () => birth({}, { bhyt: { ...BHYT, nguoiGiamHoTheo: 'me', noiDangKyKCB: '0801' } }), status: 400, code: 'VALIDATION_FAILED', path: '/bhyt/noiDangKyKCB', detail: 'PATTERN' },
  { name: 'refuses a facility code with lower-case letters (01c51)', doc: () => birth({}, { bhyt: { ...BHYT, nguoiGiamHoTheo: 'me', noiDangKyKCB: '01c51' } }), status: 400, code: 'VALIDATION_FAILED', path: '/bhyt/noiDangKyKCB', detail: 'PATTERN' },
  { name: 'refuses a facility code whose province part is not 2 digits (C0151)', doc: () => birth({}, { bhyt: { ...BHYT, nguoiGiamHoTheo: 'me', noiDangKyKCB: 'C0151' } }), status: 400, code: 'VALIDATION_FAILED', path: '/bhyt/noiDangKyKCB', detail: 'PATTERN' },
  { name: 'refuses a guardian choice that is not cha, me or nguoi_di_khai', doc: () => birth({}, { bhyt: { ...BHYT, nguoiGiamHoTheo: 'ong_ba' } }), status: 400, code: 'VALIDATION_FAILED', path: '/bhyt/nguoiGiamHoTheo', detail: 'ENUM' },
  { name: 'refuses an ethnic code 00 (below 01 Kinh)', doc: () => birth({ nksDanToc: '00' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksDanToc', detail: 'PATTERN' },
  { name: 'refuses an ethnic code 55 (above 54, the last national code)', doc: () => birth({ nksDanToc: '55' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksDanToc', detail: 'PATTERN' },
  { name: 'refuses an ethnic code 99', doc: () => birth({ nksDanToc: '99' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksDanToc', detail: 'PATTERN' },
  { name: 'refuses a mother ethnic code out of range (60)', doc: () => birth({ meDanToc: '60' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/meDanToc', detail: 'PATTERN' },
  { name: 'refuses an ethnic code sent as the JSON number 1 (coerced to "1", not padded to "01")', doc: () => birth({ nksDanToc: 1 }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksDanToc', detail: 'PATTERN' },
  { name: 'refuses a nationality in lower case (vn)', doc: () => birth({ nksQuocTich: 'vn' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksQuocTich', detail: 'PATTERN' },
  { name: 'refuses a name containing markup (<)', doc: () => birth({ nksHoTen: 'Nguyễn <b>Ánh</b>' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksHoTen', detail: 'PATTERN' },
  { name: 'refuses a name containing a NUL character', doc: () => birth({ nksHoTen: 'Nguyễn\u0000Ánh' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksHoTen', detail: 'INVALID_TEXT' },
  { name: 'refuses a place of birth holding a lone surrogate', doc: () => birth({ nksNoiSinh: 'Bệnh viện \ud800' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksNoiSinh', detail: 'INVALID_TEXT' },
  { name: 'refuses a name longer than 100 characters', doc: () => birth({ nksHoTen: `Nguyễn ${'A'.repeat(100)}` }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksHoTen', detail: 'MAXLENGTH' },
  { name: 'refuses a declarant e-mail that is not an address', doc: () => birth({ nycEmail: 'not-an-email' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nycEmail', detail: 'FORMAT' },
  { name: 'refuses a declarant phone number with letters', doc: () => birth({ nycSoDienThoai: '0912abc678' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nycSoDienThoai', detail: 'PATTERN' },
  { name: 'refuses a maDonVi of 4 digits', doc: () => birth({}, { maDonVi: '2215' }), status: 400, code: 'VALIDATION_FAILED', path: '/maDonVi', detail: 'PATTERN' },
  { name: 'refuses a commune code of 4 digits in noiDangKy', doc: () => birth({ noiDangKy: { maTinh: '08', maHuyen: '070', maXa: '2215' } }, { maDonVi: '070' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/noiDangKy/maXa', detail: 'PATTERN' },
  { name: 'refuses mother details without the mother name (dependentRequired)', doc: () => birth({ meHoTen: undefined }, { bhyt: { ...BHYT, nguoiGiamHoTheo: 'cha' } }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/meHoTen', detail: 'DEPENDENTREQUIRED' },
];

const ruleCases: RefusalCase[] = [
  { name: 'refuses a registration date after today (21.03.2025 on 20.03.2025)', doc: () => birth({ ngayDangKy: '21.03.2025' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/ngayDangKy', detail: 'DATE_IN_FUTURE' },
  { name: 'refuses a child born after the registration date', doc: () => birth({ ngayDangKy: '15.03.2025', nksNgaySinh: '16.03.2025' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksNgaySinh', detail: 'BIRTH_AFTER_REGISTRATION' },
  { name: 'refuses a mother born after the child', doc: () => birth({ meNgaySinh: '02.03.2025' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/meNgaySinh', detail: 'PARENT_BORN_AFTER_CHILD' },
  { name: 'refuses a father born on the same day as the child', doc: () => birth({ chaNgaySinh: '01.03.2025' }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/chaNgaySinh', detail: 'PARENT_BORN_AFTER_CHILD' },
  { name: 'refuses a girl (nksGioiTinh 2) whose personal number carries the male digit 2', doc: () => birth({ nksGioiTinh: 2, soDinhDanh: personalNumber('008', 25, 2) }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/soDinhDanh', detail: 'PERSONAL_NUMBER_MISMATCH' },
  { name: 'refuses a boy (nksGioiTinh 1) whose personal number carries the female digit 3', doc: () => birth({ nksGioiTinh: 1, soDinhDanh: personalNumber('008', 25, 3) }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/soDinhDanh', detail: 'PERSONAL_NUMBER_MISMATCH' },
  { name: 'refuses a personal number whose year digits (24) disagree with nksNgaySinh (2025)', doc: () => birth({ soDinhDanh: personalNumber('008', 24, 3) }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/soDinhDanh', detail: 'PERSONAL_NUMBER_MISMATCH' },
  { name: 'refuses a girl born in 2025 whose personal number says the 1900s (digit 1)', doc: () => birth({ soDinhDanh: personalNumber('008', 25, 1) }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/soDinhDanh', detail: 'PERSONAL_NUMBER_MISMATCH' },
  { name: 'refuses sex not determined (3) with the 1900s male digit 0 for a child born in 2025', doc: () => birth({ nksGioiTinh: 3, soDinhDanh: personalNumber('008', 25, 0) }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/soDinhDanh', detail: 'PERSONAL_NUMBER_MISMATCH' },
  { name: 'refuses sex not determined (3) with the 1900s female digit 1 for a child born in 2025', doc: () => birth({ nksGioiTinh: 3, soDinhDanh: personalNumber('008', 25, 1) }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/soDinhDanh', detail: 'PERSONAL_NUMBER_MISMATCH' },
  { name: 'refuses sex not determined (3) with the 2100s digit 4 for a child born in 2025', doc: () => birth({ nksGioiTinh: 3, soDinhDanh: personalNumber('008', 25, 4) }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/soDinhDanh', detail: 'PERSONAL_NUMBER_MISMATCH' },
  { name: 'refuses nksLoaiKhaiSinh 2 (mother unknown) with a mother name present', doc: () => birth({ nksLoaiKhaiSinh: 2 }, { bhyt: { ...BHYT, nguoiGiamHoTheo: 'cha' } }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/meHoTen', detail: 'CONTRADICTS_LOAI_KHAI_SINH' },
  { name: 'refuses nksLoaiKhaiSinh 3 (father unknown) with a father name present', doc: () => birth({ nksLoaiKhaiSinh: 3 }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/chaHoTen', detail: 'CONTRADICTS_LOAI_KHAI_SINH' },
  { name: 'refuses nksLoaiKhaiSinh 4 (neither known) with a mother name present', doc: () => birth({ nksLoaiKhaiSinh: 4, ...NO_FATHER }, { bhyt: { ...BHYT, nguoiGiamHoTheo: 'nguoi_di_khai' } }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/meHoTen', detail: 'CONTRADICTS_LOAI_KHAI_SINH' },
  { name: 'refuses the father as guardian (cha) when the record has no father', doc: () => birth({ ...NO_FATHER }, { bhyt: { ...BHYT, nguoiGiamHoTheo: 'cha' } }), status: 400, code: 'VALIDATION_FAILED', path: '/bhyt/nguoiGiamHoTheo', detail: 'GUARDIAN_UNKNOWN' },
  { name: 'refuses the mother as guardian (me) when the record has no mother', doc: () => birth({ ...NO_MOTHER, nksLoaiKhaiSinh: 2 }, { bhyt: { ...BHYT, nguoiGiamHoTheo: 'me' } }), status: 400, code: 'VALIDATION_FAILED', path: '/bhyt/nguoiGiamHoTheo', detail: 'GUARDIAN_UNKNOWN' },
  { name: 'refuses a maDonVi that is neither the commune nor the district of noiDangKy', doc: () => birth({}, { maDonVi: '02216' }), status: 400, code: 'VALIDATION_FAILED', path: '/maDonVi', detail: 'UNIT_MISMATCH' },
  { name: 'refuses a district maDonVi when noiDangKy names no district', doc: () => birth({ noiDangKy: { maTinh: '08', maXa: '02215' } }, { maDonVi: '070' }), status: 400, code: 'VALIDATION_FAILED', path: '/maDonVi', detail: 'UNIT_MISMATCH' },
  { name: 'refuses a child 6 or older on the registration day (6th birthday = registration day) as NOT_ELIGIBLE_AGE', doc: () => birth({ nksNgaySinh: '20.03.2019', ngayDangKy: '20.03.2025', soDinhDanh: personalNumber('008', 19, 3) }), status: 422, code: 'NOT_ELIGIBLE_AGE', path: '/hoTich/nksNgaySinh', detail: 'NOT_ELIGIBLE_AGE' },
  { name: 'refuses a child well past 6 (born 2010) as NOT_ELIGIBLE_AGE', doc: () => birth({ nksNgaySinh: '05.01.2010', soDinhDanh: personalNumber('008', 10, 3) }), status: 422, code: 'NOT_ELIGIBLE_AGE', path: '/hoTich/nksNgaySinh', detail: 'NOT_ELIGIBLE_AGE' },
  { name: 'refuses a child born 29.02.2016 registered on 01.03.2022 (6th birthday falls on 1 March) as NOT_ELIGIBLE_AGE', doc: () => birth({ nksNgaySinh: '29.02.2016', ngayDangKy: '01.03.2022', soDinhDanh: personalNumber('008', 16, 3) }), status: 422, code: 'NOT_ELIGIBLE_AGE', path: '/hoTich/nksNgaySinh', detail: 'NOT_ELIGIBLE_AGE' },
  { name: 'refuses a child name of 100 × \'ﬃ\' (within 100 characters, 300 in capitals: over BHXH\'s 200)', doc: () => birth({ nksHoTen: 'ﬃ'.repeat(100) }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksHoTen', detail: 'BHXH_MAXLENGTH' },
  { name: 'refuses a father name that is 201 characters in capitals even when the mother is the guardian (a later choice may make him the guardian)', doc: () => birth({ chaHoTen: 'ﬃ'.repeat(67) }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/chaHoTen', detail: 'BHXH_MAXLENGTH' },
  { name: 'refuses a declarant name of 67 × \'ᾷ\' (Α͂Ι in capitals, 201 characters)', doc: () => birth({ nycHoTen: 'ᾷ'.repeat(67) }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nycHoTen', detail: 'BHXH_MAXLENGTH' },
  { name: 'reports data errors before eligibility: an old child with a future registration date is VALIDATION_FAILED', doc: () => birth({ nksNgaySinh: '05.01.2010', ngayDangKy: '21.03.2025', soDinhDanh: personalNumber('008', 10, 3) }), status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/ngayDangKy', detail: 'DATE_IN_FUTURE' },
];

const unitCases: RefusalCase[] = [
  { name: 'refuses an unknown province (99) as UNIT_NOT_CONFIGURED', as: REGISTRY_ALL, doc: () => birth({ noiDangKy: { maTinh: '99', maXa: '99001' } }, { maDonVi: '99001' }), status: 422, code: 'UNIT_NOT_CONFIGURED', path: '/hoTich/noiDangKy/maTinh', detail: 'UNIT_NOT_CONFIGURED' },
  {
    name: 'refuses province 02 (Hà Giang) registered on 01.07.2025, the first day of the 34-province list, as UNIT_NOT_CONFIGURED',
    as: REGISTRY_ALL,
    on: () => later,
    doc: () => birth({ ...HA_GIANG, ngayDangKy: '01.07.2025', nksNgaySinh: '20.06.2025' }, { maDonVi: '00688' }),
    status: 422, code: 'UNIT_NOT_CONFIGURED', path: '/hoTich/noiDangKy/maTinh', detail: 'UNIT_NOT_CONFIGURED',
  },
  {
    name: 'refuses province 67 (Đắk Nông) registered on 15.07.2025 as UNIT_NOT_CONFIGURED',
    as: REGISTRY_ALL,
    on: () => later,
    doc: () => birth({ noiDangKy: { maTinh: '67', maXa: '24611' }, ngayDangKy: '15.07.2025', nksNgaySinh: '01.07.2025' }, { maDonVi: '24611' }),
    status: 422, code: 'UNIT_NOT_CONFIGURED', path: '/hoTich/noiDangKy/maTinh', detail: 'UNIT_NOT_CONFIGURED',
  },
  {
    name: 'refuses a commune missing from a catalogue that lists the communes of its province',
    on: () => withCommunes,
    doc: () => birth({ noiDangKy: { maTinh: '08', maHuyen: '070', maXa: '02218' } }, { maDonVi: '02218' }),
    status: 422, code: 'UNIT_NOT_CONFIGURED', path: '/hoTich/noiDangKy/maXa', detail: 'UNIT_NOT_CONFIGURED',
  },
  {
    name: 'refuses a district missing from a catalogue that lists the districts of its province',
    on: () => withCommunes,
    doc: () => birth({ noiDangKy: { maTinh: '08', maHuyen: '071', maXa: '02215' } }),
    status: 422, code: 'UNIT_NOT_CONFIGURED', path: '/hoTich/noiDangKy/maHuyen', detail: 'UNIT_NOT_CONFIGURED',
  },
];

describe('KhaiSinh validation: the schema', () => {
  it.each(schemaCases)('$name', async (testCase) => {
    await expectRefused(testCase);
  });
});

describe('KhaiSinh validation: the rules a schema cannot say', () => {
  it.each(ruleCases)('$name', async (testCase) => {
    await expectRefused(testCase);
  });

  it('reports every data error of a record at once', async () => {
    const before = await storedCounts(gateway);
    const response = await post(gateway, birth({ ngayDangKy: '21.03.2025', meNgaySinh: '02.03.2025', soDinhDanh: personalNumber('008', 24, 3) }, { maDonVi: '02216' }));
    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe('VALIDATION_FAILED');
    const paths = response.json().error.details.map((detail: { path: string }) => detail.path).sort();
    expect(paths).toEqual(['/hoTich/meNgaySinh', '/hoTich/ngayDangKy', '/hoTich/soDinhDanh', '/maDonVi']);
    expect(await storedCounts(gateway)).toEqual(before);
  });
});

describe('KhaiSinh validation: what the same rules accept', () => {
  it.each([
    { name: 'accepts a registration dated today (20.03.2025)', doc: () => birth({ ngayDangKy: '20.03.2025' }) },
    { name: 'accepts a child born on the registration day', doc: () => birth({ ngayDangKy: '15.03.2025', nksNgaySinh: '15.03.2025' }) },
    { name: 'accepts a child the day before the 6th birthday (born 21.03.2019, registered 20.03.2025)', doc: () => birth({ nksNgaySinh: '21.03.2019', ngayDangKy: '20.03.2025', soDinhDanh: personalNumber('008', 19, 3) }) },
    { name: 'accepts a child born 29.02.2016 registered on 28.02.2022 (the day before its 6th birthday)', doc: () => birth({ nksNgaySinh: '29.02.2016', ngayDangKy: '28.02.2022', soDinhDanh: personalNumber('008', 16, 3) }) },
    { name: 'accepts sex not determined (3) with the 2000s male digit 2', doc: () => birth({ nksGioiTinh: 3, soDinhDanh: personalNumber('008', 25, 2) }) },
    { name: 'accepts sex not determined (3) with the 2000s female digit 3', doc: () => birth({ nksGioiTinh: 3, soDinhDanh: personalNumber('008', 25, 3) }) },
    { name: 'accepts a boy with the 2000s male digit 2', doc: () => birth({ nksGioiTinh: 1, soDinhDanh: personalNumber('008', 25, 2) }) },
    { name: 'accepts ISO dates (YYYY-MM-DD) as well as dd.MM.yyyy', doc: () => birth({ ngayDangKy: '2025-03-15', nksNgaySinh: '2025-03-01', meNgaySinh: '1995-05-12' }) },
    { name: 'accepts the district as maDonVi', doc: () => birth({}, { maDonVi: '070' }) },
    { name: 'accepts ethnic code 54, the last national code', doc: () => birth({ nksDanToc: '54' }) },
    { name: 'accepts a facility code with letters (01C51)', doc: () => birth({}, { bhyt: { ...BHYT, nguoiGiamHoTheo: 'me', noiDangKyKCB: '01C51' } }) },
    { name: 'accepts province 02 (Hà Giang) registered before 2025-07-01', as: REGISTRY_ALL, doc: () => birth({ ...HA_GIANG }, { maDonVi: '00688' }) },
    { name: 'accepts province 02 registered on 30.06.2025 even when checked after the reform (the list in force on the registration date)', as: REGISTRY_ALL, on: () => later, doc: () => birth({ ...HA_GIANG, ngayDangKy: '30.06.2025', nksNgaySinh: '01.06.2025' }, { maDonVi: '00688' }) },
    { name: 'accepts province 08 registered after the reform', on: () => later, doc: () => birth({ ngayDangKy: '15.07.2025', nksNgaySinh: '01.07.2025' }) },
    { name: 'accepts a commune that the catalogue lists', on: () => withCommunes, doc: () => birth({}) },
    { name: 'accepts any well-shaped commune of a province whose communes the catalogue does not list', doc: () => birth({ noiDangKy: { maTinh: '08', maHuyen: '070', maXa: '99999' } }, { maDonVi: '99999' }) },
  ] as Array<{ name: string; doc: () => Doc; as?: ClientName; on?: () => TestGateway }>)('$name', async ({ doc, as, on }) => {
    const g = on?.() ?? gateway;
    const before = await storedCounts(g);
    const response = await post(g, doc(), as);
    expect(response.json()).toEqual({ transferId: expect.any(String), messageId: expect.any(String), status: 'queued' });
    expect(response.statusCode).toBe(202);
    expect(await storedCounts(g)).toEqual({
      transfers: before.transfers + 1,
      inbound_messages: before.inbound_messages + 1,
      audit_events: before.audit_events + 1,
    });
  });
});

describe('KhaiSinh validation: the unit catalogue', () => {
  it.each(unitCases)('$name', async (testCase) => {
    await expectRefused(testCase);
  });

  it('answers a client scoped to 08 sending for province 99 with 403 before consulting the catalogue', async () => {
    await expectRefused({
      name: '', doc: () => birth({ noiDangKy: { maTinh: '99', maXa: '99001' } }, { maDonVi: '99001' }),
      status: 403, code: 'FORBIDDEN', path: '/hoTich/noiDangKy/maTinh', detail: 'FORBIDDEN',
    });
  });
});

describe('KhaiSinh validation: text normalisation', () => {
  const NFC_NAME = 'Nguyễn Thị Ánh';
  const NFD_SPACED = '  Nguyễn   Thị \t Ánh  '.normalize('NFD');

  it('stores a document sent with NFD names and stray spaces as NFC with single spaces', async () => {
    expect(NFD_SPACED).not.toBe(NFC_NAME);
    const response = await post(gateway, birth({
      nksHoTen: NFD_SPACED,
      meHoTen: '  Trần   Thị Bình '.normalize('NFD'),
      nksNoiSinh: 'Bệnh viện  Đa khoa   tỉnh Tuyên Quang'.normalize('NFD'),
    }));
    expect(response.statusCode).toBe(202);
    const transfer = await read(gateway, response.json().transferId);
    const stored = transfer.document.hoTich;
    expect(stored.nksHoTen).toBe(NFC_NAME);
    expect(stored.nksHoTen.normalize('NFC')).toBe(stored.nksHoTen);
    expect(stored.meHoTen).toBe('Trần Thị Bình');
    expect(stored.nksNoiSinh).toBe('Bệnh viện Đa khoa tỉnh Tuyên Quang');
    expect(transfer.bhxhDocument.HO_TEN).toBe('NGUYỄN THỊ ÁNH');
    expect(transfer.bhxhDocument.HO_TEN_GIAM_HO).toBe('TRẦN THỊ BÌNH');
  });

  it('answers the same messageId resent in NFD form after its NFC form with 200 and the first answer', async () => {
    const nfc = birth({ nksHoTen: NFC_NAME });
    const first = await post(gateway, nfc);
    expect(first.statusCode).toBe(202);
    const before = await storedCounts(gateway);
    const nfd = { ...nfc, hoTich: { ...(nfc.hoTich as HoTich), nksHoTen: NFD_SPACED } };
    const again = await post(gateway, nfd);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect(await storedCounts(gateway)).toEqual(before);
  });

  it('still tells a real change of name under the same messageId apart (409 DUPLICATE_MESSAGE)', async () => {
    const doc = birth({ nksHoTen: NFC_NAME });
    expect((await post(gateway, doc)).statusCode).toBe(202);
    const before = await storedCounts(gateway);
    const changed = { ...doc, hoTich: { ...(doc.hoTich as HoTich), nksHoTen: 'Nguyễn Thị Anh' } };
    const response = await post(gateway, changed);
    expect(response.statusCode).toBe(409);
    expect(response.json().error.code).toBe('DUPLICATE_MESSAGE');
    expect(await storedCounts(gateway)).toEqual(before);
  });
});

describe('KhaiSinh validation: one person, one number', () => {
  it('refuses a second birth with a personal number already held, from another messageId, as 409 DUPLICATE_PERSON', async () => {
    const first = birth({});
    expect((await post(gateway, first)).statusCode).toBe(202);
    const soDinhDanh = (first.hoTich as HoTich).soDinhDanh;
    await expectRefused({
      name: '',
      doc: () => birth({ soDinhDanh, nksHoTen: 'Phạm Thị Khác', soDangKy: '456' }),
      status: 409, code: 'DUPLICATE_PERSON', path: '/hoTich/soDinhDanh', detail: 'DUPLICATE_PERSON',
    });
  });
});

describe('KhaiSinh validation: integers arriving as JSON strings', () => {
  // validator.ts compiles with coerceTypes: 'array' so that XML/SOAP text and JSON agree: a string
  // holding an integer is accepted where the schema wants an integer, and stored as the integer.
  it('accepts nksGioiTinh "2" and stores it as the integer 2', async () => {
    const doc = birth({ nksGioiTinh: '2', nksLoaiKhaiSinh: '1', meLoaiCuTru: '1' });
    const response = await post(gateway, doc);
    expect(response.statusCode).toBe(202);
    const stored = (await read(gateway, response.json().transferId)).document.hoTich;
    expect(stored.nksGioiTinh).toBe(2);
    expect(stored.nksLoaiKhaiSinh).toBe(1);
    expect(stored.meLoaiCuTru).toBe(1);
  });

  it('counts "2" and 2 as the same content: the integer form under the same messageId is a 200 repeat', async () => {
    const asString = birth({ nksGioiTinh: '2' });
    const first = await post(gateway, asString);
    expect(first.statusCode).toBe(202);
    const again = await post(gateway, { ...asString, hoTich: { ...(asString.hoTich as HoTich), nksGioiTinh: 2 } });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
  });

  it.each([
    { name: 'refuses nksGioiTinh "two" (not an integer)', value: 'two', detail: 'TYPE' },
    { name: 'refuses nksGioiTinh "2.5"', value: '2.5', detail: 'TYPE' },
    { name: 'refuses nksGioiTinh "5" (an integer outside the codes)', value: '5', detail: 'ENUM' },
  ])('$name', async ({ value, detail }) => {
    await expectRefused({
      name: '', doc: () => birth({ nksGioiTinh: value }),
      status: 400, code: 'VALIDATION_FAILED', path: '/hoTich/nksGioiTinh', detail,
    });
  });
});
