import type { KhaiSinh } from '../../src/domain/documents.js';

/** The clock every gateway test runs on: 20 March 2025, 10:00 in Vietnam. */
export const TEST_NOW = new Date('2025-03-20T03:00:00Z');

let serial = 0;

/** A fresh 12-digit personal number for a girl born in 2025 (4th digit 3 = female, 2000–2099). */
export function personalNumber(province = '008', year = 25, sexDigit = 3): string {
  serial += 1;
  const unique = (process.pid * 1000 + serial) % 1_000_000;
  return `${province}${sexDigit}${String(year).padStart(2, '0')}${String(unique).padStart(6, '0')}`;
}

export function messageId(): string {
  serial += 1;
  return `msg-${process.pid}-${serial}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A complete, valid birth in Tuyên Quang (08): both parents known, card posted to the mother. */
export function khaiSinh(overrides: { hoTich?: Partial<KhaiSinh['hoTich']>; bhyt?: KhaiSinh['bhyt'] | null } & Partial<Omit<KhaiSinh, 'hoTich' | 'bhyt'>> = {}): KhaiSinh {
  const { hoTich, bhyt, ...top } = overrides;
  const doc: KhaiSinh = {
    messageId: messageId(),
    maDonVi: '02215',
    bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'buu_chinh' },
    hoTich: {
      soDangKy: '123',
      quyenSo: '01/2025',
      ngayDangKy: '15.03.2025',
      noiDangKy: { maTinh: '08', maHuyen: '070', maXa: '02215' },
      soDinhDanh: personalNumber(),
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
      ...hoTich,
    },
    ...top,
  };
  if (bhyt === null) delete doc.bhyt;
  else if (bhyt !== undefined) doc.bhyt = bhyt;
  return doc;
}

/** A complete birth registered in Hà Nội (01); 01 lists no communes, so only the commune's shape is checked. */
export function khaiSinhHaNoi(overrides: { bhyt?: KhaiSinh['bhyt'] | null } = {}): KhaiSinh {
  return khaiSinh({
    maDonVi: '00004',
    bhyt: { noiDangKyKCB: '01020', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'tai_tru_so' },
    ...overrides,
    hoTich: {
      noiDangKy: { maTinh: '01', maHuyen: '001', maXa: '00004' },
      soDinhDanh: personalNumber('001'),
      meNoiCuTru: { maTinh: '01', maHuyen: '001', maXa: '00004', dcChiTiet: 'Số 1 phố Tràng Tiền' },
    },
  });
}

/** The same document as the XML the contract describes: one element per field, nested objects nested. */
export function toXml(root: string, value: unknown): string {
  const body = (item: unknown, name: string): string => {
    if (Array.isArray(item)) return item.map((entry) => body(entry, name)).join('');
    if (item !== null && typeof item === 'object') {
      return `<${name}>${Object.entries(item).map(([key, inner]) => body(inner, key)).join('')}</${name}>`;
    }
    const text = String(item).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    return `<${name}>${text}</${name}>`;
  };
  return `<?xml version="1.0" encoding="UTF-8"?>${body(value, root)}`;
}

/** A SOAP 1.1 envelope around the same document, as a registry system would send GuiKhaiSinh. */
export function toSoapEnvelope(root: string, value: unknown): string {
  const inner = toXml(root, value).replace(/^<\?xml[^>]*\?>/, '').replace(`<${root}>`, `<tns:${root} xmlns:tns="urn:lienthong:ngsp:v1">`).replace(new RegExp(`</${root}>$`), `</tns:${root}>`);
  return `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>${inner}</soap:Body></soap:Envelope>`;
}
