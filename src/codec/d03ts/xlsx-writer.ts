/**
 * The list back as an XLSX workbook a school opens and corrects: a small header block (the form's
 * title, unit name and code, period), the form's header row starting `STT`, then one row per person
 * in columns A–Q. Column Q holds the gateway's note, wrapped; the rows to correct are shaded so they
 * stand out at a glance. Written with exceljs's streaming writer, row by row.
 *
 * Every value is written as a value, never as a formula: exceljs makes a formula only of a
 * `{formula}` object, so a name or note starting with `=`, `+`, `-` or `@` stays text. The codes
 * (BHXH number, personal number, facility) are text cells, so their leading zeros stay.
 */
import { PassThrough } from 'node:stream';
import ExcelJS from 'exceljs';
import { D03_COLUMNS, type D03Row } from './d03-row.js';
import { noteOf, type AnnotatedList } from './annotated-list.js';

const TITLE = 'DANH SÁCH NGƯỜI CHỈ THAM GIA BẢO HIỂM Y TẾ (Mẫu D03-TS)';
const HEADER_ROW = 6;

const WIDTHS: Partial<Record<keyof D03Row, number>> = {
  stt: 6, hoTen: 26, maSoBhxh: 13, soDinhDanh: 15, ngaySinh: 12, gioiTinh: 8, diaChi: 30, noiDangKyKCB: 10,
  ngayBienLai: 12, soBienLai: 12, soTien: 12, hoTroNSDP: 11, hoTroKhac: 11, tuThang: 9, soThang: 8, maNhanVienThu: 12, ghiChu: 60,
};

const TO_FIX_FILL: ExcelJS.Fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: 'FFFFC7CE' } };
const HEADER_FILL: ExcelJS.Fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: 'FFD9D9D9' } };
const THIN: ExcelJS.Border = { style: 'thin', color: { argb: 'FF999999' } };
const BORDER: Partial<ExcelJS.Borders> = { top: THIN, left: THIN, bottom: THIN, right: THIN };

export async function writeD03Xlsx(list: AnnotatedList): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  const finished = new Promise<void>((resolve, reject) => {
    out.on('end', resolve);
    out.on('error', reject);
  });

  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: out, useStyles: true, useSharedStrings: false });
  const sheet = workbook.addWorksheet('D03-TS', { views: [{ state: 'frozen', ySplit: HEADER_ROW }] });
  sheet.columns = D03_COLUMNS.map((column) => ({ key: column.field, width: WIDTHS[column.field] ?? 12 }));

  const title = sheet.addRow([TITLE]);
  title.font = { bold: true, size: 13 };
  title.commit();
  for (const line of [
    `Tên đơn vị: ${list.header.tenDonVi ?? ''}`,
    `Mã đơn vị: ${list.header.maDonVi ?? ''}`,
    `Kỳ kê khai: ${list.header.kyKeKhai ?? ''}`,
  ]) sheet.addRow([line]).commit();
  sheet.addRow([]).commit();

  const header = sheet.addRow(D03_COLUMNS.map((column) => column.header));
  header.eachCell((cell) => {
    cell.font = { bold: true };
    cell.fill = HEADER_FILL;
    cell.border = BORDER;
    cell.alignment = { wrapText: true, vertical: 'middle', horizontal: 'center' };
  });
  header.commit();

  for (const row of list.rows) {
    const values = D03_COLUMNS.map((column) => (column.field === 'ghiChu' ? noteOf(list, row) : row[column.field as keyof D03Row]) ?? null);
    const written = sheet.addRow(values);
    const toFix = list.rowsToFix?.has(row.stt) ?? false;
    for (let col = 1; col <= D03_COLUMNS.length; col++) {
      const cell = written.getCell(col);
      cell.border = BORDER;
      if (toFix) cell.fill = TO_FIX_FILL;
      cell.alignment = { vertical: 'top', wrapText: col === D03_COLUMNS.length };
    }
    if (toFix) written.getCell(D03_COLUMNS.length).font = { color: { argb: 'FF9C0006' } };
    written.commit();
  }
  sheet.commit();
  await workbook.commit();
  await finished;
  return Buffer.concat(chunks);
}
