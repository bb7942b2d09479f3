import { createHash } from 'node:crypto';
import type { KhaiSinh, KhaiTu, KhaiTuHoTich } from '../../src/domain/documents.js';
import type { HoSoMotCua } from '../../src/messages/dossier/merge.js';
import { messageId, personalNumber, toXml } from './fixtures.js';

/**
 * Builders for the two messages of the deaths / one-stop-shop issue (docs/API.md, "KhaiTu" and
 * "HoSoMotCua"): a death registration (`KhaiTu`) and a one-stop-shop dossier (`HoSoMotCua`, its
 * record as an XML string).
 */

/** A JSON round trip: drops keys whose value is undefined, so `toXml` never writes "undefined". */
export function clean<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

let dossierSerial = 0;

/** A fresh one-stop-shop dossier code, as the interconnected-services software numbers them. */
export function maHoSo(): string {
  dossierSerial += 1;
  return `000.00.08.H57-250314-${process.pid}-${dossierSerial}-${Math.random().toString(36).slice(2, 6)}`;
}

type KhaiTuOverrides = { hoTich?: Partial<Record<keyof KhaiTuHoTich, unknown>> } & Partial<Omit<KhaiTu, 'hoTich'>>;

/**
 * A complete, valid death registered in Tuyên Quang (08): a man born 1950 (personal number digit 4
 * = 0, male 1900–1999, digits 5–6 = 50) who died on 10.03.2025, registered on 15.03.2025.
 * Overrides set to undefined remove a field.
 */
export function khaiTu(overrides: KhaiTuOverrides = {}): KhaiTu {
  const { hoTich, ...top } = overrides;
  return clean({
    messageId: messageId(),
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
      nktSoDDCN: personalNumber('008', 50, 0),
      nktNoiCuTru: { maTinh: '08', maHuyen: '071', maXa: '02230', dcChiTiet: 'Thôn Đồng Cầu, xã Tràng Đà' },
      nktNgayChet: '10.03.2025',
      nktGioPhutChet: '14:30',
      nktNoiChet: 'Bệnh viện Đa khoa tỉnh Tuyên Quang',
      nktNguyenNhanChet: 'Bệnh già',
      gbtLoai: 1,
      gbtSo: '112/GBT',
      gbtNgay: '11.03.2025',
      gbtCoQuanCap: 'Bệnh viện Đa khoa tỉnh Tuyên Quang',
      nycHoTen: 'Đặng Thị Hoa',
      nycQuanHe: 'Con',
      nycSoDienThoai: '0912000111',
      ...hoTich,
    },
    ...top,
  }) as KhaiTu;
}

/** The death of the child of a birth record: same name, sex, birth date and personal number. */
export function khaiTuOf(birth: KhaiSinh, overrides: KhaiTuOverrides = {}): KhaiTu {
  const { hoTich, ...top } = overrides;
  return khaiTu({
    hoTich: {
      nktHoTen: birth.hoTich.nksHoTen,
      nktGioiTinh: birth.hoTich.nksGioiTinh,
      nktNgaySinh: birth.hoTich.nksNgaySinh,
      nktSoDDCN: birth.hoTich.soDinhDanh,
      nktNgayChet: '16.03.2025',
      nktGioPhutChet: undefined,
      nktNguyenNhanChet: undefined,
      gbtNgay: '16.03.2025',
      ngayDangKy: '19.03.2025',
      nycHoTen: birth.hoTich.nycHoTen,
      nycQuanHe: birth.hoTich.nycQuanHe,
      ...hoTich,
    },
    ...top,
  });
}

/** A file as the one-stop-shop software attaches it, with the SHA-256 the gateway should cite. */
export function attachment(content: Buffer | string = `%PDF-1.4 giấy khai sinh điện tử ${Math.random()}`, name = 'giay-khai-sinh.pdf') {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
  return {
    file: { loaiGiayTo: 'GKS', tenGiayTo: 'Giấy khai sinh điện tử', tenTepDinhKem: name, duLieuTepDinhKem: bytes.toString('base64') },
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/** The declarant's address as the one-stop-shop dossier knows it. */
export const DOSSIER_ADDRESS = { maTinh: '08', maHuyen: '070', maXa: '02215', dcChiTiet: 'Số 12, tổ 7, phường Minh Xuân' };

type DossierOverrides = Partial<Omit<HoSoMotCua, 'data'>> & {
  /** The embedded hộ tịch record (a partial KhaiSinh or KhaiTu hoTich); undefined values are dropped. */
  hoTich?: Record<string, unknown>;
  /** Replaces the embedded XML altogether (hostile input). */
  data?: string;
};

/**
 * A one-stop-shop dossier for a birth (module KS) registered in Tuyên Quang: its record names the
 * registering office and, unless told otherwise, the declarant's address and phone. `soDinhDanh`
 * should be given (the child it is about); set it to undefined to match by maHoSo alone.
 */
export function hoSoMotCua(overrides: DossierOverrides = {}): HoSoMotCua {
  const { hoTich, data, ...top } = overrides;
  const record = clean({
    noiDangKy: { maTinh: '08', maHuyen: '070', maXa: '02215' },
    nycNoiCuTru: DOSSIER_ADDRESS,
    nycSoDienThoai: '0987654321',
    ...hoTich,
  });
  return clean({
    messageId: messageId(),
    maHoSo: maHoSo(),
    maTTHC: '1.001193.000.00.00.H57',
    module: 'KS',
    maDonVi: '02215',
    ngayTiepNhan: '14/03/2025 09:30:00',
    data: data ?? toXml('hoTich', record),
    fileDinhKem: [attachment().file],
    ...top,
  }) as HoSoMotCua;
}
