import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggerOptions } from '../src/logger.js';
import { khaiSinh, personalNumber, toSoapEnvelope, toXml } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * Personal data never reaches the logs (src/logger.ts): not the child's name in any form,
 * not the personal number, not an API key, whether the document was accepted or refused at any door.
 */

const NAME = 'Lê Thị Đặc Biệt';
const MOTHER = 'Hoàng Thị Mẹ Riêng';
const DECLARANT_PHONE = '0987654321';

/** Every form in which a name could leak: NFC, NFD, upper case (BHXH's HO_TEN), without diacritics. */
function nameForms(name: string): string[] {
  const upper = name.toLocaleUpperCase('vi');
  const folded = name.normalize('NFD').replace(/\p{M}/gu, '').replace(/đ/g, 'd').replace(/Đ/g, 'D');
  return [name.normalize('NFC'), name.normalize('NFD'), upper.normalize('NFC'), upper.normalize('NFD'), folded, folded.toUpperCase()];
}

/** The secrets of one run, with a label so a failure says which one leaked. */
function findLeaks(lines: string[], secrets: Record<string, string>): string[] {
  const text = lines.join('');
  return Object.entries(secrets).filter(([, value]) => text.includes(value)).map(([label]) => label);
}

describe('personal data in the gateway logs', () => {
  let gateway: TestGateway;
  const soDinhDanh = personalNumber();
  const secondNumber = personalNumber();
  const wrongKey = 'key-that-nobody-holds-5f0e9c1d2b3a';

  beforeAll(async () => {
    gateway = await startTestGateway();
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const distinctive = (overrides: Parameters<typeof khaiSinh>[0] = {}) =>
    khaiSinh({
      ...overrides,
      hoTich: { nksHoTen: NAME, soDinhDanh, meHoTen: MOTHER, nycSoDienThoai: DECLARANT_PHONE, ...overrides.hoTich },
    });
  const post = (payload: unknown, contentType = 'application/json', key: 'registry08' | null = 'registry08', extraHeaders: Record<string, string> = {}) =>
    gateway.request(key, {
      method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { 'content-type': contentType, ...extraHeaders },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });

  it('writes none of the name, personal number or API key, whatever is accepted or refused', async () => {
    // Accepted, over JSON, then read back.
    const accepted = await post(distinctive());
    expect(accepted.statusCode).toBe(202);
    const transferId = accepted.json().transferId as string;
    expect((await gateway.request('registry08', { method: 'GET', url: `/ngsp/v1/transfers/${transferId}` })).statusCode).toBe(200);

    // Refused by a rule (registration date in the future), with the name given in NFD.
    const invalid = await post(distinctive({ hoTich: { nksHoTen: NAME.normalize('NFD'), soDinhDanh: secondNumber, ngayDangKy: '21.03.2025' } }));
    expect(invalid.json().error.code).toBe('VALIDATION_FAILED');

    // Refused by the schema, the bad value being personal data itself.
    const badName = await post(distinctive({ hoTich: { nksHoTen: `${NAME} <b>`, soDinhDanh: secondNumber } }));
    expect(badName.json().error.code).toBe('VALIDATION_FAILED');

    // The same person again under another messageId.
    const duplicate = await post(distinctive());
    expect(duplicate.json().error.code).toBe('DUPLICATE_PERSON');

    // The same messageId with other content.
    const reused = await post({ ...distinctive({ hoTich: { soDangKy: '999' } }), messageId: accepted.json().messageId });
    expect(reused.json().error.code).toBe('DUPLICATE_MESSAGE');

    // Broken XML carrying the name and number.
    const brokenXml = await post(toXml('KhaiSinh', distinctive({ hoTich: { soDinhDanh: secondNumber } })).replace('</KhaiSinh>', ''), 'application/xml');
    expect(brokenXml.json().error.code).toBe('MALFORMED_BODY');

    // XML refused by a rule.
    const xmlInvalid = await post(toXml('KhaiSinh', distinctive({ hoTich: { soDinhDanh: secondNumber, ngayDangKy: '21.03.2025' } })), 'application/xml');
    expect(xmlInvalid.json().error.code).toBe('VALIDATION_FAILED');

    // SOAP faults: refused by a rule, and a duplicate person.
    const soapHeaders = { 'content-type': 'text/xml; charset=utf-8', soapaction: 'urn:lienthong:ngsp:v1#GuiKhaiSinh' };
    const soapInvalid = await gateway.request('registry08', {
      method: 'POST', url: '/ngsp/soap', headers: soapHeaders,
      payload: toSoapEnvelope('KhaiSinh', distinctive({ hoTich: { soDinhDanh: secondNumber, ngayDangKy: '21.03.2025' } })),
    });
    expect(soapInvalid.body).toContain('VALIDATION_FAILED');
    const soapDuplicate = await gateway.request('registry08', {
      method: 'POST', url: '/ngsp/soap', headers: soapHeaders, payload: toSoapEnvelope('KhaiSinh', distinctive()),
    });
    expect(soapDuplicate.body).toContain('DUPLICATE_PERSON');

    // A PATCH with a bad value next to the name, and one that succeeds.
    const badPatch = await gateway.request('registry08', {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${transferId}`,
      payload: { hoTich: { nksHoTen: NAME.toLocaleUpperCase('vi'), nksNgaySinh: '31.02.2025', meSoDDCN: 'so-sai!' } },
    });
    expect(badPatch.json().error.code).toBe('VALIDATION_FAILED');
    const goodPatch = await gateway.request('registry08', {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${transferId}`, payload: { hoTich: { nksHoTen: `${NAME}  ` } },
    });
    expect(goodPatch.statusCode).toBe(200);

    // Unauthenticated, with a key nobody holds.
    const unknownKey = await post(distinctive(), 'application/json', null, { authorization: `Bearer ${wrongKey}` });
    expect(unknownKey.statusCode).toBe(401);

    // Refusals are logged (the check below has something to look at)...
    expect(gateway.logLines.length).toBeGreaterThan(5);
    expect(gateway.logLines.join('')).toContain('VALIDATION_FAILED');
    // ...but nothing personal or secret in them.
    const secrets: Record<string, string> = {
      soDinhDanh, secondNumber, phone: DECLARANT_PHONE, wrongKey,
      ...Object.fromEntries(Object.entries(gateway.keys).map(([name, key]) => [`key of ${name}`, key])),
      ...Object.fromEntries(nameForms(NAME).map((form, i) => [`name form ${i}: ${form}`, form])),
      ...Object.fromEntries(nameForms(MOTHER).map((form, i) => [`mother name form ${i}: ${form}`, form])),
    };
    expect(findLeaks(gateway.logLines, secrets)).toEqual([]);
  });
});

describe('the pino redaction of src/logger.ts', () => {
  const doc = khaiSinh({ hoTich: { nksHoTen: NAME, meHoTen: MOTHER, nycSoDienThoai: DECLARANT_PHONE } });
  const number = doc.hoTich.soDinhDanh;
  const capTheTe = {
    MA_HO_SO: 'tr-1', SO_DINH_DANH: number, HO_TEN: NAME.toLocaleUpperCase('vi'), NGAY_SINH: '20250301',
    HO_TEN_GIAM_HO: MOTHER.toLocaleUpperCase('vi'), SO_DINH_DANH_GIAM_HO: '008195001234', DIA_CHI_NHAN_THE: 'Số 5, tổ 3, phường Phan Thiết',
  };

  /** What a logger built from loggerOptions writes for one log call. */
  function logged(object: Record<string, unknown>): string {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    pino(loggerOptions('info'), stream).info(object, 'a log call');
    expect(lines).toHaveLength(1);
    return lines.join('');
  }

  const personal = [
    ...nameForms(NAME).slice(0, 3), ...nameForms(MOTHER).slice(0, 3),
    number, DECLARANT_PHONE, '008195001234', 'Số 5, tổ 3, phường Phan Thiết',
  ];

  it.each([
    { name: 'redacts a whole request body', object: { body: doc } },
    { name: 'redacts a transfer document', object: { transfer: { id: 'tr-1', document: doc } } },
    { name: 'redacts a hoTich part on its own', object: { hoTich: doc.hoTich } },
    { name: 'redacts a hoTich part one level down', object: { correction: { hoTich: doc.hoTich } } },
    { name: 'redacts a transfer BHXH document', object: { transfer: { id: 'tr-1', bhxhDocument: capTheTe } } },
    { name: 'redacts a batch of BHXH records', object: { batch: { batchId: 'b-1', records: [capTheTe] } } },
    { name: 'redacts a job payload', object: { job: { id: 'j-1', data: { document: doc } } } },
    { name: 'redacts single personal fields at the top level', object: { nksHoTen: NAME, soDinhDanh: number, meHoTen: MOTHER } },
    { name: 'redacts single personal fields one level down', object: { transfer: { soDinhDanh: number, nksHoTen: NAME } } },
    { name: 'redacts one BHXH record, the guardian included', object: { record: capTheTe } },
    { name: 'redacts a document nested three levels down', object: { reply: { transfer: { document: doc } } } },
  ])('$name', ({ object }) => {
    const line = logged(object);
    expect(line).toContain('a log call');
    expect(personal.filter((value) => line.includes(value))).toEqual([]);
  });

  it('logs a database error without the row it quotes', () => {
    // What PostgreSQL attaches to a refused row, as node-postgres exposes it.
    const error = Object.assign(new Error('new row for relation "pupil_list_rows" violates check constraint "x"'), {
      code: '23514', constraint: 'x', table: 'pupil_list_rows', detail: `Failing row contains (1, ${NAME}, ${number}).`, where: `SQL function with ${NAME}`,
    });
    const line = JSON.parse(logged({ err: error }));
    expect(JSON.stringify(line)).not.toContain(NAME);
    expect(JSON.stringify(line)).not.toContain(number);
    expect(line.err).toMatchObject({ code: '23514', constraint: 'x', table: 'pupil_list_rows', message: expect.stringContaining('violates check constraint') });
  });

  it('redacts the names and numbers of a D03-TS list\'s rows', () => {
    const line = logged({ row: { stt: 1, hoTen: NAME, soDinhDanh: number, maSoBhxh: '0825000123', ngaySinh: '01/09/2015', diaChi: 'Số 5, tổ 3, phường Phan Thiết' } });
    expect(line).not.toContain(NAME);
    expect(line).not.toContain('0825000123');
    expect(line).not.toContain('01/09/2015');
    expect(line).not.toContain('Phan Thiết');
  });

  it('redacts a card request\'s person, new values and delivery address, and its CAP_LAI_THE changes', () => {
    const line = logged({
      request: { lyDo: 'thay_doi_thong_tin', nguoi: { hoTen: NAME, soDinhDanh: number }, thayDoi: { hoTen: 'Lê Thị Mới' }, diaChiNhanThe: 'Số 9, phường Phan Thiết' },
      record: { NOI_DUNG_THAY_DOI: [{ TRUONG: 'HO_TEN', GIA_TRI_MOI: 'LÊ THỊ MỚI' }] },
      change: { TRUONG: 'HO_TEN', GIA_TRI_MOI: 'LÊ THỊ MỚI' },
    });
    for (const text of [NAME, number, 'Lê Thị Mới', 'LÊ THỊ MỚI', 'Phan Thiết']) expect(line).not.toContain(text);
    expect(line).toContain('thay_doi_thong_tin');
  });

  it('keeps what is not personal, so the redaction is not simply dropping everything', () => {
    const line = JSON.parse(logged({ transfer: { id: 'tr-1', status: 'queued', document: doc } }));
    expect(line.transfer).toEqual({ id: 'tr-1', status: 'queued', document: '[redacted]' });
  });

  it('redacts the Authorization header of a logged request', () => {
    const line = logged({ req: { method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { authorization: 'Bearer key-secret-123456' } } });
    expect(line).not.toContain('key-secret-123456');
    expect(line).toContain('/ngsp/v1/khai-sinh');
  });
});
