import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import {
  missingForCard,
  resolveGuardian,
  toCapTheTe,
  type CapTheTe,
  type CapTheTeContext,
} from '../../mappings/cap-the-te.js';
import type { Guardian, KhaiSinh, KhaiSinhHoTich } from '../../src/domain/documents.js';

type HoTichPatch = { [K in keyof KhaiSinhHoTich]?: KhaiSinhHoTich[K] | undefined };
type Patch = { [K in Exclude<keyof KhaiSinh, 'hoTich'>]?: KhaiSinh[K] | undefined } & { hoTich?: HoTichPatch };

/** Drops keys set to undefined, so a patch can remove a field the way an absent parent would. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

const NO_MOTHER: HoTichPatch = {
  meHoTen: undefined,
  meNgaySinh: undefined,
  meDanToc: undefined,
  meQuocTich: undefined,
  meLoaiCuTru: undefined,
  meNoiCuTru: undefined,
  meSoDDCN: undefined,
};
const NO_FATHER: HoTichPatch = {
  chaHoTen: undefined,
  chaNgaySinh: undefined,
  chaDanToc: undefined,
  chaQuocTich: undefined,
  chaLoaiCuTru: undefined,
  chaNoiCuTru: undefined,
  chaSoDDCN: undefined,
};

/** A valid birth in Tuyên Quang (08): a girl born 1 March 2025, registered on the 15th. */
function khaiSinh(patch: Patch = {}): KhaiSinh {
  const { hoTich, ...top } = patch;
  const base: KhaiSinh = {
    messageId: 'msg-0001',
    maDonVi: '08123',
    bhyt: { noiDangKyKCB: '08001', hinhThucNhanThe: 'buu_chinh' },
    hoTich: {
      soDangKy: '123',
      quyenSo: '01/2025',
      ngayDangKy: '15.03.2025',
      noiDangKy: { maTinh: '08', maXa: '08123' },
      soDinhDanh: '008325000123',
      nksHoTen: 'Nguyễn Thị Ánh',
      nksGioiTinh: 2,
      nksNgaySinh: '01.03.2025',
      nksNoiSinh: 'Bệnh viện Đa khoa tỉnh Tuyên Quang',
      nksDanToc: '01',
      nksQuocTich: 'VN',
      nksLoaiKhaiSinh: 1,
      meHoTen: 'Trần Thị Bình',
      meNgaySinh: '02.04.1990',
      meSoDDCN: '008190000456',
      meNoiCuTru: { maTinh: '08', maXa: '08125', dcChiTiet: 'Tổ 5, phường Minh Xuân' },
      chaHoTen: 'Nguyễn Văn Cường',
      chaNgaySinh: '03.05.1988',
      chaSoDDCN: '008088000789',
      chaNoiCuTru: { maTinh: '08', maHuyen: '070', maXa: '08131', dcChiTiet: 'Thôn 2, xã Tràng Đà' },
      nycHoTen: 'Lê Văn Dũng',
      nycQuanHe: 'Ông ngoại',
      nycSoGiayToTuyThan: '008060000111',
      nycNoiCuTru: { maTinh: '08', maXa: '08140', dcChiTiet: 'Số 9, đường Bình Thuận' },
    },
  };
  return compact({ ...base, ...top, hoTich: compact({ ...base.hoTich, ...hoTich }) });
}

const context = { transferId: 'tr-0001' };

const ajv = new Ajv2020({ strict: true, allErrors: true });
const validateCapTheTe = ajv.compile<CapTheTe>(
  JSON.parse(readFileSync(new URL('../../schemas/cap-the-te.schema.json', import.meta.url), 'utf8')),
);

describe('resolveGuardian', () => {
  it.each<[string, Patch, Guardian]>([
    ['takes the mother when both parents are known and no one chose (our own default)', {}, 'me'],
    ['takes the father when the mother is unknown (loai 2)', { hoTich: { nksLoaiKhaiSinh: 2, ...NO_MOTHER } }, 'cha'],
    ['takes the mother when the father is unknown (loai 3)', { hoTich: { nksLoaiKhaiSinh: 3, ...NO_FATHER } }, 'me'],
    [
      'takes the declarant when neither parent is known (loai 4)',
      { hoTich: { nksLoaiKhaiSinh: 4, ...NO_MOTHER, ...NO_FATHER } },
      'nguoi_di_khai',
    ],
    [
      'takes the declarant for an abandoned child (loai 5)',
      { hoTich: { nksLoaiKhaiSinh: 5, ...NO_MOTHER, ...NO_FATHER } },
      'nguoi_di_khai',
    ],
    ['takes the declarant for an abandoned child even when a parent name came along', { hoTich: { nksLoaiKhaiSinh: 5 } }, 'nguoi_di_khai'],
    ['trusts the loai code over a stray mother name', { hoTich: { nksLoaiKhaiSinh: 2 } }, 'cha'],
    ['trusts the loai code over a stray father name', { hoTich: { nksLoaiKhaiSinh: 3 } }, 'me'],
    ['takes the mother when the father fields are absent under loai 1', { hoTich: NO_FATHER }, 'me'],
    ['takes the father when the mother fields are absent under loai 1', { hoTich: NO_MOTHER }, 'cha'],
    [
      'takes the declarant when both parents’ fields are absent under loai 1',
      { hoTich: { ...NO_MOTHER, ...NO_FATHER } },
      'nguoi_di_khai',
    ],
    [
      'keeps an explicit father over the both-known default',
      { bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'cha', hinhThucNhanThe: 'buu_chinh' } },
      'cha',
    ],
    [
      'keeps an explicit declarant over the father-unknown default',
      {
        bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'nguoi_di_khai', hinhThucNhanThe: 'buu_chinh' },
        hoTich: { nksLoaiKhaiSinh: 3, ...NO_FATHER },
      },
      'nguoi_di_khai',
    ],
    [
      'keeps an explicit choice even when the chosen parent is unknown',
      { bhyt: { nguoiGiamHoTheo: 'cha' }, hoTich: { nksLoaiKhaiSinh: 3, ...NO_FATHER } },
      'cha',
    ],
  ])('%s', (_name, patch, expected) => {
    expect(resolveGuardian(khaiSinh(patch))).toBe(expected);
  });
});

describe('missingForCard', () => {
  it.each<[string, Patch, string[]]>([
    ['finds nothing missing in a complete record', {}, []],
    ['reports both BHYT fields when the bhyt part is absent', { bhyt: undefined }, ['/bhyt/noiDangKyKCB', '/bhyt/hinhThucNhanThe']],
    ['reports a missing facility', { bhyt: { hinhThucNhanThe: 'tai_tru_so' } }, ['/bhyt/noiDangKyKCB']],
    ['reports a missing delivery method', { bhyt: { noiDangKyKCB: '08001' } }, ['/bhyt/hinhThucNhanThe']],
    ['reports the mother’s address when she is the guardian and it is absent', { hoTich: { meNoiCuTru: undefined } }, ['/hoTich/meNoiCuTru']],
    [
      'reports the father’s address when he is the guardian and it is absent',
      { hoTich: { ...NO_MOTHER, chaNoiCuTru: undefined } },
      ['/hoTich/chaNoiCuTru'],
    ],
    [
      'reports the declarant’s address when the declarant is the guardian and it is absent',
      { hoTich: { nksLoaiKhaiSinh: 4, ...NO_MOTHER, ...NO_FATHER, nycNoiCuTru: undefined } },
      ['/hoTich/nycNoiCuTru'],
    ],
    ['ignores a non-guardian parent’s missing address', { hoTich: { chaNoiCuTru: undefined } }, []],
    [
      'reports the choice, not the address, when the chosen parent is unknown',
      {
        bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'cha', hinhThucNhanThe: 'buu_chinh' },
        hoTich: { nksLoaiKhaiSinh: 3, ...NO_FATHER },
      },
      ['/bhyt/nguoiGiamHoTheo'],
    ],
    [
      'lists everything missing in a stable order',
      { bhyt: undefined, hoTich: { nksLoaiKhaiSinh: 5, ...NO_MOTHER, ...NO_FATHER, nycNoiCuTru: undefined } },
      ['/bhyt/noiDangKyKCB', '/bhyt/hinhThucNhanThe', '/hoTich/nycNoiCuTru'],
    ],
  ])('%s', (_name, patch, expected) => {
    expect(missingForCard(khaiSinh(patch))).toEqual(expected);
  });
});

describe('card validity in the dossier', () => {
  // The rule's boundaries are tested in tests/card-periods.test.ts; here, that the dossier carries it.
  it.each<[string, string, string]>([
    ['runs to 30 September of the year the child turns 6 when born on or before 30 September', '30.09.2026', '20320930'],
    ['runs to the last day of the month the child turns 6 when born after 30 September', '01.10.2026', '20321031'],
  ])('%s', (_name, nksNgaySinh, validTo) => {
    const record = toCapTheTe(khaiSinh({ hoTich: { nksNgaySinh, ngayDangKy: '15.12.2026' } }), context);
    expect([record.GT_THE_TU, record.GT_THE_DEN]).toEqual([record.NGAY_SINH, validTo]);
  });
});

describe('toCapTheTe', () => {
  it('maps a complete birth record field by field', () => {
    expect(toCapTheTe(khaiSinh({ maHoSoMCDT: 'MCDT-2025-0001' }), context)).toStrictEqual({
      MA_HO_SO: 'tr-0001',
      SO_DINH_DANH: '008325000123',
      HO_TEN: 'NGUYỄN THỊ ÁNH',
      NGAY_SINH: '20250301',
      GIOI_TINH: 2,
      DAN_TOC: '01',
      QUOC_TICH: 'VN',
      MA_TINH: '08',
      MA_XA: '08125',
      DIA_CHI: 'Tổ 5, phường Minh Xuân',
      MA_DKBD: '08001',
      GT_THE_TU: '20250301',
      GT_THE_DEN: '20310930',
      HO_TEN_GIAM_HO: 'TRẦN THỊ BÌNH',
      SO_DINH_DANH_GIAM_HO: '008190000456',
      QUAN_HE_GIAM_HO: 'ME',
      HINH_THUC_NHAN_THE: 2,
      DIA_CHI_NHAN_THE: 'Tổ 5, phường Minh Xuân',
      SO_DANG_KY_KS: '123',
      QUYEN_SO_KS: '01/2025',
      NGAY_DANG_KY_KS: '20250315',
      NOI_DANG_KY_KS: '08123',
      MA_HO_SO_MCDT: 'MCDT-2025-0001',
    });
  });

  it('reads ISO dates as well as dd.MM.yyyy', () => {
    const record = toCapTheTe(khaiSinh({ hoTich: { nksNgaySinh: '2025-03-01', ngayDangKy: '2025-03-15' } }), context);
    expect([record.NGAY_SINH, record.NGAY_DANG_KY_KS]).toEqual(['20250301', '20250315']);
  });

  it.each<[string, Patch, Partial<CapTheTe>]>([
    [
      'takes the father’s name, number, relation and address when he is the guardian',
      { hoTich: NO_MOTHER },
      {
        HO_TEN_GIAM_HO: 'NGUYỄN VĂN CƯỜNG',
        SO_DINH_DANH_GIAM_HO: '008088000789',
        QUAN_HE_GIAM_HO: 'CHA',
        MA_TINH: '08',
        MA_HUYEN: '070',
        MA_XA: '08131',
        DIA_CHI: 'Thôn 2, xã Tràng Đà',
      },
    ],
    [
      'takes the declarant’s relation as given when the declarant is the guardian',
      { hoTich: { nksLoaiKhaiSinh: 4, ...NO_MOTHER, ...NO_FATHER } },
      {
        HO_TEN_GIAM_HO: 'LÊ VĂN DŨNG',
        SO_DINH_DANH_GIAM_HO: '008060000111',
        QUAN_HE_GIAM_HO: 'Ông ngoại',
        MA_XA: '08140',
        DIA_CHI: 'Số 9, đường Bình Thuận',
      },
    ],
  ])('%s', (_name, patch, expected) => {
    expect(toCapTheTe(khaiSinh(patch), context)).toMatchObject(expected);
  });

  it.each<[string, Patch, CapTheTeContext, 1 | 2, string]>([
    ['posts the card to the guardian’s address', {}, context, 2, 'Tổ 5, phường Minh Xuân'],
    [
      'holds the card at the office address given by the caller',
      { bhyt: { noiDangKyKCB: '08001', hinhThucNhanThe: 'tai_tru_so' } },
      { transferId: 'tr-0001', officeAddress: 'UBND phường Minh Xuân, số 1 đường 17/8' },
      1,
      'UBND phường Minh Xuân, số 1 đường 17/8',
    ],
    [
      'names the registering unit when the caller knows no office address',
      { bhyt: { noiDangKyKCB: '08001', hinhThucNhanThe: 'tai_tru_so' } },
      context,
      1,
      'Trụ sở đơn vị 08123',
    ],
  ])('%s', (_name, patch, ctx, method, address) => {
    const record = toCapTheTe(khaiSinh(patch), ctx);
    expect([record.HINH_THUC_NHAN_THE, record.DIA_CHI_NHAN_THE]).toEqual([method, address]);
  });

  it.each<[string, string, string]>([
    ['upper-cases a Vietnamese name keeping its letters', 'Nguyễn Thị Ánh', 'NGUYỄN THỊ ÁNH'],
    ['upper-cases đ and horned vowels', 'Đặng Ngọc Ơn Ưng', 'ĐẶNG NGỌC ƠN ƯNG'],
    ['returns NFC capitals for an NFD name', 'Nguyễn Thị Ánh'.normalize('NFD'), 'NGUYỄN THỊ ÁNH'],
  ])('%s', (_name, input, expected) => {
    const record = toCapTheTe(khaiSinh({ hoTich: { nksHoTen: input, meHoTen: input } }), context);
    expect(record.HO_TEN).toBe(expected);
    expect(record.HO_TEN_GIAM_HO).toBe(expected);
    expect(record.HO_TEN.normalize('NFC')).toBe(record.HO_TEN);
  });

  it.each<[string, Patch, keyof CapTheTe]>([
    ['omits MA_HUYEN when the guardian’s address has no district', {}, 'MA_HUYEN'],
    ['omits SO_DINH_DANH_GIAM_HO when the guardian has no number', { hoTich: { meSoDDCN: undefined } }, 'SO_DINH_DANH_GIAM_HO'],
    [
      'omits SO_DINH_DANH_GIAM_HO when the declarant has no identity paper',
      { hoTich: { ...NO_MOTHER, ...NO_FATHER, nycSoGiayToTuyThan: undefined } },
      'SO_DINH_DANH_GIAM_HO',
    ],
    ['omits MA_HO_SO_MCDT when the birth did not come through the one-stop shop', {}, 'MA_HO_SO_MCDT'],
  ])('%s', (_name, patch, key) => {
    expect(Object.keys(toCapTheTe(khaiSinh(patch), context))).not.toContain(key);
  });

  it.each<[string, Patch]>([
    ['refuses a record without BHYT fields', { bhyt: undefined }],
    ['refuses a record whose guardian has no address', { hoTich: { meNoiCuTru: undefined } }],
    [
      'refuses a record whose chosen parent is unknown',
      { bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'cha', hinhThucNhanThe: 'buu_chinh' }, hoTich: NO_FATHER },
    ],
  ])('%s', (_name, patch) => {
    expect(() => toCapTheTe(khaiSinh(patch), context)).toThrow(/card dossier incomplete/);
  });
});

describe('cap-the-te.schema.json', () => {
  it.each<[string, Patch, CapTheTeContext]>([
    ['accepts the record for a mother guardian posted home', { maHoSoMCDT: 'MCDT-2025-0001' }, context],
    ['accepts the record for a father guardian with a district', { hoTich: NO_MOTHER }, context],
    [
      'accepts the record for a declarant guardian collected at the office',
      {
        bhyt: { noiDangKyKCB: '08C51', hinhThucNhanThe: 'tai_tru_so' },
        hoTich: { nksLoaiKhaiSinh: 5, ...NO_MOTHER, ...NO_FATHER, nycSoGiayToTuyThan: undefined },
      },
      { transferId: 'tr-0002', officeAddress: 'UBND phường Minh Xuân' },
    ],
  ])('%s', (_name, patch, ctx) => {
    const record = toCapTheTe(khaiSinh(patch), ctx);
    expect(validateCapTheTe(record), ajv.errorsText(validateCapTheTe.errors)).toBe(true);
  });

  it.each<[string, Record<string, unknown>]>([
    ['rejects an unknown field', { TEP_KHAC: 'x' }],
    ['rejects a malformed facility code', { MA_DKBD: '8001' }],
    ['rejects a date that is not YYYYMMDD', { NGAY_SINH: '2025-03-01' }],
    ['rejects a delivery code other than 1 or 2', { HINH_THUC_NHAN_THE: 3 }],
  ])('%s', (_name, change) => {
    expect(validateCapTheTe({ ...toCapTheTe(khaiSinh(), context), ...change })).toBe(false);
  });
});
