/**
 * The D03-TS form as a table, fed one row at a time by the XLSX and CSV readers so that neither
 * holds more of the file than the row it is on: the header block (unit name, unit code, period),
 * then the header row whose first cell is `STT`, then the people. Columns are found by their header
 * text, so a sheet whose columns are in another order reads the same; a row is a person only when
 * its STT is a number, which leaves out the column-number row under the header, the totals
 * ("Cộng tăng", "Cộng giảm") and the signatures.
 */
import { D03_COLUMNS, type D03ListHeader, type D03Row, type RowProblem } from './d03-row.js';
import { factValue, takeField, sttOf, type CellScalar } from './cell-values.js';
import { refuseFile, refuseMissingColumns, tooManyRows, type D03ListLimits } from './list-file.js';

/**
 * Header texts, folded (no diacritics, lower case, single spaces), each naming its field. The
 * form's own header first, then what declaration programs and hand-made sheets write instead.
 */
const HEADER_ALIASES: Record<keyof D03Row, readonly string[]> = {
  stt: ['stt', 'so thu tu'],
  hoTen: ['ho va ten', 'ho ten', 'ho va ten hoc sinh', 'ho ten hoc sinh'],
  maSoBhxh: ['ma so bhxh', 'ma bhxh', 'so so bhxh', 'so bhxh'],
  soDinhDanh: ['so cccd dinh danh ca nhan ho chieu', 'so cccd', 'so dinh danh', 'so dinh danh ca nhan', 'so cccd ddcn ho chieu', 'so cmnd cccd ho chieu', 'cccd'],
  ngaySinh: ['ngay thang nam sinh', 'ngay sinh'],
  gioiTinh: ['gioi tinh'],
  diaChi: ['dia chi'],
  noiDangKyKCB: ['noi dang ky kcb ban dau', 'noi dang ky kcb', 'noi dk kcb ban dau', 'noi dang ky kham chua benh ban dau', 'ma kcb', 'ma benh vien'],
  ngayBienLai: ['ngay bien lai'],
  soBienLai: ['so bien lai'],
  soTien: ['so tien', 'so tien dong'],
  hoTroNSDP: ['ho tro them nsdp', 'ho tro nsdp', 'nsdp ho tro'],
  hoTroKhac: ['ho tro them khac', 'ho tro khac'],
  tuThang: ['tu thang'],
  soThang: ['so thang', 'so thang dong'],
  maNhanVienThu: ['ma so nhan vien thu', 'ma nhan vien thu'],
  lop: ['lop'],
  ghiChu: ['ghi chu'],
};

/** Under a merged "Hỗ trợ thêm" header, the two columns are headed by these words alone. */
const SUB_HEADER_ALIASES: Partial<Record<keyof D03Row, readonly string[]>> = {
  hoTroNSDP: ['nsdp'],
  hoTroKhac: ['khac'],
};

const FIELD_BY_HEADER = aliasMap(HEADER_ALIASES);
const FIELD_BY_SUB_HEADER = aliasMap(SUB_HEADER_ALIASES);

function aliasMap(aliases: Partial<Record<keyof D03Row, readonly string[]>>): Map<string, keyof D03Row> {
  return new Map(Object.entries(aliases).flatMap(([field, names]) => (names ?? []).map((name) => [name, field as keyof D03Row] as const)));
}

/** A list cannot be checked without these; the others may be left out of a file. */
const REQUIRED: ReadonlyArray<keyof D03Row> = ['stt', 'hoTen', 'ngaySinh', 'gioiTinh', 'noiDangKyKCB', 'tuThang', 'soThang'];

const HEADER_TEXT = new Map<keyof D03Row, string>(D03_COLUMNS.map((column) => [column.field, column.header]));

// Folding is a pass over every character; a header cell, or a cell of the header block holding a
// label and its value, is a few hundred characters, and a longer one is neither.
const MAX_HEADER_CELL = 200;
const MAX_FACT_CELL = 1024;

/** Letters without their diacritics (đ → d), lower case, and every run of anything else as one space. */
function foldText(text: string): string {
  return foldChars(text).replace(/[^a-z0-9]+/g, ' ').trim();
}

/** {@link foldText} without collapsing: one character out per character in, so positions still match the text. */
function foldChars(text: string): string {
  let out = '';
  for (const ch of text.normalize('NFC')) {
    const base = ch === 'đ' || ch === 'Đ' ? 'd' : (ch.normalize('NFD')[0] ?? ch);
    out += base.length === ch.length ? base.toLowerCase() : ch;
  }
  return out;
}

const FACT_LABELS: ReadonlyArray<{ fact: keyof D03ListHeader; label: RegExp }> = [
  { fact: 'tenDonVi', label: /ten (?:don vi|truong)\s*:?/g },
  { fact: 'maDonVi', label: /ma (?:so )?(?:don vi|dv)(?: bhxh)?\s*:?/g },
  { fact: 'kyKeKhai', label: /ky (?:ke khai|bao cao)\s*:?/g },
];

export class ListTable {
  private readonly header: D03ListHeader = {};
  /** Field of each column (0-based), once the header row is found. */
  private columns: Array<keyof D03Row | undefined> | undefined;
  private sawPerson = false;
  private rowsBeforeHeader = 0;
  private readonly rows: D03Row[] = [];
  private readonly problems: RowProblem[] = [];

  constructor(
    private readonly limits: D03ListLimits,
    private readonly date1904: boolean,
  ) {}

  get hasHeaderRow(): boolean {
    return this.columns !== undefined;
  }

  /** Whether more rows can change anything: not once the header was looked for too long. */
  get gaveUp(): boolean {
    return this.columns === undefined && this.rowsBeforeHeader > this.limits.maxRowsBeforeHeader;
  }

  /** One row of the sheet, its cells by column from 0. */
  addRow(cells: readonly CellScalar[]): void {
    if (this.gaveUp) return;
    if (this.columns === undefined) {
      this.rowsBeforeHeader += 1;
      if (isHeaderRow(cells)) this.columns = headerFields(cells);
      else this.readFacts(cells);
      return;
    }
    const sttColumn = this.columns.indexOf('stt');
    const stt = sttOf(cells[sttColumn]);
    if (stt === undefined || !this.hasValues(cells, sttColumn)) {
      if (!this.sawPerson) this.readSubHeader(cells);
      return;
    }
    if (!this.sawPerson) {
      this.sawPerson = true;
      this.checkColumns();
    }
    if (this.rows.length >= this.limits.maxRows) throw tooManyRows(this.limits);
    this.rows.push(this.personRow(stt, cells));
  }

  finish(): { header: D03ListHeader; rows: D03Row[]; problems: RowProblem[] } {
    if (this.columns === undefined) {
      throw refuseFile('NO_HEADER_ROW', 'No row starts with the header "STT"; the rows of people must be under the form\'s header row (STT, Họ và tên, …)');
    }
    this.checkColumns();
    if (this.rows.length === 0) throw refuseFile('NO_ROWS', 'No row under the header has a number in its STT column');
    return { header: this.header, rows: this.rows, problems: this.problems };
  }

  private checkColumns(): void {
    const present = new Set(this.columns);
    const missing = REQUIRED.filter((field) => !present.has(field)).map((field) => HEADER_TEXT.get(field) ?? field);
    if (!present.has('maSoBhxh') && !present.has('soDinhDanh')) {
      missing.push(`${HEADER_TEXT.get('maSoBhxh')}" or "${HEADER_TEXT.get('soDinhDanh')}`);
    }
    if (missing.length > 0) throw refuseMissingColumns(missing);
  }

  private hasValues(cells: readonly CellScalar[], sttColumn: number): boolean {
    return cells.some((cell, i) => i !== sttColumn && cell !== undefined && !(typeof cell === 'string' && cell.trim() === ''));
  }

  /** Rows between the header row and the first person may head columns a merged header cell spans. */
  private readSubHeader(cells: readonly CellScalar[]): void {
    const columns = this.columns;
    if (columns === undefined) return;
    cells.forEach((cell, i) => {
      if (typeof cell !== 'string' || cell.length > MAX_HEADER_CELL || columns[i] !== undefined) return;
      const folded = foldText(cell);
      const field = FIELD_BY_SUB_HEADER.get(folded) ?? FIELD_BY_HEADER.get(folded);
      if (field !== undefined && !columns.includes(field)) columns[i] = field;
    });
  }

  private personRow(stt: number, cells: readonly CellScalar[]): D03Row {
    const row: D03Row = { stt };
    const columns = this.columns ?? [];
    columns.forEach((field, i) => {
      if (field === undefined || field === 'stt') return;
      takeField(row, this.problems, field, cells[i], this.date1904);
    });
    return row;
  }

  /** "Tên đơn vị: …", "Mã đơn vị: …", "Kỳ kê khai: MM/yyyy", in one cell or as a label cell followed by its value. */
  private readFacts(cells: readonly CellScalar[]): void {
    cells.forEach((cell, i) => {
      if (typeof cell !== 'string' || cell.length > MAX_FACT_CELL) return;
      const folded = foldChars(cell);
      const found = FACT_LABELS.flatMap(({ fact, label }) => [...folded.matchAll(label)].map((m) => ({ fact, start: m.index, end: m.index + m[0].length })))
        .sort((a, b) => a.start - b.start);
      found.forEach(({ fact, end }, k) => {
        if (this.header[fact] !== undefined) return;
        let value = cell.slice(end, found[k + 1]?.start ?? cell.length).replace(/^[\s:.]+|[\s,;.]+$/g, '');
        if (value === '') value = nextText(cells, i);
        const stated = fact === 'kyKeKhai' ? monthIn(value) : factValue(fact, value);
        if (stated) this.header[fact] = stated;
      });
    });
  }
}

/**
 * The field a header names: its text, or failing that the longest header it starts with, so that
 * "Ngày sinh (dd/mm/yyyy)" and "Số CCCD/ĐDCN" are found too.
 */
function fieldOfHeader(text: string): keyof D03Row | undefined {
  if (text.length > MAX_HEADER_CELL) return undefined;
  const folded = foldText(text);
  const exact = FIELD_BY_HEADER.get(folded);
  if (exact !== undefined) return exact;
  let best: string | undefined;
  for (const alias of FIELD_BY_HEADER.keys()) {
    if (folded.startsWith(`${alias} `) && alias.length > (best?.length ?? 0)) best = alias;
  }
  return best === undefined ? undefined : FIELD_BY_HEADER.get(best);
}

/** The field each header cell names; a field headed twice is read from its first column. */
function headerFields(cells: readonly CellScalar[]): Array<keyof D03Row | undefined> {
  const seen = new Set<keyof D03Row>();
  return cells.map((cell) => {
    const field = typeof cell === 'string' ? fieldOfHeader(cell) : undefined;
    if (field === undefined || seen.has(field)) return undefined;
    seen.add(field);
    return field;
  });
}

/**
 * The form's header row starts with STT; in a sheet whose columns were moved, it is the row where
 * STT stands among other headers of the form (a lone "STT" in the header block is not it).
 */
function isHeaderRow(cells: readonly CellScalar[]): boolean {
  const fields = headerFields(cells);
  if (!fields.includes('stt')) return false;
  const first = cells.findIndex((cell) => cell !== undefined && !(typeof cell === 'string' && cell.trim() === ''));
  return fields[first] === 'stt' || fields.filter((field) => field !== undefined).length >= HEADERS_BESIDE_STT;
}

const HEADERS_BESIDE_STT = 4;

function nextText(cells: readonly CellScalar[], after: number): string {
  for (let i = after + 1; i < cells.length; i++) {
    const cell = cells[i];
    if (typeof cell === 'string' && cell.length <= MAX_FACT_CELL && cell.trim() !== '') return cell.trim();
    if (typeof cell === 'number') return String(cell);
  }
  return '';
}

function monthIn(text: string): string | undefined {
  const m = /(\d{1,2})\s*[/.-]\s*(\d{4})/.exec(text);
  return m ? `${m[1]?.padStart(2, '0')}/${m[2]}` : undefined;
}
