import { readFileSync } from 'node:fs';
import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { dayOfSerial } from '../src/codec/d03ts/cell-values.js';
import { writeD03Csv } from '../src/codec/d03ts/csv-writer.js';
import { D03_COLUMNS, type D03Row } from '../src/codec/d03ts/d03-row.js';
import { CSV_CONTENT_TYPE, readD03List, XLSX_CONTENT_TYPE } from '../src/codec/d03ts/read-list.js';
import { writeD03Xlsx } from '../src/codec/d03ts/xlsx-writer.js';

/**
 * The D03-TS list codecs on files as schools make them: the form laid out by the declaration
 * software (header block, header row, people, totals, signatures), dates in every form a
 * spreadsheet holds them, columns reordered, CSV, the I-VAN XML bare and in its envelope, JSON,
 * and the annotated list written back and read again.
 */

const HEADERS = D03_COLUMNS.map((column) => column.header);

/** A person as the declaration software writes one, column A to Q. */
function person(stt: number, overrides: Partial<Record<string, unknown>> = {}): unknown[] {
  const values: Record<string, unknown> = {
    stt, hoTen: 'Nguyễn Thị Ánh Tuyết', maSoBhxh: '0123456789', soDinhDanh: '002315001234', ngaySinh: '01/09/2015', gioiTinh: 'Nữ',
    diaChi: 'Thôn Tả Ván, xã Hà Giang', noiDangKyKCB: '02001', ngayBienLai: '05/09/2026', soBienLai: 'BL0001', soTien: 884520,
    hoTroNSDP: 0, hoTroKhac: 0, tuThang: '10/2026', soThang: 12, maNhanVienThu: 'NV01', ghiChu: undefined, ...overrides,
  };
  return D03_COLUMNS.map((column) => values[column.field]);
}

async function xlsxOf(build: (sheet: ExcelJS.Worksheet, workbook: ExcelJS.Workbook) => void): Promise<Buffer> {
  const workbook = new ExcelJS.Workbook();
  build(workbook.addWorksheet('D03-TS'), workbook);
  return Buffer.from(await workbook.xlsx.writeBuffer());
}

/** The form as exported: title and header block, header row, column numbers, people, totals, signatures. */
function declarationSoftwareLayout(sheet: ExcelJS.Worksheet, people: unknown[][]): void {
  sheet.addRow(['DANH SÁCH NGƯỜI CHỈ THAM GIA BẢO HIỂM Y TẾ']);
  sheet.addRow(['Tên đơn vị: Trường Tiểu học Tả Ván', undefined, undefined, undefined, 'Mã đơn vị:', 'TZ0801A']);
  sheet.addRow(['Kỳ kê khai: 10/2026 — Lương cơ sở: 2.340.000']);
  sheet.addRow([]);
  sheet.addRow(HEADERS);
  sheet.addRow(HEADERS.map((_, i) => `(${i + 1})`));
  sheet.addRow(['I', 'Tăng']);
  for (const values of people) sheet.addRow(values);
  sheet.addRow([undefined, 'Cộng tăng', undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 1769040]);
  sheet.addRow([undefined, 'Cộng giảm']);
  sheet.addRow([undefined, 'Người lập biểu', undefined, undefined, undefined, undefined, 'Thủ trưởng đơn vị']);
}

const rowsOf = async (type: string, body: Buffer) => readD03List(type, body);

describe('XLSX as the declaration software exports it', () => {
  it('reads the header block, the people only, and every value in the form of d03-row.ts', async () => {
    const body = await xlsxOf((sheet) => {
      declarationSoftwareLayout(sheet, [
        person(1, { ngaySinh: new Date(Date.UTC(2015, 8, 1)), soTien: '1.105.650', maSoBhxh: 123456789 }),
        person(2, { hoTen: { richText: [{ text: 'Lò Văn ' }, { font: { bold: true }, text: 'Páo' }] }, gioiTinh: 1, soThang: { formula: '6*2', result: 12 } }),
      ]);
    });
    const list = await rowsOf(XLSX_CONTENT_TYPE, body);
    expect(list.format).toBe('xlsx');
    expect(list.header).toEqual({ tenDonVi: 'Trường Tiểu học Tả Ván', maDonVi: 'TZ0801A', kyKeKhai: '10/2026' });
    expect(list.problems).toEqual([]);
    expect(list.rows).toEqual([
      { stt: 1, hoTen: 'Nguyễn Thị Ánh Tuyết', maSoBhxh: '0123456789', soDinhDanh: '002315001234', ngaySinh: '01/09/2015', gioiTinh: 'Nữ',
        diaChi: 'Thôn Tả Ván, xã Hà Giang', noiDangKyKCB: '02001', ngayBienLai: '05/09/2026', soBienLai: 'BL0001', soTien: 1105650,
        hoTroNSDP: 0, hoTroKhac: 0, tuThang: '10/2026', soThang: 12, maNhanVienThu: 'NV01' },
      expect.objectContaining({ stt: 2, hoTen: 'Lò Văn Páo', gioiTinh: '1', soThang: 12 }),
    ]);
  });

  it('takes dates given as serial numbers, in the 1900 system with its phantom 29/02/1900, and in the 1904 system', async () => {
    const in1900 = await xlsxOf((sheet) => {
      sheet.addRow(HEADERS);
      sheet.addRow(person(1, { ngaySinh: 42248, ngayBienLai: '5/9/2026', tuThang: 46296 /* 01/10/2026 */ }));
      sheet.addRow(person(2, { ngaySinh: 60 }));
    });
    const list = await rowsOf(XLSX_CONTENT_TYPE, in1900);
    expect(list.rows[0]).toMatchObject({ ngaySinh: '01/09/2015', ngayBienLai: '05/09/2026', tuThang: '10/2026' });
    expect(list.problems).toEqual([{ stt: 2, path: '/ngaySinh', code: 'NOT_A_DATE', message: expect.stringContaining('60') }]);

    const in1904 = await xlsxOf((sheet, workbook) => {
      workbook.properties.date1904 = true;
      sheet.addRow(HEADERS);
      sheet.addRow(person(1, { ngaySinh: 42248 - 1462 }));
    });
    expect((await rowsOf(XLSX_CONTENT_TYPE, in1904)).rows[0]?.ngaySinh).toBe('01/09/2015');
  });

  it('counts serial numbers as Excel does around the 1900 leap-year bug', () => {
    expect(dayOfSerial(1, false)).toEqual({ y: 1900, m: 1, d: 1 });
    expect(dayOfSerial(59, false)).toEqual({ y: 1900, m: 2, d: 28 });
    expect(dayOfSerial(60, false)).toBeUndefined();
    expect(dayOfSerial(61, false)).toEqual({ y: 1900, m: 3, d: 1 });
    expect(dayOfSerial(45931.75, false)).toEqual({ y: 2025, m: 10, d: 1 });
    expect(dayOfSerial(0, true)).toEqual({ y: 1904, m: 1, d: 1 });
    expect(dayOfSerial(0, false)).toBeUndefined();
  });

  it('matches reordered columns by their header text, whatever the case, spacing or diacritics', async () => {
    const order = [...D03_COLUMNS].reverse();
    const body = await xlsxOf((sheet) => {
      const variants: Partial<Record<string, string>> = { ngaySinh: 'NGAY THANG\nNAM SINH', hoTen: '  họ  và tên ', soDinhDanh: 'Số CCCD/ĐDCN', ngayBienLai: 'Ngày biên lai (dd/mm/yyyy)' };
      sheet.addRow(order.map((column) => variants[column.field] ?? column.header));
      const values = person(7);
      sheet.addRow(order.map((column) => values[D03_COLUMNS.indexOf(column)]));
    });
    const list = await rowsOf(XLSX_CONTENT_TYPE, body);
    expect(list.rows).toEqual([expect.objectContaining({ stt: 7, hoTen: 'Nguyễn Thị Ánh Tuyết', soDinhDanh: '002315001234', ngaySinh: '01/09/2015', ngayBienLai: '05/09/2026', soThang: 12, maNhanVienThu: 'NV01' })]);
  });

  it('uses a formula\'s saved result, never evaluates one, and reports a formula with no result on its row', async () => {
    const body = await xlsxOf((sheet) => {
      sheet.addRow(HEADERS);
      sheet.addRow(person(1, { soTien: { formula: 'K3*0', result: 884520 } }));
      sheet.addRow(person(2, { soTien: { formula: 'SUM(K1:K2)' } }));
    });
    const list = await rowsOf(XLSX_CONTENT_TYPE, body);
    expect(list.rows[0]?.soTien).toBe(884520);
    expect(list.rows[1]?.soTien).toBeUndefined();
    expect(list.problems).toEqual([{ stt: 2, path: '/soTien', code: 'FORMULA_WITHOUT_VALUE', message: expect.any(String) }]);
  });

  it('gives a merged cell\'s value to the row holding its master cell only', async () => {
    const body = await xlsxOf((sheet) => {
      sheet.addRow(HEADERS);
      sheet.addRow(person(1));
      sheet.addRow(person(2, { diaChi: undefined }));
      sheet.mergeCells('G2:G3');
    });
    const list = await rowsOf(XLSX_CONTENT_TYPE, body);
    expect(list.rows.map((row) => row.diaChi)).toEqual(['Thôn Tả Ván, xã Hà Giang', undefined]);
  });

  it('reports an amount that is not a number, and skips pre-numbered blank rows', async () => {
    const body = await xlsxOf((sheet) => {
      sheet.addRow(HEADERS);
      sheet.addRow(person(1, { soTien: '884.520 đồng' }));
      sheet.addRow([2]);
      sheet.addRow([3]);
    });
    const list = await rowsOf(XLSX_CONTENT_TYPE, body);
    expect(list.rows.map((row) => row.stt)).toEqual([1]);
    expect(list.problems).toEqual([{ stt: 1, path: '/soTien', code: 'NOT_A_NUMBER', message: expect.stringContaining('884.520') }]);
  });

  it('reads 30,000 rows streaming: every person, with no letter split between chunks', async () => {
    const rows: D03Row[] = Array.from({ length: 30_000 }, (_, i) => ({
      stt: i + 1, hoTen: `Nguyễn Thị Ánh Tuyết ${i + 1}`, soDinhDanh: String(2015000000 + i).padStart(12, '0'), ngaySinh: '01/09/2015', gioiTinh: 'Nữ',
      diaChi: `Số ${i} đường Nguyễn Trãi, phường Hà Giang 1, tỉnh Tuyên Quang`, noiDangKyKCB: '08001', soTien: 884520, tuThang: '10/2026', soThang: 12,
    }));
    const body = await writeD03Xlsx({ header: { maDonVi: 'TZ0801A', kyKeKhai: '10/2026' }, rows, notes: new Map() });
    const list = await rowsOf(XLSX_CONTENT_TYPE, body);
    expect(list.rows).toHaveLength(30_000);
    expect(list.rows[29_999]).toEqual(rows[29_999]);
    expect(list.rows.filter((row) => row.hoTen?.includes('\uFFFD') || row.diaChi?.includes('\uFFFD'))).toEqual([]);
  }, 120_000);

  it('decodes the shared strings table whole as well: no name split between its chunks', async () => {
    const body = await xlsxOf((sheet) => {
      sheet.addRow(HEADERS);
      for (let i = 1; i <= 20_000; i++) sheet.addRow(person(i, { hoTen: `Nguyễn Thị Ánh Tuyết ${i}`, diaChi: `Số ${i} đường Nguyễn Trãi, Hà Giang` }));
    });
    const list = await rowsOf(XLSX_CONTENT_TYPE, body);
    expect(list.rows).toHaveLength(20_000);
    expect(list.rows.filter((row, i) => row.hoTen !== `Nguyễn Thị Ánh Tuyết ${i + 1}` || row.diaChi !== `Số ${i + 1} đường Nguyễn Trãi, Hà Giang`)).toEqual([]);
  }, 120_000);
});

describe('CSV', () => {
  it('reads the header row and people, with a BOM, quotes, and amounts with separators', async () => {
    const csv = [
      HEADERS.join(','),
      '1,"Nguyễn Văn A, con",0123456789,002315001234,1/9/2015,Nam,"Thôn ""Tả"" Ván",02001,05/09/2026,BL1,"1.105.650",0,0,10/2026,12,NV01,',
      ',Cộng tăng,,,,,,,,,1105650',
    ].join('\r\n');
    const list = await rowsOf('text/csv; charset=utf-8', Buffer.from(`\uFEFF${csv}`, 'utf8'));
    expect(list.format).toBe('csv');
    expect(list.rows).toEqual([{
      stt: 1, hoTen: 'Nguyễn Văn A, con', maSoBhxh: '0123456789', soDinhDanh: '002315001234', ngaySinh: '01/09/2015', gioiTinh: 'Nam', diaChi: 'Thôn "Tả" Ván',
      noiDangKyKCB: '02001', ngayBienLai: '05/09/2026', soBienLai: 'BL1', soTien: 1105650, hoTroNSDP: 0, hoTroKhac: 0, tuThang: '10/2026', soThang: 12, maNhanVienThu: 'NV01',
    }]);
  });
});

describe('I-VAN XML', () => {
  const form = readFileSync('tests/fixtures/d03ts/d03-ts.xml');

  it('reads the bare D03-TS form: facility from province and hospital codes, amount and months, either spelling of the personal number', async () => {
    const list = await rowsOf('application/xml', form);
    expect(list.format).toBe('xml');
    expect(list.rows).toEqual([
      { stt: 1, hoTen: 'Lò Thị Mai', maSoBhxh: '0123456789', soDinhDanh: '002315001234', ngaySinh: '01/09/2015', gioiTinh: 'Nữ', noiDangKyKCB: '02001',
        ngayBienLai: '05/09/2026', soBienLai: 'BL0001', soTien: 884520, tuThang: '10/2026', soThang: 12 },
      { stt: 2, hoTen: 'Giàng A Páo', soDinhDanh: '002215004321', ngaySinh: '12/03/2014', gioiTinh: 'Nam', noiDangKyKCB: '02001', soTien: 442260, tuThang: '10/2026', soThang: 6, ghiChu: 'Tăng mới' },
    ]);
    expect(list.problems).toEqual([]);
  });

  it('reads the Hoso envelope: unit code and period from the envelope, the form from its base64 file', async () => {
    const envelope = readFileSync('tests/fixtures/d03ts/hoso.xml', 'utf8').replace('@FORM@', form.toString('base64'));
    const list = await rowsOf('text/xml', Buffer.from(envelope));
    expect(list.header).toEqual({ maDonVi: 'TZ0801A', tenDonVi: 'Trường Tiểu học Tả Ván', kyKeKhai: '10/2026' });
    expect(list.rows.map((row) => row.hoTen)).toEqual(['Lò Thị Mai', 'Giàng A Páo']);
  });
});

describe('JSON', () => {
  it('reads the rows in the shape of d03-row.ts, and names a field the form does not have', async () => {
    const body = { kyKeKhai: '10/2026', rows: [
      { stt: 1, hoTen: 'Lò Thị Mai', soDinhDanh: '002315001234', ngaySinh: '01/09/2015', gioiTinh: 'Nữ', noiDangKyKCB: '02001', tuThang: '10/2026', soThang: 12, lop: '1', soTien: '884.520' },
      { stt: 2, hoTen: 'Giàng A Páo', ngaySinh: 42248, tenLop: '2A' },
    ] };
    const list = await rowsOf('application/json', Buffer.from(JSON.stringify(body)));
    expect(list.header).toEqual({ kyKeKhai: '10/2026' });
    expect(list.rows[0]).toEqual({ ...body.rows[0], soTien: 884520 });
    expect(list.problems).toEqual([
      { stt: 2, path: '/ngaySinh', code: 'TYPE', message: 'must be text' },
      { stt: 2, path: '/tenLop', code: 'ADDITIONALPROPERTIES', message: expect.any(String) },
    ]);
  });
});

describe('the annotated list sent back', () => {
  const rows: D03Row[] = [
    { stt: 1, hoTen: 'Nguyễn Thị Ánh Tuyết', soDinhDanh: '002315001234', ngaySinh: '01/09/2015', gioiTinh: 'Nữ', noiDangKyKCB: '02001', soTien: 884520, tuThang: '10/2026', soThang: 12 },
    { stt: 2, hoTen: '=HYPERLINK("http://evil.example","Bấm vào đây")', soDinhDanh: '002215004321', ngaySinh: '31/02/2014', gioiTinh: 'Nam', noiDangKyKCB: '02001', tuThang: '10/2026', soThang: 6, maNhanVienThu: '@SUM(1)' },
  ];
  const notes = new Map([[1, 'Đã cấp thẻ HS4020123456789 từ 01/10/2026 đến 30/09/2027'], [2, '-Ngày sinh không có thật; +kiểm tra lại họ tên']]);
  const list = { header: { tenDonVi: 'Trường Tiểu học Tả Ván', maDonVi: 'TZ0801A', kyKeKhai: '10/2026' }, rows, notes, rowsToFix: new Set([2]) };

  it('is an XLSX with the header block, column Q filled and wrapped, rows to fix shaded, and no formula anywhere', async () => {
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load(new Uint8Array(await writeD03Xlsx(list)).buffer);
    const sheet = workbook.worksheets[0] as ExcelJS.Worksheet;
    expect(sheet.getCell('A2').value).toBe('Tên đơn vị: Trường Tiểu học Tả Ván');
    expect(sheet.getCell('A3').value).toBe('Mã đơn vị: TZ0801A');
    expect((sheet.getRow(6).values as unknown[]).slice(1)).toEqual(HEADERS);
    expect(sheet.getCell('Q7').value).toBe(notes.get(1));
    expect(sheet.getCell('Q8').value).toBe(notes.get(2));
    expect(sheet.getCell('Q8').alignment?.wrapText).toBe(true);
    expect(sheet.getCell('B8').fill).toMatchObject({ type: 'pattern', fgColor: { argb: 'FFFFC7CE' } });
    expect((sheet.getCell('B7').fill as ExcelJS.FillPattern | undefined)?.fgColor).toBeUndefined();
    expect(sheet.getCell('B8').value).toBe(rows[1]?.hoTen);
    expect(sheet.getCell('D7').value).toBe('002315001234');
    let formulas = 0;
    sheet.eachRow((row) => row.eachCell((cell) => { if (cell.type === ExcelJS.ValueType.Formula) formulas++; }));
    expect(formulas).toBe(0);
  });

  it('reads back as the same list, with the notes in column Q', async () => {
    const back = await rowsOf(XLSX_CONTENT_TYPE, await writeD03Xlsx(list));
    expect(back.header).toEqual(list.header);
    expect(back.rows).toEqual(rows.map((row) => ({ ...row, ghiChu: notes.get(row.stt) })));
  });

  it('is a CSV whose formula-like values carry an apostrophe, and which reads back as the same list', async () => {
    const csv = writeD03Csv(list);
    const text = csv.toString('utf8');
    expect(text.startsWith('\uFEFFSTT,Họ và tên,')).toBe(true);
    expect(text).toContain(`"'=HYPERLINK(""http://evil.example"",""Bấm vào đây"")"`);
    expect(text).toContain(`,'@SUM(1),'-Ngày sinh`);
    const back = await rowsOf(CSV_CONTENT_TYPE, csv);
    expect(back.rows).toEqual(rows.map((row) => ({ ...row, ghiChu: notes.get(row.stt) })));
  });
});

describe('text bounds: the JSON schema\'s maxLength (32 for codes, 200 for a name, 500 for text) and text PostgreSQL can store', () => {
  const huge = 'x'.repeat(2_100_000);

  it('XLSX: a value over its bound is a MAXLENGTH problem and is not kept; a header fact over its bound is not taken', async () => {
    const body = await xlsxOf((sheet) => {
      sheet.addRow([`Tên đơn vị: ${'T'.repeat(501)}`, undefined, undefined, 'Mã đơn vị:', 'M'.repeat(33)]);
      sheet.addRow(HEADERS);
      sheet.addRow(person(1, { hoTen: 'H'.repeat(201), diaChi: 'Đ'.repeat(501), soBienLai: 'B'.repeat(33), soTien: '1'.repeat(33), ghiChu: 'G'.repeat(500) }));
    });
    const list = await rowsOf(XLSX_CONTENT_TYPE, body);
    expect(list.header).toEqual({});
    expect(list.problems).toEqual(['/hoTen', '/diaChi', '/soBienLai', '/soTien'].map((path) => ({ stt: 1, path, code: 'MAXLENGTH', message: expect.stringMatching(/at most \d+ characters/) })));
    expect(list.rows[0]).not.toHaveProperty('hoTen');
    expect(list.rows[0]).not.toHaveProperty('diaChi');
    expect(list.rows[0]?.ghiChu).toHaveLength(500);
  });

  it('XLSX: cells pointing at one 2 MB shared string, above, in and under the header, keep none of it', async () => {
    const body = await xlsxOf((sheet) => {
      for (let i = 0; i < 20; i++) sheet.addRow(Array.from({ length: 17 }, () => huge));
      sheet.addRow(HEADERS);
      sheet.addRow(HEADERS.map(() => huge));
      for (let i = 1; i <= 2_000; i++) sheet.addRow(person(i, { hoTen: huge, diaChi: huge }));
    });
    const list = await rowsOf(XLSX_CONTENT_TYPE, body);
    expect(list.header).toEqual({});
    expect(list.rows).toHaveLength(2_000);
    expect(list.rows.filter((row) => row.hoTen !== undefined || row.diaChi !== undefined)).toEqual([]);
    expect(list.problems).toHaveLength(4_000);
    expect(new Set(list.problems.map((problem) => problem.code))).toEqual(new Set(['MAXLENGTH']));
  }, 60_000);

  it('CSV, JSON and XML: a NUL or a lone surrogate is an INVALID_TEXT problem, a value over its bound MAXLENGTH, and neither is kept', async () => {
    const csv = [`Tên đơn vị: Trường\u0000A`, HEADERS.join(','), ['1', 'Lò\u0000Mai', ...person(1, { diaChi: 'Thôn Tả Ván' }).slice(2).map((v) => String(v ?? ''))].join(',')].join('\n');
    const fromCsv = await rowsOf(CSV_CONTENT_TYPE, Buffer.from(csv));
    expect(fromCsv.header).toEqual({});
    expect(fromCsv.problems).toEqual([{ stt: 1, path: '/hoTen', code: 'INVALID_TEXT', message: expect.any(String) }]);
    expect(fromCsv.rows[0]).not.toHaveProperty('hoTen');

    const json = `{"kyKeKhai": "${'1'.repeat(33)}", "tenDonVi": "${'T'.repeat(501)}", "rows": [{"stt": 1, "hoTen": "L\\ud800", "ghiChu": "${'G'.repeat(501)}", "lop": "\\u0000"}]}`;
    const fromJson = await rowsOf('application/json', Buffer.from(json));
    expect(fromJson.header).toEqual({});
    expect(fromJson.problems.map(({ path, code }) => ({ path, code }))).toEqual([
      { path: '/hoTen', code: 'INVALID_TEXT' }, { path: '/ghiChu', code: 'MAXLENGTH' }, { path: '/lop', code: 'INVALID_TEXT' },
    ]);
    expect(fromJson.rows).toEqual([{ stt: 1 }]);

    const xml = `<D03-TS><ThongTinDonVi><TenDonVi>${'T'.repeat(501)}</TenDonVi></ThongTinDonVi><NoiDung><LaoDong><STT>1</STT><HoTen>Lò Thị Mai</HoTen><DiaChi>${'Đ'.repeat(501)}</DiaChi></LaoDong></NoiDung></D03-TS>`;
    const fromXml = await rowsOf('application/xml', Buffer.from(xml));
    expect(fromXml.header).toEqual({});
    expect(fromXml.problems).toEqual([{ stt: 1, path: '/diaChi', code: 'MAXLENGTH', message: expect.any(String) }]);
    expect(fromXml.rows).toEqual([{ stt: 1, hoTen: 'Lò Thị Mai' }]);
  });
});
