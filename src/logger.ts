import type { LoggerOptions } from 'pino';

/**
 * Fields that name or identify a person, in the civil-status software's spelling and BHXH's. Any of
 * them, at any depth of anything logged, is replaced before the line is written.
 */
export const PERSONAL_FIELDS = new Set([
  'hoTich', 'document', 'bhxhDocument', 'records', 'record', 'data', 'body', 'card',
  'soDinhDanh', 'nksHoTen', 'meHoTen', 'chaHoTen', 'nycHoTen', 'nktHoTen',
  'meSoDDCN', 'chaSoDDCN', 'nktSoDDCN', 'nktMaSoBHXH', 'nycSoGiayToTuyThan', 'nycSoDienThoai', 'nycEmail',
  'meNoiCuTru', 'chaNoiCuTru', 'nycNoiCuTru', 'nktNoiCuTru',
  'SO_DINH_DANH', 'HO_TEN', 'HO_TEN_GIAM_HO', 'SO_DINH_DANH_GIAM_HO', 'DIA_CHI', 'DIA_CHI_NHAN_THE',
  'MA_SO_BHXH', 'MA_THE', 'maSoBHXH', 'maThe',
  // A D03-TS list's rows (pupils and students), in the form's JSON spelling.
  'rows', 'hoTen', 'maSoBhxh', 'ngaySinh', 'diaChi',
  // A card request (CapLaiThe) and the record BHXH gets of it.
  'nguoi', 'thayDoi', 'diaChiNhanThe', 'NOI_DUNG_THAY_DOI', 'GIA_TRI_MOI',
]);

/**
 * What a PostgreSQL error quotes of the row it refused ("Failing row contains (…)", "Key (…)=(…)") or
 * of the statement's context: a 500's logged error keeps its SQLSTATE, constraint and table, not these.
 */
const ERROR_FIELDS_QUOTING_ROWS = new Set(['detail', 'where', 'internalQuery']);

function withoutQuotedRows(error: Error): Error {
  const quoting = Object.keys(error).filter((key) => ERROR_FIELDS_QUOTING_ROWS.has(key));
  if (quoting.length === 0) return error;
  const copy = new Error(error.message);
  copy.name = error.name;
  copy.stack = error.stack;
  for (const [key, item] of Object.entries(error)) if (!ERROR_FIELDS_QUOTING_ROWS.has(key)) (copy as unknown as Record<string, unknown>)[key] = item;
  return copy;
}

const CENSOR = '[redacted]';
const MAX_DEPTH = 8;

/** A copy with personal fields replaced, walking plain objects and arrays only, to a bounded depth. */
export function redactPersonalData(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return withoutQuotedRows(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return CENSOR;
  if (Array.isArray(value)) return value.map((item) => redactPersonalData(item, depth + 1));
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = PERSONAL_FIELDS.has(key) ? CENSOR : redactPersonalData(item, depth + 1);
  }
  return copy;
}

/**
 * Personal data never reaches the logs in clear. pino's compiled `redact` covers the API key in
 * request headers; the `log` formatter covers personal fields at any depth, on the (rare) lines that
 * carry objects at all: the hot path logs nothing per message.
 */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: ['req.headers.authorization', 'headers.authorization'], censor: CENSOR },
    formatters: { log: (object) => redactPersonalData(object) as Record<string, unknown> },
  };
}
