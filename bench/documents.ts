/** The birth the benchmark sends, unique per serial, as JSON, XML or a SOAP envelope. */
import { toCapTheTe } from '../mappings/cap-the-te.js';
import type { KhaiSinh } from '../src/domain/documents.js';

export type BodyKind = 'json' | 'xml' | 'soap';

/** The personal number of a serial under a 3-digit prefix: a girl born in 2025, one million per prefix. */
function personalNumber(prefix: string, serial: number): string {
  return `${prefix}3${'25'}${String(serial % 1_000_000).padStart(6, '0')}`;
}

/** `persons`: the prefix of the personal numbers, when not the run's own (births of persons already stored). */
function birth(prefix: string, serial: number, persons = prefix) {
  const number = personalNumber(persons, serial);
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

export function khaiSinhBody(kind: BodyKind, prefix: string, serial: number, persons?: string): string {
  const doc = birth(prefix, serial, persons);
  if (kind === 'json') return JSON.stringify(doc);
  const inner = xml('KhaiSinh', doc);
  if (kind === 'xml') return `<?xml version="1.0" encoding="UTF-8"?>${inner}`;
  return `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>${inner.replace('<KhaiSinh>', '<tns:KhaiSinh xmlns:tns="urn:lienthong:ngsp:v1">').replace(/<\/KhaiSinh>$/, '</tns:KhaiSinh>')}</soap:Body></soap:Envelope>`;
}

const SO_DINH_DANH = '__SO_DINH_DANH__';
const TRANSFER_ID = '__TRANSFER_ID__';
const MESSAGE_ID = '__MESSAGE_ID__';

/**
 * SQL that stores the births of serials first … first + count − 1 (below a million) of persons
 * `persons`325…, issued, as intake would have stored them: the transfer with its document and card
 * dossier, and its idempotency record. Set-based (generate_series): a million rows in minutes rather
 * than the hours the doors would take. The audit log is left as it is: no birth statement reads it.
 */
export function storedBirthsSql(first: number, count: number, persons: string, clientId: string): { text: string; values: unknown[] } {
  if (first < 0 || first + count > 1_000_000) throw new Error('serials of stored births must lie below a million');
  const template = birth(persons, 0);
  const doc = { ...template, messageId: MESSAGE_ID, hoTich: { ...template.hoTich, soDinhDanh: SO_DINH_DANH } } as KhaiSinh;
  const capTheTe = toCapTheTe(doc, { transferId: TRANSFER_ID });
  return {
    text: `WITH seed AS (
             SELECT 'seed-' || lpad(i::text, 7, '0') AS id, 'seed-' || i AS message_id,
                    $2::text || '325' || lpad(i::text, 6, '0') AS so_dinh_danh
               FROM generate_series($6::int, $6::int + $1::int - 1) AS i
           ),
           stored AS (
             INSERT INTO transfers (id, type, client_id, message_id, status, ma_tinh, ma_don_vi, so_dinh_danh, document, missing, bhxh_document)
             SELECT id, 'KHAI_SINH', $3, message_id, 'issued', '08', '02215', so_dinh_danh,
                    replace(replace($4::text, '${SO_DINH_DANH}', so_dinh_danh), '${MESSAGE_ID}', message_id)::jsonb, '[]',
                    replace(replace($5::text, '${SO_DINH_DANH}', so_dinh_danh), '${TRANSFER_ID}', id)::jsonb
               FROM seed
           )
           INSERT INTO inbound_messages (client_id, message_id, message_type, content_sha256, transfer_id, response)
           SELECT $3, message_id, 'KhaiSinh', encode(sha256(convert_to(message_id, 'UTF8')), 'hex'), id,
                  jsonb_build_object('transferId', id, 'messageId', message_id, 'status', 'queued')
             FROM seed`,
    values: [count, persons, clientId, JSON.stringify(doc), JSON.stringify(capTheTe), first],
  };
}
