import { NGSP_NAMESPACE } from './wsdl.js';

/**
 * Example requests shown at /docs, one per body. They are real: tests/openapi.test.ts sends each to
 * its route and expects it accepted, so a schema or rule change that would refuse one fails there.
 */

/** A document as the XML doors read it: one element per field, lists as repeated elements. */
function toXml(name: string, value: unknown): string {
  if (Array.isArray(value)) return value.map((item) => toXml(name, item)).join('');
  if (value !== null && typeof value === 'object') {
    return `<${name}>${Object.entries(value).map(([key, inner]) => toXml(key, inner)).join('')}</${name}>`;
  }
  return `<${name}>${String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;')}</${name}>`;
}

/** A girl born in Tuyên Quang (08), both parents known, her card posted to her mother. */
export const khaiSinhExample = {
  messageId: 'HT08-2025-000123',
  maDonVi: '02215',
  maHoSoMCDT: '000.00.08.H57-250314-0001',
  bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'buu_chinh' },
  hoTich: {
    soDangKy: '123',
    quyenSo: '01/2025',
    ngayDangKy: '15.03.2025',
    noiDangKy: { maTinh: '08', maHuyen: '070', maXa: '02215' },
    soDinhDanh: '008325000123',
    nksHoTen: 'Nguyễn Thị Ánh',
    nksGioiTinh: 2,
    nksNgaySinh: '01.03.2025',
    nksNoiSinh: 'Bệnh viện Đa khoa tỉnh Tuyên Quang',
    nksDanToc: '01',
    nksQuocTich: 'VN',
    nksLoaiKhaiSinh: 1,
    meHoTen: 'Trần Thị Bình',
    meNgaySinh: '12.05.1995',
    meDanToc: '01',
    meQuocTich: 'VN',
    meLoaiCuTru: 1,
    meNoiCuTru: { maTinh: '08', maHuyen: '070', maXa: '02215', dcChiTiet: 'Số 5, tổ 3, phường Phan Thiết' },
    meSoDDCN: '008195001234',
    chaHoTen: 'Nguyễn Văn Cường',
    chaNgaySinh: '03.07.1993',
    chaDanToc: '01',
    chaQuocTich: 'VN',
    nycHoTen: 'Nguyễn Văn Cường',
    nycQuanHe: 'Cha',
    nycSoDienThoai: '0912345678',
  },
};

/** A man born in 1950 who died in Tuyên Quang (08). */
export const khaiTuExample = {
  messageId: 'HT08-2025-KT-000045',
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
    nktSoDDCN: '008050000456',
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
    nycSoDienThoai: '0912000111',
  },
};

/** The one-stop-shop dossier of the birth above: it supplies the declarant's address and a file. */
export const hoSoMotCuaExample = {
  messageId: 'MC08-2025-000001',
  maHoSo: khaiSinhExample.maHoSoMCDT,
  maTTHC: '1.001193.000.00.00.H57',
  module: 'KS',
  maDonVi: '02215',
  ngayTiepNhan: '14/03/2025 09:30:00',
  data: `<?xml version="1.0" encoding="UTF-8"?>${toXml('hoTich', {
    noiDangKy: { maTinh: '08', maHuyen: '070', maXa: '02215' },
    soDinhDanh: khaiSinhExample.hoTich.soDinhDanh,
    nycNoiCuTru: { maTinh: '08', maHuyen: '070', maXa: '02215', dcChiTiet: 'Số 12, tổ 7, phường Minh Xuân' },
  })}`,
  fileDinhKem: [{
    loaiGiayTo: 'GKS',
    tenGiayTo: 'Giấy khai sinh điện tử',
    tenTepDinhKem: 'giay-khai-sinh.pdf',
    duLieuTepDinhKem: Buffer.from('%PDF-1.4 giấy khai sinh điện tử').toString('base64'),
  }],
};

const { maHoSoMCDT: _dossier, ...birthWithoutDossier } = khaiSinhExample;

/** GuiKhaiSinh carrying another birth, a boy's: the same fields as at the JSON door, as elements. */
export const soapExample = '<?xml version="1.0" encoding="UTF-8"?>'
  + `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tns="${NGSP_NAMESPACE}"><soap:Body>`
  + toXml('tns:KhaiSinh', {
    ...birthWithoutDossier,
    messageId: 'HT08-2025-000124',
    hoTich: { ...khaiSinhExample.hoTich, soDangKy: '124', soDinhDanh: '008225000124', nksHoTen: 'Nguyễn Văn Bảo', nksGioiTinh: 1 },
  })
  + '</soap:Body></soap:Envelope>';

export const khaiSinhCorrectionExample = {
  bhyt: { noiDangKyKCB: '08001', hinhThucNhanThe: 'tai_tru_so' },
  hoTich: { nksHoTen: 'Nguyễn Thị Ánh Dương' },
};

export const leaseExample = { maTinh: '08', loai: 'CAP_THE_TE', max: 100, leaseSeconds: 300 };

export const resultsExample = {
  results: [
    { MA_HO_SO: '0195b4c2-7a10-7000-8000-0000000000a1', KET_QUA: 'OK', MA_SO_BHXH: '0825000123', MA_THE: 'TE1080825000123', GT_THE_TU: '20250301', GT_THE_DEN: '20310228' },
    { MA_HO_SO: '0195b4c2-7a10-7000-8000-0000000000a2', KET_QUA: 'LOI', LOI: [{ MA_LOI: 'TRUNG_NHAN_KHAU', MO_TA: 'Trùng nhân khẩu' }] },
  ],
};

export const replayExample = { reason: 'BHXH corrected its check of guardian names' };

export const bulkReplayExample = { status: 'returned', unit: '08', errorCode: 'TRUNG_NHAN_KHAU', reason: 'BHXH merged the duplicate households', dryRun: true };

export const pauseExample = { maTinh: '08' };
