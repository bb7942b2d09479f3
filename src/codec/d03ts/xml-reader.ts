/**
 * The D03-TS form as I-VAN declaration software writes it: root `D03-TS` with one
 * `NoiDung/LaoDong` element per person, or the whole `Hoso` envelope that carries that form
 * base64-encoded in `ThongTinHoSo/ToKhais/FileToKhai/NoiDungFile`, with the unit code
 * (`ThongTinDonVi/MaSoBHXH`) and the period (`KyKeKhai`). Both are read by the gateway's hardened
 * XML reader (no DTD or entities, bounded depth and element count). Element names are matched
 * without regard to case, as the software has written `MasoBHXH` and `MaSoBHXH`.
 */
import { readXml, type XmlDocument } from '../xml-document.js';
import { factValue, takeField, sttOf } from './cell-values.js';
import type { D03Field, D03ListHeader, D03Row, RowProblem } from './d03-row.js';
import { refuseFile, tooManyRows, type D03ListLimits, type D03ListRead } from './list-file.js';

const FORM_ROOT = 'D03-TS';
const ENVELOPE_ROOT = 'Hoso';

/** Each field's element names, lower case; the first present wins. */
const ELEMENTS: Record<D03Field, readonly string[]> = {
  hoTen: ['hoten'],
  maSoBhxh: ['masobhxh'],
  soDinhDanh: ['sodinhdanh', 'soccd', 'socccd', 'soddcn', 'cccd'],
  ngaySinh: ['ngaysinh'],
  gioiTinh: ['gioitinh'],
  diaChi: ['diachi'],
  noiDangKyKCB: ['noidangkykcb', 'madkbd'],
  ngayBienLai: ['ngaybienlai'],
  soBienLai: ['sobienlai'],
  soTien: ['tiendong', 'sotien'],
  hoTroNSDP: ['hotronsdp', 'nsdp'],
  hoTroKhac: ['hotrokhac'],
  tuThang: ['tuthang', 'tungay'],
  soThang: ['sothang'],
  maNhanVienThu: ['manhanvienthu', 'manvthu'],
  lop: ['lop'],
  ghiChu: ['ghichu'],
};

// A person is about twenty elements; the bound keeps a list of the most rows readable and no more.
const ELEMENTS_PER_ROW = 40;

export function readD03Xml(body: Buffer, limits: D03ListLimits): D03ListRead {
  const xmlLimits = { maxElements: limits.maxRows * ELEMENTS_PER_ROW + 1000 };
  const outer = readXml(body, xmlLimits);
  const header: D03ListHeader = {};
  let form: XmlDocument = outer;
  if (outer.root === ENVELOPE_ROOT) {
    const content = child(outer.value, 'noidung') ?? outer.value;
    const unit = child(content, 'thongtindonvi');
    const dossier = child(content, 'thongtinhoso');
    setText(header, 'maDonVi', child(unit, 'masobhxh'));
    setText(header, 'tenDonVi', child(unit, 'tendoituong') ?? child(unit, 'tendonvi'));
    setText(header, 'kyKeKhai', child(dossier, 'kykekhai'));
    form = readXml(formFile(dossier), xmlLimits);
  }
  if (form.root !== FORM_ROOT) {
    throw refuseFile('FILE_UNREADABLE', `The XML document is <${form.root.slice(0, 40)}>; a list is a <${FORM_ROOT}> form or a <${ENVELOPE_ROOT}> envelope carrying one`);
  }
  const unit = child(form.value, 'thongtindonvi');
  if (header.maDonVi === undefined) setText(header, 'maDonVi', child(unit, 'masobhxh') ?? child(unit, 'madonvi'));
  if (header.tenDonVi === undefined) setText(header, 'tenDonVi', child(unit, 'tendonvi') ?? child(unit, 'tendoituong'));

  const people = child(child(form.value, 'noidung'), 'laodong');
  const elements = people === undefined ? [] : Array.isArray(people) ? people : [people];
  if (elements.length > limits.maxRows) throw tooManyRows(limits);
  if (elements.length === 0) throw refuseFile('NO_ROWS', `The form has no <NoiDung><LaoDong> element`);
  const rows: D03Row[] = [];
  const problems: RowProblem[] = [];
  elements.forEach((element, index) => rows.push(personOf(element, index + 1, problems)));
  return { format: 'xml', header, rows, problems };
}

/** The D03-TS file the envelope carries: the one whose MaToKhai names it, else the only one. */
function formFile(dossier: unknown): Buffer {
  const files = child(child(dossier, 'tokhais'), 'filetokhai');
  const list = files === undefined ? [] : Array.isArray(files) ? files : [files];
  const file = list.find((f) => /D03/i.test(String(child(f, 'matokhai') ?? ''))) ?? (list.length === 1 ? list[0] : undefined);
  const content = child(file, 'noidungfile');
  if (typeof content !== 'string') {
    throw refuseFile('FILE_UNREADABLE', 'The envelope carries no D03-TS form in ThongTinHoSo/ToKhais/FileToKhai/NoiDungFile');
  }
  const base64 = content.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) {
    throw refuseFile('FILE_UNREADABLE', 'The envelope\'s NoiDungFile is not base64');
  }
  return Buffer.from(base64, 'base64');
}

function personOf(element: unknown, position: number, problems: RowProblem[]): D03Row {
  const stated = child(element, 'stt');
  const stt = sttOf(typeof stated === 'string' ? stated : undefined);
  const row: D03Row = { stt: stt ?? position };
  if (stt === undefined) {
    problems.push({ stt: position, path: '/stt', code: 'NOT_A_NUMBER', message: `LaoDong number ${position} has no STT number` });
  }
  for (const [field, names] of Object.entries(ELEMENTS) as Array<[D03Field, readonly string[]]>) {
    const value = field === 'noiDangKyKCB' ? facilityOf(element) : firstOf(element, names);
    if (value === undefined) continue;
    if (typeof value !== 'string') {
      problems.push({ stt: row.stt, path: `/${field}`, code: 'TYPE', message: 'the element holds elements, or appears twice, where one value belongs' });
      continue;
    }
    takeField(row, problems, field, value, false);
  }
  return row;
}

/** `MaTinhBenhVien` (2 digits) and `MaBenhVien` (3) make the 5-character facility code, unless MaBenhVien is whole already. */
function facilityOf(element: unknown): unknown {
  const whole = firstOf(element, ELEMENTS.noiDangKyKCB);
  if (whole !== undefined) return whole;
  const province = child(element, 'matinhbenhvien');
  const facility = child(element, 'mabenhvien');
  if (typeof facility !== 'string' || typeof province !== 'string' || facility.length >= 5) return facility ?? province;
  return `${province}${facility}`;
}

function firstOf(element: unknown, names: readonly string[]): unknown {
  for (const name of names) {
    const value = child(element, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** The child element of that name, in any case. */
function child(node: unknown, lowerName: string): unknown {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
  for (const [key, value] of Object.entries(node)) if (key.toLowerCase() === lowerName) return value;
  return undefined;
}

function setText(header: D03ListHeader, fact: keyof D03ListHeader, value: unknown): void {
  const stated = typeof value === 'string' ? factValue(fact, value) : undefined;
  if (stated !== undefined) header[fact] = stated;
}
