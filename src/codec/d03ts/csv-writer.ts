/**
 * The list back as CSV: the form's header row, then one row per person in columns A–Q with column
 * Q holding the gateway's note. UTF-8 with a BOM, which is how a spreadsheet program knows to read
 * Vietnamese as UTF-8. Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`) is written
 * with an apostrophe in front, which the CSV reader removes again.
 */
import { D03_COLUMNS, type D03Row } from './d03-row.js';
import { isFormulaLike, noteOf, type AnnotatedList } from './annotated-list.js';

export function writeD03Csv(list: AnnotatedList): Buffer {
  const lines = [D03_COLUMNS.map((column) => csvField(column.header)).join(',')];
  for (const row of list.rows) {
    lines.push(D03_COLUMNS.map((column) => csvField(column.field === 'ghiChu' ? noteOf(list, row) : row[column.field as keyof D03Row])).join(','));
  }
  return Buffer.from(`\uFEFF${lines.join('\r\n')}\r\n`, 'utf8');
}

function csvField(value: string | number | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'number') return String(value);
  const text = isFormulaLike(value) ? `'${value}` : value;
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
