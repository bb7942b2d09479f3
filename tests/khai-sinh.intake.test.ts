import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hoSoMotCua, khaiTuOf } from './support/death-fixtures.js';
import { khaiSinh, toSoapEnvelope, toXml } from './support/fixtures.js';
import { countRows, startTestGateway, type TestGateway } from './support/gateway.js';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway?.close();
});

const postJson = (doc: unknown, as: 'registry08' | 'registry08b' = 'registry08') =>
  gateway.request(as, { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc as object });

describe('KhaiSinh intake', () => {
  it('accepts a complete birth as queued, stores it with its card dossier and an audit event', async () => {
    const doc = khaiSinh();
    const response = await postJson(doc);
    expect(response.statusCode).toBe(202);
    const answer = response.json();
    expect(answer).toEqual({ transferId: expect.any(String), messageId: doc.messageId, status: 'queued' });

    const read = await gateway.request('registry08', { method: 'GET', url: `/ngsp/v1/transfers/${answer.transferId}` });
    expect(read.statusCode).toBe(200);
    const transfer = read.json();
    expect(transfer.status).toBe('queued');
    expect(transfer.bhxhDocument).toMatchObject({
      MA_HO_SO: answer.transferId,
      SO_DINH_DANH: doc.hoTich.soDinhDanh,
      HO_TEN: 'NGUYỄN THỊ ÁNH',
      NGAY_SINH: '20250301',
      GT_THE_TU: '20250301',
      GT_THE_DEN: '20310930',
      HO_TEN_GIAM_HO: 'TRẦN THỊ BÌNH',
      QUAN_HE_GIAM_HO: 'ME',
      HINH_THUC_NHAN_THE: 2,
    });
    expect(transfer.history).toEqual([
      expect.objectContaining({ action: 'khai-sinh.accepted', fromStatus: null, toStatus: 'queued', actor: 'hotich-08' }),
    ]);
  });

  it('keeps a birth without its BHYT part as received and lists what is missing', async () => {
    const response = await postJson(khaiSinh({ bhyt: null }));
    expect(response.statusCode).toBe(202);
    expect(response.json().status).toBe('received');
    const read = await gateway.request('registry08', { method: 'GET', url: `/ngsp/v1/transfers/${response.json().transferId}` });
    expect(read.json()).toMatchObject({ status: 'received', bhxhDocument: null, missing: ['/bhyt/noiDangKyKCB', '/bhyt/hinhThucNhanThe'] });
  });

  it('answers the same message again with 200 and the first answer, storing nothing new', async () => {
    const doc = khaiSinh();
    const first = await postJson(doc);
    const before = await countRows(gateway.db, 'transfers');
    const again = await postJson(doc);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect(await countRows(gateway.db, 'transfers')).toBe(before);
  });

  it('refuses the same messageId with other content as DUPLICATE_MESSAGE', async () => {
    const doc = khaiSinh();
    await postJson(doc);
    const changed = { ...doc, hoTich: { ...doc.hoTich, soDangKy: '999' } };
    const response = await postJson(changed);
    expect(response.statusCode).toBe(409);
    expect(response.json().error.code).toBe('DUPLICATE_MESSAGE');
  });

  it('treats the same messageId from another client as another message', async () => {
    const doc = khaiSinh();
    await postJson(doc, 'registry08');
    const response = await postJson(doc, 'registry08b');
    // Same person, so the second is a duplicate person, not an idempotent repeat.
    expect(response.statusCode).toBe(409);
    expect(response.json().error.code).toBe('DUPLICATE_PERSON');
  });

  it('answers concurrent copies of one message with one 202 and the rest 200, one transfer', async () => {
    const doc = khaiSinh();
    const before = await countRows(gateway.db, 'transfers');
    const responses = await Promise.all(Array.from({ length: 12 }, () => postJson(doc)));
    const codes = responses.map((response) => response.statusCode).sort();
    expect(codes).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 202]);
    expect(new Set(responses.map((response) => response.json().transferId)).size).toBe(1);
    expect(await countRows(gateway.db, 'transfers')).toBe(before + 1);
  });

  it('gives the same transfer for the same document through JSON, XML and SOAP', async () => {
    const doc = khaiSinh();
    const json = await postJson(doc);
    expect(json.statusCode).toBe(202);
    const xml = await gateway.request('registry08', {
      method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'application/xml' }, payload: toXml('KhaiSinh', doc),
    });
    expect(xml.statusCode).toBe(200);
    expect(xml.json()).toEqual(json.json());
    const soap = await gateway.request('registry08', {
      method: 'POST', url: '/ngsp/soap', headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: 'urn:lienthong:ngsp:v1#GuiKhaiSinh' },
      payload: toSoapEnvelope('KhaiSinh', doc),
    });
    expect(soap.statusCode).toBe(200);
    expect(soap.body).toContain(`<transferId>${json.json().transferId}</transferId>`);
  });
});

describe('a repeat is answered as first answered, whatever happened since', () => {
  it('answers a retried birth 200 even after its person\'s death was registered', async () => {
    const birth = khaiSinh();
    const first = await postJson(birth);
    expect(first.statusCode).toBe(202);
    const death = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-tu', payload: khaiTuOf(birth) });
    expect(death.statusCode).toBe(202);
    const retry = await postJson(birth);
    expect(retry.statusCode).toBe(200);
    expect(retry.json()).toEqual(first.json());
  });

  it('answers a retried birth 200 when a new birth for the same person arrives with it', async () => {
    const birth = khaiSinh();
    const first = await postJson(birth);
    const other = { ...birth, messageId: `${birth.messageId}-other` };
    const [retry, second] = await Promise.all([postJson(birth), postJson(other)]);
    expect(retry.statusCode).toBe(200);
    expect(retry.json()).toEqual(first.json());
    expect(second.statusCode).toBe(409);
    expect(second.json().error.code).toBe('DUPLICATE_PERSON');
  });
});

describe('a one-stop dossier stays in its province', () => {
  it('never completes a birth registered in another province, even with the same child\'s number', async () => {
    const birth01 = khaiSinh({
      maDonVi: '00004',
      bhyt: { noiDangKyKCB: '01001', hinhThucNhanThe: 'tai_tru_so' },
      hoTich: { noiDangKy: { maTinh: '01', maXa: '00004' }, nycNoiCuTru: undefined },
    });
    const accepted = await gateway.request('registry01', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: birth01 });
    expect(accepted.statusCode).toBe(202);
    const dossier = hoSoMotCua({ hoTich: { soDinhDanh: birth01.hoTich.soDinhDanh } });
    const response = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/mot-cua', payload: dossier });
    expect(response.statusCode).toBe(202);
    expect(response.json().transferId).not.toBe(accepted.json().transferId);
    expect(response.json().status).toBe('received');
    const untouched = await gateway.request('registry01', { method: 'GET', url: `/ngsp/v1/transfers/${accepted.json().transferId}` });
    expect(untouched.json().document.hoTich.nycNoiCuTru).toBeUndefined();
    expect(untouched.json().history).toHaveLength(1);
  });
});
