/** What the writers take: a list as read, with the gateway's note for each row. */
import type { D03ListHeader, D03Row } from './d03-row.js';

export interface AnnotatedList {
  header: D03ListHeader;
  rows: readonly D03Row[];
  /** Column Q of each row by STT: the checks' and BHXH's errors, or the card issued. */
  notes: ReadonlyMap<number, string>;
  /** Rows the school must correct, by STT: highlighted in the XLSX so they stand out. */
  rowsToFix?: ReadonlySet<number>;
}

/** A row's column Q: the gateway's note, else what the school wrote there. */
export function noteOf(list: AnnotatedList, row: D03Row): string {
  return list.notes.get(row.stt) ?? row.ghiChu ?? '';
}

/**
 * A spreadsheet program takes a typed value starting with these for a formula (or, from CSV, runs
 * it); written with an apostrophe in front, it stays text and the apostrophe is not shown.
 */
export function isFormulaLike(text: string): boolean {
  return /^[=+\-@\t\r]/.test(text);
}
