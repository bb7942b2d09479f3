/**
 * The hộ tịch documents as they stand after intake: NFC-normalised, schema-checked, with codes
 * coerced to their schema types whichever door they came through. Field names are the
 * civil-status software's own (docs/API.md, "Registry doors"); `schemas/*.schema.json` is the
 * authority.
 */
export interface Address {
  maTinh: string;
  maHuyen?: string;
  maXa: string;
  dcChiTiet: string;
}

export interface RegistrationPlace {
  maTinh: string;
  maHuyen?: string;
  maXa: string;
}

export type Guardian = 'cha' | 'me' | 'nguoi_di_khai';
export type CardDelivery = 'tai_tru_so' | 'buu_chinh';

export interface BhytPart {
  noiDangKyKCB?: string;
  nguoiGiamHoTheo?: Guardian;
  hinhThucNhanThe?: CardDelivery;
}

/** 1 both parents known, 2 mother unknown, 3 father unknown, 4 neither known, 5 abandoned. */
export type LoaiKhaiSinh = 1 | 2 | 3 | 4 | 5;
export type GioiTinh = 1 | 2 | 3;

/** The declarant (người yêu cầu), the same in every hộ tịch record. */
export interface Declarant {
  nycHoTen: string;
  nycQuanHe: string;
  nycSoGiayToTuyThan?: string;
  nycSoDienThoai?: string;
  nycEmail?: string;
  /**
   * Often missing: the civil-status software may not hold it (docs/DOMAIN.md, "Guardian on the
   * card"); a one-stop dossier supplies it.
   */
  nycNoiCuTru?: Address;
}

export interface KhaiSinhHoTich extends Declarant {
  soDangKy: string;
  quyenSo: string;
  trangSo?: string;
  ngayDangKy: string;
  noiDangKy: RegistrationPlace;
  soDinhDanh: string;

  nksHoTen: string;
  nksGioiTinh: GioiTinh;
  nksNgaySinh: string;
  nksNoiSinh: string;
  nksQueQuan?: string;
  nksDanToc: string;
  nksQuocTich: string;
  nksLoaiKhaiSinh: LoaiKhaiSinh;

  meHoTen?: string;
  meNgaySinh?: string;
  meDanToc?: string;
  meQuocTich?: string;
  meLoaiCuTru?: 0 | 1 | 2;
  meNoiCuTru?: Address;
  meSoDDCN?: string;

  chaHoTen?: string;
  chaNgaySinh?: string;
  chaDanToc?: string;
  chaQuocTich?: string;
  chaLoaiCuTru?: 0 | 1 | 2;
  chaNoiCuTru?: Address;
  chaSoDDCN?: string;

}

export interface KhaiSinh {
  messageId: string;
  maDonVi: string;
  maHoSoMCDT?: string;
  bhyt?: BhytPart;
  hoTich: KhaiSinhHoTich;
}



export interface KhaiTuHoTich extends Declarant {
  soDangKy: string;
  quyenSo: string;
  trangSo?: string;
  ngayDangKy: string;
  noiDangKy: RegistrationPlace;

  nktHoTen: string;
  nktGioiTinh: GioiTinh;
  nktNgaySinh: string;
  nktDanToc?: string;
  nktQuocTich?: string;
  nktSoDDCN: string;
  nktMaSoBHXH?: string;
  nktNoiCuTru: Address;
  nktNgayChet: string;
  nktGioPhutChet?: string;
  nktNoiChet: string;
  nktNguyenNhanChet?: string;

  /** 1 death notice … 7 witness statement. */
  gbtLoai: number;
  gbtSo?: string;
  gbtNgay?: string;
  gbtCoQuanCap?: string;

}

export interface KhaiTu {
  messageId: string;
  maDonVi: string;
  maHoSoMCDT?: string;
  hoTich: KhaiTuHoTich;
}

/** Why a card is asked for again: lost, damaged, or its information changes (docs/DOMAIN.md, "Card re-issue and change"). */
export type LyDoCapLai = 'mat' | 'hong' | 'thay_doi_thong_tin';

/** The new values a change asks for; each present field replaces the card's. */
export interface ThayDoiThongTin {
  hoTen?: string;
  ngaySinh?: string;
  gioiTinh?: GioiTinh;
  diaChi?: Address;
  noiDangKyKCB?: string;
}

/** A request to re-issue or change a BHYT card, received at any BHXH office of the person's province. */
export interface CapLaiThe {
  messageId: string;
  /** The BHXH office that received the request and hands the card over. */
  maCoQuan: string;
  maTinh: string;
  lyDo: LyDoCapLai;
  nguoi: {
    soDinhDanh?: string;
    maSoBhxh?: string;
    hoTen: string;
    ngaySinh: string;
    gioiTinh: GioiTinh;
  };
  maThe?: string;
  thayDoi?: ThayDoiThongTin;
  hinhThucNhanThe: CardDelivery;
  diaChiNhanThe?: string;
}
