import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FacilityCatalogue } from '../src/catalogues/facility-catalogue.js';
import { UnitCatalogue } from '../src/catalogues/unit-catalogue.js';
import { mustParseCalendarDate } from '../src/domain/calendar-date.js';
import type { GatewayError } from '../src/errors.js';
import { checkCapLaiThe } from '../src/messages/reissue/rules.js';
import { asDuplicateRequest } from '../src/messages/reissue/standing.js';
import { newId } from '../src/domain/ids.js';
import { insertTransferInTx } from '../src/store/transfers.js';
import { packagePath } from '../src/package-files.js';
import { khaiTu } from './support/death-fixtures.js';
import { khaiSinh, personalNumber, toSoapEnvelope, toXml } from './support/fixtures.js';
import { countRows, startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';
import { capLaiThe, maSoBhxh, thayDoiThongTin } from './support/reissue-fixtures.js';

/**
 * CapLaiThe intake (docs/API.md, "Card re-issue and change"; docs/DOMAIN.md, "Card re-issue and
 * change"): each door, each rule, the due date in the answer, and nothing stored on a refusal.
 * TEST_NOW is Thursday 20.03.2025, 10:00 in Vietnam.
 */

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway({
    facilities: FacilityCatalogue.fromData({ facilities: [{ code: '08001', name: 'Bệnh viện Đa khoa tỉnh' }] }),
  });
});
afterAll(async () => {
  await gateway?.close();
});

const post = (doc: unknown, as: ClientName = 'reissue08') =>
  gateway.request(as, { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: doc as object });

const postXml = (doc: unknown, as: ClientName = 'reissue08') =>
  gateway.request(as, {
    method: 'POST', url: '/ngsp/v1/cap-lai-the', headers: { 'content-type': 'application/xml' }, payload: toXml('CapLaiThe', doc),
  });

const postSoap = (doc: unknown, as: ClientName = 'reissue08') =>
  gateway.request(as, {
    method: 'POST', url: '/ngsp/soap',
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: 'urn:lienthong:ngsp:v1#GuiCapLaiThe' },
    payload: toSoapEnvelope('CapLaiThe', doc),
  });

const read = async (transferId: string) => {
  const response = await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${transferId}` });
  expect(response.statusCode).toBe(200);
  return response.json();
};

async function storedCounts() {
  return {
    transfers: await countRows(gateway.db, 'transfers'),
    inbound: await countRows(gateway.db, 'inbound_messages'),
    audit: await countRows(gateway.db, 'audit_events'),
  };
}

/** Sends `doc`, expects the refusal, and that nothing was stored. */
async function expectRefused(doc: unknown, code: string, details: Array<{ path: string; code: string }>, as: ClientName = 'reissue08') {
  const before = await storedCounts();
  const response = await post(doc, as);
  expect(response.json().error?.code, response.body).toBe(code);
  expect(response.json().error.details).toEqual(details.map((detail) => expect.objectContaining(detail)));
  expect(await storedCounts()).toEqual(before);
  return response;
}

function soapField(body: string, name: string): string | undefined {
  return new RegExp(`<(?:[\\w.-]+:)?${name}>([^<]*)</(?:[\\w.-]+:)?${name}>`).exec(body)?.[1];
}

describe('CapLaiThe accepted at each door', () => {
  it('JSON: a lost card is queued, due the same working day, with its CAP_LAI_THE record and an audit event', async () => {
    const doc = capLaiThe();
    const response = await post(doc);
    expect(response.statusCode, response.body).toBe(202);
    const answer = response.json();
    expect(answer).toEqual({ transferId: expect.any(String), messageId: doc.messageId, status: 'queued', hanTra: '2025-03-20' });

    const transfer = await read(answer.transferId);
    expect(transfer).toMatchObject({
      type: 'CAP_LAI_THE', status: 'queued', maTinh: '08', maDonVi: '08BHXH071', reason: 'mat', hanTra: '2025-03-20', missing: [], card: null,
    });
    expect(transfer.bhxhDocument).toEqual({
      MA_HO_SO: answer.transferId,
      SO_DINH_DANH: doc.nguoi.soDinhDanh,
      MA_SO_BHXH: doc.nguoi.maSoBhxh,
      MA_THE: doc.maThe,
      HO_TEN: 'NGUYỄN VĂN BÌNH',
      NGAY_SINH: '19900512',
      GIOI_TINH: 1,
      LY_DO: 1,
      MA_CO_QUAN_TIEP_NHAN: '08BHXH071',
      HINH_THUC_NHAN_THE: 1,
      HAN_TRA: '20250320',
    });
    expect(transfer.history).toEqual([
      expect.objectContaining({ actor: 'tkcl-08', action: 'cap-lai-the.accepted', fromStatus: null, toStatus: 'queued', details: { door: 'rest-json', lyDo: 'mat', hanTra: '2025-03-20' } }),
    ]);
  });

  it('the same messageId again is answered as first, nothing stored twice', async () => {
    const doc = capLaiThe({ lyDo: 'hong' });
    const first = await post(doc);
    expect(first.statusCode).toBe(202);
    const before = await storedCounts();
    const again = await post(doc);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect(await storedCounts()).toEqual(before);
  });

  it('XML (root CapLaiThe) is the same document: queued with its due date', async () => {
    const doc = thayDoiThongTin({ thayDoi: { diaChi: { maTinh: '08', maHuyen: '071', maXa: '02230', dcChiTiet: 'Thôn Đồng Cầu' } } });
    const response = await postXml(doc, 'correction08');
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json()).toMatchObject({ status: 'queued', hanTra: '2025-03-25' });
    const transfer = await read(response.json().transferId);
    expect(transfer.bhxhDocument.NOI_DUNG_THAY_DOI).toEqual([
      { TRUONG: 'MA_TINH', GIA_TRI_MOI: '08' }, { TRUONG: 'MA_HUYEN', GIA_TRI_MOI: '071' },
      { TRUONG: 'MA_XA', GIA_TRI_MOI: '02230' }, { TRUONG: 'DIA_CHI', GIA_TRI_MOI: 'Thôn Đồng Cầu' },
    ]);
    expect(transfer.bhxhDocument).toMatchObject({ LY_DO: 3, HAN_TRA: '20250325' });
    expect(transfer.history[0].details.door).toBe('rest-xml');
  });

  it('an XML body under another root is refused', async () => {
    const response = await gateway.request('reissue08', {
      method: 'POST', url: '/ngsp/v1/cap-lai-the', headers: { 'content-type': 'application/xml' }, payload: toXml('KhaiSinh', capLaiThe()),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details[0]).toMatchObject({ code: 'XML_ROOT' });
  });

  it('SOAP GuiCapLaiThe: queued, the answer carrying hanTra', async () => {
    const doc = thayDoiThongTin();
    const response = await postSoap(doc, 'correction08');
    expect(response.statusCode, response.body).toBe(200);
    expect(soapField(response.body, 'status')).toBe('queued');
    expect(soapField(response.body, 'hanTra')).toBe('2025-03-25');
    const transfer = await read(soapField(response.body, 'transferId') as string);
    expect(transfer).toMatchObject({ type: 'CAP_LAI_THE', reason: 'thay_doi_thong_tin' });
    expect(transfer.bhxhDocument.NOI_DUNG_THAY_DOI).toEqual([
      { TRUONG: 'HO_TEN', GIA_TRI_MOI: 'NGUYỄN VĂN BÌNH AN' }, { TRUONG: 'MA_DKBD', GIA_TRI_MOI: '08001' },
    ]);
  });

  it('SOAP refuses a rule as a Fault with the same code', async () => {
    const response = await postSoap(capLaiThe({ thayDoi: { hoTen: 'Nguyễn Văn Bình An' } }));
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('soap:Client.VALIDATION_FAILED');
    expect(response.body).toContain('NOT_ALLOWED');
  });

  it('the WSDL offers GuiCapLaiThe', async () => {
    const response = await gateway.request(null, { method: 'GET', url: '/ngsp/soap?wsdl' });
    expect(response.body).toContain('<operation name="GuiCapLaiThe">');
    expect(response.body).toContain('<xsd:element name="CapLaiThe">');
  });
});

describe('CapLaiThe rules', () => {
  it('a change needs thayDoi', async () => {
    await expectRefused(capLaiThe({ lyDo: 'thay_doi_thong_tin' }), 'VALIDATION_FAILED', [{ path: '/thayDoi', code: 'REQUIRED' }], 'correction08');
  });

  it('a lost or damaged card takes no new values', async () => {
    for (const lyDo of ['mat', 'hong']) {
      await expectRefused(capLaiThe({ lyDo, thayDoi: { hoTen: 'Nguyễn Văn Bình An' } }), 'VALIDATION_FAILED', [{ path: '/thayDoi', code: 'NOT_ALLOWED' }]);
    }
  });

  it('an empty thayDoi is refused by the schema', async () => {
    await expectRefused(thayDoiThongTin({ thayDoi: {} }), 'VALIDATION_FAILED', [{ path: '/thayDoi', code: 'MINPROPERTIES' }], 'correction08');
  });

  it('the person needs a personal number or a BHXH number', async () => {
    await expectRefused(capLaiThe({ nguoi: { soDinhDanh: undefined, maSoBhxh: undefined }, maThe: undefined }), 'VALIDATION_FAILED', [
      { path: '/nguoi/soDinhDanh', code: 'PERSON_UNIDENTIFIED' },
    ]);
  });

  it('a BHXH number alone is enough', async () => {
    const response = await post(capLaiThe({ nguoi: { soDinhDanh: undefined } }));
    expect(response.statusCode, response.body).toBe(202);
    expect((await read(response.json().transferId)).bhxhDocument).not.toHaveProperty('SO_DINH_DANH');
  });

  it('the personal number must agree with the birth date and sex', async () => {
    await expectRefused(capLaiThe({ nguoi: { gioiTinh: 2 } }), 'VALIDATION_FAILED', [{ path: '/nguoi/soDinhDanh', code: 'PERSONAL_NUMBER_MISMATCH' }]);
  });

  it('with the values the card will carry: a change that corrects the sex to what the number says is taken', async () => {
    const woman = personalNumber('008', 90, 1);
    const refused = thayDoiThongTin({ nguoi: { soDinhDanh: woman }, thayDoi: { hoTen: 'Nguyễn Thị Bình' } });
    await expectRefused(refused, 'VALIDATION_FAILED', [{ path: '/nguoi/soDinhDanh', code: 'PERSONAL_NUMBER_MISMATCH' }], 'correction08');
    const corrected = thayDoiThongTin({ nguoi: { soDinhDanh: woman }, thayDoi: { hoTen: 'Nguyễn Thị Bình', gioiTinh: 2 } });
    expect((await post(corrected, 'correction08')).statusCode).toBe(202);
  });

  it('dates are real and not in the future', async () => {
    await expectRefused(capLaiThe({ nguoi: { ngaySinh: '31.02.1990' } }), 'VALIDATION_FAILED', [{ path: '/nguoi/ngaySinh', code: 'FORMAT' }]);
    await expectRefused(thayDoiThongTin({ thayDoi: { ngaySinh: '01.01.2026' } }), 'VALIDATION_FAILED', [
      { path: '/thayDoi/ngaySinh', code: 'DATE_IN_FUTURE' }, { path: '/nguoi/soDinhDanh', code: 'PERSONAL_NUMBER_MISMATCH' },
    ], 'correction08');
  });

  it('a new facility must be in the province\'s list', async () => {
    await expectRefused(thayDoiThongTin({ thayDoi: { noiDangKyKCB: '08999' } }), 'VALIDATION_FAILED', [
      { path: '/thayDoi/noiDangKyKCB', code: 'FACILITY_UNKNOWN' },
    ], 'correction08');
  });

  it('names are stored in NFC whatever form they came in', async () => {
    const doc = thayDoiThongTin({ thayDoi: { hoTen: 'Nguyễn Văn Bình An'.normalize('NFD') } });
    const response = await post(doc, 'correction08');
    expect(response.statusCode, response.body).toBe(202);
    const transfer = await read(response.json().transferId);
    expect(transfer.document.thayDoi.hoTen).toBe('Nguyễn Văn Bình An'.normalize('NFC'));
  });

  it('the old card must be the person\'s: it ends with the BHXH number', async () => {
    await expectRefused(capLaiThe({ maThe: 'GD4080899999999' }), 'VALIDATION_FAILED', [{ path: '/maThe', code: 'CARD_MISMATCH' }]);
  });

  it('the office is one of the province\'s: its code begins with the province\'s', async () => {
    await expectRefused(capLaiThe({ maCoQuan: '01BHXH001' }), 'VALIDATION_FAILED', [{ path: '/maCoQuan', code: 'OFFICE_NOT_OF_PROVINCE' }]);
  });

  it('a new address must be a place of the unit list in force', async () => {
    const response = await expectRefused(
      thayDoiThongTin({ thayDoi: { diaChi: { maTinh: '99', maXa: '99001', dcChiTiet: 'Thôn Đồng Cầu' } } }),
      'UNIT_NOT_CONFIGURED', [{ path: '/thayDoi/diaChi/maTinh', code: 'UNIT_NOT_CONFIGURED' }], 'correction08',
    );
    expect(response.statusCode).toBe(422);
  });

  it('the province must be in the unit list in force that day (province 02 merged on 01.07.2025)', () => {
    const catalogues = {
      units: UnitCatalogue.fromFile(packagePath('catalogues', 'units.json')),
      facilities: FacilityCatalogue.fromData({ facilities: [] }),
    };
    const doc = capLaiThe({ maTinh: '02', maCoQuan: '02BHXH001' });
    expect(() => checkCapLaiThe(doc, catalogues, mustParseCalendarDate('30.06.2025'))).not.toThrow();
    let refusal: GatewayError | undefined;
    try {
      checkCapLaiThe(doc, catalogues, mustParseCalendarDate('01.07.2025'));
    } catch (error) {
      refusal = error as GatewayError;
    }
    expect(refusal).toMatchObject({ code: 'UNIT_NOT_CONFIGURED', details: [expect.objectContaining({ path: '/maTinh', code: 'UNIT_NOT_CONFIGURED' })] });
  });

  it('a card by post needs the address to send it to', async () => {
    await expectRefused(capLaiThe({ hinhThucNhanThe: 'buu_chinh' }), 'VALIDATION_FAILED', [{ path: '/diaChiNhanThe', code: 'REQUIRED' }]);
    expect((await post(capLaiThe({ hinhThucNhanThe: 'buu_chinh', diaChiNhanThe: 'Số 5, phường Minh Xuân' }))).statusCode).toBe(202);
  });

  it('a second open request for the same person and reason group is refused, by either number; a change is its own group', async () => {
    const first = capLaiThe();
    const firstResponse = await post(first);
    expect(firstResponse.statusCode).toBe(202);
    const again = await expectRefused({ ...capLaiThe({ nguoi: first.nguoi, maThe: first.maThe }) }, 'DUPLICATE_REQUEST', [
      { path: '/nguoi/soDinhDanh', code: 'DUPLICATE_REQUEST' },
    ], 'reissue08b');
    expect(again.statusCode).toBe(409);
    expect(again.json().error.details[0].message).toContain(firstResponse.json().transferId);
    await expectRefused(capLaiThe({ nguoi: { ...first.nguoi, soDinhDanh: undefined }, maThe: first.maThe }), 'DUPLICATE_REQUEST', [
      { path: '/nguoi/maSoBhxh', code: 'DUPLICATE_REQUEST' },
    ]);
    // A lost and a damaged card are one group: either would print the person a second new card.
    await expectRefused(capLaiThe({ lyDo: 'hong', nguoi: first.nguoi, maThe: first.maThe }), 'DUPLICATE_REQUEST', [
      { path: '/nguoi/soDinhDanh', code: 'DUPLICATE_REQUEST' },
    ]);
    expect((await post(thayDoiThongTin({ nguoi: first.nguoi, maThe: first.maThe }), 'correction08')).statusCode).toBe(202);
  });

  it('the open request is named only to a client that may read it', async () => {
    const first = capLaiThe();
    const firstId = (await post(first)).json().transferId as string;
    const mine = await post(capLaiThe({ lyDo: 'hong', nguoi: first.nguoi, maThe: first.maThe }), 'reissue08b');
    expect(mine.json().error.details[0].message).toContain(firstId);
    // Province 01's office may not read 08's request: told there is one, not which.
    const elsewhere = await expectRefused(capLaiThe({ maTinh: '01', maCoQuan: '01BHXH001', nguoi: first.nguoi, maThe: first.maThe }), 'DUPLICATE_REQUEST', [
      { path: '/nguoi/soDinhDanh', code: 'DUPLICATE_REQUEST' },
    ], 'reissue01');
    expect(elsewhere.body).not.toContain(firstId);
  });

  it('two requests naming one person by different numbers are one person\'s: the number missing is taken from the old card or an earlier request', async () => {
    // By personal number and old card, then by BHXH number alone: the card code ends with the BHXH number.
    const first = capLaiThe();
    expect((await post(capLaiThe({ nguoi: { ...first.nguoi, maSoBhxh: undefined }, maThe: first.maThe }))).statusCode).toBe(202);
    await expectRefused(capLaiThe({ lyDo: 'hong', nguoi: { ...first.nguoi, soDinhDanh: undefined }, maThe: undefined }), 'DUPLICATE_REQUEST', [
      { path: '/nguoi/maSoBhxh', code: 'DUPLICATE_REQUEST' },
    ]);

    // Neither gives the other number, but a change asked for earlier gave both.
    const other = capLaiThe();
    expect((await post(thayDoiThongTin({ nguoi: other.nguoi, maThe: other.maThe }), 'correction08')).statusCode).toBe(202);
    const byNumber = await post(capLaiThe({ nguoi: { ...other.nguoi, maSoBhxh: undefined }, maThe: undefined }));
    expect(byNumber.statusCode, byNumber.body).toBe(202);
    await expectRefused(capLaiThe({ lyDo: 'hong', nguoi: { ...other.nguoi, soDinhDanh: undefined }, maThe: undefined }), 'DUPLICATE_REQUEST', [
      { path: '/nguoi/maSoBhxh', code: 'DUPLICATE_REQUEST' },
    ]);
    expect((await read(byNumber.json().transferId)).document.nguoi.maSoBhxh).toBeUndefined();
  });

  it('the database holds one open request per person and reason group too: what slips past the check is DUPLICATE_REQUEST', async () => {
    // Stored as no intake would (no check, no lock), as a writer that raced past the check would.
    const store = (personal: string, bhxh: string | undefined, reason: string) => gateway.db.transaction(async (tx) => {
      const id = newId();
      await insertTransferInTx(tx, {
        id, type: 'CAP_LAI_THE', clientId: 'tkcl-08', messageId: id, status: 'queued', maTinh: '08', maDonVi: '08BHXH071',
        soDinhDanh: personal, maSoBhxh: bhxh, document: {}, missing: [], bhxhDocument: {}, reason, dueOn: '2025-03-20',
      }, { actor: 'test', action: 'test.stored' });
    });
    const refusalOf = async (attempt: Promise<void>) => {
      const error = await attempt.then(() => null, (caught: unknown) => caught);
      return asDuplicateRequest(error, '/nguoi/soDinhDanh');
    };
    const first = capLaiThe();
    const bhxh = first.nguoi.maSoBhxh as string;
    await store('', bhxh, 'mat');
    expect(await refusalOf(store('', bhxh, 'hong'))).toMatchObject({ code: 'DUPLICATE_REQUEST' });
    await store(first.nguoi.soDinhDanh as string, undefined, 'hong');
    expect(await refusalOf(store(first.nguoi.soDinhDanh as string, undefined, 'mat'))).toMatchObject({ code: 'DUPLICATE_REQUEST' });
    // A change is a group of its own.
    await store(first.nguoi.soDinhDanh as string, bhxh, 'thay_doi_thong_tin');
  });

  it('10 pairs at once, one of each pair by personal number and one by BHXH number: one of each pair is taken, the other refused', async () => {
    const people = Array.from({ length: 10 }, () => capLaiThe());
    const responses = await Promise.all(people.flatMap((person) => [
      post(capLaiThe({ nguoi: { ...person.nguoi, maSoBhxh: undefined }, maThe: person.maThe })),
      post(capLaiThe({ lyDo: 'hong', nguoi: { ...person.nguoi, soDinhDanh: undefined }, maThe: undefined }), 'reissue08b'),
    ]));
    for (let pair = 0; pair < people.length; pair += 1) {
      const codes = [responses[2 * pair]?.statusCode, responses[2 * pair + 1]?.statusCode].sort();
      expect(codes).toEqual([202, 409]);
    }
    expect(responses.filter((response) => response.statusCode === 409).map((response) => response.json().error.code)).toEqual(Array(10).fill('DUPLICATE_REQUEST'));
  });

  it('no card for a person whose death is registered, named by personal number or by BHXH number', async () => {
    const bhxh = maSoBhxh();
    const death = khaiTu({ hoTich: { nktMaSoBHXH: bhxh } });
    expect((await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-tu', payload: death })).statusCode).toBe(202);
    const person = { soDinhDanh: death.hoTich.nktSoDDCN, ngaySinh: '12.05.1950', hoTen: 'Đặng Văn Ẩn', gioiTinh: 1 };
    const byNumber = await expectRefused(capLaiThe({ nguoi: { ...person, maSoBhxh: undefined }, maThe: undefined }), 'PERSON_DECEASED', [
      { path: '/nguoi/soDinhDanh', code: 'PERSON_DECEASED' },
    ]);
    expect(byNumber.statusCode).toBe(409);
    await expectRefused(capLaiThe({ nguoi: { ...person, soDinhDanh: undefined, maSoBhxh: bhxh }, maThe: undefined }), 'PERSON_DECEASED', [
      { path: '/nguoi/maSoBhxh', code: 'PERSON_DECEASED' },
    ]);
  });
});

describe('correcting a card request (PATCH /ngsp/v1/cap-lai-the/{transferId})', () => {
  const patch = (transferId: string, body: unknown, as: ClientName = 'reissue08') =>
    gateway.request(as, { method: 'PATCH', url: `/ngsp/v1/cap-lai-the/${transferId}`, payload: body as object });

  async function queued(doc = capLaiThe(), as: ClientName = 'reissue08'): Promise<string> {
    const response = await post(doc, as);
    expect(response.statusCode, response.body).toBe(202);
    return response.json().transferId;
  }

  it('a queued request: the record is made again from the merged request, its due date kept, the change audited', async () => {
    const transferId = await queued();
    const response = await patch(transferId, { nguoi: { hoTen: 'Nguyễn Văn Bính' }, hinhThucNhanThe: 'buu_chinh', diaChiNhanThe: 'Số 5, phường Minh Xuân' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      status: 'queued', hanTra: '2025-03-20',
      bhxhDocument: { HO_TEN: 'NGUYỄN VĂN BÍNH', HINH_THUC_NHAN_THE: 2, DIA_CHI_NHAN_THE: 'Số 5, phường Minh Xuân', HAN_TRA: '20250320' },
    });
    expect(response.json().history.at(-1)).toMatchObject({ action: 'cap-lai-the.corrected', details: { fields: ['/nguoi', '/hinhThucNhanThe', '/diaChiNhanThe'] } });
  });

  it('the same correction as XML (application/xml, root CapLaiThe) is applied as JSON would be; another root is refused', async () => {
    const transferId = await queued(thayDoiThongTin(), 'correction08');
    const xmlPatch = (root: string) => gateway.request('correction08', {
      method: 'PATCH', url: `/ngsp/v1/cap-lai-the/${transferId}`, headers: { 'content-type': 'application/xml' },
      payload: toXml(root, { thayDoi: { gioiTinh: 1, hoTen: 'Nguyễn Văn Bính' }, hinhThucNhanThe: 'buu_chinh', diaChiNhanThe: 'Số 5, phường Minh Xuân' }),
    });
    const wrong = await xmlPatch('KhaiSinh');
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.details[0]).toMatchObject({ code: 'XML_ROOT' });
    const response = await xmlPatch('CapLaiThe');
    expect(response.statusCode, response.body).toBe(200);
    const transfer = await read(transferId);
    // XML carries text; the one validator coerces it as at intake.
    expect(transfer.document.thayDoi).toMatchObject({ gioiTinh: 1, hoTen: 'Nguyễn Văn Bính', noiDangKyKCB: '08001' });
    expect(transfer.bhxhDocument).toMatchObject({ HINH_THUC_NHAN_THE: 2, DIA_CHI_NHAN_THE: 'Số 5, phường Minh Xuân' });
    expect(transfer.history.at(-1)).toMatchObject({ action: 'cap-lai-the.corrected' });
  });

  it('is checked as at intake, and a refusal changes nothing', async () => {
    const transferId = await queued();
    const before = await read(transferId);
    const refused = await patch(transferId, { thayDoi: { hoTen: 'Nguyễn Văn Bình An' } });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.details).toEqual([expect.objectContaining({ path: '/thayDoi', code: 'NOT_ALLOWED' })]);
    expect((await read(transferId)).history).toEqual(before.history);
  });

  it('cannot change the reason or the province: a different one is a new request', async () => {
    const transferId = await queued();
    for (const body of [{ lyDo: 'hong' }, { maTinh: '01' }]) {
      const response = await patch(transferId, body);
      expect(response.statusCode).toBe(400);
      expect(response.json().error.details[0]).toMatchObject({ code: 'ADDITIONALPROPERTIES' });
    }
  });

  it('cannot make it a second open request for another person', async () => {
    const other = capLaiThe();
    await queued(other);
    const transferId = await queued();
    const response = await patch(transferId, { nguoi: other.nguoi, maThe: other.maThe });
    expect(response.statusCode).toBe(409);
    expect(response.json().error.code).toBe('DUPLICATE_REQUEST');
  });

  it('only a card request, and only one the client may read', async () => {
    const birth = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
    expect((await patch(birth.json().transferId, { maCoQuan: '08BHXH070' }, 'operator')).statusCode).toBe(404);
    const change = await queued(thayDoiThongTin(), 'correction08');
    expect((await patch(change, { maCoQuan: '08BHXH070' }, 'reissue08')).statusCode).toBe(404);
    expect((await patch(change, { maCoQuan: '08BHXH070' }, 'reissue01')).statusCode).toBe(404);
    expect((await patch(change, { maCoQuan: '08BHXH070' }, 'correction08')).statusCode).toBe(200);
  });
});

describe('a death registered after a card request', () => {
  it('stops the person\'s requests not yet with BHXH, found by either number: they end deceased', async () => {
    const bhxh = maSoBhxh();
    const death = khaiTu({ hoTich: { nktMaSoBHXH: bhxh } });
    const person = { ngaySinh: '12.05.1950', hoTen: 'Đặng Văn Ẩn', gioiTinh: 1 };
    const byNumber = await post(capLaiThe({ nguoi: { ...person, soDinhDanh: death.hoTich.nktSoDDCN, maSoBhxh: undefined }, maThe: undefined }));
    const byBhxhNumber = await post(thayDoiThongTin({ nguoi: { ...person, soDinhDanh: undefined, maSoBhxh: bhxh }, maThe: undefined }), 'correction08');
    const someoneElse = await post(capLaiThe());
    expect([byNumber.statusCode, byBhxhNumber.statusCode, someoneElse.statusCode]).toEqual([202, 202, 202]);

    const registered = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-tu', payload: death });
    expect(registered.statusCode, registered.body).toBe(202);
    for (const response of [byNumber, byBhxhNumber]) {
      const transfer = await read(response.json().transferId);
      expect(transfer.status).toBe('deceased');
      expect(transfer.history.at(-1)).toMatchObject({ action: 'transfer.person-deceased', details: { death: registered.json().transferId } });
    }
    expect((await read(someoneElse.json().transferId)).status).toBe('queued');
  });
});
