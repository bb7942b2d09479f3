/**
 * The JSON form of a list: `{"kyKeKhai": "10/2026", "rows": [{"stt": 1, "hoTen": …}, …]}`, each row
 * in the shape of d03-row.ts. Values are taken as the other readers take them (a personal number
 * sent as a JSON number gets back its leading zeros, an amount may be "1.234.000"); a field the
 * form does not have, or a value of the wrong kind, is a problem for its row.
 */
import sjson from 'secure-json-parse';
import { clip, decodeUtf8, jsonNestsDeeperThan } from '../body-text.js';
import { factValue, takeField, sttOf } from './cell-values.js';
import type { D03Field, D03ListHeader, D03Row, RowProblem } from './d03-row.js';
import { refuseFile, tooManyRows, type D03ListLimits, type D03ListRead } from './list-file.js';

const FIELDS = new Set<string>(['hoTen', 'maSoBhxh', 'soDinhDanh', 'ngaySinh', 'gioiTinh', 'diaChi', 'noiDangKyKCB', 'ngayBienLai', 'soBienLai',
  'soTien', 'hoTroNSDP', 'hoTroKhac', 'tuThang', 'soThang', 'maNhanVienThu', 'lop', 'ghiChu'] satisfies D03Field[]);
const DAY_FIELDS = new Set<string>(['ngaySinh', 'ngayBienLai', 'tuThang'] satisfies D03Field[]);

// The list nests three levels (body, rows, row); anything deeper is not a list, and is refused
// before a parser (and secure-json-parse's recursive prototype scan) walks it.
const MAX_DEPTH = 8;

export function readD03Json(body: Buffer, limits: D03ListLimits): D03ListRead {
  const text = decodeUtf8(body);
  if (jsonNestsDeeperThan(text, MAX_DEPTH)) throw refuseFile('FILE_UNREADABLE', `The JSON nests deeper than ${MAX_DEPTH} levels; a list is {"kyKeKhai", "rows": [...]}`);
  let parsed: unknown;
  try {
    parsed = sjson.parse(text, null, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    // The parser's own message quotes the text around the fault, which may be a pupil's name or
    // number; telling the two faults apart costs a second parse on the failure path only.
    try {
      JSON.parse(text);
    } catch {
      throw refuseFile('FILE_UNREADABLE', 'The body is not valid JSON');
    }
    throw refuseFile('FILE_UNREADABLE', 'The body has a "__proto__" or "constructor.prototype" key, which is not accepted');
  }
  if (!isRecord(parsed) || !Array.isArray(parsed.rows)) {
    throw refuseFile('FILE_UNREADABLE', 'A JSON list is an object {"kyKeKhai": "MM/yyyy", "rows": [...]}');
  }
  if (parsed.rows.length > limits.maxRows) throw tooManyRows(limits);
  if (parsed.rows.length === 0) throw refuseFile('NO_ROWS', 'The list\'s "rows" is empty');
  const header: D03ListHeader = {};
  for (const fact of ['kyKeKhai', 'maDonVi', 'tenDonVi'] as const) {
    const value = parsed[fact];
    const stated = typeof value === 'string' ? factValue(fact, value) : undefined;
    if (stated !== undefined) header[fact] = stated;
  }
  const rows: D03Row[] = [];
  const problems: RowProblem[] = [];
  parsed.rows.forEach((item: unknown, index: number) => {
    const row = rowOf(item, index + 1, problems);
    if (row !== undefined) rows.push(row);
  });
  return { format: 'json', header, rows, problems };
}

function rowOf(item: unknown, position: number, problems: RowProblem[]): D03Row | undefined {
  if (!isRecord(item)) {
    problems.push({ stt: position, path: '', code: 'TYPE', message: `row ${position} is not an object` });
    return undefined;
  }
  const stt = typeof item.stt === 'number' || typeof item.stt === 'string' ? sttOf(item.stt) : undefined;
  const row: D03Row = { stt: stt ?? position };
  if (stt === undefined) problems.push({ stt: position, path: '/stt', code: 'NOT_A_NUMBER', message: `row ${position} has no STT number` });
  for (const [key, value] of Object.entries(item)) {
    if (key === 'stt' || value === null) continue;
    if (!FIELDS.has(key)) {
      problems.push({ stt: row.stt, path: `/${clip(key, 40)}`, code: 'ADDITIONALPROPERTIES', message: 'the D03-TS form has no such field' });
      continue;
    }
    const field = key as D03Field;
    if (typeof value !== 'string' && (typeof value !== 'number' || DAY_FIELDS.has(field))) {
      problems.push({ stt: row.stt, path: `/${field}`, code: 'TYPE', message: DAY_FIELDS.has(field) ? 'must be text' : 'must be text or a number' });
      continue;
    }
    takeField(row, problems, field, value, false);
  }
  return row;
}


function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
