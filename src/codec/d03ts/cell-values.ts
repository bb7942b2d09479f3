/**
 * One value of a list file → the value of a D03-TS field, whatever form the file gave it: a
 * spreadsheet date or serial number, a number typed as text with thousands separators, a code whose
 * leading zero a spreadsheet dropped. Anything that cannot be taken is a problem for its row, never
 * a guess: text longer than the JSON schema allows the field, or that PostgreSQL cannot store, is
 * not kept. Text is otherwise left as the school wrote it (trimmed), for the row checks to judge.
 */
import { readSchema } from '../../package-files.js';
import type { D03Field, D03ListHeader, D03Row, RowProblem } from './d03-row.js';
import { isStorableText } from '../body-text.js';

/** A cell as the readers hand it over: text, a number, a date, or a fault of the cell itself. */
export type CellScalar = string | number | Date | CellFault | undefined;

export interface CellFault {
  fault: 'FORMULA_WITHOUT_VALUE' | 'CELL_ERROR' | 'TYPE';
  message: string;
}

interface ValueProblem {
  code: string;
  message: string;
}

type FieldValue = { value: string | number } | { problem: ValueProblem } | undefined;

type FieldKind = 'date' | 'month' | 'amount' | { digits: number } | 'text';

const KIND: Record<D03Field, FieldKind> = {
  hoTen: 'text',
  maSoBhxh: { digits: 10 },
  soDinhDanh: { digits: 12 },
  ngaySinh: 'date',
  gioiTinh: 'text',
  diaChi: 'text',
  noiDangKyKCB: { digits: 5 },
  ngayBienLai: 'date',
  soBienLai: 'text',
  soTien: 'amount',
  hoTroNSDP: 'amount',
  hoTroKhac: 'amount',
  tuThang: 'month',
  soThang: 'amount',
  maNhanVienThu: 'text',
  lop: 'text',
  ghiChu: 'text',
};

interface SchemaProperty {
  $ref?: string;
  maxLength?: number;
}

const schema = readSchema<{ properties: Record<string, SchemaProperty>; $defs: Record<string, SchemaProperty> & { row: { properties: Record<string, SchemaProperty> } } }>('d03-ts.schema.json');

// An amount is a number in the schema, so it has no maxLength there; written as text with its
// separators it is no longer than a code.
const NUMBER_AS_TEXT_MAX_LENGTH = maxLengthOf({ $ref: '#/$defs/short' }) ?? 32;

function maxLengthOf(property: SchemaProperty | undefined): number | undefined {
  const resolved = property?.$ref === undefined ? property : schema.$defs[property.$ref.split('/').pop() ?? ''];
  return resolved?.maxLength;
}

const MAX_LENGTH = Object.fromEntries(Object.keys(KIND).map((field) => [field, maxLengthOf(schema.$defs.row.properties[field]) ?? NUMBER_AS_TEXT_MAX_LENGTH])) as Record<D03Field, number>;
const FACT_MAX_LENGTH = Object.fromEntries((['tenDonVi', 'maDonVi', 'kyKeKhai'] as const).map((fact) => [fact, maxLengthOf(schema.properties[fact]) ?? NUMBER_AS_TEXT_MAX_LENGTH])) as Record<keyof D03ListHeader, number>;

// Spaces around a value are trimmed; a cell with this much more than its bound is too long whatever
// it holds, so a huge cell of spaces costs no scan.
const UNTRIMMED_SLACK = 1024;

/** Why a trimmed text cannot be taken as it stands, or undefined when it can. */
function textProblem(text: string, maxLength: number): ValueProblem | undefined {
  if (codePointsOver(text, maxLength)) return { code: 'MAXLENGTH', message: `must be at most ${maxLength} characters` };
  if (!isStorableText(text)) return { code: 'INVALID_TEXT', message: 'contains a NUL or an unpaired surrogate' };
  return undefined;
}

/** Characters counted as JSON Schema counts them (code points), without spreading a long text. */
function codePointsOver(text: string, max: number): boolean {
  if (text.length <= max) return false;
  if (text.length > 2 * max) return true;
  let count = 0;
  for (const _ of text) if (++count > max) return true;
  return false;
}


/** A header fact as stated (trimmed), or undefined when it is too long or cannot be stored: it is then as if not stated. */
export function factValue(fact: keyof D03ListHeader, text: string): string | undefined {
  if (text.length > FACT_MAX_LENGTH[fact] + UNTRIMMED_SLACK) return undefined;
  const trimmed = text.trim();
  return trimmed === '' || textProblem(trimmed, FACT_MAX_LENGTH[fact]) ? undefined : trimmed;
}

function isFault(v: CellScalar): v is CellFault {
  return typeof v === 'object' && !(v instanceof Date);
}

/** Sets the field of the row from a cell, or records why it cannot be taken; an empty cell sets nothing. */
export function takeField(row: D03Row, problems: RowProblem[], field: D03Field, cell: CellScalar, date1904: boolean): void {
  const read = fieldValue(field, cell, date1904);
  if (read === undefined) return;
  if ('problem' in read) problems.push({ stt: row.stt, path: `/${field}`, ...read.problem });
  else (row as unknown as Record<string, unknown>)[field] = read.value;
}

/** The value a field takes from a cell; undefined for an empty cell. */
export function fieldValue(field: D03Field, cell: CellScalar, date1904: boolean): FieldValue {
  if (cell === undefined) return undefined;
  if (isFault(cell)) return { problem: { code: cell.fault, message: cell.message } };
  if (typeof cell === 'string') {
    const maxLength = MAX_LENGTH[field];
    if (cell.length > maxLength + UNTRIMMED_SLACK) return { problem: { code: 'MAXLENGTH', message: `must be at most ${maxLength} characters` } };
    const text = cell.trim();
    if (text === '') return undefined;
    const problem = textProblem(text, maxLength);
    return problem ? { problem } : fromText(KIND[field], text);
  }
  if (typeof cell === 'number') return fromNumber(KIND[field], cell, date1904);
  return fromDate(KIND[field], cell);
}

function fromText(kind: FieldKind, text: string): FieldValue {
  if (kind === 'amount') {
    const n = amountFromText(text);
    return n === undefined ? { problem: { code: 'NOT_A_NUMBER', message: `"${clipValue(text)}" is not a whole number of đồng (write digits only, e.g. 1234000)` } } : { value: n };
  }
  if (kind === 'date') return { value: padDate(text) };
  if (kind === 'month') return { value: padMonth(text) };
  return { value: text };
}

function fromNumber(kind: FieldKind, n: number, date1904: boolean): FieldValue {
  if (!Number.isFinite(n)) return { problem: { code: 'NOT_A_NUMBER', message: 'the cell holds no number' } };
  if (kind === 'amount') return { value: n };
  if (kind === 'date' || kind === 'month') {
    const day = dayOfSerial(n, date1904);
    if (day === undefined) return { problem: { code: 'NOT_A_DATE', message: `the spreadsheet number ${n} is not a date` } };
    return { value: kind === 'date' ? formatDay(day) : formatDay(day).slice(3) };
  }
  if (typeof kind === 'object') {
    // A spreadsheet stores "0123456789" typed into a number cell as 123456789: the codes are all
    // digits of a fixed length, so the dropped leading zeros are the only way the number got shorter.
    if (!Number.isSafeInteger(n) || n < 0) return { problem: { code: 'NOT_A_CODE', message: `${n} is not a code of ${kind.digits} digits` } };
    return { value: String(n).padStart(kind.digits, '0') };
  }
  return { value: String(n) };
}

function fromDate(kind: FieldKind, date: Date): FieldValue {
  if (Number.isNaN(date.getTime())) return { problem: { code: 'NOT_A_DATE', message: 'the cell holds no date' } };
  const day = { y: date.getUTCFullYear(), m: date.getUTCMonth() + 1, d: date.getUTCDate() };
  if (kind === 'date') return { value: formatDay(day) };
  if (kind === 'month') return { value: formatDay(day).slice(3) };
  return { problem: { code: 'TYPE', message: 'a date where text or a number belongs' } };
}

/** Digits, or digits grouped by threes with dots, commas or spaces ("1.234.000"); nothing else. */
function amountFromText(text: string): number | undefined {
  const compact = text.replace(/[\s\u00a0]/g, '');
  if (/^\d{1,15}$/.test(compact)) return Number(compact);
  if (/^\d{1,3}(?:\.\d{3}){1,4}$/.test(compact) || /^\d{1,3}(?:,\d{3}){1,4}$/.test(compact)) return Number(compact.replace(/[.,]/g, ''));
  if (/^\d{1,3}(?: \d{3}){1,4}$/.test(text.trim())) return Number(compact);
  return undefined;
}

/** A row's STT when it is a number, which is what makes the row a person. */
export function sttOf(cell: CellScalar): number | undefined {
  if (typeof cell === 'number') return Number.isSafeInteger(cell) && cell > 0 ? cell : undefined;
  if (typeof cell !== 'string') return undefined;
  const m = /^\s*(\d{1,9})\.?\s*$/.exec(cell);
  const n = m ? Number(m[1]) : 0;
  return n > 0 ? n : undefined;
}

interface Day {
  y: number;
  m: number;
  d: number;
}

const DAY_MS = 86_400_000;
const LAST_SERIAL_1900 = 2_958_465; // 31/12/9999

/**
 * A spreadsheet serial number → its day. In the 1900 system serial 1 is 1 January 1900 and
 * serial 60 is 29 February 1900, a day that never was (Lotus 1-2-3's leap-year bug, kept by Excel):
 * serials after it are one day ahead of a plain count. The 1904 system (old Mac workbooks) counts
 * from 1 January 1904 as 0. A time of day is dropped.
 */
export function dayOfSerial(serial: number, date1904: boolean): Day | undefined {
  const days = Math.floor(serial);
  let ms: number;
  if (date1904) {
    if (days < 0 || days > LAST_SERIAL_1900 - 1462) return undefined;
    ms = Date.UTC(1904, 0, 1) + days * DAY_MS;
  } else {
    if (days < 1 || days === 60 || days > LAST_SERIAL_1900) return undefined;
    ms = Date.UTC(1899, 11, days < 60 ? 31 : 30) + days * DAY_MS;
  }
  const date = new Date(ms);
  return { y: date.getUTCFullYear(), m: date.getUTCMonth() + 1, d: date.getUTCDate() };
}

function formatDay({ y, m, d }: Day): string {
  return `${String(d).padStart(2, '0')}/${String(m).padStart(2, '0')}/${String(y).padStart(4, '0')}`;
}

/** "1/9/2015", "1-9-2015", "01.09.2015" → "01/09/2015"; other text unchanged. */
function padDate(text: string): string {
  const m = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(text);
  return m ? `${m[1]?.padStart(2, '0')}/${m[2]?.padStart(2, '0')}/${m[3]}` : text;
}

/** "9/2026" → "09/2026"; a whole date (the I-VAN form's "TuNgay") → its month; other text unchanged. */
function padMonth(text: string): string {
  const month = /^(\d{1,2})[/.-](\d{4})$/.exec(text);
  if (month) return `${month[1]?.padStart(2, '0')}/${month[2]}`;
  const date = /^\d{1,2}[/.-](\d{1,2})[/.-](\d{4})$/.exec(text);
  return date ? `${date[1]?.padStart(2, '0')}/${date[2]}` : text;
}

/** Values quoted back in a problem are short; a personal number or name is never logged, only returned to its school. */
function clipValue(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
