/** The birth the benchmark sends, unique per serial, as JSON, XML or a SOAP envelope. */
export type BodyKind = 'json' | 'xml' | 'soap';

function birth(prefix: string, serial: number) {
  const number = `${prefix}3${'25'}${String(serial % 1_000_000).padStart(6, '0')}`;
  return {
    messageId: `bench-${prefix}-${serial}`,
    maDonVi: '02215',
    bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'buu_chinh' },
    hoTich: {
      soDangKy: String(serial), quyenSo: '01/2025', ngayDangKy: '15.03.2025',
      noiDangKy: { maTinh: '08', maHuyen: '070', maXa: '02215' },
      soDinhDanh: number,
      nksHoTen: 'Nguyễn Thị Ánh', nksGioiTinh: 2, nksNgaySinh: '01.03.2025', nksNoiSinh: 'Bệnh viện Đa khoa tỉnh Tuyên Quang',
      nksDanToc: '01', nksQuocTich: 'VN', nksLoaiKhaiSinh: 1,
      meHoTen: 'Trần Thị Bình', meNgaySinh: '12.05.1995', meDanToc: '01', meQuocTich: 'VN', meLoaiCuTru: 1,
      meNoiCuTru: { maTinh: '08', maHuyen: '070', maXa: '02215', dcChiTiet: 'Số 5, tổ 3, phường Phan Thiết' },
      meSoDDCN: '008195001234',
      chaHoTen: 'Nguyễn Văn Cường', chaNgaySinh: '03.07.1993', chaDanToc: '01', chaQuocTich: 'VN',
      nycHoTen: 'Nguyễn Văn Cường', nycQuanHe: 'Cha', nycSoDienThoai: '0912345678',
    },
  };
}

function xml(name: string, value: unknown): string {
  if (value !== null && typeof value === 'object') {
    return `<${name}>${Object.entries(value).map(([key, inner]) => xml(key, inner)).join('')}</${name}>`;
  }
  return `<${name}>${String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;')}</${name}>`;
}

export function khaiSinhBody(kind: BodyKind, prefix: string, serial: number): string {
  const doc = birth(prefix, serial);
  if (kind === 'json') return JSON.stringify(doc);
  const inner = xml('KhaiSinh', doc);
  if (kind === 'xml') return `<?xml version="1.0" encoding="UTF-8"?>${inner}`;
  return `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>${inner.replace('<KhaiSinh>', '<tns:KhaiSinh xmlns:tns="urn:lienthong:ngsp:v1">').replace(/<\/KhaiSinh>$/, '</tns:KhaiSinh>')}</soap:Body></soap:Envelope>`;
}
