import { mustParseCalendarDate, toBhxhDate } from '../src/domain/calendar-date.js';
import type { KhaiTu, KhaiTuHoTich } from '../src/domain/documents.js';
import type { ErrorDetail } from '../src/errors.js';
import { readSchema } from '../src/package-files.js';
import { upperName, upperNameProblems } from './names.js';

export interface BaoGiam {
  MA_HO_SO: string;
  SO_DINH_DANH: string;
  MA_SO_BHXH?: string;
  HO_TEN: string;
  NGAY_SINH: string;
  GIOI_TINH: 1 | 2 | 3;
  NGAY_CHET: string;
  MA_TINH: string;
  MA_HUYEN?: string;
  MA_XA: string;
  LY_DO: 'CHET';
  TU_NGAY: string;
  LOAI_GIAY_BAO_TU: number;
  SO_DANG_KY_KT: string;
  NGAY_DANG_KY_KT: string;
  NOI_DANG_KY_KT: string;
  MA_HO_SO_MCDT?: string;
}

const bhxhDate = (text: string) => toBhxhDate(mustParseCalendarDate(text));

const NAME_MAX_LENGTH = readSchema<{ properties: { HO_TEN: { maxLength: number } } }>('bao-giam.schema.json').properties.HO_TEN.maxLength;

/** The deceased's name, if BHXH could not take it in capitals, as an error on the record's field. */
export function baoGiamProblems(hoTich: Partial<KhaiTuHoTich>, basePath = '/hoTich'): ErrorDetail[] {
  return upperNameProblems(`${basePath}/nktHoTen`, hoTich.nktHoTen, NAME_MAX_LENGTH);
}

/**
 * A death registration as BHXH's "báo giảm" entry (docs/DOMAIN.md, "Deaths"): the person leaves the household
 * list of the place they lived, from the day of death. Pure.
 */
export function toBaoGiam(doc: KhaiTu, context: { transferId: string }): BaoGiam {
  const { hoTich } = doc;
  const residence = hoTich.nktNoiCuTru;
  return {
    MA_HO_SO: context.transferId,
    SO_DINH_DANH: hoTich.nktSoDDCN,
    ...(hoTich.nktMaSoBHXH ? { MA_SO_BHXH: hoTich.nktMaSoBHXH } : {}),
    HO_TEN: upperName(hoTich.nktHoTen),
    NGAY_SINH: bhxhDate(hoTich.nktNgaySinh),
    GIOI_TINH: hoTich.nktGioiTinh,
    NGAY_CHET: bhxhDate(hoTich.nktNgayChet),
    MA_TINH: residence.maTinh,
    ...(residence.maHuyen ? { MA_HUYEN: residence.maHuyen } : {}),
    MA_XA: residence.maXa,
    LY_DO: 'CHET',
    TU_NGAY: bhxhDate(hoTich.nktNgayChet),
    LOAI_GIAY_BAO_TU: hoTich.gbtLoai,
    SO_DANG_KY_KT: hoTich.soDangKy,
    NGAY_DANG_KY_KT: bhxhDate(hoTich.ngayDangKy),
    NOI_DANG_KY_KT: doc.maDonVi,
    ...(doc.maHoSoMCDT ? { MA_HO_SO_MCDT: doc.maHoSoMCDT } : {}),
  };
}
