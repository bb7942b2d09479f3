/**
 * An XLSX is a zip, and a zip says how large its files are only by its own word. Before exceljs
 * opens one, this reads the zip's central directory itself (no zip library: the format's two
 * records are a few fixed-offset fields, and reading them here keeps the checks in plain sight):
 * how many files, how large each is declared once uncompressed, whether any is encrypted or
 * compressed by a method other than deflate; that the files lie one after another with nothing
 * hidden between or overlapping (the trick of zip bombs that reuse one compressed block); then
 * inflates each file, throwing the output away, and stops the moment one yields more than it
 * declared. exceljs's unzipper reads the same local records in the same order, so what it inflates
 * afterwards is bounded by what was checked here.
 */
import { crc32, createInflateRaw } from 'node:zlib';
import { refuseFile, type D03ListLimits } from './list-file.js';

export interface XlsxFacts {
  /** The workbook counts dates from 1904 (old Mac workbooks) rather than 1900. */
  date1904: boolean;
  /** The same parts, in the order a streaming reader needs them (see {@link sheetsLast}). */
  streamable: Buffer;
}

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const DATA_DESCRIPTOR = 0x08074b50;
const FLAG_ENCRYPTED = 0x1;
const FLAG_DATA_DESCRIPTOR = 0x8;
const STORED = 0;
const DEFLATED = 8;

/** An encrypted Office file is not a zip but an OLE compound file; so is an Excel 97–2003 .xls. */
const OLE_SIGNATURE = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);

const WORKBOOK_PART = 'xl/workbook.xml';
const SHARED_STRINGS_PART = 'xl/sharedStrings.xml';
// The workbook part is read for its date system; a larger one is not a plain workbook.
const MAX_WORKBOOK_PART_BYTES = 1024 * 1024;

interface Entry {
  name: string;
  /** Where its local record (header, data, descriptor) ends; set once the layout is checked. */
  recordEnd?: number;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

export async function inspectXlsx(body: Buffer, limits: D03ListLimits): Promise<XlsxFacts> {
  if (body.subarray(0, OLE_SIGNATURE.length).equals(OLE_SIGNATURE)) {
    throw refuseFile('FILE_UNREADABLE', 'The file is password-protected or an Excel 97-2003 workbook (.xls); save it as an .xlsx workbook without a password');
  }
  if (body.length < 30 || body.readUInt32LE(0) !== LOCAL_HEADER) {
    throw refuseFile('FILE_UNREADABLE', 'The file is not an XLSX workbook');
  }
  const { entries, directoryStart } = centralDirectory(body, limits);
  checkLayout(body, entries, directoryStart);
  if (!entries.some((entry) => entry.name === WORKBOOK_PART)) {
    throw refuseFile('FILE_UNREADABLE', 'The zip file holds no workbook; it is not an XLSX workbook');
  }
  let date1904 = false;
  for (const entry of entries) {
    const workbook: Buffer[] | undefined = entry.name === WORKBOOK_PART && entry.size <= MAX_WORKBOOK_PART_BYTES ? [] : undefined;
    const screen = WORKSHEET_PART.test(entry.name) ? new CellColumnScreen() : undefined;
    await inflateWithin(body, entry, (chunk) => {
      workbook?.push(chunk);
      screen?.feed(chunk);
    });
    screen?.end();
    if (workbook) date1904 = /<(?:\w+:)?workbookPr\b[^>]*\bdate1904\s*=\s*["'](?:1|true)["']/.test(Buffer.concat(workbook).toString('utf8'));
  }
  return { date1904, streamable: sheetsLast(body, entries) };
}

/**
 * exceljs's streaming reader needs the shared strings and the workbook's relationships before a
 * sheet; a sheet that comes before either (Excel writes the shared strings last, and some writers
 * write none) it copies to a temporary file, which it leaves on disk when reading stops early. So
 * the checked local records are copied with the sheets after every other part, an empty shared
 * strings part is put first when there is none, and the relationships are always an empty part of
 * our own: exceljs uses them only to name sheets, which the list does not need, and a part of the
 * workbook's that parsed to nothing (an empty one) would send it back to the temporary file. The
 * sheets are then parsed straight from the zip. A copy of the compressed records costs the body's
 * size once; the central directory is not copied, as the streaming reader does not read it.
 */
function sheetsLast(body: Buffer, entries: Entry[]): Buffer {
  const isSheet = (entry: Entry) => WORKSHEET_PART.test(entry.name);
  const ordered = [...entries]
    .filter((entry) => entry.name !== WORKBOOK_RELS_PART)
    .sort((a, b) => Number(isSheet(a)) - Number(isSheet(b)) || a.localOffset - b.localOffset);
  const records = ordered.flatMap((entry) => streamableRecord(body, entry));
  records.unshift(storedRecord(WORKBOOK_RELS_PART, Buffer.from(EMPTY_RELATIONSHIPS)));
  if (!entries.some((entry) => entry.name === SHARED_STRINGS_PART)) records.unshift(storedRecord(SHARED_STRINGS_PART, Buffer.from(EMPTY_SHARED_STRINGS)));
  return Buffer.concat(records);
}

/**
 * A part's local record as the streaming unzip is to read it. One followed by a data descriptor
 * (flag bit 3) is rewritten without it: its local header gets the directory's CRC and sizes and
 * loses the flag. Read as it stands, the unzip would look for the descriptor's signature to find the
 * part's end, or, when the local header gives sizes as well, misread it (unzipper 0.10 does).
 */
function streamableRecord(body: Buffer, entry: Entry): Buffer[] {
  const at = entry.localOffset;
  const flags = body.readUInt16LE(at + 6);
  if (!(flags & FLAG_DATA_DESCRIPTOR)) return [body.subarray(at, entry.recordEnd)];
  const dataStart = at + 30 + body.readUInt16LE(at + 26) + body.readUInt16LE(at + 28);
  const header = Buffer.from(body.subarray(at, dataStart));
  header.writeUInt16LE(flags & ~FLAG_DATA_DESCRIPTOR, 6);
  header.writeUInt32LE(entry.crc, 14);
  header.writeUInt32LE(entry.compressedSize, 18);
  header.writeUInt32LE(entry.size, 22);
  return [header, body.subarray(dataStart, dataStart + entry.compressedSize)];
}

const WORKSHEET_PART = /^xl\/worksheets\/sheet\d+\.xml$/;
// exceljs 4.4.0 (stream/xlsx/workbook-reader.js) takes a part for a sheet by this unanchored
// pattern: a part it matches and the anchored one above does not would be parsed by exceljs
// without the cell screen having seen it.
const EXCELJS_WORKSHEET_PART = /xl\/worksheets\/sheet\d+[.]xml/;
const WORKBOOK_RELS_PART = 'xl/_rels/workbook.xml.rels';
const EMPTY_SHARED_STRINGS = '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="0" uniqueCount="0"/>';
const EMPTY_RELATIONSHIPS = '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>';

function storedRecord(name: string, data: Buffer): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const header = Buffer.alloc(30);
  header.writeUInt32LE(LOCAL_HEADER, 0);
  header.writeUInt16LE(20, 4);
  header.writeUInt16LE(STORED, 8);
  header.writeUInt32LE(crc32(data), 14);
  header.writeUInt32LE(data.length, 18);
  header.writeUInt32LE(data.length, 22);
  header.writeUInt16LE(nameBytes.length, 26);
  return Buffer.concat([header, nameBytes, data]);
}

function centralDirectory(body: Buffer, limits: D03ListLimits): { entries: Entry[]; directoryStart: number } {
  const end = body.lastIndexOf(uint32(END_OF_CENTRAL_DIRECTORY), body.length - 22);
  // The record is the last 22 bytes plus a comment of at most 65,535.
  if (end === -1 || end < body.length - 22 - 0xffff) throw damaged('its end record is missing');
  const count = body.readUInt16LE(end + 10);
  const directorySize = body.readUInt32LE(end + 12);
  const directoryOffset = body.readUInt32LE(end + 16);
  if (body.readUInt16LE(end + 4) !== 0 || body.readUInt16LE(end + 6) !== 0 || body.readUInt16LE(end + 8) !== count) {
    throw refuseFile('FILE_UNREADABLE', 'The file is a zip split over several parts; it is not an XLSX workbook');
  }
  if (count === 0xffff || directoryOffset === 0xffffffff) {
    throw refuseFile('FILE_TOO_LARGE', 'The workbook uses ZIP64, which only workbooks far larger than a list need');
  }
  if (count > limits.maxZipEntries) {
    throw refuseFile('FILE_TOO_LARGE', `The workbook holds ${count} parts; a list's workbook has far fewer than ${limits.maxZipEntries}`);
  }
  if (directoryOffset + directorySize > end) throw damaged('its directory lies outside the file');

  const entries: Entry[] = [];
  const names = new Set<string>();
  let total = 0;
  let at = directoryOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > end || body.readUInt32LE(at) !== CENTRAL_HEADER) throw damaged('its directory is broken');
    const nameLength = body.readUInt16LE(at + 28);
    const entry: Entry = {
      flags: body.readUInt16LE(at + 8),
      method: body.readUInt16LE(at + 10),
      crc: body.readUInt32LE(at + 16),
      compressedSize: body.readUInt32LE(at + 20),
      size: body.readUInt32LE(at + 24),
      localOffset: body.readUInt32LE(at + 42),
      name: body.toString('utf8', at + 46, Math.min(at + 46 + nameLength, end)),
    };
    at += 46 + nameLength + body.readUInt16LE(at + 30) + body.readUInt16LE(at + 32);
    if (entry.flags & FLAG_ENCRYPTED) {
      throw refuseFile('FILE_UNREADABLE', 'The workbook is password-protected; save it without a password');
    }
    if (entry.method !== STORED && entry.method !== DEFLATED) throw damaged('a part is compressed in a way spreadsheets do not use');
    if (names.has(entry.name)) throw damaged('two parts have the same name');
    if (EXCELJS_WORKSHEET_PART.test(entry.name) && !WORKSHEET_PART.test(entry.name)) {
      throw damaged(`the part ${clipName(entry.name)} is named like a sheet but is not one`);
    }
    names.add(entry.name);
    if (entry.size > limits.maxZipEntryBytes || (entry.name === SHARED_STRINGS_PART && entry.size > limits.maxSharedStringsBytes)) {
      throw refuseFile('FILE_TOO_LARGE', `The workbook's part ${clipName(entry.name)} is ${megabytes(entry.size)} once uncompressed, more than a list needs`);
    }
    total += entry.size;
    if (total > limits.maxZipTotalBytes) {
      throw refuseFile('FILE_TOO_LARGE', `The workbook is more than ${megabytes(limits.maxZipTotalBytes)} once uncompressed, more than a list needs`);
    }
    entries.push(entry);
  }
  if (at !== directoryOffset + directorySize) throw damaged('its directory is broken');
  return { entries, directoryStart: directoryOffset };
}

/**
 * The parts follow one another from the first byte to the directory, each local record naming the
 * part the directory names: no byte is read twice (overlapping parts) and none is skipped (a part
 * the directory does not list, which a streaming unzip would still read).
 */
function checkLayout(body: Buffer, entries: Entry[], directoryStart: number): void {
  let expected = 0;
  for (const entry of [...entries].sort((a, b) => a.localOffset - b.localOffset)) {
    const at = entry.localOffset;
    if (at !== expected || at + 30 > directoryStart || body.readUInt32LE(at) !== LOCAL_HEADER) throw damaged('its parts overlap or leave gaps');
    const flags = body.readUInt16LE(at + 6);
    const nameLength = body.readUInt16LE(at + 26);
    const dataStart = at + 30 + nameLength + body.readUInt16LE(at + 28);
    if (body.readUInt16LE(at + 8) !== entry.method || body.toString('utf8', at + 30, at + 30 + nameLength) !== entry.name) {
      throw damaged('its directory and its parts disagree');
    }
    const dataEnd = dataStart + entry.compressedSize;
    if (dataEnd > directoryStart) throw damaged('a part runs past the end of the file');
    if (flags & FLAG_DATA_DESCRIPTOR) {
      // The descriptor (with its signature, as every writer of workbooks puts it) ends the record;
      // the copy handed to exceljs leaves it out (streamableRecord).
      if (dataEnd + 16 > directoryStart || body.readUInt32LE(dataEnd) !== DATA_DESCRIPTOR) {
        throw damaged('a part cannot be read as a stream');
      }
      expected = dataEnd + 16;
      entry.recordEnd = expected;
    } else {
      if (body.readUInt32LE(at + 18) !== entry.compressedSize || body.readUInt32LE(at + 22) !== entry.size) {
        throw damaged('its directory and its parts disagree');
      }
      expected = dataEnd;
      entry.recordEnd = expected;
    }
  }
  if (expected !== directoryStart) throw damaged('its parts overlap or leave gaps');
}

/** Inflates one part, showing each piece to `look` (which may refuse it), and stops once it yields more than it declared. */
function inflateWithin(body: Buffer, entry: Entry, look: (chunk: Buffer) => void): Promise<void> {
  const at = entry.localOffset;
  const dataStart = at + 30 + body.readUInt16LE(at + 26) + body.readUInt16LE(at + 28);
  const data = body.subarray(dataStart, dataStart + entry.compressedSize);
  if (entry.method === STORED) {
    if (entry.compressedSize !== entry.size) return Promise.reject(damaged('a stored part has two sizes'));
    try {
      look(data);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return new Promise((resolve, reject) => {
    const inflate = createInflateRaw();
    let produced = 0;
    const stop = (err: unknown) => {
      inflate.destroy();
      reject(err);
    };
    inflate.on('data', (chunk: Buffer) => {
      produced += chunk.length;
      if (produced > entry.size) {
        stop(refuseFile('FILE_TOO_LARGE', `The workbook's part ${clipName(entry.name)} unpacks to more than it declares: a zip bomb, or a damaged file`));
        return;
      }
      try {
        look(chunk);
      } catch (err) {
        stop(err);
      }
    });
    inflate.on('error', () => reject(damaged('a part cannot be uncompressed')));
    inflate.on('end', () => {
      if (produced !== entry.size) reject(damaged('a part is shorter than it declares'));
      else resolve();
    });
    inflate.end(data);
  });
}

/**
 * exceljs spends, on every row, work in proportion to the row's last column, and a cell may stand as
 * far right as column XFD (16,384): a small sheet of rows each with one cell there takes minutes to
 * read. The form has 17 columns; a cell beyond column IV (256) is refused before exceljs reads the
 * sheet. Tags are examined whole: the text from a chunk's last '<' waits for the next chunk. A cell's
 * reference is its attribute named exactly `r`, read as an XML parser reads attributes (so no `r=`
 * inside another attribute's value counts); one holding `&` (a character reference exceljs's parser
 * would decode) or that is not a plain reference is refused, not guessed at.
 */
class CellColumnScreen {
  private carry = '';

  feed(chunk: Buffer): void {
    // latin1 maps each byte to one character: the tags and references looked at are ASCII.
    const text = this.carry + chunk.toString('latin1');
    const cut = text.lastIndexOf('<');
    this.check(cut === -1 ? text : text.slice(0, cut));
    this.carry = cut === -1 ? '' : text.slice(cut);
    if (this.carry.length > MAX_CARRY) {
      // A long text node after the last tag, whose tag is whole; a cell tag this long is no cell.
      if (CELL_TAG_START.test(this.carry) && !CELL_TAG_WHOLE.test(this.carry)) throw damaged('a cell tag is longer than any cell needs');
      this.end();
    }
  }

  end(): void {
    this.check(this.carry);
    this.carry = '';
  }

  private check(text: string): void {
    for (const tag of text.matchAll(CELL_TAG)) {
      const reference = cellReference(tag[1] ?? '');
      if (reference === undefined) continue;
      const letters = PLAIN_REFERENCE.exec(reference)?.[1];
      if (letters === undefined) throw damaged('a cell reference is not a plain reference such as B7');
      if (columnNumber(letters) > MAX_COLUMN) {
        throw refuseFile('FILE_TOO_LARGE', `The sheet has a cell in column ${letters.toUpperCase()}; a list's sheet has nothing beyond column IV. Delete what stands far to the right of the list`);
      }
    }
  }
}

/** The value of a cell tag's `r` attribute, undefined when it has none; its attributes must parse. */
function cellReference(attributes: string): string | undefined {
  let reference: string | undefined;
  let at = 0;
  for (const attribute of attributes.matchAll(ATTRIBUTE)) {
    if (attribute.index !== at) break;
    at += attribute[0].length;
    if (attribute[1] === 'r') {
      if (reference !== undefined) throw damaged('a cell reference is not a plain reference such as B7: a cell has two');
      reference = (attribute[2] ?? '').slice(1, -1);
    }
  }
  if (!/^\s*\/?$/.test(attributes.slice(at))) throw damaged('a cell reference is not a plain reference such as B7: a cell tag does not parse');
  return reference;
}

const MAX_COLUMN = 256;
const MAX_CARRY = 64 * 1024;
// A cell's start tag, with or without a namespace prefix, and its attributes; quoted values may hold
// '>' but no '<' (XML allows none there), so a failed match stops at the next tag rather than
// scanning the rest of the text, once for every tag.
const CELL_TAG = /<(?:[A-Za-z_][\w.-]*:)?c(\s(?:[^<>"']|"[^<"]*"|'[^<']*')*)>/g;
const CELL_TAG_START = /^<(?:[A-Za-z_][\w.-]*:)?c\s/;
const CELL_TAG_WHOLE = /^<(?:[A-Za-z_][\w.-]*:)?c\s(?:[^<>"']|"[^<"]*"|'[^<']*')*>/;
const ATTRIBUTE = /\s+([^\s=/>]+)\s*=\s*("[^"]*"|'[^']*')/g;
const PLAIN_REFERENCE = /^\$?([A-Za-z]{1,3})\$?\d+$/;

function columnNumber(letters: string): number {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n;
}

function damaged(what: string) {
  return refuseFile('FILE_UNREADABLE', `The XLSX file is damaged: ${what}`);
}

function uint32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return b;
}

function megabytes(bytes: number): string {
  return `${Math.ceil(bytes / (1024 * 1024))} MB`;
}

function clipName(name: string): string {
  return JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name);
}
