import { readFileSync } from 'node:fs';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256OfKey } from '../src/auth/clients.js';
import { FacilityCatalogue } from '../src/catalogues/facility-catalogue.js';
import { writeD03Csv } from '../src/codec/d03ts/csv-writer.js';
import { CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE } from '../src/codec/d03ts/read-list.js';
import { writeD03Xlsx } from '../src/codec/d03ts/xlsx-writer.js';
import type { D03Row } from '../src/messages/pupil-list/d03-row.js';
import { countRows, startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';

/**
 * Schools' D03-TS lists end to end on the real PostgreSQL: each file form uploaded, checked and
 * stored; the idempotent repeat; who sees a list; the annotated file read back; a row corrected;
 * the valid rows sent on; hostile and refused files leaving nothing behind.
 */

const SCHOOL_KEY = 'key-school-ha-giang-0123456789';
const OTHER_SCHOOL_KEY = 'key-school-other-0123456789abc';
const AUDITING_SCHOOL_KEY = 'key-school-auditing-0123456789';
const schools = [
  { id: 'thpt-ha-giang', keySha256: sha256OfKey(SCHOOL_KEY), roles: ['school' as const], units: ['08'], maDonVi: 'TZ0801A' },
  { id: 'thcs-other', keySha256: sha256OfKey(OTHER_SCHOOL_KEY), roles: ['school' as const], units: ['08'], maDonVi: 'TZ0802B' },
  // A school that also audits its province: it reads the province's lists but changes only its own.
  { id: 'thcs-auditing', keySha256: sha256OfKey(AUDITING_SCHOOL_KEY), roles: ['school' as const, 'auditor' as const], units: ['08'], maDonVi: 'TZ0803C' },
];
const SCHOOL_KEYS = { school: SCHOOL_KEY, otherSchool: OTHER_SCHOOL_KEY, auditingSchool: AUDITING_SCHOOL_KEY };
type Caller = ClientName | keyof typeof SCHOOL_KEYS;

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway({
    now: () => new Date('2026-10-15T03:00:00Z'),
    facilities: FacilityCatalogue.fromData({ facilities: [{ code: '08001', name: 'Bệnh viện Đa khoa tỉnh' }, { code: '02001', name: 'Bệnh viện Lào Cai' }] }),
    clients: schools,
    // Small enough to send a body past it cheaply.
    env: { MOTCUA_BODY_LIMIT: String(256 * 1024) },
  });
});
afterAll(async () => {
  await gateway?.close();
});

function call(as: Caller, options: Parameters<TestGateway['request']>[1]) {
  if (as !== null && as in SCHOOL_KEYS) {
    const key = SCHOOL_KEYS[as as keyof typeof SCHOOL_KEYS];
    return gateway.app.inject({ ...options, headers: { ...(options.headers as Record<string, string>), authorization: `Bearer ${key}` } });
  }
  return gateway.request(as as ClientName, options);
}

let keyCounter = 0;
const freshKey = () => `test-${Date.now()}-${++keyCounter}`;

function upload(body: Buffer | string, contentType: string, options: { as?: Caller; key?: string; kyKeKhai?: string } = {}) {
  return call(options.as ?? 'school', {
    method: 'POST',
    url: `/ts/v1/danh-sach?kyKeKhai=${encodeURIComponent(options.kyKeKhai ?? '10/2026')}`,
    headers: { 'content-type': contentType, 'idempotency-key': options.key ?? freshKey() },
    payload: body,
  });
}

let personCounter = 0;
/** A boy born in 2010, in grade 10, with a personal number of his own (province 008, male 2000s, year 10). */
function pupil(overrides: Partial<Record<keyof D03Row, unknown>> = {}): D03Row {
  personCounter += 1;
  const row: Record<string, unknown> = {
    stt: 1, hoTen: 'Nguyễn Văn An', soDinhDanh: `008210${String(personCounter).padStart(6, '0')}`,
    ngaySinh: '15/03/2010', gioiTinh: 'Nam', diaChi: 'Phường Hà Giang 1, Tuyên Quang', noiDangKyKCB: '08001', ngayBienLai: '01/10/2026',
    soBienLai: `BL${personCounter}`, soTien: 884520, tuThang: '10/2026', soThang: 12, lop: '10', ...overrides,
  };
  for (const [field, value] of Object.entries(row)) if (value === undefined) delete row[field];
  return row as unknown as D03Row;
}

const jsonList = (rows: D03Row[], kyKeKhai = '10/2026') => JSON.stringify({ kyKeKhai, rows });

/** The ids of the transfers carrying a list's rows to BHXH. */
async function transfersOf(listId: string): Promise<string[]> {
  const { rows } = await gateway.db.query<{ id: string }>('SELECT id FROM transfers WHERE message_id = $1 ORDER BY id', [listId]);
  return rows.map((row) => row.id);
}

const stored = async () => ({
  lists: await countRows(gateway.db, 'pupil_lists'),
  rows: await countRows(gateway.db, 'pupil_list_rows'),
  audit: await countRows(gateway.db, 'audit_events'),
});

describe('uploading a list in each form', () => {
  it('JSON: every row valid → 202 queued, each row stored with its card period and sent; audit events without personal data', async () => {
    const before = await stored();
    const rows = [pupil({ stt: 1 }), pupil({ stt: 2, lop: '12' })];
    const response = await upload(jsonList(rows), 'application/json');
    expect(response.statusCode, response.body).toBe(202);
    const answer = response.json();
    expect(answer).toEqual({ listId: expect.any(String), status: 'queued', rows: 2, valid: 2, invalid: 0, errors: [], warnings: [] });
    // The list's event, and one for each row queued for BHXH in its own transfer.
    expect(await stored()).toEqual({ lists: before.lists + 1, rows: before.rows + 2, audit: before.audit + 3 });

    const view = (await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${answer.listId}` })).json();
    expect(view).toMatchObject({ listId: answer.listId, status: 'queued', maTinh: '08', maDonVi: 'TZ0801A', kyKeKhai: '10/2026', format: 'json', rows: 2, nextCursor: null });
    expect(view.items.map((item: { stt: number; status: string }) => [item.stt, item.status])).toEqual([[1, 'queued'], [2, 'queued']]);
    // Grade 10 pays 12 months from October; grade 12's card stops at the end of its school year's card.
    expect(view.items[0].cardPeriod).toEqual({ from: '2026-10-01', to: '2027-09-30' });
    expect(view.items[0].ghiChu).toMatch(/^Hợp lệ, chờ gửi BHXH, thẻ BHYT từ 01\/10\/2026/);

    const { rows: events } = await gateway.db.query<{ action: string; details: Record<string, unknown>; transfer_id: string | null }>(
      'SELECT action, details, transfer_id FROM audit_events ORDER BY seq DESC LIMIT 3');
    expect(events.reverse()).toEqual([
      { action: 'pupil-list.row-queued', transfer_id: `${answer.listId}:1`, details: { listId: answer.listId, stt: 1 } },
      { action: 'pupil-list.row-queued', transfer_id: `${answer.listId}:2`, details: { listId: answer.listId, stt: 2 } },
      { action: 'pupil-list.received', transfer_id: null, details: { listId: answer.listId, maTinh: '08', rows: 2, valid: 2, invalid: 0 } },
    ]);
    const auditText = JSON.stringify(events);
    for (const row of rows) expect(auditText).not.toContain(row.soDinhDanh);
  });

  it('CSV: a failing row per family of rule → 202 checked, every problem with its STT and path, invalid rows kept', async () => {
    const twin = pupil({ stt: 5 });
    const rows = [
      pupil({ stt: 1 }),
      pupil({ stt: 2, hoTen: undefined }), // required
      pupil({ stt: 3, ngaySinh: '31/02/2010' }), // format
      pupil({ stt: 4, noiDangKyKCB: '08999' }), // catalogue
      twin,
      { ...twin, stt: 6, soBienLai: 'BL-twin' }, // the same person twice
      pupil({ stt: 7, soThang: 5 }), // card period
    ];
    const before = await stored();
    const response = await upload(writeD03Csv({ header: {}, rows, notes: new Map() }), CSV_CONTENT_TYPE);
    expect(response.statusCode, response.body).toBe(202);
    const answer = response.json();
    expect(answer).toMatchObject({ status: 'checked', rows: 7, valid: 1, invalid: 6 });
    const found = answer.errors.map((error: { stt: number; path: string; code: string }) => [error.stt, error.path, error.code]);
    expect(found).toEqual(expect.arrayContaining([
      [2, '/hoTen', 'REQUIRED'], [3, '/ngaySinh', 'FORMAT'], [4, '/noiDangKyKCB', expect.any(String)],
      [5, '/soDinhDanh', 'DUPLICATE_PERSON'], [6, '/soDinhDanh', 'DUPLICATE_PERSON'], [7, '/soThang', 'PAID_MONTHS_INVALID'],
    ]));
    expect(found.filter(([stt]: [number]) => stt === 1)).toEqual([]);
    expect(await stored()).toEqual({ lists: before.lists + 1, rows: before.rows + 7, audit: before.audit + 1 });

    const view = (await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${answer.listId}` })).json();
    expect(view.format).toBe('csv');
    const third = view.items.find((item: { stt: number }) => item.stt === 3);
    expect(third).toMatchObject({ status: 'invalid', cardPeriod: null });
    expect(third.ghiChu).toMatch(/^Cần sửa: Ngày tháng năm sinh: .*\(FORMAT\)\.$/);
    expect(view.items.find((item: { stt: number }) => item.stt === 5).ghiChu).toBe('Cần sửa: Số CCCD/định danh cá nhân/hộ chiếu: trùng người với dòng 6 (DUPLICATE_PERSON).');
  });

  it('XLSX: read from the workbook, the period and unit of its header block agreeing with the request', async () => {
    const rows = [pupil({ stt: 1 }), pupil({ stt: 2, ngaySinh: '15/03/2030' })];
    const workbook = await writeD03Xlsx({ header: { tenDonVi: 'Trường THPT Hà Giang', maDonVi: 'TZ0801A', kyKeKhai: '10/2026' }, rows, notes: new Map() });
    const response = await upload(workbook, XLSX_CONTENT_TYPE);
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json()).toMatchObject({ status: 'checked', rows: 2, valid: 1, invalid: 1, errors: [expect.objectContaining({ stt: 2, path: '/ngaySinh', code: 'DATE_IN_FUTURE' })] });
    const view = (await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${response.json().listId}` })).json();
    expect(view).toMatchObject({ format: 'xlsx', tenDonVi: 'Trường THPT Hà Giang' });
  });

  it('XML: the I-VAN form', async () => {
    const response = await upload(readFileSync('tests/fixtures/d03ts/d03-ts.xml'), 'application/xml');
    expect(response.statusCode, response.body).toBe(202);
    const answer = response.json();
    expect(answer.rows).toBe(2);
    expect(answer.valid + answer.invalid).toBe(2);
    const view = (await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${answer.listId}` })).json();
    expect(view.format).toBe('xml');
    expect(view.items.map((item: { stt: number }) => item.stt)).toEqual([1, 2]);
  });

  it('a header naming another unit or period is refused, nothing stored', async () => {
    const before = await stored();
    const otherUnit = await writeD03Xlsx({ header: { maDonVi: 'TZ0999Z', kyKeKhai: '10/2026' }, rows: [pupil()], notes: new Map() });
    const refused = await upload(otherUnit, XLSX_CONTENT_TYPE);
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toMatchObject({ code: 'VALIDATION_FAILED', details: [expect.objectContaining({ path: '/maDonVi', code: 'UNIT_MISMATCH' })] });
    const otherPeriod = await upload(jsonList([pupil()], '11/2026'), 'application/json');
    expect(otherPeriod.json().error.details).toEqual([expect.objectContaining({ path: '/kyKeKhai', code: 'PERIOD_MISMATCH' })]);
    expect(await stored()).toEqual(before);
  });
});

describe('refusals', () => {
  it('without Idempotency-Key or period: 400; a form the door does not read: 415; nothing stored', async () => {
    const before = await stored();
    const noKey = await call('school', { method: 'POST', url: '/ts/v1/danh-sach?kyKeKhai=10/2026', headers: { 'content-type': 'application/json' }, payload: jsonList([pupil()]) });
    expect(noKey.statusCode).toBe(400);
    expect(noKey.json().error.details).toEqual([expect.objectContaining({ path: '/headers/idempotency-key' })]);
    const noPeriod = await upload(jsonList([pupil()]), 'application/json', { kyKeKhai: '2026-10' });
    expect(noPeriod.json().error.details).toEqual([expect.objectContaining({ path: '/querystring/kyKeKhai' })]);
    const pdf = await upload(Buffer.from('%PDF-1.4'), 'application/pdf');
    expect(pdf.statusCode).toBe(415);
    expect(pdf.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(await stored()).toEqual(before);
  });

  it('a hostile or broken file is refused with the codec\'s code before any row is checked; nothing half-written', async () => {
    const before = await stored();
    // A zip whose only entry declares 4 GB inflated: refused from the declaration, nothing inflated.
    const bomb = Buffer.alloc(30 + 9 + 46 + 9 + 22);
    bomb.writeUInt32LE(0x04034b50, 0); bomb.writeUInt16LE(8, 8); bomb.writeUInt32LE(10, 18); bomb.writeUInt32LE(0xffffffff, 22); bomb.writeUInt16LE(9, 26);
    bomb.write('xl/a.xml\0', 30);
    const central = 30 + 9 + 0;
    bomb.writeUInt32LE(0x02014b50, central); bomb.writeUInt16LE(8, central + 10); bomb.writeUInt32LE(10, central + 20); bomb.writeUInt32LE(0xffffffff, central + 24);
    bomb.writeUInt16LE(9, central + 28); bomb.write('xl/a.xml\0', central + 46);
    const end = central + 46 + 9;
    bomb.writeUInt32LE(0x06054b50, end); bomb.writeUInt16LE(1, end + 8); bomb.writeUInt16LE(1, end + 10); bomb.writeUInt32LE(55, end + 12); bomb.writeUInt32LE(central, end + 16);
    const refused = await upload(bomb, XLSX_CONTENT_TYPE);
    expect([400, 413]).toContain(refused.statusCode);
    expect(refused.json().error.details?.[0]?.code).toMatch(/^FILE_(UNREADABLE|TOO_LARGE)$/);

    const notAZip = await upload(Buffer.from('STT,Họ và tên\n'), XLSX_CONTENT_TYPE);
    expect(notAZip.statusCode).toBe(400);
    expect(notAZip.json().error).toMatchObject({ code: 'MALFORMED_BODY', details: [expect.objectContaining({ code: 'FILE_UNREADABLE' })] });

    const noRows = await upload(JSON.stringify({ kyKeKhai: '10/2026', rows: [] }), 'application/json');
    expect(noRows.statusCode).toBe(400);

    const tooLarge = await upload(Buffer.alloc(300 * 1024, 'a'), CSV_CONTENT_TYPE);
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await stored()).toEqual(before);
  });

  it('a list that fails while being stored leaves neither list nor rows nor audit event', async () => {
    const before = await stored();
    // The rows' insert fails after the list's, in the same transaction.
    await gateway.db.exec('ALTER TABLE pupil_list_rows ADD CONSTRAINT test_no_stt_999 CHECK (stt <> 999) NOT VALID');
    try {
      const failing = await upload(jsonList([pupil({ stt: 1 }), pupil({ stt: 2 }), pupil({ stt: 999 })]), 'application/json');
      expect(failing.statusCode).toBe(500);
    } finally {
      await gateway.db.exec('ALTER TABLE pupil_list_rows DROP CONSTRAINT test_no_stt_999');
    }
    expect(await stored()).toEqual(before);
  });
});

describe('lists arriving together', () => {
  it('are taken one after the other: a person on both is listed once, and a refused one does not hold up the next', async () => {
    const person = pupil({ stt: 1 });
    const [first, second, broken] = await Promise.all([
      upload(jsonList([person]), 'application/json'),
      upload(jsonList([{ ...person }]), 'application/json', { as: 'otherSchool' }),
      upload('{"kyKeKhai": "10/2026", "rows": [', 'application/json'),
    ]);
    expect([first.statusCode, second.statusCode, broken.statusCode]).toEqual([202, 202, 400]);
    expect([first.json().status, second.json().status]).toEqual(['queued', 'checked']);
    expect(second.json().errors).toEqual([expect.objectContaining({ stt: 1, code: 'ALREADY_LISTED' })]);
    const after = await upload(jsonList([pupil({ stt: 1 })]), 'application/json');
    expect(after.statusCode).toBe(202);
  });
});

describe('the same Idempotency-Key again', () => {
  it('with the same list: 200 and the first answer, nothing stored twice; with another list: 409', async () => {
    const key = freshKey();
    const body = jsonList([pupil({ stt: 1 }), pupil({ stt: 2, gioiTinh: 'X' })]);
    const first = await upload(body, 'application/json', { key });
    expect(first.statusCode).toBe(202);
    const before = await stored();
    const again = await upload(body, 'application/json', { key });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    const changed = await upload(jsonList([pupil({ stt: 1 })]), 'application/json', { key });
    expect(changed.statusCode).toBe(409);
    expect(changed.json().error.code).toBe('DUPLICATE_MESSAGE');
    // Another school's key is its own.
    const otherSchool = await upload(jsonList([pupil({ stt: 1 })]), 'application/json', { key, as: 'otherSchool' });
    expect(otherSchool.statusCode).toBe(202);
    // The other school's list and its one row, queued for BHXH.
    expect(await stored()).toEqual({ lists: before.lists + 1, rows: before.rows + 1, audit: before.audit + 2 });
  });
});

describe('who sees a list', () => {
  let listId: string;
  beforeAll(async () => {
    listId = (await upload(jsonList([pupil({ stt: 1 }), pupil({ stt: 2, ngaySinh: 'x' })]), 'application/json')).json().listId;
  });

  it('another school: 404 for reading, the file, a correction and sending', async () => {
    for (const request of [
      { method: 'GET' as const, url: `/ts/v1/danh-sach/${listId}` },
      { method: 'GET' as const, url: `/ts/v1/danh-sach/${listId}/file` },
      { method: 'PATCH' as const, url: `/ts/v1/danh-sach/${listId}/rows/2`, payload: { ngaySinh: '15/03/2010' } },
      { method: 'POST' as const, url: `/ts/v1/danh-sach/${listId}/send`, payload: { validOnly: true } },
    ]) {
      const response = await call('otherSchool', request);
      expect(response.statusCode, `${request.method} ${request.url}`).toBe(404);
      expect(response.json().error.code).toBe('NOT_FOUND');
    }
  });

  it('operators and auditors of the province read it; of another province: 404; a registry: 403; they may not correct it', async () => {
    expect((await call('operator', { method: 'GET', url: `/ts/v1/danh-sach/${listId}` })).statusCode).toBe(200);
    expect((await call('auditor', { method: 'GET', url: `/ts/v1/danh-sach/${listId}` })).statusCode).toBe(200);
    expect((await call('operator01', { method: 'GET', url: `/ts/v1/danh-sach/${listId}` })).statusCode).toBe(404);
    expect((await call('registry08', { method: 'GET', url: `/ts/v1/danh-sach/${listId}` })).statusCode).toBe(403);
    expect((await call('operator', { method: 'POST', url: `/ts/v1/danh-sach/${listId}/send`, payload: { validOnly: true } })).statusCode).toBe(403);
    expect((await upload(jsonList([pupil()]), 'application/json', { as: 'operator' })).statusCode).toBe(403);
  });

  it('a school that also audits the province reads it but may not correct, send or replace it: 403, 403, 400', async () => {
    expect((await call('auditingSchool', { method: 'GET', url: `/ts/v1/danh-sach/${listId}` })).statusCode).toBe(200);
    const before = await stored();
    const correction = await call('auditingSchool', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/2`, payload: { ngaySinh: '15/03/2010' } });
    expect(correction.statusCode).toBe(403);
    expect(correction.json().error.code).toBe('FORBIDDEN');
    expect((await call('auditingSchool', { method: 'POST', url: `/ts/v1/danh-sach/${listId}/send`, payload: { validOnly: true } })).statusCode).toBe(403);
    const replacing = await call('auditingSchool', {
      method: 'POST', url: `/ts/v1/danh-sach?kyKeKhai=10/2026&replaces=${listId}`,
      headers: { 'content-type': 'application/json', 'idempotency-key': freshKey() }, payload: jsonList([pupil()]),
    });
    expect(replacing.statusCode).toBe(400);
    expect(replacing.json().error.details).toEqual([expect.objectContaining({ path: '/querystring/replaces', code: 'UNKNOWN_LIST' })]);
    expect(await stored()).toEqual(before);
    expect((await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${listId}` })).json()).toMatchObject({ status: 'checked', invalid: 1 });
  });

  it('pages its rows with limit and cursor', async () => {
    const first = (await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${listId}?limit=1` })).json();
    expect(first.items.map((item: { stt: number }) => item.stt)).toEqual([1]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = (await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${listId}?limit=1&cursor=${first.nextCursor}` })).json();
    expect(second.items.map((item: { stt: number }) => item.stt)).toEqual([2]);
    const third = (await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${listId}?limit=1&cursor=${second.nextCursor}` })).json();
    expect(third).toMatchObject({ items: [], nextCursor: null });
  });
});

describe('rows sharing an STT', () => {
  it('2,000 rows all STT 1: answered, each row with its own DUPLICATE_STT and nothing of the others', async () => {
    // Rows of an STT and a name only, to stay under the test's body limit: each misses the same five fields and a number.
    const rows = Array.from({ length: 2000 }, (_, index) => ({ stt: 1, hoTen: 'An', ...(index % 2 === 0 && { lop: 'X' }) }) as D03Row);
    const response = await upload(jsonList(rows), 'application/json');
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json()).toMatchObject({ rows: 2000, valid: 0, invalid: 2000 });
    const problemCodes: string[][] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Array<{ problems: Array<{ code: string }> }>; nextCursor: string | null } = (await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${response.json().listId}?limit=1000${cursor === null ? '' : `&cursor=${cursor}`}` })).json();
      problemCodes.push(...page.items.map((item) => item.problems.map((problem) => problem.code)));
      cursor = page.nextCursor;
    } while (cursor !== null && problemCodes.length < 2000);
    expect(problemCodes).toHaveLength(2000);
    const missing = ['REQUIRED', 'REQUIRED', 'REQUIRED', 'REQUIRED', 'REQUIRED', 'REQUIRED'];
    const ownCodes = (index: number) => [...missing, ...(index % 2 === 0 ? ['GRADE_INVALID'] : []), 'DUPLICATE_STT'];
    expect(problemCodes.filter((codes, index) => JSON.stringify(codes) !== JSON.stringify(ownCodes(index)))).toEqual([]);

    // The file matches notes to rows by STT: each row's column Q holds a bounded few of them, not every row's.
    const file = await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${response.json().listId}/file`, headers: { accept: 'text/csv' } });
    const lines = file.body.trim().split('\r\n');
    expect(lines.length).toBeGreaterThan(2000);
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThan(1000);
  });
});

describe('another list of the period', () => {
  it('a person already on another school\'s list of the period is ALREADY_LISTED; in another period, not', async () => {
    const person = pupil({ stt: 1 });
    expect((await upload(jsonList([person]), 'application/json')).json().status).toBe('queued');
    const again = await upload(jsonList([person]), 'application/json', { as: 'otherSchool' });
    expect(again.json()).toMatchObject({ status: 'checked', invalid: 1, errors: [expect.objectContaining({ stt: 1, code: 'ALREADY_LISTED' })] });
    const nextPeriod = await upload(jsonList([{ ...person, tuThang: '11/2026' }], '11/2026'), 'application/json', { as: 'otherSchool', kyKeKhai: '11/2026' });
    expect(nextPeriod.json()).toMatchObject({ status: 'queued', valid: 1 });
  });
});

describe('the annotated list', () => {
  let listId: string;
  const rows = [pupil({ stt: 1 }), pupil({ stt: 2, gioiTinh: 'X' }), pupil({ stt: 3, hoTen: '=HYPERLINK("x")' })];
  beforeAll(async () => {
    listId = (await upload(jsonList(rows), 'application/json')).json().listId;
  });

  it('as XLSX: the 17 columns, every row\'s Ghi chú filled, read back with exceljs', async () => {
    const response = await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${listId}/file` });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(XLSX_CONTENT_TYPE);
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load(response.rawPayload as unknown as ArrayBuffer);
    const sheet = workbook.worksheets[0] as ExcelJS.Worksheet;
    expect(sheet.getRow(6).getCell(17).value).toBe('Ghi chú');
    expect(sheet.getRow(6).cellCount).toBe(17);
    const notes = [7, 8, 9].map((line) => [sheet.getRow(line).getCell(1).value, sheet.getRow(line).getCell(4).value, String(sheet.getRow(line).getCell(17).value)]);
    expect(notes[0]).toEqual([1, rows[0]?.soDinhDanh, expect.stringMatching(/^Hợp lệ, chờ gửi BHXH/)]);
    expect(notes[1]).toEqual([2, rows[1]?.soDinhDanh, 'Cần sửa: Giới tính: chỉ ghi Nam hoặc Nữ (ENUM).']);
    expect(notes[2]?.[2]).toMatch(/^Cần sửa: Họ và tên/);
    expect(sheet.getRow(9).getCell(2).type).not.toBe(ExcelJS.ValueType.Formula);
    expect(sheet.getCell('A3').value).toBe('Mã đơn vị: TZ0801A');
  });

  it('as CSV with Accept: text/csv', async () => {
    const response = await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${listId}/file`, headers: { accept: 'text/csv' } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/csv/);
    const lines = response.body.replace(/^\uFEFF/, '').trim().split('\r\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]?.endsWith('Ghi chú')).toBe(true);
    expect(lines[2]).toMatch(/Cần sửa: Giới tính/);
  });
});

describe('correcting and sending', () => {
  it('PATCH fixes a row, rechecked with the whole list; fixing one of two duplicates clears both; audited', async () => {
    const twin = pupil({ stt: 2 });
    const upload1 = await upload(jsonList([pupil({ stt: 1, ngaySinh: '31/02/2010' }), twin, { ...twin, stt: 3 }]), 'application/json');
    const { listId } = upload1.json();
    expect(upload1.json()).toMatchObject({ status: 'checked', valid: 0, invalid: 3 });
    const auditBefore = await countRows(gateway.db, 'audit_events');

    const fixed = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/1`, payload: { ngaySinh: '28/02/2010' } });
    expect(fixed.statusCode, fixed.body).toBe(200);
    expect(fixed.json()).toMatchObject({ stt: 1, status: 'queued', problems: [], list: { status: 'checked', valid: 1, invalid: 2 } });

    const stillWrong = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/3`, payload: { soDinhDanh: '123' } });
    expect(stillWrong.json()).toMatchObject({ status: 'invalid', problems: [expect.objectContaining({ path: '/soDinhDanh', code: 'PATTERN' })] });
    // Row 3 is someone else now; row 2, its twin gone, is valid again; the list is whole.
    const other = pupil({ stt: 3 });
    const cleared = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/3`, payload: { soDinhDanh: other.soDinhDanh, hoTen: 'Trần Thị Bình', gioiTinh: null } });
    expect(cleared.json()).toMatchObject({ status: 'invalid', problems: [expect.objectContaining({ path: '/gioiTinh', code: 'REQUIRED' })] });
    const whole = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/3`, payload: { gioiTinh: 'Nam' } });
    expect(whole.json()).toMatchObject({ status: 'queued', list: { status: 'queued', valid: 3, invalid: 0 } });
    const view = (await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${listId}` })).json();
    expect(view.items.map((item: { status: string }) => item.status)).toEqual(['queued', 'queued', 'queued']);
    // Made whole by the correction, the list leaves as a send would send it: each row in its transfer.
    expect(await transfersOf(listId)).toEqual([`${listId}:1`, `${listId}:2`, `${listId}:3`]);
    // Four corrections, three rows queued for BHXH, and the list sent.
    expect(await countRows(gateway.db, 'audit_events')).toBe(auditBefore + 8);
    const again = await call('school', { method: 'POST', url: `/ts/v1/danh-sach/${listId}/send`, payload: {} });
    expect(again.json()).toMatchObject({ status: 'queued', valid: 3 });
    expect(await countRows(gateway.db, 'audit_events')).toBe(auditBefore + 8);

    const missing = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/99`, payload: { gioiTinh: 'Nam' } });
    expect(missing.statusCode).toBe(404);
    const unknownField = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/1`, payload: { tenLop: '10A' } });
    expect(unknownField.statusCode).toBe(400);
    const noStt = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/1`, payload: { stt: null } });
    expect(noStt.statusCode).toBe(400);
    const auditBeforeRefusals = await countRows(gateway.db, 'audit_events');
    // A lone surrogate passes the schema's patterns (a NUL does not) and PostgreSQL's JSONB refuses it.
    for (const [field, text] of [['diaChi', 'Hà Giang \ud800'], ['hoTen', 'An\udc00']]) {
      const unstorable = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/1`, payload: { lop: '10', [field as string]: text } });
      expect(unstorable.statusCode, unstorable.body).toBe(400);
      expect(unstorable.json().error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: `/${field}`, code: 'INVALID_TEXT' }] });
    }
    expect(await countRows(gateway.db, 'audit_events')).toBe(auditBeforeRefusals);
  });

  it('send: refused with invalid rows unless validOnly; then queued, invalid rows kept for correction, valid rows no longer changed', async () => {
    const { listId } = (await upload(jsonList([pupil({ stt: 1 }), pupil({ stt: 2, soThang: 7 })]), 'application/json')).json();
    const refused = await call('school', { method: 'POST', url: `/ts/v1/danh-sach/${listId}/send`, payload: {} });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.code).toBe('INVALID_STATE');

    const sent = await call('school', { method: 'POST', url: `/ts/v1/danh-sach/${listId}/send`, payload: { validOnly: true } });
    expect(sent.statusCode).toBe(200);
    expect(sent.json()).toEqual({ listId, status: 'queued', rows: 2, valid: 1, invalid: 1 });
    const { rows: events } = await gateway.db.query<{ action: string; from_status: string; to_status: string }>(
      'SELECT action, from_status, to_status FROM audit_events ORDER BY seq DESC LIMIT 1');
    expect(events[0]).toEqual({ action: 'pupil-list.sent', from_status: 'checked', to_status: 'queued' });

    const validRow = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/1`, payload: { soThang: 6 } });
    expect(validRow.statusCode).toBe(409);
    const invalidRow = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/2`, payload: { soThang: 6 } });
    expect(invalidRow.json()).toMatchObject({ status: 'queued', list: { status: 'queued', valid: 2, invalid: 0 } });
  });

  it('in a sent list, a correction that clears a duplicate sends both rows it made valid', async () => {
    const twin = pupil({ stt: 2 });
    const { listId } = (await upload(jsonList([pupil({ stt: 1 }), twin, { ...twin, stt: 3 }]), 'application/json')).json();
    await call('school', { method: 'POST', url: `/ts/v1/danh-sach/${listId}/send`, payload: { validOnly: true } });
    expect(await transfersOf(listId)).toEqual([`${listId}:1`]);

    const fixed = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/3`, payload: { soDinhDanh: pupil().soDinhDanh } });
    expect(fixed.json()).toMatchObject({ status: 'queued', list: { status: 'queued', valid: 3, invalid: 0 } });
    expect(await transfersOf(listId)).toEqual([`${listId}:1`, `${listId}:2`, `${listId}:3`]);
    const view = (await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${listId}` })).json();
    expect(view.items.map((item: { status: string }) => item.status)).toEqual(['queued', 'queued', 'queued']);
  });
});

describe('a list replacing an earlier one', () => {
  it('the school\'s corrected file back with ?replaces: unchanged rows keep their outcome, the earlier list is replaced and no longer counts', async () => {
    const rows = [pupil({ stt: 1, lop: undefined }), pupil({ stt: 2, gioiTinh: 'X', lop: undefined }), pupil({ stt: 3, lop: undefined })];
    const first = (await upload(writeD03Csv({ header: {}, rows, notes: new Map() }), CSV_CONTENT_TYPE)).json();
    expect(first).toMatchObject({ status: 'checked', valid: 2, invalid: 1 });

    const annotated = (await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${first.listId}/file`, headers: { accept: 'text/csv' } })).body;
    const lines = annotated.split('\r\n');
    lines[2] = (lines[2] as string).replace(',X,', ',Nam,');
    const auditBefore = await countRows(gateway.db, 'audit_events');
    const response = await call('school', {
      method: 'POST', url: `/ts/v1/danh-sach?kyKeKhai=10/2026&replaces=${first.listId}`,
      headers: { 'content-type': CSV_CONTENT_TYPE, 'idempotency-key': freshKey() }, payload: lines.join('\r\n'),
    });
    expect(response.statusCode, response.body).toBe(202);
    // Its own earlier rows are not "another list of the period".
    expect(response.json()).toMatchObject({ status: 'queued', valid: 3, invalid: 0, errors: [], replaces: first.listId, unchanged: 2 });
    // Received, replaced, and a row queued for BHXH for each of the three (the earlier list was never sent).
    expect(await countRows(gateway.db, 'audit_events')).toBe(auditBefore + 5);

    const earlier = (await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${first.listId}` })).json();
    expect(earlier).toMatchObject({ status: 'replaced', replacedBy: response.json().listId });
    const send = await call('school', { method: 'POST', url: `/ts/v1/danh-sach/${first.listId}/send`, payload: { validOnly: true } });
    expect(send.statusCode).toBe(409);
    expect(send.json().error.details).toEqual([expect.objectContaining({ code: 'LIST_REPLACED' })]);
    const again = await upload(annotated, CSV_CONTENT_TYPE, { kyKeKhai: '10/2026', key: freshKey() });
    // The earlier list's rows no longer count; the new list's do.
    expect(again.json().errors).toEqual(expect.arrayContaining([expect.objectContaining({ stt: 1, code: 'ALREADY_LISTED' })]));
  });

  it('only a list of the school and of the same period, not replaced already', async () => {
    const mine = (await upload(jsonList([pupil()]), 'application/json')).json().listId;
    const theirs = (await upload(jsonList([pupil()]), 'application/json', { as: 'otherSchool' })).json().listId;
    const replacing = (listId: string, kyKeKhai = '10/2026') => call('school', {
      method: 'POST', url: `/ts/v1/danh-sach?kyKeKhai=${kyKeKhai}&replaces=${listId}`,
      headers: { 'content-type': 'application/json', 'idempotency-key': freshKey() }, payload: jsonList([pupil()], kyKeKhai),
    });
    const before = await stored();
    const foreign = await replacing(theirs);
    expect(foreign.statusCode).toBe(400);
    expect(foreign.json().error.details).toEqual([expect.objectContaining({ path: '/querystring/replaces', code: 'UNKNOWN_LIST' })]);
    const otherPeriod = await replacing(mine, '11/2026');
    expect(otherPeriod.json().error.details).toEqual([expect.objectContaining({ path: '/querystring/replaces', code: 'PERIOD_MISMATCH' })]);
    expect(await stored()).toEqual(before);
    expect((await replacing(mine)).statusCode).toBe(202);
    const twice = await replacing(mine);
    expect(twice.statusCode).toBe(409);
    expect(twice.json().error.details).toEqual([expect.objectContaining({ code: 'LIST_REPLACED' })]);
  });
});
