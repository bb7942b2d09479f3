import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { crc32, deflateRawSync } from 'node:zlib';
import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_D03_LIMITS, type D03ListLimits } from '../src/codec/d03ts/list-file.js';
import { D03_COLUMNS } from '../src/codec/d03ts/d03-row.js';
import { CSV_CONTENT_TYPE, readD03List, XLSX_CONTENT_TYPE } from '../src/codec/d03ts/read-list.js';
import { writeD03Xlsx } from '../src/codec/d03ts/xlsx-writer.js';
import { GatewayError } from '../src/errors.js';

/**
 * List files made to hurt: zip bombs, lying and overlapping zip parts, encrypted and foreign files
 * sent as XLSX, sheets past the row bound, entity bombs in every XML a list may carry, broken
 * UTF-8, and lists without the form's header. Each is refused cheaply with a stable code, and none
 * makes the reader crash or allocate without bound.
 */

const HEADERS = D03_COLUMNS.map((column) => column.header);
const PERSON = ['1', 'Lò Thị Mai', '0123456789', '002315001234', '01/09/2015', 'Nữ', '', '02001', '', '', '884520', '0', '0', '10/2026', '12', '', ''];

interface Refusal {
  code: string;
  details: Array<{ path: string; code: string; message: string }>;
}

async function refusalOf(type: string, body: Buffer, limits: D03ListLimits = DEFAULT_D03_LIMITS): Promise<Refusal> {
  try {
    await readD03List(type, body, limits);
  } catch (err) {
    if (err instanceof GatewayError) return { code: err.code, details: err.details };
    throw err;
  }
  throw new Error('the file was accepted');
}

const refused = (code: string, detail: string, message: RegExp = /./) => ({ code, details: [{ path: '', code: detail, message: expect.stringMatching(message) }] });

// ---------------------------------------------------------------------------------------------
// A zip written by hand, so its records can say what a hostile file says.
// ---------------------------------------------------------------------------------------------

interface Part {
  name: string;
  data: Buffer;
  /** The uncompressed size the records declare, when it is a lie. */
  declaredSize?: number;
  flags?: number;
  /** Sizes and CRC in a data descriptor after the data (flag bit 3), the local header giving them too or leaving them zero. */
  descriptor?: 'sizes also in the local header' | 'zeros in the local header';
}

interface ZipOptions {
  /** Edits the central directory's entries (their local offsets, say) before it is written. */
  directory?: (entries: CentralEntry[]) => CentralEntry[];
  /** Bytes written between the parts and the central directory, listed nowhere. */
  hidden?: Buffer;
}

interface CentralEntry {
  part: Part;
  compressed: Buffer;
  crc: number;
  offset: number;
}

function zip(parts: Part[], options: ZipOptions = {}): Buffer {
  const chunks: Buffer[] = [];
  let entries: CentralEntry[] = [];
  let offset = 0;
  for (const part of parts) {
    const compressed = deflateRawSync(part.data);
    const crc = crc32(part.data);
    const name = Buffer.from(part.name, 'utf8');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flagsOf(part), 6);
    local.writeUInt16LE(8, 8);
    if (part.descriptor !== 'zeros in the local header') {
      local.writeUInt32LE(crc, 14);
      local.writeUInt32LE(compressed.length, 18);
      local.writeUInt32LE(part.declaredSize ?? part.data.length, 22);
    }
    local.writeUInt16LE(name.length, 26);
    chunks.push(local, name, compressed);
    entries.push({ part, compressed, crc, offset });
    offset += local.length + name.length + compressed.length;
    if (part.descriptor) {
      const descriptor = Buffer.alloc(16);
      descriptor.writeUInt32LE(0x08074b50, 0);
      descriptor.writeUInt32LE(crc, 4);
      descriptor.writeUInt32LE(compressed.length, 8);
      descriptor.writeUInt32LE(part.declaredSize ?? part.data.length, 12);
      chunks.push(descriptor);
      offset += descriptor.length;
    }
  }
  if (options.hidden) {
    chunks.push(options.hidden);
    offset += options.hidden.length;
  }
  entries = options.directory ? options.directory(entries) : entries;
  const directoryStart = offset;
  for (const { part, compressed, crc, offset: localOffset } of entries) {
    const name = Buffer.from(part.name, 'utf8');
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flagsOf(part), 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(part.declaredSize ?? part.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(localOffset, 42);
    chunks.push(central, name);
    offset += central.length + name.length;
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(offset - directoryStart, 12);
  end.writeUInt32LE(directoryStart, 16);
  chunks.push(end);
  return Buffer.concat(chunks);
}

const flagsOf = (part: Part) => (part.flags ?? 0) | (part.descriptor ? 0x8 : 0);

const MAIN = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const RELS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';

/** The least a workbook needs, its one sheet's XML as given. */
function workbookParts(sheetXml: string | Buffer): Part[] {
  return [
    { name: 'xl/workbook.xml', data: Buffer.from(`<workbook xmlns="${MAIN}" xmlns:r="${RELS}"><sheets><sheet name="D03-TS" sheetId="1" r:id="rId1"/></sheets></workbook>`) },
    { name: 'xl/_rels/workbook.xml.rels', data: Buffer.from(`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${RELS}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`) },
    { name: 'xl/worksheets/sheet1.xml', data: typeof sheetXml === 'string' ? Buffer.from(sheetXml) : sheetXml },
  ];
}

function sheetXml(rows: string[][]): string {
  const cells = (row: string[], r: number) => row.map((text, c) => `<c r="${String.fromCharCode(65 + c)}${r}" t="inlineStr"><is><t>${text}</t></is></c>`).join('');
  return `<worksheet xmlns="${MAIN}"><sheetData>${rows.map((row, i) => `<row r="${i + 1}">${cells(row, i + 1)}</row>`).join('')}</sheetData></worksheet>`;
}

async function xlsxOf(rows: unknown[][]): Promise<Buffer> {
  const workbook = new ExcelJS.Workbook();
  const sheet = workbook.addWorksheet('D03-TS');
  for (const row of rows) sheet.addRow(row);
  return Buffer.from(await workbook.xlsx.writeBuffer());
}

describe('XLSX: the zip is checked before exceljs opens it', () => {
  it('reads a hand-made workbook, so the hostile ones below differ from it only in what they test', async () => {
    const list = await readD03List(XLSX_CONTENT_TYPE, zip(workbookParts(sheetXml([HEADERS, PERSON]))));
    expect(list.rows).toEqual([expect.objectContaining({ stt: 1, hoTen: 'Lò Thị Mai', soTien: 884520 })]);
  });

  it('refuses a part declared larger than a list needs, before inflating anything', async () => {
    const parts = workbookParts(sheetXml([HEADERS, PERSON]));
    parts.push({ name: 'xl/media/bomb.bin', data: Buffer.from('x'), declaredSize: 4_000_000_000 });
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(parts))).toEqual(refused('PAYLOAD_TOO_LARGE', 'FILE_TOO_LARGE', /bomb\.bin/));
  });

  it('refuses parts whose declared sizes add up to more than the bound', async () => {
    const parts = workbookParts(sheetXml([HEADERS, PERSON]));
    for (let i = 0; i < 3; i++) parts.push({ name: `xl/media/image${i}.png`, data: Buffer.from('x'), declaredSize: 100 * 1024 * 1024 });
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(parts))).toEqual(refused('PAYLOAD_TOO_LARGE', 'FILE_TOO_LARGE', /once uncompressed/));
  });

  it('refuses a zip bomb that declares a small size: inflation stops as soon as it passes it', async () => {
    // 64 MB of spaces deflate to about 64 KB; the part says it holds 1 KB.
    const bomb = Buffer.alloc(64 * 1024 * 1024, 0x20);
    const parts = workbookParts(sheetXml([HEADERS, PERSON]));
    parts[2] = { name: 'xl/worksheets/sheet1.xml', data: bomb, declaredSize: 1024 };
    const body = zip(parts);
    expect(body.length).toBeLessThan(200 * 1024);
    expect(await refusalOf(XLSX_CONTENT_TYPE, body)).toEqual(refused('PAYLOAD_TOO_LARGE', 'FILE_TOO_LARGE', /more than it declares/));
  });

  it('refuses a workbook of too many parts, and shared strings larger than their bound', async () => {
    const many = workbookParts(sheetXml([HEADERS, PERSON]));
    for (let i = 0; i < DEFAULT_D03_LIMITS.maxZipEntries; i++) many.push({ name: `xl/media/p${i}.bin`, data: Buffer.from('x') });
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(many))).toEqual(refused('PAYLOAD_TOO_LARGE', 'FILE_TOO_LARGE', /parts/));

    const strings = workbookParts(sheetXml([HEADERS, PERSON]));
    strings.push({ name: 'xl/sharedStrings.xml', data: Buffer.from('<sst/>'), declaredSize: DEFAULT_D03_LIMITS.maxSharedStringsBytes + 1 });
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(strings))).toEqual(refused('PAYLOAD_TOO_LARGE', 'FILE_TOO_LARGE', /sharedStrings/));
  });

  it('refuses parts that overlap, and bytes hidden between parts', async () => {
    const parts = workbookParts(sheetXml([HEADERS, PERSON]));
    const overlapping = zip(parts, { directory: (entries) => entries.map((entry, i) => (i === 2 ? { ...entry, offset: entries[1]?.offset ?? 0 } : entry)) });
    expect(await refusalOf(XLSX_CONTENT_TYPE, overlapping)).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE'));

    const hidden = zip(parts, { hidden: zip([{ name: 'xl/worksheets/sheet2.xml', data: Buffer.from(sheetXml([HEADERS, PERSON])) }]).subarray(0, 80) });
    expect(await refusalOf(XLSX_CONTENT_TYPE, hidden)).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /overlap or leave gaps/));
  });

  it('refuses an encrypted part, a password-protected workbook, and files that are no workbook', async () => {
    const encrypted = workbookParts(sheetXml([HEADERS, PERSON]));
    encrypted[2] = { ...(encrypted[2] as Part), flags: 1 };
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(encrypted))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /password/));

    // What Excel saves with a password: an OLE compound file, not a zip.
    const ole = Buffer.concat([Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]), Buffer.alloc(4096)]);
    expect(await refusalOf(XLSX_CONTENT_TYPE, ole)).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /password/));

    expect(await refusalOf(XLSX_CONTENT_TYPE, Buffer.from('%PDF-1.7\n...'))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /not an XLSX/));
    expect(await refusalOf(XLSX_CONTENT_TYPE, Buffer.alloc(0))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE'));
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip([{ name: 'word/document.xml', data: Buffer.from('<w/>') }]))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /no workbook/));
    const real = await xlsxOf([HEADERS, PERSON]);
    expect(await refusalOf(XLSX_CONTENT_TYPE, real.subarray(0, Math.floor(real.length / 2)))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE'));
  });

  it('refuses a cell far to the right before exceljs reads the sheet, a quoted ">" in its tag notwithstanding', async () => {
    // Each row costs exceljs work in proportion to its last column: 20,000 rows with a cell in XFD took 5 seconds.
    const workbook = new ExcelJS.Workbook();
    const sheet = workbook.addWorksheet('D03-TS');
    for (let r = 1; r <= 200; r++) sheet.getCell(`XFD${r}`).value = r;
    const wide = Buffer.from(await workbook.xlsx.writeBuffer());
    expect(await refusalOf(XLSX_CONTENT_TYPE, wide)).toEqual(refused('PAYLOAD_TOO_LARGE', 'FILE_TOO_LARGE', /column XFD/));
    const quoted = sheetXml([HEADERS, PERSON]).replace('<c r="A2"', '<c s=">" r="IW2"');
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(workbookParts(quoted)))).toEqual(refused('PAYLOAD_TOO_LARGE', 'FILE_TOO_LARGE', /column IW/));
    const withinBound = sheetXml([HEADERS, PERSON]).replace('</row></sheetData>', '<c r="IV2" t="inlineStr"><is><t>x</t></is></c></row></sheetData>');
    expect((await readD03List(XLSX_CONTENT_TYPE, zip(workbookParts(withinBound)))).rows).toHaveLength(1);
  });

  it('refuses a cell reference that hides its column: a character reference, or a decoy r inside another attribute', async () => {
    const person = sheetXml([HEADERS, PERSON]);
    const escaped = person.replace('</row></sheetData>', '<c r="&#88;FD2" t="inlineStr"><is><t>x</t></is></c></row></sheetData>');
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(workbookParts(escaped)))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /cell reference/));
    const decoy = person.replace('</row></sheetData>', `<c x=' r="A1"' r="XFD2" t="inlineStr"><is><t>x</t></is></c></row></sheetData>`);
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(workbookParts(decoy)))).toEqual(refused('PAYLOAD_TOO_LARGE', 'FILE_TOO_LARGE', /column XFD/));
    const twice = person.replace('<c r="A2"', '<c r="A2" r="XFD2"');
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(workbookParts(twice)))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /cell reference/));
    const beyondCarry = person.replace('</row></sheetData>', `<c x="${'a'.repeat(200 * 1024)}" r="XFD2" t="inlineStr"><is><t>x</t></is></c></row></sheetData>`);
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(workbookParts(beyondCarry)))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /cell tag/));
    const lessThan = person.replace('</row></sheetData>', '<c x="<" r="XFD2" t="inlineStr"><is><t>x</t></is></c></row></sheetData>');
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(workbookParts(lessThan)))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE'));
    // Unclosed tags, each of which the screen once followed to the end of the text: minutes for a sheet of a few megabytes.
    const unclosed = Buffer.from(person.replace('</sheetData>', `<c "${'<c a'.repeat(2 * 1024 * 1024)}</sheetData>`));
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(workbookParts(unclosed)))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE'));
    const absolute = person.replace('<c r="A2"', '<c r="$A$2"');
    expect((await readD03List(XLSX_CONTENT_TYPE, zip(workbookParts(absolute)))).rows).toHaveLength(1);
  });

  it('refuses a part exceljs would read as a sheet under a name the check does not take for one', async () => {
    const wide = sheetXml([HEADERS, PERSON]).replace('<c r="A2"', '<c r="XFD2"');
    for (const name of ['xl/worksheets/sheet2.xml.x', 'evil/xl/worksheets/sheet2.xml']) {
      const parts = [...workbookParts(sheetXml([HEADERS, PERSON])), { name, data: Buffer.from(wide) }];
      expect(await refusalOf(XLSX_CONTENT_TYPE, zip(parts))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /sheet2/));
    }
  });

  it('reads a part whose data descriptor follows sizes its local header gives too, and one whose local header leaves them zero', async () => {
    for (const descriptor of ['sizes also in the local header', 'zeros in the local header'] as const) {
      const parts = workbookParts(sheetXml([HEADERS, PERSON])).map((part) => ({ ...part, descriptor }));
      const list = await readD03List(XLSX_CONTENT_TYPE, zip(parts));
      expect(list.rows).toEqual([expect.objectContaining({ stt: 1, hoTen: 'Lò Thị Mai' })]);
    }
  });

  it('copies no sheet to disk when the workbook has no relationships part, even when reading stops in the middle', async () => {
    const withoutRels = (rows: string[][]) => workbookParts(sheetXml(rows)).filter((part) => part.name !== 'xl/_rels/workbook.xml.rels');
    expect((await readD03List(XLSX_CONTENT_TYPE, zip(withoutRels([HEADERS, PERSON])))).rows).toHaveLength(1);
    const tooMany = withoutRels([HEADERS, ...Array.from({ length: 30 }, (_, i) => [String(i + 1), ...PERSON.slice(1)])]);
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(tooMany), { ...DEFAULT_D03_LIMITS, maxRows: 10, maxRowsBeforeHeader: 5 })).toEqual(refused('PAYLOAD_TOO_LARGE', 'FILE_TOO_LARGE'));
    expect(readdirSync(tmpdir()).filter((name) => name.startsWith(`tmp-${process.pid}-`))).toEqual([]);
  });

  it('bounds the rows of a sheet, people or not', async () => {
    const blank = await xlsxOf([HEADERS, ...Array.from({ length: 30 }, (_, i) => [i + 1])]);
    expect(await refusalOf(XLSX_CONTENT_TYPE, blank, { ...DEFAULT_D03_LIMITS, maxRows: 10, maxRowsBeforeHeader: 5 })).toEqual(refused('PAYLOAD_TOO_LARGE', 'FILE_TOO_LARGE', /more than 25 rows/));
  });

  it('refuses a sheet declaring entities, and a sheet that is not UTF-8', async () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>${sheetXml([HEADERS, ['1', '&c;']])}`;
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(workbookParts(laughs)))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE'));

    const latin1 = Buffer.concat([Buffer.from(sheetXml([HEADERS]).replace('</sheetData>', '')), Buffer.from('<row r="2"><c r="B2" t="inlineStr"><is><t>L\xf2</t></is></c></row></sheetData></worksheet>', 'latin1')]);
    expect(await refusalOf(XLSX_CONTENT_TYPE, zip(workbookParts(latin1)))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /UTF-8/));
  });
});

describe('XLSX: the form itself', () => {
  it('refuses an empty sheet and a sheet without an STT header row', async () => {
    expect(await refusalOf(XLSX_CONTENT_TYPE, await xlsxOf([]))).toEqual(refused('VALIDATION_FAILED', 'NO_HEADER_ROW'));
    const noHeader = await xlsxOf(Array.from({ length: 300 }, (_, i) => [i + 1, 'Lò Thị Mai']));
    expect(await refusalOf(XLSX_CONTENT_TYPE, noHeader)).toEqual(refused('VALIDATION_FAILED', 'NO_HEADER_ROW'));
  });

  it('names every required column the header row lacks', async () => {
    const body = await xlsxOf([['STT', 'Họ và tên', 'Giới tính', 'Số tháng'], [1, 'Lò Thị Mai', 'Nữ', 12]]);
    const refusal = await refusalOf(XLSX_CONTENT_TYPE, body);
    expect(refusal.code).toBe('VALIDATION_FAILED');
    expect(refusal.details.map((detail) => detail.code)).toEqual(['COLUMN_MISSING', 'COLUMN_MISSING', 'COLUMN_MISSING', 'COLUMN_MISSING']);
    expect(refusal.details.map((detail) => detail.message).join(' ')).toMatch(/Ngày tháng năm sinh.*Nơi đăng ký KCB ban đầu.*Từ tháng.*Mã số BHXH" or "Số CCCD/);
  });

  it('refuses a header row with nobody under it', async () => {
    expect(await refusalOf(XLSX_CONTENT_TYPE, await xlsxOf([HEADERS, [undefined, 'Cộng tăng']]))).toEqual(refused('VALIDATION_FAILED', 'NO_ROWS'));
  });

  it('never evaluates a formula: a hostile one gives its saved result, as text', async () => {
    const body = await xlsxOf([HEADERS, [1, { formula: 'cmd|\' /C calc\'!A0', result: 'Lò Thị Mai' }, ...PERSON.slice(2)]]);
    const list = await readD03List(XLSX_CONTENT_TYPE, body);
    expect(list.rows[0]?.hoTen).toBe('Lò Thị Mai');
  });

  it('stops at the row bound: the 50,001st person refuses the list', async () => {
    const rows = Array.from({ length: DEFAULT_D03_LIMITS.maxRows + 1 }, (_, i) => ({ stt: i + 1, hoTen: 'Lò Thị Mai', ngaySinh: '01/09/2015', gioiTinh: 'Nữ', noiDangKyKCB: '02001', tuThang: '10/2026', soThang: 12, soDinhDanh: '002315001234' }));
    const body = await writeD03Xlsx({ header: {}, rows, notes: new Map() });
    expect(await refusalOf(XLSX_CONTENT_TYPE, body)).toEqual(refused('PAYLOAD_TOO_LARGE', 'FILE_TOO_LARGE', /50000 rows/));
    // Stopping in the middle of a sheet leaves no copy of it on disk (exceljs names its temporary files tmp-<pid>-…).
    expect(readdirSync(tmpdir()).filter((name) => name.startsWith(`tmp-${process.pid}-`))).toEqual([]);
  }, 120_000);
});

describe('CSV, XML and JSON', () => {
  const csv = (...lines: string[]) => Buffer.from(lines.join('\n'), 'utf8');

  it('CSV: refuses invalid UTF-8, broken quotes, a record too long to be a row, and rows past the bound', async () => {
    const invalid = Buffer.concat([csv(HEADERS.join(','), '1,L'), Buffer.from([0xc3, 0x28])]);
    expect(await refusalOf(CSV_CONTENT_TYPE, invalid)).toEqual(refused('MALFORMED_BODY', 'INVALID_UTF8'));
    expect(await refusalOf(CSV_CONTENT_TYPE, csv(HEADERS.join(','), '1,"Lò Thị Mai,002'))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /line/));
    expect(await refusalOf(CSV_CONTENT_TYPE, csv(HEADERS.join(','), `1,${'x'.repeat(100_000)}`))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE'));
    const many = csv(HEADERS.join(','), ...Array.from({ length: 11 }, (_, i) => [i + 1, ...PERSON.slice(1)].join(',')));
    expect(await refusalOf(CSV_CONTENT_TYPE, many, { ...DEFAULT_D03_LIMITS, maxRows: 10 })).toEqual(refused('PAYLOAD_TOO_LARGE', 'FILE_TOO_LARGE'));
  });

  it('CSV: a formula stays text', async () => {
    const list = await readD03List(CSV_CONTENT_TYPE, csv(HEADERS.join(','), ['1', '=cmd|\' /C calc\'!A0', ...PERSON.slice(2)].join(',')));
    expect(list.rows[0]?.hoTen).toBe('=cmd|\' /C calc\'!A0');
  });

  const BOMB = `<?xml version="1.0"?><!DOCTYPE D03-TS [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><D03-TS><NoiDung><LaoDong><STT>1</STT><HoTen>&b;</HoTen></LaoDong></NoiDung></D03-TS>`;

  it('XML: refuses an entity bomb, bare or base64 in the envelope, and an envelope without a form', async () => {
    expect(await refusalOf('application/xml', Buffer.from(BOMB))).toEqual(refused('MALFORMED_BODY', 'XML_DTD_FORBIDDEN'));
    const envelope = (content: string) => Buffer.from(`<Hoso><NoiDung><ThongTinHoSo><ToKhais><FileToKhai><MaToKhai>D03-TS</MaToKhai><NoiDungFile>${content}</NoiDungFile></FileToKhai></ToKhais></ThongTinHoSo></NoiDung></Hoso>`);
    expect(await refusalOf('application/xml', envelope(Buffer.from(BOMB).toString('base64')))).toEqual(refused('MALFORMED_BODY', 'XML_DTD_FORBIDDEN'));
    expect(await refusalOf('application/xml', envelope('not base64!'))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /base64/));
    expect(await refusalOf('application/xml', Buffer.from('<KhaiSinh/>'))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /D03-TS/));
    expect(await refusalOf('application/xml', Buffer.from('<D03-TS><NoiDung/></D03-TS>'))).toEqual(refused('VALIDATION_FAILED', 'NO_ROWS'));
  });

  it('JSON: refuses a prototype key, deep nesting, and a body that is not a list', async () => {
    expect(await refusalOf('application/json', Buffer.from('{"rows":[{"stt":1,"__proto__":{"x":1}}]}'))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /__proto__/));
    expect(await refusalOf('application/json', Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /deeper/));
    expect(await refusalOf('application/json', Buffer.from('{"rows":{}}'))).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE'));
    // The parser's message would quote the text near the fault: here a pupil's name.
    const broken = await refusalOf('application/json', Buffer.from('{"rows":[{"stt":1,"hoTen":"Lò Thị Mai",}]}'));
    expect(broken).toEqual(refused('MALFORMED_BODY', 'FILE_UNREADABLE', /^The body is not valid JSON$/));
    expect(await refusalOf('application/json', Buffer.from('{"rows":[]}'))).toEqual(refused('VALIDATION_FAILED', 'NO_ROWS'));
  });

  it('refuses a content type that is no list form', async () => {
    expect((await refusalOf('application/pdf', Buffer.from('%PDF'))).code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});
