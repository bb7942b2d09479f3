/**
 * A validated birth record → BHXH's `CAP_THE_TE` card dossier (docs/API.md). Pure: the transfer id
 * and the office address come from the caller, so the same record always gives the same dossier.
 */
import { mustParseCalendarDate, toBhxhDate } from '../src/domain/calendar-date.js';
import type { Address, CardDelivery, Guardian, KhaiSinh, KhaiSinhHoTich } from '../src/domain/documents.js';
import type { ErrorDetail } from '../src/errors.js';
import { readSchema } from '../src/package-files.js';
import { under6CardPeriod } from './card-periods.js';
import { upperName, upperNameProblems } from './names.js';

export interface CapTheTe {
  MA_HO_SO: string;
  SO_DINH_DANH: string;
  HO_TEN: string;
  NGAY_SINH: string;
  GIOI_TINH: 1 | 2 | 3;
  DAN_TOC: string;
  QUOC_TICH: string;
  MA_TINH: string;
  MA_HUYEN?: string;
  MA_XA: string;
  DIA_CHI: string;
  MA_DKBD: string;
  GT_THE_TU: string;
  GT_THE_DEN: string;
  HO_TEN_GIAM_HO: string;
  SO_DINH_DANH_GIAM_HO?: string;
  QUAN_HE_GIAM_HO: string;
  HINH_THUC_NHAN_THE: 1 | 2;
  DIA_CHI_NHAN_THE: string;
  SO_DANG_KY_KS: string;
  QUYEN_SO_KS: string;
  NGAY_DANG_KY_KS: string;
  NOI_DANG_KY_KS: string;
  MA_HO_SO_MCDT?: string;
  TEP_DINH_KEM?: AttachmentReference[];
}

/** A file the gateway keeps (from a one-stop dossier), cited by its hash rather than carried. */
export interface AttachmentReference {
  LOAI: string;
  TEN: string;
  SHA256: string;
}

export interface CapTheTeContext {
  transferId: string;
  /** The registering office's street address, printed when the family collects the card there. */
  officeAddress?: string;
  attachments?: AttachmentReference[];
}

export const DELIVERY_CODE: Record<CardDelivery, 1 | 2> = { tai_tru_so: 1, buu_chinh: 2 };

/** Read from BHXH's schema, so the check below cannot drift from the boundary check. */
const NAME_MAX_LENGTH = readSchema<{ $defs: { name: { maxLength: number } } }>('cap-the-te.schema.json').$defs.name.maxLength;

/**
 * The names of a birth record that a card dossier would carry but BHXH could not take, as errors on
 * the record's own fields. Every parent and the declarant count, not only today's guardian: the
 * officer's choice, a correction or a one-stop dossier may still make any of them the guardian.
 */
export function capTheTeProblems(hoTich: Partial<KhaiSinhHoTich>, basePath = '/hoTich'): ErrorDetail[] {
  return (['nksHoTen', 'meHoTen', 'chaHoTen', 'nycHoTen'] as const)
    .flatMap((field) => upperNameProblems(`${basePath}/${field}`, hoTich[field], NAME_MAX_LENGTH));
}

/**
 * The loai code and the presence of the parent's fields both count (docs/DOMAIN.md): a parent the loai
 * code calls unknown stays unknown even if stray fields came along, and absent fields mean unknown.
 */
function motherKnown(hoTich: KhaiSinhHoTich): boolean {
  const loai = hoTich.nksLoaiKhaiSinh;
  return hoTich.meHoTen !== undefined && loai !== 2 && loai !== 4 && loai !== 5;
}

function fatherKnown(hoTich: KhaiSinhHoTich): boolean {
  const loai = hoTich.nksLoaiKhaiSinh;
  return hoTich.chaHoTen !== undefined && loai !== 3 && loai !== 4 && loai !== 5;
}

export function resolveGuardian(doc: KhaiSinh): Guardian {
  const chosen = doc.bhyt?.nguoiGiamHoTheo;
  if (chosen !== undefined) return chosen;
  const mother = motherKnown(doc.hoTich);
  const father = fatherKnown(doc.hoTich);
  if (!mother && !father) return 'nguoi_di_khai';
  if (!father) return 'me';
  if (!mother) return 'cha';
  // Both parents known and no officer choice: the procedure gives no default. The mother is our own
  // choice; the officer overrides it through `nguoiGiamHoTheo`.
  return 'me';
}

interface GuardianDetails {
  /** Undefined only when a parent was chosen whose fields are absent. */
  name: string | undefined;
  idNumber: string | undefined;
  relation: string;
  address: Address | undefined;
  addressPointer: string;
}

function guardianDetails(hoTich: KhaiSinhHoTich, guardian: Guardian): GuardianDetails {
  switch (guardian) {
    case 'me':
      return {
        name: hoTich.meHoTen,
        idNumber: hoTich.meSoDDCN,
        relation: 'ME',
        address: hoTich.meNoiCuTru,
        addressPointer: '/hoTich/meNoiCuTru',
      };
    case 'cha':
      return {
        name: hoTich.chaHoTen,
        idNumber: hoTich.chaSoDDCN,
        relation: 'CHA',
        address: hoTich.chaNoiCuTru,
        addressPointer: '/hoTich/chaNoiCuTru',
      };
    case 'nguoi_di_khai':
      return {
        name: hoTich.nycHoTen,
        idNumber: hoTich.nycSoGiayToTuyThan,
        relation: hoTich.nycQuanHe,
        address: hoTich.nycNoiCuTru,
        addressPointer: '/hoTich/nycNoiCuTru',
      };
  }
}

interface CardInputs {
  facility: string;
  delivery: CardDelivery;
  guardian: GuardianDetails & { name: string; address: Address };
}

/** One pass that both lists what is missing and, when nothing is, hands over the narrowed values. */
function cardInputs(doc: KhaiSinh): CardInputs | string[] {
  const missing: string[] = [];
  const facility = doc.bhyt?.noiDangKyKCB;
  if (facility === undefined) missing.push('/bhyt/noiDangKyKCB');
  const delivery = doc.bhyt?.hinhThucNhanThe;
  if (delivery === undefined) missing.push('/bhyt/hinhThucNhanThe');
  const guardian = guardianDetails(doc.hoTich, resolveGuardian(doc));
  const { name, address } = guardian;
  // A chosen parent who is unknown has no address either; pointing at the address would send the
  // officer after data that cannot exist, when the choice is what must change.
  if (name === undefined) missing.push('/bhyt/nguoiGiamHoTheo');
  else if (address === undefined) missing.push(guardian.addressPointer);
  if (facility === undefined || delivery === undefined || name === undefined || address === undefined) {
    return missing;
  }
  return { facility, delivery, guardian: { ...guardian, name, address } };
}

/** JSON Pointers into the birth record of what still keeps its card dossier from being complete. */
export function missingForCard(doc: KhaiSinh): string[] {
  const inputs = cardInputs(doc);
  return Array.isArray(inputs) ? inputs : [];
}

export function toCapTheTe(doc: KhaiSinh, context: CapTheTeContext): CapTheTe {
  const inputs = cardInputs(doc);
  if (Array.isArray(inputs)) {
    throw new Error(`card dossier incomplete: ${inputs.join(', ')}`);
  }
  const { facility, delivery, guardian } = inputs;
  const { hoTich } = doc;
  const birth = mustParseCalendarDate(hoTich.nksNgaySinh);
  const validity = under6CardPeriod(birth);
  return {
    MA_HO_SO: context.transferId,
    SO_DINH_DANH: hoTich.soDinhDanh,
    HO_TEN: upperName(hoTich.nksHoTen),
    NGAY_SINH: toBhxhDate(birth),
    GIOI_TINH: hoTich.nksGioiTinh,
    DAN_TOC: hoTich.nksDanToc,
    QUOC_TICH: hoTich.nksQuocTich,
    MA_TINH: guardian.address.maTinh,
    ...(guardian.address.maHuyen !== undefined && { MA_HUYEN: guardian.address.maHuyen }),
    MA_XA: guardian.address.maXa,
    DIA_CHI: guardian.address.dcChiTiet,
    MA_DKBD: facility,
    GT_THE_TU: toBhxhDate(validity.from),
    GT_THE_DEN: toBhxhDate(validity.to),
    HO_TEN_GIAM_HO: upperName(guardian.name),
    ...(guardian.idNumber !== undefined && { SO_DINH_DANH_GIAM_HO: guardian.idNumber }),
    QUAN_HE_GIAM_HO: guardian.relation,
    HINH_THUC_NHAN_THE: DELIVERY_CODE[delivery],
    DIA_CHI_NHAN_THE:
      delivery === 'buu_chinh'
        ? guardian.address.dcChiTiet
        : (context.officeAddress ?? `Trụ sở đơn vị ${doc.maDonVi}`),
    SO_DANG_KY_KS: hoTich.soDangKy,
    QUYEN_SO_KS: hoTich.quyenSo,
    NGAY_DANG_KY_KS: toBhxhDate(mustParseCalendarDate(hoTich.ngayDangKy)),
    NOI_DANG_KY_KS: doc.maDonVi,
    ...(doc.maHoSoMCDT !== undefined && { MA_HO_SO_MCDT: doc.maHoSoMCDT }),
    ...(context.attachments?.length ? { TEP_DINH_KEM: context.attachments } : {}),
  };
}
