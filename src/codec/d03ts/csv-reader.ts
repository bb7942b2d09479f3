/**
 * A CSV list: UTF-8 (a BOM is allowed), comma-separated, the form's header row (a header block may
 * stand above it, as in the sheet) and one row per person. Records are taken one at a time from the
 * parser into the same table the XLSX reader fills.
 */
import { CsvError, parse } from 'csv-parse';
import { decodeUtf8 } from '../body-text.js';
import type { CellScalar } from './cell-values.js';
import { refuseFile, type D03ListLimits, type D03ListRead } from './list-file.js';
import { ListTable } from './list-table.js';

// A row of the form is a few hundred bytes; a record this long is not a row.
const MAX_RECORD_BYTES = 64 * 1024;

export async function readCsv(body: Buffer, limits: D03ListLimits): Promise<D03ListRead> {
  const text = decodeUtf8(body);
  const table = new ListTable(limits, false);
  const parser = parse({ relax_column_count: true, skip_empty_lines: true, max_record_size: MAX_RECORD_BYTES });
  parser.end(text);
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (table.gaveUp) break;
      table.addRow(record.map(cellOf));
    }
  } catch (err) {
    parser.destroy();
    if (err instanceof CsvError) {
      // Its own message may quote the line, which holds a person's data; the line number is enough.
      throw refuseFile('FILE_UNREADABLE', `The CSV file cannot be read near line ${String(err.lines ?? '?')} (${err.code}); check its quotes and commas`);
    }
    throw err;
  }
  return { format: 'csv', ...table.finish() };
}

/** The CSV writer puts an apostrophe before a value a spreadsheet would take for a formula; it is not part of the value. */
function cellOf(value: string): CellScalar {
  return /^'[=+\-@\t\r]/.test(value) ? value.slice(1) : value;
}

