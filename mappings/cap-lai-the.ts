/**
 * A validated re-issue or change request → BHXH's `CAP_LAI_THE` record (docs/API.md, "Card re-issue
 * and change"). Pure: the transfer id and the due date are given.
 */
import { mustParseCalendarDate, toBhxhDate, type CalendarDate } from '../src/domain/calendar-date.js';
import type { CapLaiThe, LyDoCapLai, ThayDoiThongTin } from '../src/domain/documents.js';
import type { ErrorDetail } from '../src/errors.js';
import { readSchema } from '../src/package-files.js';
import { DELIVERY_CODE } from './cap-the-te.js';
import { upperName, upperNameProblems } from './names.js';

export interface ThayDoiBhxh {
  TRUONG: 'HO_TEN' | 'NGAY_SINH' | 'GIOI_TINH' | 'DIA_CHI' | 'MA_TINH' | 'MA_HUYEN' | 'MA_XA' | 'MA_DKBD';
  GIA_TRI_MOI: string;
}

export interface CapLaiTheRecord {
  MA_HO_SO: string;
  SO_DINH_DANH?: string;
  MA_SO_BHXH?: string;
  MA_THE?: string;
  HO_TEN: string;
  NGAY_SINH: string;
  GIOI_TINH: 1 | 2 | 3;
  LY_DO: 1 | 2 | 3;
  NOI_DUNG_THAY_DOI?: ThayDoiBhxh[];
  MA_CO_QUAN_TIEP_NHAN: string;
  HINH_THUC_NHAN_THE: 1 | 2;
  DIA_CHI_NHAN_THE?: string;
  HAN_TRA: string;
}

/** BHXH's LY_DO: 1 mất, 2 hỏng, 3 thay đổi thông tin. */
export const LY_DO_CODE: Record<LyDoCapLai, 1 | 2 | 3> = { mat: 1, hong: 2, thay_doi_thong_tin: 3 };

/** Read from BHXH's schema, so the check cannot drift from the boundary check. */
const NAME_MAX_LENGTH = readSchema<{ $defs: { name: { maxLength: number } } }>('bhxh-cap-lai-the.schema.json').$defs.name.maxLength;

const bhxhDate = (text: string) => toBhxhDate(mustParseCalendarDate(text));

/** The names BHXH could not take in capitals, as errors on the request's fields. */
export function capLaiTheProblems(doc: Pick<CapLaiThe, 'nguoi' | 'thayDoi'>): ErrorDetail[] {
  return [
    ...upperNameProblems('/nguoi/hoTen', doc.nguoi.hoTen, NAME_MAX_LENGTH),
    ...upperNameProblems('/thayDoi/hoTen', doc.thayDoi?.hoTen, NAME_MAX_LENGTH),
  ];
}

/** Each new value as BHXH's field and text; an address gives its codes and its line. */
function changesOf(thayDoi: ThayDoiThongTin): ThayDoiBhxh[] {
  const changes: ThayDoiBhxh[] = [];
  if (thayDoi.hoTen !== undefined) changes.push({ TRUONG: 'HO_TEN', GIA_TRI_MOI: upperName(thayDoi.hoTen) });
  if (thayDoi.ngaySinh !== undefined) changes.push({ TRUONG: 'NGAY_SINH', GIA_TRI_MOI: bhxhDate(thayDoi.ngaySinh) });
  if (thayDoi.gioiTinh !== undefined) changes.push({ TRUONG: 'GIOI_TINH', GIA_TRI_MOI: String(thayDoi.gioiTinh) });
  if (thayDoi.diaChi !== undefined) {
    const { maTinh, maHuyen, maXa, dcChiTiet } = thayDoi.diaChi;
    changes.push({ TRUONG: 'MA_TINH', GIA_TRI_MOI: maTinh });
    if (maHuyen !== undefined) changes.push({ TRUONG: 'MA_HUYEN', GIA_TRI_MOI: maHuyen });
    changes.push({ TRUONG: 'MA_XA', GIA_TRI_MOI: maXa }, { TRUONG: 'DIA_CHI', GIA_TRI_MOI: dcChiTiet });
  }
  if (thayDoi.noiDangKyKCB !== undefined) changes.push({ TRUONG: 'MA_DKBD', GIA_TRI_MOI: thayDoi.noiDangKyKCB });
  return changes;
}

export function toCapLaiThe(doc: CapLaiThe, context: { transferId: string; hanTra: CalendarDate }): CapLaiTheRecord {
  const { nguoi } = doc;
  const changes = doc.thayDoi ? changesOf(doc.thayDoi) : [];
  return {
    MA_HO_SO: context.transferId,
    ...(nguoi.soDinhDanh !== undefined && { SO_DINH_DANH: nguoi.soDinhDanh }),
    ...(nguoi.maSoBhxh !== undefined && { MA_SO_BHXH: nguoi.maSoBhxh }),
    ...(doc.maThe !== undefined && { MA_THE: doc.maThe }),
    HO_TEN: upperName(nguoi.hoTen),
    NGAY_SINH: bhxhDate(nguoi.ngaySinh),
    GIOI_TINH: nguoi.gioiTinh,
    LY_DO: LY_DO_CODE[doc.lyDo],
    ...(changes.length > 0 && { NOI_DUNG_THAY_DOI: changes }),
    MA_CO_QUAN_TIEP_NHAN: doc.maCoQuan,
    HINH_THUC_NHAN_THE: DELIVERY_CODE[doc.hinhThucNhanThe],
    ...(doc.diaChiNhanThe !== undefined && { DIA_CHI_NHAN_THE: doc.diaChiNhanThe }),
    HAN_TRA: toBhxhDate(context.hanTra),
  };
}
