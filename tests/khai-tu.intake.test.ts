import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256OfKey } from '../src/auth/clients.js';
import type { KhaiTu } from '../src/domain/documents.js';
import { khaiTu } from './support/death-fixtures.js';
import { personalNumber, toSoapEnvelope, toXml } from './support/fixtures.js';
import { countRows, startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * KhaiTu intake (docs/API.md, "KhaiTu"; docs/DOMAIN.md, "Deaths"): a death through every door,
 * checked with the same rigour as a birth, stored as `queued` with its BAO_GIAM entry, or refused
 * with a code and a path and nothing stored.
 */

let gateway: TestGateway;
/** A registry client for every province, so that a province no list knows reaches the unit check. */
const NATIONWIDE_KEY = 'key-hotich-all-khai-tu-test';

beforeAll(async () => {
  gateway = await startTestGateway({
    clients: [{ id: 'hotich-all', keySha256: sha256OfKey(NATIONWIDE_KEY), roles: ['registry'], units: ['*'] }],
  });
});
afterAll(async () => {
  await gateway?.close();
});

const postJson = (doc: unknown, as: 'registry08' | 'registry08b' = 'registry08') =>
  gateway.request(as, { method: 'POST', url: '/ngsp/v1/khai-tu', payload: doc as object });

const postXml = (doc: unknown) =>
  gateway.request('registry08', {
    method: 'POST', url: '/ngsp/v1/khai-tu', headers: { 'content-type': 'application/xml' }, payload: toXml('KhaiTu', doc),
  });

const postSoap = (doc: unknown) =>
  gateway.request('registry08', {
    method: 'POST', url: '/ngsp/soap',
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: 'urn:lienthong:ngsp:v1#GuiKhaiTu' },
    payload: toSoapEnvelope('KhaiTu', doc),
  });

const read = async (transferId: string) => {
  const response = await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${transferId}` });
  expect(response.statusCode).toBe(200);
  return response.json();
};

/** What must not change when a message is refused. */
async function storedCounts() {
  return {
    transfers: await countRows(gateway.db, 'transfers'),
    inbound: await countRows(gateway.db, 'inbound_messages'),
    audit: await countRows(gateway.db, 'audit_events'),
  };
}

function soapField(body: string, name: string): string | undefined {
  return new RegExp(`<(?:[\\w.-]+:)?${name}>([^<]*)</(?:[\\w.-]+:)?${name}>`).exec(body)?.[1];
}

describe('KhaiTu accepted', () => {
  it('is queued with its BAO_GIAM entry and an audit event', async () => {
    const doc = khaiTu({ hoTich: { nktMaSoBHXH: '0850001234' } });
    const response = await postJson(doc);
    expect(response.statusCode, response.body).toBe(202);
    const answer = response.json();
    expect(answer).toEqual({ transferId: expect.any(String), messageId: doc.messageId, status: 'queued' });

    const transfer = await read(answer.transferId);
    expect(transfer).toMatchObject({ type: 'KHAI_TU', status: 'queued', maTinh: '08', maDonVi: '02215', missing: [], card: null });
    expect(transfer.bhxhDocument).toEqual({
      MA_HO_SO: answer.transferId,
      SO_DINH_DANH: doc.hoTich.nktSoDDCN,
      MA_SO_BHXH: '0850001234',
      HO_TEN: 'ĐẶNG VĂN ẨN',
      NGAY_SINH: '19500512',
      GIOI_TINH: 1,
      NGAY_CHET: '20250310',
      MA_TINH: '08',
      MA_HUYEN: '071',
      MA_XA: '02230',
      LY_DO: 'CHET',
      TU_NGAY: '20250310',
      LOAI_GIAY_BAO_TU: 1,
      SO_DANG_KY_KT: '45',
      NGAY_DANG_KY_KT: '20250315',
      NOI_DANG_KY_KT: '02215',
    });
    expect(transfer.document.hoTich).toMatchObject({ nktSoDDCN: doc.hoTich.nktSoDDCN, nktNgayChet: '10.03.2025' });
    expect(transfer.history).toEqual([
      expect.objectContaining({ action: 'khai-tu.accepted', actor: 'hotich-08', fromStatus: null, toStatus: 'queued', details: { door: 'rest-json' } }),
    ]);
    const listed = await gateway.request('registry08', { method: 'GET', url: '/ngsp/v1/transfers?type=KHAI_TU&status=queued&limit=500' });
    expect(listed.json().items.map((item: { transferId: string }) => item.transferId)).toContain(answer.transferId);
  });

  it('accepts a death at the edges: died the day it is registered and today, born the same day', async () => {
    const doc = khaiTu({
      hoTich: {
        nktNgaySinh: '20.03.2025', nktGioiTinh: 3, nktSoDDCN: personalNumber('008', 25, 2),
        nktNgayChet: '20.03.2025', gbtNgay: '20.03.2025', ngayDangKy: '20.03.2025',
      },
    });
    const response = await postJson(doc);
    expect(response.statusCode, response.body).toBe(202);
    expect((await read(response.json().transferId)).bhxhDocument).toMatchObject({ NGAY_SINH: '20250320', NGAY_CHET: '20250320', GIOI_TINH: 3 });
  });

  it('keeps the names NFC with spaces collapsed, whatever the input', async () => {
    const doc = khaiTu({ hoTich: { nktHoTen: '  Đặng   Văn  Ẩn '.normalize('NFD') } });
    const response = await postJson(doc);
    expect(response.statusCode, response.body).toBe(202);
    const transfer = await read(response.json().transferId);
    expect(transfer.document.hoTich.nktHoTen).toBe('Đặng Văn Ẩn');
    expect(transfer.bhxhDocument.HO_TEN).toBe('ĐẶNG VĂN ẨN');
  });
});

describe('KhaiTu refused: each rule, with its code and path, nothing stored', () => {
  type Case = [string, (doc: KhaiTu) => KhaiTu, number, string, { path: string; code: string }];
  const withHoTich = (patch: Record<string, unknown>) => (doc: KhaiTu): KhaiTu =>
    JSON.parse(JSON.stringify({ ...doc, hoTich: { ...doc.hoTich, ...patch } }));
  const cases: Case[] = [
    ['death in the future', withHoTich({ nktNgayChet: '21.03.2025', gbtNgay: undefined }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/nktNgayChet', code: 'DATE_IN_FUTURE' }],
    ['registration in the future', withHoTich({ ngayDangKy: '21.03.2025' }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/ngayDangKy', code: 'DATE_IN_FUTURE' }],
    ['death before birth', withHoTich({ nktNgayChet: '11.05.1950', gbtNgay: undefined }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/nktNgayChet', code: 'DEATH_BEFORE_BIRTH' }],
    ['registered before the death', withHoTich({ ngayDangKy: '09.03.2025' }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/ngayDangKy', code: 'REGISTERED_BEFORE_DEATH' }],
    ['death notice dated before the death', withHoTich({ gbtNgay: '09.03.2025' }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/gbtNgay', code: 'NOTICE_BEFORE_DEATH' }],
    ['death notice dated in the future', withHoTich({ gbtNgay: '22.03.2025' }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/gbtNgay', code: 'DATE_IN_FUTURE' }],
    ['personal number of the wrong sex', withHoTich({ nktSoDDCN: personalNumber('008', 50, 1) }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/nktSoDDCN', code: 'PERSONAL_NUMBER_MISMATCH' }],
    ['personal number of the wrong year', withHoTich({ nktSoDDCN: personalNumber('008', 51, 0) }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/nktSoDDCN', code: 'PERSONAL_NUMBER_MISMATCH' }],
    ['personal number of the wrong century', withHoTich({ nktSoDDCN: personalNumber('008', 50, 2) }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/nktSoDDCN', code: 'PERSONAL_NUMBER_MISMATCH' }],
    ['maDonVi not the registering unit', (doc) => ({ ...doc, maDonVi: '02218' }), 400, 'VALIDATION_FAILED',
      { path: '/maDonVi', code: 'UNIT_MISMATCH' }],
    ['date of death not a real day', withHoTich({ nktNgayChet: '31.02.2025' }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/nktNgayChet', code: 'FORMAT' }],
    ['birth date not a real day', withHoTich({ nktNgaySinh: '1950-13-01' }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/nktNgaySinh', code: 'FORMAT' }],
    ['no date of death', withHoTich({ nktNgayChet: undefined }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/nktNgayChet', code: 'REQUIRED' }],
    ['no personal number', withHoTich({ nktSoDDCN: undefined }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/nktSoDDCN', code: 'REQUIRED' }],
    ['no residence', withHoTich({ nktNoiCuTru: undefined }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/nktNoiCuTru', code: 'REQUIRED' }],
    ['no kind of death notice', withHoTich({ gbtLoai: undefined }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/gbtLoai', code: 'REQUIRED' }],
    ['a kind of death notice out of range', withHoTich({ gbtLoai: 8 }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/gbtLoai', code: 'MAXIMUM' }],
    ['a BHXH number that is not 10 digits', withHoTich({ nktMaSoBHXH: '12345' }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/nktMaSoBHXH', code: 'PATTERN' }],
    ['a field no death has', withHoTich({ nksHoTen: 'Ai đó' }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/nksHoTen', code: 'ADDITIONALPROPERTIES' }],
    ['a commune code of the wrong shape', withHoTich({ noiDangKy: { maTinh: '08', maXa: '2215' } }), 400, 'VALIDATION_FAILED',
      { path: '/hoTich/noiDangKy/maXa', code: 'PATTERN' }],
  ];

  it.each(cases)('%s', async (_name, change, status, code, detail) => {
    const before = await storedCounts();
    const response = await postJson(change(khaiTu()));
    expect(response.statusCode, response.body).toBe(status);
    const error = response.json().error;
    expect(error.code).toBe(code);
    expect(error.details).toContainEqual(expect.objectContaining(detail));
    expect(await storedCounts()).toEqual(before);
  });

  it('a province no unit list knows: UNIT_NOT_CONFIGURED at /hoTich/noiDangKy/maTinh', async () => {
    const before = await storedCounts();
    const doc = khaiTu({ hoTich: { noiDangKy: { maTinh: '99', maXa: '99001' } }, maDonVi: '99001' });
    const response = await gateway.request(null, {
      method: 'POST', url: '/ngsp/v1/khai-tu', headers: { authorization: `Bearer ${NATIONWIDE_KEY}` }, payload: doc,
    });
    expect(response.statusCode, response.body).toBe(422);
    expect(response.json().error).toMatchObject({
      code: 'UNIT_NOT_CONFIGURED',
      details: [expect.objectContaining({ path: '/hoTich/noiDangKy/maTinh', code: 'UNIT_NOT_CONFIGURED' })],
    });
    expect(await storedCounts()).toEqual(before);
  });

  it('a province outside the client\'s units: 403 FORBIDDEN', async () => {
    const before = await storedCounts();
    const doc = khaiTu({ maDonVi: '00004', hoTich: { noiDangKy: { maTinh: '01', maHuyen: '001', maXa: '00004' } } });
    const response = await postJson(doc);
    expect(response.statusCode).toBe(403);
    expect(response.json().error.code).toBe('FORBIDDEN');
    expect(await storedCounts()).toEqual(before);
  });

  it('lists every problem at once', async () => {
    const doc = khaiTu({ maDonVi: '02218', hoTich: { nktSoDDCN: personalNumber('008', 49, 0), gbtNgay: '09.03.2025' } });
    const response = await postJson(doc);
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details.map((d: { code: string }) => d.code).sort()).toEqual(
      ['NOTICE_BEFORE_DEATH', 'PERSONAL_NUMBER_MISMATCH', 'UNIT_MISMATCH'],
    );
  });
});

describe('one death per person', () => {
  it('a second death for the same personal number is DUPLICATE_PERSON at /hoTich/nktSoDDCN, nothing stored', async () => {
    const first = khaiTu();
    expect((await postJson(first)).statusCode).toBe(202);
    const before = await storedCounts();
    const second = khaiTu({ hoTich: { nktSoDDCN: first.hoTich.nktSoDDCN, soDangKy: '46' } });
    const response = await postJson(second);
    expect(response.statusCode, response.body).toBe(409);
    expect(response.json().error).toMatchObject({
      code: 'DUPLICATE_PERSON',
      details: [expect.objectContaining({ path: '/hoTich/nktSoDDCN', code: 'DUPLICATE_PERSON' })],
    });
    expect(await storedCounts()).toEqual(before);
    // From another registry client too.
    const other = await postJson(khaiTu({ hoTich: { nktSoDDCN: first.hoTich.nktSoDDCN } }), 'registry08b');
    expect(other.statusCode).toBe(409);
    expect(other.json().error.code).toBe('DUPLICATE_PERSON');
  });

  it('concurrent deaths of one person: exactly one is stored', async () => {
    const nktSoDDCN = personalNumber('008', 50, 0);
    const before = await countRows(gateway.db, 'transfers');
    const responses = await Promise.all(Array.from({ length: 8 }, () => postJson(khaiTu({ hoTich: { nktSoDDCN } }))));
    expect(responses.map((r) => r.statusCode).sort()).toEqual([202, 409, 409, 409, 409, 409, 409, 409]);
    for (const refused of responses.filter((r) => r.statusCode === 409)) expect(refused.json().error.code).toBe('DUPLICATE_PERSON');
    expect(await countRows(gateway.db, 'transfers')).toBe(before + 1);
  });
});

describe('KhaiTu idempotency', () => {
  it('the same message again: 200 with the first answer, nothing new stored', async () => {
    const doc = khaiTu();
    const first = await postJson(doc);
    expect(first.statusCode).toBe(202);
    const before = await storedCounts();
    const again = await postJson(doc);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect(await storedCounts()).toEqual(before);
  });

  it('the same messageId with other content: 409 DUPLICATE_MESSAGE, nothing stored', async () => {
    const doc = khaiTu();
    await postJson(doc);
    const before = await storedCounts();
    const response = await postJson({ ...doc, hoTich: { ...doc.hoTich, nktNoiChet: 'Tại nhà' } });
    expect(response.statusCode).toBe(409);
    expect(response.json().error).toMatchObject({ code: 'DUPLICATE_MESSAGE', details: [expect.objectContaining({ path: '/messageId' })] });
    expect(await storedCounts()).toEqual(before);
  });

  it('concurrent copies of one message: one 202, the rest 200, one transfer', async () => {
    const doc = khaiTu();
    const before = await countRows(gateway.db, 'transfers');
    const responses = await Promise.all(Array.from({ length: 10 }, () => postJson(doc)));
    expect(responses.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 202]);
    expect(new Set(responses.map((r) => r.json().transferId)).size).toBe(1);
    expect(await countRows(gateway.db, 'transfers')).toBe(before + 1);
  });
});

describe('the three doors agree for KhaiTu', () => {
  it('JSON first, then the same document as XML and through SOAP GuiKhaiTu: 200 with the same transfer', async () => {
    const doc = khaiTu();
    const json = await postJson(doc);
    expect(json.statusCode, json.body).toBe(202);
    const before = await storedCounts();

    const xml = await postXml(doc);
    expect(xml.statusCode, xml.body).toBe(200);
    expect(xml.json()).toEqual(json.json());

    const soap = await postSoap(doc);
    expect(soap.statusCode, soap.body).toBe(200);
    expect(soapField(soap.body, 'transferId')).toBe(json.json().transferId);
    expect(soapField(soap.body, 'messageId')).toBe(doc.messageId);
    expect(soapField(soap.body, 'status')).toBe('queued');
    expect(await storedCounts()).toEqual(before);
  });

  it('XML first and SOAP first are recognised by JSON as the same message too', async () => {
    const viaXml = khaiTu();
    const xml = await postXml(viaXml);
    expect(xml.statusCode, xml.body).toBe(202);
    expect((await postJson(viaXml)).json()).toEqual(xml.json());
    expect((await postJson(viaXml)).statusCode).toBe(200);

    const viaSoap = khaiTu();
    const soap = await postSoap(viaSoap);
    expect(soap.statusCode, soap.body).toBe(200);
    const again = await postJson(viaSoap);
    expect(again.statusCode).toBe(200);
    expect(again.json().transferId).toBe(soapField(soap.body, 'transferId'));
  });

  it('each door on its own stores the same document and BAO_GIAM entry', async () => {
    const template = khaiTu();
    const copies = [0, 1, 2].map(() => ({ ...template, messageId: `${template.messageId}-${Math.random().toString(36).slice(2)}`, hoTich: { ...template.hoTich, nktSoDDCN: personalNumber('008', 50, 0) } }));
    const ids: string[] = [];
    const json = await postJson(copies[0]);
    expect(json.statusCode, json.body).toBe(202);
    ids.push(json.json().transferId);
    const xml = await postXml(copies[1]);
    expect(xml.statusCode, xml.body).toBe(202);
    ids.push(xml.json().transferId);
    const soap = await postSoap(copies[2]);
    expect(soap.statusCode, soap.body).toBe(200); // SOAP answers 200 with the intake answer as its response
    ids.push(soapField(soap.body, 'transferId') as string);

    const transfers = await Promise.all(ids.map(read));
    const comparable = transfers.map((transfer) => {
      const { MA_HO_SO, SO_DINH_DANH, ...bhxh } = transfer.bhxhDocument;
      const { messageId: _m, hoTich: { nktSoDDCN: _n, ...hoTich }, ...document } = transfer.document;
      expect(MA_HO_SO).toBe(transfer.transferId);
      expect(SO_DINH_DANH).toMatch(/^\d{12}$/);
      return { status: transfer.status, bhxh, document: { ...document, hoTich } };
    });
    expect(comparable[1]).toEqual(comparable[0]);
    expect(comparable[2]).toEqual(comparable[0]);
    // Integers stay integers whichever door: XML and SOAP carry text.
    expect(transfers.map((t) => t.document.hoTich.gbtLoai)).toEqual([1, 1, 1]);
    expect(transfers.map((t) => t.history[0].details.door)).toEqual(['rest-json', 'rest-xml', 'soap']);
  });

  it('a refused death is refused alike by every door (a SOAP Fault carrying the code)', async () => {
    const doc = khaiTu({ hoTich: { ngayDangKy: '09.03.2025' } });
    const json = await postJson(doc);
    expect(json.statusCode).toBe(400);
    expect(json.json().error.details).toContainEqual(expect.objectContaining({ path: '/hoTich/ngayDangKy', code: 'REGISTERED_BEFORE_DEATH' }));
    const xml = await postXml(doc);
    expect(xml.statusCode).toBe(400);
    expect(xml.json().error.details).toEqual(json.json().error.details);
    const soap = await postSoap(doc);
    expect(soap.statusCode).toBe(400);
    expect(soap.body).toContain('VALIDATION_FAILED');
    expect(soap.body).toContain('REGISTERED_BEFORE_DEATH');
    expect(soap.body).toContain('/hoTich/ngayDangKy');
  });
});
