/**
 * One person's row of a D03-TS list (pupils and students joining health insurance through their
 * school), in the JSON form of `POST /ts/v1/danh-sach`. Every file format (XLSX, CSV, the I-VAN XML
 * form, JSON) is read into this shape first, so the row checks are written once. Values are as the
 * file gave them, trimmed: the checks, not the readers, decide whether they are right.
 *
 * Columns of the form (A–Q): A stt, B hoTen, C maSoBhxh, D soDinhDanh, E ngaySinh, F gioiTinh,
 * G diaChi, H noiDangKyKCB, I ngayBienLai, J soBienLai, K soTien, L hoTroNSDP, M hoTroKhac,
 * N tuThang, O soThang, P maNhanVienThu, Q ghiChu.
 */
export interface D03Row {
  /** Column A; a row of a file is a person only when its STT is a number. */
  stt: number;
  hoTen?: string;
  /** 10 digits. */
  maSoBhxh?: string;
  /** 12-digit personal number (preferred since 1 August 2025). */
  soDinhDanh?: string;
  /** `dd/MM/yyyy`; a spreadsheet date is written in this form by its reader. */
  ngaySinh?: string;
  /** `Nam` / `Nữ`, or `1` / `2`. */
  gioiTinh?: string;
  diaChi?: string;
  /** The 5-character facility code. */
  noiDangKyKCB?: string;
  /** `dd/MM/yyyy`. */
  ngayBienLai?: string;
  soBienLai?: string;
  /** In đồng, without separators. */
  soTien?: number;
  hoTroNSDP?: number;
  hoTroKhac?: number;
  /** `MM/yyyy`: the first month paid. */
  tuThang?: string;
  /** 3, 6 or 12. */
  soThang?: number;
  maNhanVienThu?: string;
  /** Grade `1`–`12`, or `SV1`…`SV6`, `SVCUOI` for students (JSON only; files may leave it out). */
  lop?: string;
  /** Column Q as the school sent it; the gateway writes its own note on the way back. */
  ghiChu?: string;
}

/** A D03-TS field other than `stt`. */
export type D03Field = Exclude<keyof D03Row, 'stt'>;

/** The 17 columns in form order: the header a file is matched by, and the order a file is written in. */
export const D03_COLUMNS = [
  { letter: 'A', field: 'stt', header: 'STT' },
  { letter: 'B', field: 'hoTen', header: 'Họ và tên' },
  { letter: 'C', field: 'maSoBhxh', header: 'Mã số BHXH' },
  { letter: 'D', field: 'soDinhDanh', header: 'Số CCCD/định danh cá nhân/hộ chiếu' },
  { letter: 'E', field: 'ngaySinh', header: 'Ngày tháng năm sinh' },
  { letter: 'F', field: 'gioiTinh', header: 'Giới tính' },
  { letter: 'G', field: 'diaChi', header: 'Địa chỉ' },
  { letter: 'H', field: 'noiDangKyKCB', header: 'Nơi đăng ký KCB ban đầu' },
  { letter: 'I', field: 'ngayBienLai', header: 'Ngày biên lai' },
  { letter: 'J', field: 'soBienLai', header: 'Số biên lai' },
  { letter: 'K', field: 'soTien', header: 'Số tiền' },
  { letter: 'L', field: 'hoTroNSDP', header: 'Hỗ trợ thêm NSĐP' },
  { letter: 'M', field: 'hoTroKhac', header: 'Hỗ trợ thêm khác' },
  { letter: 'N', field: 'tuThang', header: 'Từ tháng' },
  { letter: 'O', field: 'soThang', header: 'Số tháng' },
  { letter: 'P', field: 'maNhanVienThu', header: 'Mã số nhân viên thu' },
  { letter: 'Q', field: 'ghiChu', header: 'Ghi chú' },
] as const satisfies ReadonlyArray<{ letter: string; field: keyof D03Row; header: string }>;

/** What the header block above the rows (or the XML envelope, or the JSON body) says about the list. */
export interface D03ListHeader {
  /** Tên đơn vị. */
  tenDonVi?: string;
  /** Mã đơn vị: the school's BHXH unit code. */
  maDonVi?: string;
  /** The declaration period, `MM/yyyy`. */
  kyKeKhai?: string;
}

/** A problem found in one row: where (a JSON Pointer into the row, e.g. `/ngaySinh`), a stable code, and words for the school. */
export interface RowProblem {
  stt: number;
  path: string;
  code: string;
  message: string;
}
