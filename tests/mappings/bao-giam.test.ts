import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { toBaoGiam, type BaoGiam } from '../../mappings/bao-giam.js';
import type { KhaiTu, KhaiTuHoTich } from '../../src/domain/documents.js';

/**
 * KhaiTu → BAO_GIAM (docs/API.md, "The BHXH records"; docs/DOMAIN.md, "Deaths"): a pure mapping.
 * Every field of the BHXH entry, the optional ones left out when the record has nothing for them,
 * names in capitals with their Vietnamese letters, dates as YYYYMMDD, TU_NGAY the day of death, the
 * place the person leaves from their residence.
 */

type HoTichPatch = { [K in keyof KhaiTuHoTich]?: KhaiTuHoTich[K] | undefined };
type Patch = { [K in Exclude<keyof KhaiTu, 'hoTich'>]?: KhaiTu[K] | undefined } & { hoTich?: HoTichPatch };

function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** A valid death in Tuyên Quang (08): a man born 12 May 1950, died 10 March 2025, registered on the 15th. */
function khaiTu(patch: Patch = {}): KhaiTu {
  const { hoTich, ...top } = patch;
  const base: KhaiTu = {
    messageId: 'msg-kt-0001',
    maDonVi: '02215',
    hoTich: {
      soDangKy: '45',
      quyenSo: '01/2025-KT',
      ngayDangKy: '15.03.2025',
      noiDangKy: { maTinh: '08', maHuyen: '070', maXa: '02215' },
      nktHoTen: 'Đặng Văn Ẩn',
      nktGioiTinh: 1,
      nktNgaySinh: '12.05.1950',
      nktDanToc: '01',
      nktQuocTich: 'VN',
      nktSoDDCN: '008050001234',
      nktMaSoBHXH: '0850001234',
      nktNoiCuTru: { maTinh: '08', maHuyen: '071', maXa: '02230', dcChiTiet: 'Thôn Đồng Cầu, xã Tràng Đà' },
      nktNgayChet: '10.03.2025',
      nktGioPhutChet: '14:30',
      nktNoiChet: 'Bệnh viện Đa khoa tỉnh Tuyên Quang',
      gbtLoai: 1,
      gbtSo: '112/GBT',
      gbtNgay: '11.03.2025',
      gbtCoQuanCap: 'Bệnh viện Đa khoa tỉnh Tuyên Quang',
      nycHoTen: 'Đặng Thị Hoa',
      nycQuanHe: 'Con',
    },
  };
  return compact({ ...base, ...top, hoTich: compact({ ...base.hoTich, ...hoTich }) as KhaiTuHoTich }) as KhaiTu;
}

const CONTEXT = { transferId: '0195b0a1-7c3e-7000-8000-000000000042' };

const schema = JSON.parse(readFileSync(new URL('../../schemas/bao-giam.schema.json', import.meta.url), 'utf8'));
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

function expectValid(record: BaoGiam): void {
  const ok = validate(record);
  expect(validate.errors ?? [], JSON.stringify(validate.errors)).toEqual([]);
  expect(ok).toBe(true);
}

describe('toBaoGiam: the whole entry', () => {
  it('maps every field of a complete death, in BHXH names and formats', () => {
    const record = toBaoGiam(khaiTu({ maHoSoMCDT: '000.00.08.H57-250314-0001' }), CONTEXT);
    expect(record).toEqual({
      MA_HO_SO: CONTEXT.transferId,
      SO_DINH_DANH: '008050001234',
      MA_SO_BHXH: '0850001234',
      HO_TEN: 'ĐẶNG VĂN ẨN',
      NGAY_SINH: '19500512',
      GIOI_TINH: 1,
      NGAY_CHET: '20250310',
      MA_TINH: '08',
      MA_HUYEN: '071',
      MA_XA: '02230',
      LY_DO: 'CHET',
      TU_NGAY: '20250310',
      LOAI_GIAY_BAO_TU: 1,
      SO_DANG_KY_KT: '45',
      NGAY_DANG_KY_KT: '20250315',
      NOI_DANG_KY_KT: '02215',
      MA_HO_SO_MCDT: '000.00.08.H57-250314-0001',
    });
    expectValid(record);
  });

  it('leaves out MA_SO_BHXH, MA_HUYEN and MA_HO_SO_MCDT when the record has none, and stays valid', () => {
    const doc = khaiTu({
      hoTich: { nktMaSoBHXH: undefined, nktNoiCuTru: { maTinh: '08', maXa: '02230', dcChiTiet: 'Thôn Đồng Cầu' } },
    });
    const record = toBaoGiam(doc, CONTEXT);
    expect(Object.keys(record)).not.toContain('MA_SO_BHXH');
    expect(Object.keys(record)).not.toContain('MA_HUYEN');
    expect(Object.keys(record)).not.toContain('MA_HO_SO_MCDT');
    expect(Object.keys(record).sort()).toEqual([
      'GIOI_TINH', 'HO_TEN', 'LOAI_GIAY_BAO_TU', 'LY_DO', 'MA_HO_SO', 'MA_TINH', 'MA_XA', 'NGAY_CHET', 'NGAY_DANG_KY_KT',
      'NGAY_SINH', 'NOI_DANG_KY_KT', 'SO_DANG_KY_KT', 'SO_DINH_DANH', 'TU_NGAY',
    ]);
    expectValid(record);
  });

  it('is pure: the same record and context give the same entry, and the input is not changed', () => {
    const doc = khaiTu();
    const before = structuredClone(doc);
    expect(toBaoGiam(doc, CONTEXT)).toEqual(toBaoGiam(doc, CONTEXT));
    expect(doc).toEqual(before);
    expect(toBaoGiam(doc, { transferId: 'other' }).MA_HO_SO).toBe('other');
  });

  it('carries nothing of the record that BAO_GIAM does not define (cause, place of death, declarant)', () => {
    const record = toBaoGiam(khaiTu({ hoTich: { nktNguyenNhanChet: 'Bệnh già' } }), CONTEXT);
    const text = JSON.stringify(record);
    expect(text).not.toContain('Bệnh');
    expect(text).not.toContain('Đặng Thị Hoa'.toUpperCase());
    expect(text).not.toContain('Thôn Đồng Cầu');
  });
});

describe('toBaoGiam: field by field', () => {
  it.each<[string, string, string]>([
    ['plain Vietnamese', 'Đặng Văn Ẩn', 'ĐẶNG VĂN ẨN'],
    ['every tone and hook', 'Nguyễn Thị Hường Ửng Ỷ Ỹ', 'NGUYỄN THỊ HƯỜNG ỬNG Ỷ Ỹ'],
    ['đ lower case', 'đỗ đức độ', 'ĐỖ ĐỨC ĐỘ'],
    ['already capitals', 'TRẦN VĂN BÌNH', 'TRẦN VĂN BÌNH'],
    ['decomposed (NFD) input', 'Lê Thị Ánh'.normalize('NFD'), 'LÊ THỊ ÁNH'],
    ['an ethnic-minority name', "Hờ A Sùng", 'HỜ A SÙNG'],
    ['a dotted i stays a plain I (no Turkish İ)', 'Phí Thị Kim', 'PHÍ THỊ KIM'],
  ])('HO_TEN in capitals, Vietnamese letters kept, NFC: %s', (_case, name, expected) => {
    const record = toBaoGiam(khaiTu({ hoTich: { nktHoTen: name } }), CONTEXT);
    expect(record.HO_TEN).toBe(expected);
    expect(record.HO_TEN).toBe(record.HO_TEN.normalize('NFC'));
    expectValid(record);
  });

  it.each<[string, string, string]>([
    ['dd.MM.yyyy', '12.05.1950', '19500512'],
    ['YYYY-MM-DD', '1950-05-12', '19500512'],
    ['a leap day', '29.02.1952', '19520229'],
    ['the first of January', '01.01.1900', '19000101'],
  ])('NGAY_SINH as YYYYMMDD from %s', (_case, date, expected) => {
    expect(toBaoGiam(khaiTu({ hoTich: { nktNgaySinh: date } }), CONTEXT).NGAY_SINH).toBe(expected);
  });

  it.each<[string, string, string]>([
    ['dd.MM.yyyy', '10.03.2025', '20250310'],
    ['YYYY-MM-DD', '2025-03-10', '20250310'],
    ['end of a month', '31.12.2024', '20241231'],
    ['a leap day', '29.02.2024', '20240229'],
  ])('NGAY_CHET as YYYYMMDD, and TU_NGAY the same day: %s', (_case, date, expected) => {
    const record = toBaoGiam(khaiTu({ hoTich: { nktNgayChet: date } }), CONTEXT);
    expect(record.NGAY_CHET).toBe(expected);
    expect(record.TU_NGAY).toBe(expected);
    expectValid(record);
  });

  it.each<[string, string, string]>([
    ['dd.MM.yyyy', '15.03.2025', '20250315'],
    ['YYYY-MM-DD', '2025-03-15', '20250315'],
  ])('NGAY_DANG_KY_KT as YYYYMMDD from %s', (_case, date, expected) => {
    expect(toBaoGiam(khaiTu({ hoTich: { ngayDangKy: date } }), CONTEXT).NGAY_DANG_KY_KT).toBe(expected);
  });

  it.each<[1 | 2 | 3]>([[1], [2], [3]])('GIOI_TINH %i as the record says it', (sex) => {
    const record = toBaoGiam(khaiTu({ hoTich: { nktGioiTinh: sex } }), CONTEXT);
    expect(record.GIOI_TINH).toBe(sex);
    expectValid(record);
  });

  it.each([1, 2, 3, 4, 5, 6, 7])('LOAI_GIAY_BAO_TU %i from gbtLoai', (loai) => {
    const record = toBaoGiam(khaiTu({ hoTich: { gbtLoai: loai } }), CONTEXT);
    expect(record.LOAI_GIAY_BAO_TU).toBe(loai);
    expectValid(record);
  });

  it.each<[string, KhaiTuHoTich['nktNoiCuTru'], Pick<BaoGiam, 'MA_TINH' | 'MA_XA'> & { MA_HUYEN?: string }]>([
    ['residence with a district', { maTinh: '08', maHuyen: '071', maXa: '02230', dcChiTiet: 'Thôn A' }, { MA_TINH: '08', MA_HUYEN: '071', MA_XA: '02230' }],
    ['residence without a district (2025 units)', { maTinh: '08', maXa: '02230', dcChiTiet: 'Thôn A' }, { MA_TINH: '08', MA_XA: '02230' }],
    ['residence in another province than the registration', { maTinh: '01', maHuyen: '001', maXa: '00004', dcChiTiet: 'Phố Tràng Tiền' }, { MA_TINH: '01', MA_HUYEN: '001', MA_XA: '00004' }],
  ])('MA_TINH / MA_HUYEN / MA_XA from nktNoiCuTru, not noiDangKy: %s', (_case, residence, expected) => {
    const record = toBaoGiam(khaiTu({ hoTich: { nktNoiCuTru: residence } }), CONTEXT);
    expect({ MA_TINH: record.MA_TINH, MA_XA: record.MA_XA, ...(record.MA_HUYEN ? { MA_HUYEN: record.MA_HUYEN } : {}) }).toEqual(expected);
    if (!expected.MA_HUYEN) expect('MA_HUYEN' in record).toBe(false);
    expectValid(record);
  });

  it.each<[string, Patch, string]>([
    ['commune', { maDonVi: '02215' }, '02215'],
    ['district', { maDonVi: '070' }, '070'],
  ])('NOI_DANG_KY_KT is the registering unit (maDonVi): %s', (_case, patch, expected) => {
    const record = toBaoGiam(khaiTu(patch), CONTEXT);
    expect(record.NOI_DANG_KY_KT).toBe(expected);
    expectValid(record);
  });

  it.each<[string, HoTichPatch, Partial<BaoGiam>]>([
    ['SO_DINH_DANH from nktSoDDCN', { nktSoDDCN: '001150009876' }, { SO_DINH_DANH: '001150009876' }],
    ['MA_SO_BHXH from nktMaSoBHXH', { nktMaSoBHXH: '0199001122' }, { MA_SO_BHXH: '0199001122' }],
    ['SO_DANG_KY_KT from soDangKy', { soDangKy: '07/2025' }, { SO_DANG_KY_KT: '07/2025' }],
  ])('%s', (_case, patch, expected) => {
    const record = toBaoGiam(khaiTu({ hoTich: patch }), CONTEXT);
    expect(record).toMatchObject(expected);
    expectValid(record);
  });

  it('LY_DO is always CHET', () => {
    expect(toBaoGiam(khaiTu(), CONTEXT).LY_DO).toBe('CHET');
    expect(toBaoGiam(khaiTu({ hoTich: { gbtLoai: 7 } }), CONTEXT).LY_DO).toBe('CHET');
  });
});

describe('the BAO_GIAM schema itself', () => {
  it('refuses an entry missing a required field or carrying an unknown one', () => {
    const record = toBaoGiam(khaiTu(), CONTEXT) as unknown as Record<string, unknown>;
    const { NGAY_CHET: _removed, ...missing } = record;
    expect(validate(missing)).toBe(false);
    expect(validate({ ...record, NGUYEN_NHAN: 'x' })).toBe(false);
    expect(validate({ ...record, NGAY_CHET: '10.03.2025' })).toBe(false);
    expect(validate({ ...record, LY_DO: 'CHUYEN_DI' })).toBe(false);
  });
});
