/**
 * An XLSX list, read with exceljs's streaming WorkbookReader: the sheet is parsed as it is
 * inflated and each row is handed to the table and dropped, so memory holds the rows of people
 * read so far and the shared strings, not the sheet. The zip is checked first (zip-guard.ts).
 *
 * Styles are not read: a date is known by its column, not its cell format, so a date cell, a bare
 * serial number and "dd/MM/yyyy" text all come out the same (cell-values.ts). Formulas are never
 * evaluated: a formula's cached result is its value, and one without a result is a problem for its
 * row. Merged cells are not spread: a cell has a value only if it holds one itself, which in a
 * merge is the master cell. Hyperlinks are ignored.
 */
import { Readable } from 'node:stream';
import ExcelJS from 'exceljs';
import { GatewayError } from '../../errors.js';
import type { CellScalar } from './cell-values.js';
import { refuseFile, type D03ListLimits, type D03ListRead } from './list-file.js';
import { ListTable } from './list-table.js';
import { inspectXlsx } from './zip-guard.js';

/** The parts of exceljs 4's WorkbookReader this file reaches into (see {@link Utf8SafeWorkbookReader}). */
interface WorkbookReaderInternals {
  _parseWorksheet(iterator: AsyncIterable<unknown>, sheetNo: string): Iterable<unknown>;
  _parseSharedStrings(entry: NodeJS.ReadableStream): AsyncIterable<unknown>;
}

const baseReader = ExcelJS.stream.xlsx.WorkbookReader.prototype as unknown as WorkbookReaderInternals;

// They are private: package.json pins the exceljs release they were read in, and a release
// without them stops the gateway at start rather than reading lists without the overrides.
for (const method of ['_parseWorksheet', '_parseSharedStrings'] as const) {
  if (typeof baseReader[method] !== 'function') {
    throw new Error(`exceljs's WorkbookReader has no ${method}; the D03-TS XLSX reader overrides it (see xlsx-reader.ts)`);
  }
}

/**
 * exceljs 4 decodes each inflated chunk of a part on its own, so a Vietnamese letter whose UTF-8
 * bytes straddle two chunks comes out as two U+FFFD (a few names in every thousand rows). Its sax
 * step passes text through untouched, so the two parts it parses as streams are decoded here, with
 * one streaming decoder per part; invalid UTF-8 is refused rather than replaced.
 */
class Utf8SafeWorkbookReader extends ExcelJS.stream.xlsx.WorkbookReader {
  _parseWorksheet(iterator: AsyncIterable<unknown>, sheetNo: string): Iterable<unknown> {
    return baseReader._parseWorksheet.call(this, decodeUtf8Stream(iterator), sheetNo);
  }

  _parseSharedStrings(entry: NodeJS.ReadableStream): AsyncIterable<unknown> {
    return baseReader._parseSharedStrings.call(this, Readable.from(decodeUtf8Stream(entry)));
  }
}

async function* decodeUtf8Stream(chunks: AsyncIterable<unknown>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    for await (const chunk of chunks) {
      const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk as Uint8Array, { stream: true });
      if (text !== '') yield text;
    }
    const rest = decoder.decode();
    if (rest !== '') yield rest;
  } catch (err) {
    if (err instanceof TypeError) throw refuseFile('FILE_UNREADABLE', 'The workbook holds text that is not valid UTF-8');
    throw err;
  }
}

export async function readXlsx(body: Buffer, limits: D03ListLimits): Promise<D03ListRead> {
  const { date1904, streamable } = await inspectXlsx(body, limits);
  const input = Readable.from([streamable]);
  const reader = new Utf8SafeWorkbookReader(input, {
    worksheets: 'emit',
    sharedStrings: 'cache',
    hyperlinks: 'ignore',
    styles: 'ignore',
    entries: 'ignore',
  });
  // The list is the first sheet with a header row; the sheets after it are only drained.
  let list: ListTable | undefined;
  // Rows that are not people (blank pre-numbered rows, say) cost as much to read; they are bounded too.
  const maxSheetRows = 2 * limits.maxRows + limits.maxRowsBeforeHeader;
  let sheetRows = 0;
  try {
    for await (const sheet of reader) {
      const table = list === undefined ? new ListTable(limits, date1904) : undefined;
      for await (const row of sheet) {
        if (++sheetRows > maxSheetRows) throw refuseFile('FILE_TOO_LARGE', `The workbook has more than ${maxSheetRows} rows; a list has at most ${limits.maxRows}`);
        if (table !== undefined && !table.gaveUp) table.addRow(cellsOf(row));
      }
      if (table?.hasHeaderRow) list = table;
    }
  } catch (err) {
    input.destroy();
    if (err instanceof GatewayError) throw err;
    throw refuseFile('FILE_UNREADABLE', 'The XLSX file is damaged: a part of it is not well-formed');
  }
  const read = (list ?? new ListTable(limits, date1904)).finish();
  return { format: 'xlsx', ...read };
}

/** The row's cells by column from 0, each reduced to text, a number, a date or a fault. */
function cellsOf(row: ExcelJS.Row): CellScalar[] {
  const values = row.values;
  if (!Array.isArray(values)) return [];
  const cells: CellScalar[] = [];
  // exceljs numbers columns from 1, leaving index 0 empty.
  for (let i = 1; i < values.length; i++) cells.push(scalarOf(values[i]));
  return cells;
}

function scalarOf(value: unknown): CellScalar {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string' || typeof value === 'number' || value instanceof Date) return value;
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value !== 'object') return undefined;
  if ('richText' in value && Array.isArray(value.richText)) {
    return value.richText.map((run: unknown) => (isRecord(run) && typeof run.text === 'string' ? run.text : '')).join('');
  }
  if ('formula' in value || 'sharedFormula' in value) {
    const result = 'result' in value ? value.result : undefined;
    if (result === undefined || (typeof result === 'number' && Number.isNaN(result))) {
      return { fault: 'FORMULA_WITHOUT_VALUE', message: 'the cell holds a formula with no saved value; type the value itself' };
    }
    return scalarOf(result);
  }
  if ('error' in value) return { fault: 'CELL_ERROR', message: `the cell shows the error ${String(value.error).slice(0, 12)}; type the value itself` };
  if ('text' in value && typeof value.text === 'string') return value.text;
  return { fault: 'TYPE', message: 'the cell holds a value that is neither text, a number nor a date' };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}
