import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { capLaiTheProblems, toCapLaiThe } from '../../mappings/cap-lai-the.js';
import type { CapLaiThe } from '../../src/domain/documents.js';

/**
 * CapLaiThe → CAP_LAI_THE (docs/API.md, "The BHXH records"): a pure mapping. Every field of BHXH's
 * record, the optional ones left out when the request has nothing for them, LY_DO as BHXH codes it,
 * each new value as BHXH's field and text, dates as YYYYMMDD, and a record BHXH's schema takes.
 */

const validate = new Ajv2020({ allErrors: true, strict: true }).compile(
  JSON.parse(readFileSync(new URL('../../schemas/bhxh-cap-lai-the.schema.json', import.meta.url), 'utf8')),
);
const hanTra = { year: 2025, month: 3, day: 25 };

const request = (patch: Partial<CapLaiThe> = {}): CapLaiThe => ({
  messageId: 'cl-0001', maCoQuan: '08BHXH071', maTinh: '08', lyDo: 'mat',
  nguoi: { soDinhDanh: '008090001234', maSoBhxh: '0812345678', hoTen: 'Nguyễn Văn Bình', ngaySinh: '12.05.1990', gioiTinh: 1 },
  maThe: 'GD4080812345678', hinhThucNhanThe: 'tai_tru_so',
  ...patch,
});

describe('toCapLaiThe', () => {
  it('a lost card: every field, nothing to change', () => {
    const record = toCapLaiThe(request(), { transferId: 'tr-1', hanTra });
    expect(record).toEqual({
      MA_HO_SO: 'tr-1', SO_DINH_DANH: '008090001234', MA_SO_BHXH: '0812345678', MA_THE: 'GD4080812345678',
      HO_TEN: 'NGUYỄN VĂN BÌNH', NGAY_SINH: '19900512', GIOI_TINH: 1, LY_DO: 1,
      MA_CO_QUAN_TIEP_NHAN: '08BHXH071', HINH_THUC_NHAN_THE: 1, HAN_TRA: '20250325',
    });
    expect(validate(record), JSON.stringify(validate.errors)).toBe(true);
  });

  it('LY_DO: 1 lost, 2 damaged, 3 a change', () => {
    expect(toCapLaiThe(request({ lyDo: 'hong' }), { transferId: 'tr-2', hanTra }).LY_DO).toBe(2);
    expect(toCapLaiThe(request({ lyDo: 'thay_doi_thong_tin', thayDoi: { gioiTinh: 2 } }), { transferId: 'tr-3', hanTra }).LY_DO).toBe(3);
  });

  it('a change: each new value as BHXH\'s field, an address as its codes and its line', () => {
    const record = toCapLaiThe(request({
      lyDo: 'thay_doi_thong_tin',
      thayDoi: {
        hoTen: 'Nguyễn Văn Bình An', ngaySinh: '2000-01-31', gioiTinh: 3,
        diaChi: { maTinh: '08', maXa: '02230', dcChiTiet: 'Thôn Đồng Cầu' }, noiDangKyKCB: '08001',
      },
    }), { transferId: 'tr-4', hanTra });
    expect(record.NOI_DUNG_THAY_DOI).toEqual([
      { TRUONG: 'HO_TEN', GIA_TRI_MOI: 'NGUYỄN VĂN BÌNH AN' },
      { TRUONG: 'NGAY_SINH', GIA_TRI_MOI: '20000131' },
      { TRUONG: 'GIOI_TINH', GIA_TRI_MOI: '3' },
      { TRUONG: 'MA_TINH', GIA_TRI_MOI: '08' },
      { TRUONG: 'MA_XA', GIA_TRI_MOI: '02230' },
      { TRUONG: 'DIA_CHI', GIA_TRI_MOI: 'Thôn Đồng Cầu' },
      { TRUONG: 'MA_DKBD', GIA_TRI_MOI: '08001' },
    ]);
    expect(validate(record), JSON.stringify(validate.errors)).toBe(true);
  });

  it('by BHXH number alone, by post: no SO_DINH_DANH or MA_THE, the delivery address', () => {
    const record = toCapLaiThe(request({
      nguoi: { maSoBhxh: '0812345678', hoTen: 'Nguyễn Văn Bình', ngaySinh: '12.05.1990', gioiTinh: 1 },
      maThe: undefined, hinhThucNhanThe: 'buu_chinh', diaChiNhanThe: 'Số 5, phường Minh Xuân',
    }), { transferId: 'tr-5', hanTra });
    expect(record).not.toHaveProperty('SO_DINH_DANH');
    expect(record).not.toHaveProperty('MA_THE');
    expect(record).toMatchObject({ HINH_THUC_NHAN_THE: 2, DIA_CHI_NHAN_THE: 'Số 5, phường Minh Xuân' });
    expect(validate(record), JSON.stringify(validate.errors)).toBe(true);
  });

  it('BHXH\'s schema refuses a record naming no one', () => {
    const { SO_DINH_DANH: _number, MA_SO_BHXH: _bhxh, ...nobody } = toCapLaiThe(request(), { transferId: 'tr-6', hanTra });
    expect(validate(nobody)).toBe(false);
  });
});

describe('capLaiTheProblems', () => {
  it('names a current or new name too long for BHXH once in capitals', () => {
    const long = 'ﬃ'.repeat(100);
    expect(capLaiTheProblems({ nguoi: { ...request().nguoi, hoTen: long }, thayDoi: { hoTen: long } }).map((problem) => [problem.path, problem.code])).toEqual([
      ['/nguoi/hoTen', 'BHXH_MAXLENGTH'], ['/thayDoi/hoTen', 'BHXH_MAXLENGTH'],
    ]);
    expect(capLaiTheProblems(request())).toEqual([]);
  });
});
