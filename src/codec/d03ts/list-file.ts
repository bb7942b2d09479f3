/**
 * What every D03-TS list reader shares: the bounds a school's file is held to, what a reader gives
 * back, and the refusals of a whole file. A problem with one value of one row is not a refusal: it
 * is a {@link RowProblem}, reported with the row checks' problems, so the school sees all of them
 * in one answer and in column Q of the file sent back.
 */
import { GatewayError, type ErrorCode } from '../../errors.js';
import type { D03ListHeader, D03Row, RowProblem } from './d03-row.js';

export interface D03ListLimits {
  /** Most person rows in one list. */
  maxRows: number;
  /** Rows read above the header row before giving up looking for it. */
  maxRowsBeforeHeader: number;
  /** Most files inside an XLSX (a workbook has a dozen or two). */
  maxZipEntries: number;
  /** Largest size of any one file inside an XLSX, once uncompressed. */
  maxZipEntryBytes: number;
  /** Largest total size of an XLSX's files, once uncompressed. */
  maxZipTotalBytes: number;
  /** Largest size of the shared strings table, which is held in memory while the sheet is read. */
  maxSharedStringsBytes: number;
}

// A 50,000-row sheet of the form is about 60 MB of XML and its shared strings about 10 MB; the
// bounds leave room for verbose writers but keep a zip bomb's inflation (and the temporary file
// exceljs writes a sheet to when the shared strings come after it) to a few hundred megabytes.
export const DEFAULT_D03_LIMITS: D03ListLimits = {
  maxRows: 50_000,
  maxRowsBeforeHeader: 100,
  maxZipEntries: 200,
  maxZipEntryBytes: 160 * 1024 * 1024,
  maxZipTotalBytes: 256 * 1024 * 1024,
  maxSharedStringsBytes: 32 * 1024 * 1024,
};

type D03FileFormat = 'xlsx' | 'csv' | 'xml' | 'json';

export interface D03ListRead {
  format: D03FileFormat;
  header: D03ListHeader;
  /** Person rows only, in file order. */
  rows: D03Row[];
  /** Values a reader could not take as they stand (a text where a number belongs, a formula without a value…). */
  problems: RowProblem[];
}

/** Detail codes of a whole file's refusal. */
type FileRefusalCode = 'FILE_UNREADABLE' | 'FILE_TOO_LARGE' | 'NO_HEADER_ROW' | 'COLUMN_MISSING' | 'NO_ROWS';

const STATUS_OF: Record<FileRefusalCode, ErrorCode> = {
  FILE_UNREADABLE: 'MALFORMED_BODY',
  FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  NO_HEADER_ROW: 'VALIDATION_FAILED',
  COLUMN_MISSING: 'VALIDATION_FAILED',
  NO_ROWS: 'VALIDATION_FAILED',
};

const SUMMARY: Record<FileRefusalCode, string> = {
  FILE_UNREADABLE: 'The list file could not be read',
  FILE_TOO_LARGE: 'The list file is larger than the gateway reads',
  NO_HEADER_ROW: 'The list has no header row starting with STT',
  COLUMN_MISSING: 'The list lacks columns of the D03-TS form',
  NO_ROWS: 'The list has no person rows',
};

export function refuseFile(code: FileRefusalCode, message: string): GatewayError {
  return new GatewayError(STATUS_OF[code], SUMMARY[code], [{ path: '', code, message }]);
}

/** One refusal naming every missing column at once, so a school fixes its header in one go. */
export function refuseMissingColumns(headers: readonly string[]): GatewayError {
  return new GatewayError(
    STATUS_OF.COLUMN_MISSING,
    SUMMARY.COLUMN_MISSING,
    headers.map((header) => ({ path: '', code: 'COLUMN_MISSING', message: `The column "${header}" is missing from the header row` })),
  );
}

export function tooManyRows(limits: D03ListLimits): GatewayError {
  return refuseFile('FILE_TOO_LARGE', `The list has more than ${limits.maxRows} rows; split it into several lists`);
}
