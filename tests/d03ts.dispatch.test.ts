import ExcelJS from 'exceljs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256OfKey } from '../src/auth/clients.js';
import { FacilityCatalogue } from '../src/catalogues/facility-catalogue.js';
import { issueCard } from '../src/dev/bhxh-simulator.js';
import type { D03Row } from '../src/messages/pupil-list/d03-row.js';
import { startDispatchHarness, type DispatchHarness } from './support/dispatch-harness.js';
import { startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';

/**
 * Schools' D03-TS lists on their way to BHXH: each row sent becomes a D03_TS record, batched one list
 * at a time and headed by the school's unit and period, pushed to the BHXH simulator or leased by
 * BHXH; BHXH's answers land on the rows, in the list's GET and in the annotated file's Ghi chú.
 */

const SCHOOL_KEY = 'key-school-dispatch-0123456789ab';
const OTHER_SCHOOL_KEY = 'key-school-dispatch-other-012345';
const SCHOOL_KEYS = { school: SCHOOL_KEY, otherSchool: OTHER_SCHOOL_KEY };
type Caller = ClientName | keyof typeof SCHOOL_KEYS;

const gatewayOptions = {
  now: () => new Date('2026-10-15T03:00:00Z'),
  facilities: FacilityCatalogue.fromData({ facilities: [{ code: '08001', name: 'Bệnh viện Đa khoa tỉnh' }] }),
  clients: [
    { id: 'thpt-dispatch', keySha256: sha256OfKey(SCHOOL_KEY), roles: ['school' as const], units: ['08'], maDonVi: 'TZ0811A' },
    { id: 'thcs-dispatch', keySha256: sha256OfKey(OTHER_SCHOOL_KEY), roles: ['school' as const], units: ['08'], maDonVi: 'TZ0812B' },
  ],
};

function caller(gateway: TestGateway) {
  return (as: Caller, options: Parameters<TestGateway['request']>[1]) => {
    if (as in SCHOOL_KEYS) {
      const key = SCHOOL_KEYS[as as keyof typeof SCHOOL_KEYS];
      return gateway.app.inject({ ...options, headers: { ...(options.headers as Record<string, string>), authorization: `Bearer ${key}` } });
    }
    return gateway.request(as as ClientName, options);
  };
}

let personCounter = 0;
/** A boy born in 2010, in grade 10, with a personal number of his own. */
function pupil(stt: number, overrides: Partial<D03Row> = {}): D03Row {
  personCounter += 1;
  return {
    stt, hoTen: 'Nguyễn Văn An', soDinhDanh: `008210${String(500_000 + personCounter).padStart(6, '0')}`, ngaySinh: '15/03/2010',
    gioiTinh: 'Nam', diaChi: 'Phường Hà Giang 1', noiDangKyKCB: '08001', ngayBienLai: '01/10/2026', soBienLai: `BL${personCounter}`,
    soTien: 884520, tuThang: '10/2026', soThang: 12, lop: '10', ...overrides,
  };
}

let keyCounter = 0;
async function uploadList(call: ReturnType<typeof caller>, rows: D03Row[], as: keyof typeof SCHOOL_KEYS = 'school'): Promise<string> {
  const response = await call(as, {
    method: 'POST', url: '/ts/v1/danh-sach?kyKeKhai=10/2026',
    headers: { 'content-type': 'application/json', 'idempotency-key': `dispatch-${Date.now()}-${++keyCounter}` },
    payload: JSON.stringify({ kyKeKhai: '10/2026', rows }),
  });
  expect(response.statusCode, response.body).toBe(202);
  expect(response.json().status).toBe('queued');
  return response.json().listId;
}

interface RowItem { stt: number; status: string; ghiChu: string; maThe: string | null; gtTheTu: string | null; gtTheDen: string | null; bhxhErrors: unknown[] }

async function listRows(call: ReturnType<typeof caller>, listId: string): Promise<RowItem[]> {
  const response = await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${listId}` });
  expect(response.statusCode).toBe(200);
  return response.json().items;
}

const refusal = (record: Record<string, unknown>) => ({
  MA_HO_SO: record.MA_HO_SO, KET_QUA: 'LOI', LOI: [{ MA_LOI: 'SAI_BIEN_LAI', MO_TA: 'Số biên lai không khớp sổ thu' }],
});

describe('a list pushed to BHXH', () => {
  let harness: DispatchHarness;
  let call: ReturnType<typeof caller>;
  const rows = [pupil(1), pupil(2), pupil(3, { lop: '12' }), pupil(4, { soDinhDanh: undefined, maSoBhxh: '0812345678' })];

  beforeAll(async () => {
    harness = await startDispatchHarness({
      now: gatewayOptions.now,
      gateway: { clients: gatewayOptions.clients, facilities: gatewayOptions.facilities },
      env: { DISPATCH_BATCH_SIZE: '3' },
      // BHXH refuses every row numbered 2.
      script: [{ kind: 'answer', result: (record) => (record.STT === 2 ? refusal(record) : issueCard(record)) }],
    });
    call = caller(harness.gateway);
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('answered with a mix of OK and LOI: each row shows its card or BHXH\'s errors, in the GET and the file', async () => {
    const listId = await uploadList(call, rows);
    const otherList = await uploadList(call, [pupil(1), pupil(2)], 'otherSchool');
    await harness.runs.run();
    await vi.waitFor(async () => {
      for (const row of await listRows(call, listId)) expect(['issued', 'returned']).toContain(row.status);
    }, { timeout: 10_000, interval: 50 });

    // One list per batch, split by the batch size; each batch headed by its list's unit and period.
    const deliveries = harness.simulator.deliveries;
    for (const delivery of deliveries) {
      const lists = new Set(delivery.body.records.map((record) => String(record.MA_HO_SO).split(':')[0]));
      expect(lists.size).toBe(1);
      const [list] = [...lists];
      expect(delivery.body).toMatchObject({ maTinh: '08', loai: 'D03_TS', kyKeKhai: '10/2026', maDonVi: list === listId ? 'TZ0811A' : 'TZ0812B' });
      expect(delivery.body.records.length).toBeLessThanOrEqual(3);
    }
    expect(harness.simulator.recordsReceived().filter((id) => id.startsWith(`${listId}:`)).sort()).toEqual([1, 2, 3, 4].map((stt) => `${listId}:${stt}`));
    expect(harness.simulator.recordsReceived().filter((id) => id.startsWith(`${otherList}:`))).toHaveLength(2);

    const record = deliveries.flatMap((delivery) => delivery.body.records).find((candidate) => candidate.MA_HO_SO === `${listId}:1`);
    expect(record).toEqual({
      MA_HO_SO: `${listId}:1`, STT: 1, HO_TEN: 'Nguyễn Văn An', SO_DINH_DANH: rows[0]?.soDinhDanh, NGAY_SINH: '20100315', GIOI_TINH: 1,
      DIA_CHI: 'Phường Hà Giang 1', MA_DKBD: '08001', NGAY_BIEN_LAI: '20261001', SO_BIEN_LAI: rows[0]?.soBienLai, SO_TIEN: 884520,
      TU_THANG: '202610', SO_THANG: 12, GT_THE_TU: '20261001', GT_THE_DEN: '20270930',
    });
    const bhxhOnly = deliveries.flatMap((delivery) => delivery.body.records).find((candidate) => candidate.MA_HO_SO === `${listId}:4`);
    expect(bhxhOnly).toMatchObject({ MA_SO_BHXH: '0812345678' });
    expect(bhxhOnly).not.toHaveProperty('SO_DINH_DANH');

    const items = await listRows(call, listId);
    expect(items.map((item) => item.status)).toEqual(['issued', 'returned', 'issued', 'issued']);
    const maSoBhxh = String(rows[0]?.soDinhDanh).slice(-10);
    expect(items[0]).toMatchObject({ maThe: `HS408${maSoBhxh}`, gtTheTu: '2026-10-01', gtTheDen: '2027-09-30', bhxhErrors: [] });
    expect(items[0]?.ghiChu).toBe(`Đã cấp thẻ HS408${maSoBhxh} từ 01/10/2026 đến 30/09/2027`);
    expect(items[1]).toMatchObject({ maThe: null, bhxhErrors: [{ MA_LOI: 'SAI_BIEN_LAI', MO_TA: 'Số biên lai không khớp sổ thu' }] });
    expect(items[1]?.ghiChu).toBe('BHXH trả lại, cần sửa: Số biên lai không khớp sổ thu (SAI_BIEN_LAI).');

    const file = await call('school', { method: 'GET', url: `/ts/v1/danh-sach/${listId}/file` });
    expect(file.statusCode).toBe(200);
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load(file.rawPayload as unknown as ArrayBuffer);
    const sheet = workbook.worksheets[0] as ExcelJS.Worksheet;
    expect(sheet.getRow(6).getCell(17).value).toBe('Ghi chú');
    expect([7, 8].map((line) => [sheet.getRow(line).getCell(1).value, sheet.getRow(line).getCell(17).value])).toEqual([
      [1, `Đã cấp thẻ HS408${maSoBhxh} từ 01/10/2026 đến 30/09/2027`],
      [2, 'BHXH trả lại, cần sửa: Số biên lai không khớp sổ thu (SAI_BIEN_LAI).'],
    ]);

    // Every step of a row is its transfer's, audited: queued with the list, then sending, sent, issued.
    const detail = (await harness.gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${listId}:1` })).json();
    expect(detail.history.map((event: { toStatus: string }) => event.toStatus)).toEqual(['queued', 'sending', 'sent', 'issued']);
    expect(detail.history[0]).toMatchObject({ action: 'pupil-list.row-queued' });
  });

  it('a row BHXH returned, corrected, goes out again alone in its own transfer', async () => {
    harness.simulator.setScript({ kind: 'answer', result: (record) => (record.STT === 2 ? refusal(record) : issueCard(record)) });
    const listId = await uploadList(call, [pupil(1), pupil(2)]);
    await harness.runs.run();
    await vi.waitFor(async () => expect((await listRows(call, listId)).map((row) => row.status)).toEqual(['issued', 'returned']), { timeout: 10_000, interval: 50 });
    harness.simulator.setScript({ kind: 'answer' });
    const sentBefore = harness.simulator.deliveries.length;
    // Its STT names its record at BHXH: it stays.
    const renumbered = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/2`, payload: { stt: 9, soBienLai: 'BL-SUA-2' } });
    expect(renumbered.statusCode).toBe(409);
    expect(renumbered.json().error.details).toEqual([expect.objectContaining({ path: '/stt', code: 'ROW_SENT' })]);
    const patch = await call('school', {
      method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/2`, payload: { soBienLai: 'BL-SUA-2' },
    });
    expect(patch.statusCode, patch.body).toBe(200);
    expect(patch.json()).toMatchObject({ stt: 2, status: 'queued', bhxhErrors: [] });
    // The other rows are BHXH's: they are not corrected.
    const refused = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${listId}/rows/1`, payload: { soBienLai: 'X' } });
    expect(refused.statusCode).toBe(409);

    await harness.runs.run();
    await vi.waitFor(async () => expect((await listRows(call, listId))[1]?.status).toBe('issued'), { timeout: 10_000, interval: 50 });
    const resent = harness.simulator.deliveries.slice(sentBefore);
    expect(resent.map((delivery) => delivery.body.records.map((record) => [record.MA_HO_SO, record.SO_BIEN_LAI]))).toEqual([[[`${listId}:2`, 'BL-SUA-2']]]);
    const detail = (await harness.gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${listId}:2` })).json();
    expect(detail.history.map((event: { toStatus: string }) => event.toStatus)).toEqual(['queued', 'sending', 'sent', 'returned', 'queued', 'sending', 'sent', 'issued']);
    expect((await harness.gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });

  it('an operator replays a returned row; a school reaches no transfer through the registry routes', async () => {
    harness.simulator.setScript({ kind: 'answer', result: refusal });
    const returnedList = await uploadList(call, [pupil(1)]);
    await harness.runs.run();
    const id = `${returnedList}:1`;
    await vi.waitFor(async () => expect((await listRows(call, returnedList))[0]?.status).toBe('returned'), { timeout: 10_000, interval: 50 });

    expect((await call('school', { method: 'GET', url: `/ngsp/v1/transfers/${id}` })).statusCode).toBe(403);
    expect((await harness.gateway.request('operator01', { method: 'POST', url: `/ops/v1/transfers/${id}/replay`, payload: { reason: 'BHXH đã sửa sổ thu' } })).statusCode).toBe(404);
    harness.simulator.setScript({ kind: 'answer' });
    const replay = await harness.gateway.request('operator', { method: 'POST', url: `/ops/v1/transfers/${id}/replay`, payload: { reason: 'BHXH đã sửa sổ thu' } });
    expect(replay.statusCode, replay.body).toBe(200);
    await harness.runs.run();
    await vi.waitFor(async () => expect((await listRows(call, returnedList))[0]?.status).toBe('issued'), { timeout: 10_000, interval: 50 });
  });
});

describe('a list leased by BHXH', () => {
  let gateway: TestGateway;
  let call: ReturnType<typeof caller>;
  beforeEach(async () => {
    gateway = await startTestGateway(gatewayOptions);
    call = caller(gateway);
  });
  afterEach(async () => {
    await gateway?.close();
  });

  it('one list per leased batch, with its maDonVi and kyKeKhai; results land on the rows', async () => {
    const first = await uploadList(call, [pupil(1), pupil(2), pupil(3)]);
    const second = await uploadList(call, [pupil(1), pupil(2)], 'otherSchool');
    const lease = async () => {
      const response = await gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'D03_TS', max: 100 } });
      expect(response.statusCode, response.body).toBe(200);
      return response.json() as { batchId: string; loai: string; maDonVi: string; kyKeKhai: string; records: Array<Record<string, unknown>> };
    };
    const one = await lease();
    expect(one).toMatchObject({ loai: 'D03_TS', maDonVi: 'TZ0811A', kyKeKhai: '10/2026' });
    expect(one.records.map((record) => record.MA_HO_SO)).toEqual([`${first}:1`, `${first}:2`, `${first}:3`]);
    const two = await lease();
    expect(two).toMatchObject({ maDonVi: 'TZ0812B', kyKeKhai: '10/2026' });
    expect(two.records.map((record) => record.MA_HO_SO)).toEqual([`${second}:1`, `${second}:2`]);
    expect((await listRows(call, first)).map((row) => row.status)).toEqual(['sent', 'sent', 'sent']);

    const results = one.records.map((record) => (record.STT === 3 ? refusal(record) : issueCard(record)));
    // A card of another group than a pupil's is not a D03-TS card.
    const wrongGroup = { ...issueCard(two.records[0] as Record<string, unknown>), MA_THE: `TE108${String(issueCard(two.records[0] as Record<string, unknown>).MA_SO_BHXH)}` };
    const answered = await gateway.request('bhxh08', { method: 'POST', url: `/bhxh/v1/batches/${one.batchId}/results`, payload: { results } });
    expect(answered.json()).toEqual({ accepted: 3, rejected: [] });
    const refused = await gateway.request('bhxh08', { method: 'POST', url: `/bhxh/v1/batches/${two.batchId}/results`, payload: { results: [wrongGroup] } });
    expect(refused.json()).toEqual({ accepted: 0, rejected: [{ MA_HO_SO: `${second}:1`, reason: expect.stringContaining('HS4 or SV4') }] });
    expect((await listRows(call, first)).map((row) => row.status)).toEqual(['issued', 'issued', 'returned']);
  });

  it('a batch\'s records in the list\'s order, row 10 after row 2', async () => {
    const listId = await uploadList(call, Array.from({ length: 11 }, (_, index) => pupil(index + 1)));
    const leased = (await gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'D03_TS', max: 100 } })).json();
    expect(leased.records.map((record: Record<string, unknown>) => record.MA_HO_SO)).toEqual(Array.from({ length: 11 }, (_, index) => `${listId}:${index + 1}`));
  });

  it('a row naming its BHXH number gets that person\'s card only: an OK with another MA_SO_BHXH is rejected', async () => {
    const listId = await uploadList(call, [pupil(1, { maSoBhxh: '0812345670' })]);
    const leased = (await gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'D03_TS' } })).json();
    const wrongPerson = { ...issueCard(leased.records[0]), MA_SO_BHXH: '0899999999', MA_THE: 'HS4080899999999' };
    const refused = await gateway.request('bhxh08', { method: 'POST', url: `/bhxh/v1/batches/${leased.batchId}/results`, payload: { results: [wrongPerson] } });
    expect(refused.json()).toEqual({ accepted: 0, rejected: [{ MA_HO_SO: `${listId}:1`, reason: expect.stringContaining('MA_SO_BHXH is not the BHXH number') }] });
    const right = await gateway.request('bhxh08', { method: 'POST', url: `/bhxh/v1/batches/${leased.batchId}/results`, payload: { results: [issueCard(leased.records[0])] } });
    expect(right.json()).toEqual({ accepted: 1, rejected: [] });
  });

  it('a list waiting to be sent, or replaced by one that dropped a row, leaves nothing to lease for it', async () => {
    const response = await call('school', {
      method: 'POST', url: '/ts/v1/danh-sach?kyKeKhai=10/2026',
      headers: { 'content-type': 'application/json', 'idempotency-key': `dispatch-checked-${++keyCounter}` },
      payload: JSON.stringify({ kyKeKhai: '10/2026', rows: [pupil(1), pupil(2, { gioiTinh: 'X' })] }),
    });
    expect(response.json()).toMatchObject({ status: 'checked', valid: 1 });
    const lease = () => gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'D03_TS' } });
    expect((await lease()).statusCode).toBe(204);

    const rows = [pupil(1), pupil(2)];
    const sent = await uploadList(call, rows);
    // The school replaces it before BHXH takes it, without its second row: only the first leaves, once.
    const replacing = await call('school', {
      method: 'POST', url: `/ts/v1/danh-sach?kyKeKhai=10/2026&replaces=${sent}`,
      headers: { 'content-type': 'application/json', 'idempotency-key': `dispatch-replace-${++keyCounter}` },
      payload: JSON.stringify({ kyKeKhai: '10/2026', rows: [rows[0]] }),
    });
    expect(replacing.json()).toMatchObject({ status: 'queued', unchanged: 1 });
    const leased = await lease();
    expect(leased.json().records.map((record: { MA_HO_SO: string }) => record.MA_HO_SO)).toEqual([`${sent}:1`]);
    expect((await lease()).statusCode).toBe(204);
    // The dropped row's record is withdrawn for good, audited, and says so on the earlier list.
    const dropped = (await listRows(call, sent))[1];
    expect(dropped).toMatchObject({ status: 'withdrawn', ghiChu: 'Không gửi BHXH: danh sách thay thế không còn dòng này.' });
    const detail = (await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${sent}:2` })).json();
    expect(detail).toMatchObject({ status: 'received' });
    expect(detail.history.map((event: { action: string }) => event.action)).toEqual(['pupil-list.row-queued', 'pupil-list.row-withdrawn']);
  });

  it('a corrected list in place of one BHXH already holds: a changed row is not sent twice, and the school is told', async () => {
    const rows = [pupil(1), pupil(2)];
    const sent = await uploadList(call, rows);
    const lease = () => gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'D03_TS' } });
    expect((await lease()).statusCode).toBe(200);
    const replacing = await call('school', {
      method: 'POST', url: `/ts/v1/danh-sach?kyKeKhai=10/2026&replaces=${sent}`,
      headers: { 'content-type': 'application/json', 'idempotency-key': `dispatch-replace-${++keyCounter}` },
      payload: JSON.stringify({ kyKeKhai: '10/2026', rows: [{ ...rows[0], soBienLai: 'BL-MOI' }, rows[1]] }),
    });
    expect(replacing.json()).toMatchObject({ status: 'queued', unchanged: 1, warnings: [{ stt: 1, code: 'ALREADY_WITH_BHXH' }] });
    expect((await lease()).statusCode).toBe(204);
    expect((await listRows(call, replacing.json().listId)).map((row) => row.status)).toEqual(['sent', 'sent']);
    expect((await gateway.db.query<{ n: number }>('SELECT count(*)::int AS n FROM transfers')).rows).toEqual([{ n: 2 }]);
  });

  it('a new person at the STT of a dropped one whose card was issued: a row and a record of its own, not the card', async () => {
    const rows = [pupil(1), pupil(2)];
    const sent = await uploadList(call, rows);
    const lease = () => gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'D03_TS' } });
    const leased = (await lease()).json();
    const answered = await gateway.request('bhxh08', {
      method: 'POST', url: `/bhxh/v1/batches/${leased.batchId}/results`, payload: { results: leased.records.map(issueCard) },
    });
    expect(answered.json()).toMatchObject({ accepted: 2 });

    const newcomer = pupil(2, { hoTen: 'Trần Văn Bình' });
    const replacing = await call('school', {
      method: 'POST', url: `/ts/v1/danh-sach?kyKeKhai=10/2026&replaces=${sent}`,
      headers: { 'content-type': 'application/json', 'idempotency-key': `dispatch-replace-${++keyCounter}` },
      payload: JSON.stringify({ kyKeKhai: '10/2026', rows: [rows[0], newcomer] }),
    });
    // The dropped person's record stays with BHXH, as the answer says.
    expect(replacing.json()).toMatchObject({ status: 'queued', unchanged: 1, warnings: [{ stt: 2, code: 'DROPPED_ALREADY_WITH_BHXH' }] });
    const listId = replacing.json().listId;
    const items = await listRows(call, listId);
    expect(items.map((row) => [row.status, row.maThe === null])).toEqual([['issued', false], ['queued', true]]);
    const next = (await lease()).json();
    expect(next.records.map((record: Record<string, unknown>) => [record.MA_HO_SO, record.SO_DINH_DANH])).toEqual([[`${listId}:2`, newcomer.soDinhDanh]]);
    // The dropped person keeps the card BHXH issued, on the earlier list.
    expect((await listRows(call, sent)).map((row) => row.status)).toEqual(['issued', 'issued']);
  });

  it('a person whose card was issued stays listed for the period when the replacing list drops them: another list cannot send them again', async () => {
    const rows = [pupil(1), pupil(2)];
    const sent = await uploadList(call, rows);
    const lease = () => gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'D03_TS' } });
    const leased = (await lease()).json();
    await gateway.request('bhxh08', { method: 'POST', url: `/bhxh/v1/batches/${leased.batchId}/results`, payload: { results: leased.records.map(issueCard) } });
    const replacing = await call('school', {
      method: 'POST', url: `/ts/v1/danh-sach?kyKeKhai=10/2026&replaces=${sent}`,
      headers: { 'content-type': 'application/json', 'idempotency-key': `dispatch-replace-${++keyCounter}` },
      payload: JSON.stringify({ kyKeKhai: '10/2026', rows: [{ ...rows[1], stt: 1 }] }),
    });
    expect(replacing.json()).toMatchObject({ status: 'queued', unchanged: 1 });

    const elsewhere = await call('otherSchool', {
      method: 'POST', url: '/ts/v1/danh-sach?kyKeKhai=10/2026',
      headers: { 'content-type': 'application/json', 'idempotency-key': `dispatch-other-${++keyCounter}` },
      payload: JSON.stringify({ kyKeKhai: '10/2026', rows: [{ ...rows[0], stt: 1 }] }),
    });
    expect(elsewhere.json()).toMatchObject({ status: 'checked', invalid: 1, errors: [{ stt: 1, code: 'ALREADY_LISTED' }] });
    expect((await lease()).statusCode).toBe(204);
  });

  it('an unchanged invalid row keeps the record it carries through a second replacement: corrected, it is not sent again', async () => {
    const rows = [pupil(1), pupil(2)];
    const sent = await uploadList(call, rows);
    const lease = () => gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'D03_TS' } });
    expect((await lease()).statusCode).toBe(200);
    const replace = async (replaces: string, listRows: D03Row[]) => (await call('school', {
      method: 'POST', url: `/ts/v1/danh-sach?kyKeKhai=10/2026&replaces=${replaces}`,
      headers: { 'content-type': 'application/json', 'idempotency-key': `dispatch-replace-${++keyCounter}` },
      payload: JSON.stringify({ kyKeKhai: '10/2026', rows: listRows }),
    })).json();
    const broken = [{ ...rows[0] as D03Row, gioiTinh: 'X' }, rows[1] as D03Row];
    const second = await replace(sent, broken);
    expect(second).toMatchObject({ status: 'checked', invalid: 1 });
    const third = await replace(second.listId, broken);
    expect(third).toMatchObject({ status: 'checked', invalid: 1, unchanged: 2 });

    const fixed = await call('school', { method: 'PATCH', url: `/ts/v1/danh-sach/${third.listId}/rows/1`, payload: { gioiTinh: 'Nam' } });
    expect(fixed.json()).toMatchObject({ status: 'sent', list: { status: 'queued', valid: 2 } });
    expect((await gateway.db.query<{ id: string }>('SELECT id FROM transfers ORDER BY id')).rows.map((row) => row.id)).toEqual([`${sent}:1`, `${sent}:2`]);
    expect((await lease()).statusCode).toBe(204);
  });

  it('a record that leaves while a corrected list is being stored: the change is judged on the record as it left, and the school told', async () => {
    const rows = [pupil(1), pupil(2)];
    const sent = await uploadList(call, rows);
    // The test stands in for a claim: it holds the first row's record, and moves it to sent once the upload waits for it.
    const { upload } = await gateway.db.transaction(async (tx) => {
      await tx.query('SELECT id FROM transfers WHERE id = $1 FOR UPDATE', [`${sent}:1`]);
      const { rows: [me] } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // inject() starts the request only once awaited: Promise.resolve starts it now.
      const upload = Promise.resolve(call('school', {
        method: 'POST', url: `/ts/v1/danh-sach?kyKeKhai=10/2026&replaces=${sent}`,
        headers: { 'content-type': 'application/json', 'idempotency-key': `dispatch-replace-${++keyCounter}` },
        payload: JSON.stringify({ kyKeKhai: '10/2026', rows: [{ ...rows[0], soBienLai: 'BL-MOI' }] }),
      }));
      await vi.waitFor(async () => {
        const { rows: [waiting] } = await gateway.db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [me?.pid]);
        expect(waiting?.n).toBeGreaterThan(0);
      }, { timeout: 10_000, interval: 20 });
      await tx.query("UPDATE transfers SET status = 'sent' WHERE id = $1", [`${sent}:1`]);
      // Wrapped: returned bare, the transaction would wait for the upload that waits for it.
      return { upload };
    });
    const replacing = await upload;
    expect(replacing.statusCode, replacing.body).toBe(202);
    // The changed row is BHXH's as first sent: the school is told, not left believing the change went.
    expect(replacing.json().warnings).toEqual([
      expect.objectContaining({ stt: 1, code: 'ALREADY_WITH_BHXH' }),
    ]);
    expect((await listRows(call, replacing.json().listId)).map((row) => row.status)).toEqual(['sent']);
  });

  it('a dropped row BHXH already has is not withdrawn, and the answer says so', async () => {
    const rows = [pupil(1), pupil(2)];
    const sent = await uploadList(call, rows);
    const lease = () => gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'D03_TS' } });
    expect((await lease()).statusCode).toBe(200);
    const replacing = await call('school', {
      method: 'POST', url: `/ts/v1/danh-sach?kyKeKhai=10/2026&replaces=${sent}`,
      headers: { 'content-type': 'application/json', 'idempotency-key': `dispatch-replace-${++keyCounter}` },
      payload: JSON.stringify({ kyKeKhai: '10/2026', rows: [rows[0]] }),
    });
    expect(replacing.json()).toMatchObject({ status: 'queued', unchanged: 1, warnings: [{ stt: 2, code: 'DROPPED_ALREADY_WITH_BHXH' }] });
    expect((await listRows(call, sent)).map((row) => row.status)).toEqual(['sent', 'sent']);
  });

  it('a corrected list in place of a sent one: its changed rows go in their earlier records, once it is sent itself', async () => {
    const rows = [pupil(1), pupil(2)];
    const sent = await uploadList(call, rows);
    const replacing = await call('school', {
      method: 'POST', url: `/ts/v1/danh-sach?kyKeKhai=10/2026&replaces=${sent}`,
      headers: { 'content-type': 'application/json', 'idempotency-key': `dispatch-replace-${++keyCounter}` },
      payload: JSON.stringify({ kyKeKhai: '10/2026', rows: [{ ...rows[0], soBienLai: 'BL-MOI' }, rows[1], pupil(3, { gioiTinh: 'X' })] }),
    });
    expect(replacing.json()).toMatchObject({ status: 'checked', valid: 2, invalid: 1, unchanged: 1 });
    const lease = () => gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'D03_TS' } });
    // Neither list is sent now: the earlier one is replaced, the new one waits. Its records wait out of
    // the claim's way (received), the rows still shown waiting.
    expect((await lease()).statusCode).toBe(204);
    const statuses = async () => (await gateway.db.query<{ id: string; status: string }>('SELECT id, status FROM transfers ORDER BY id')).rows;
    expect(await statuses()).toEqual([{ id: `${sent}:1`, status: 'received' }, { id: `${sent}:2`, status: 'received' }]);
    expect((await listRows(call, replacing.json().listId)).map((row) => row.status)).toEqual(['queued', 'queued', 'invalid']);

    const send = await call('school', { method: 'POST', url: `/ts/v1/danh-sach/${replacing.json().listId}/send`, payload: { validOnly: true } });
    expect(send.statusCode, send.body).toBe(200);
    const leased = await lease();
    expect(leased.statusCode).toBe(200);
    expect(leased.json().records.map((record: Record<string, unknown>) => [record.MA_HO_SO, record.SO_BIEN_LAI])).toEqual([
      [`${sent}:1`, 'BL-MOI'], [`${sent}:2`, rows[1]?.soBienLai],
    ]);
    const history = (await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${sent}:2` })).json().history;
    // The unchanged row's record was sent as it was: queued with the first list, held while the second waited, then leased.
    expect(history.map((event: { action: string }) => event.action)).toEqual(['pupil-list.row-queued', 'pupil-list.row-held', 'pupil-list.row-released', 'dispatch.leased']);
  });
});
