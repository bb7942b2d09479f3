import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KhaiSinh } from '../src/domain/documents.js';
import type { HoSoMotCua } from '../src/messages/dossier/merge.js';
import { issueCard } from '../src/dev/bhxh-simulator.js';
import { attachment, clean, DOSSIER_ADDRESS, hoSoMotCua, maHoSo } from './support/death-fixtures.js';
import { khaiSinh, toSoapEnvelope, toXml } from './support/fixtures.js';
import { countRows, startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';

/**
 * One-stop-shop dossiers (docs/DOMAIN.md, "One-stop dossiers"; docs/API.md, "HoSoMotCua"): matched
 * to their birth by maHoSo = the birth's maHoSoMCDT or by the child's soDinhDanh, whichever arrives
 * first; they supply what the civil-status record lacks (above all the declarant's address and
 * contact, and maybe the BHYT part) and never overwrite it. Registry client `hotich-08` sends
 * births, `motcua-08` dossiers.
 */

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway?.close();
});

const BIRTH_CLIENT: ClientName = 'registry08';
const DOSSIER_CLIENT: ClientName = 'registry08b';

/** A birth whose card goes to the declarant, who has no address (and no phone) in the civil-status record. */
function birthWaitingForAddress(overrides: { hoTich?: Partial<KhaiSinh['hoTich']> } & Partial<Omit<KhaiSinh, 'hoTich'>> = {}): KhaiSinh {
  const { hoTich, ...top } = overrides;
  return clean(khaiSinh({
    bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'nguoi_di_khai', hinhThucNhanThe: 'buu_chinh' },
    hoTich: { nycSoDienThoai: undefined, nycNoiCuTru: undefined, ...hoTich },
    ...top,
  }));
}

const postBirth = (doc: unknown, as: ClientName = BIRTH_CLIENT) =>
  gateway.request(as, { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc as object });

const postDossier = (doc: unknown, as: ClientName = DOSSIER_CLIENT) =>
  gateway.request(as, { method: 'POST', url: '/ngsp/v1/mot-cua', payload: doc as object });

const postDossierXml = (doc: unknown) =>
  gateway.request(DOSSIER_CLIENT, {
    method: 'POST', url: '/ngsp/v1/mot-cua', headers: { 'content-type': 'application/xml' }, payload: toXml('HoSoMotCua', doc),
  });

const postDossierSoap = (doc: unknown) =>
  gateway.request(DOSSIER_CLIENT, {
    method: 'POST', url: '/ngsp/soap',
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: 'urn:lienthong:ngsp:v1#GuiHoSoMotCua' },
    payload: toSoapEnvelope('HoSoMotCua', doc),
  });

function soapField(body: string, name: string): string | undefined {
  return new RegExp(`<(?:[\\w.-]+:)?${name}>([^<]*)</(?:[\\w.-]+:)?${name}>`).exec(body)?.[1];
}

async function read(transferId: string, on: TestGateway = gateway) {
  const response = await on.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${transferId}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

async function auditEvents(transferId: string, on: TestGateway = gateway): Promise<Array<Record<string, unknown>>> {
  const response = await on.request('auditor', { method: 'GET', url: `/audit/v1/events?transferId=${transferId}` });
  expect(response.statusCode, response.body).toBe(200);
  const body = response.json();
  return Array.isArray(body) ? body : body.events ?? body.items;
}

async function transfersOfPerson(soDinhDanh: string, on: TestGateway = gateway) {
  const { rows } = await on.db.query<{ id: string; type: string; status: string }>(
    'SELECT id, type, status FROM transfers WHERE so_dinh_danh = $1 ORDER BY id', [soDinhDanh],
  );
  return rows;
}

async function transfersOfDossier(code: string, on: TestGateway = gateway) {
  const { rows } = await on.db.query<{ id: string; type: string; status: string }>(
    'SELECT id, type, status FROM transfers WHERE ma_ho_so = $1 ORDER BY id', [code],
  );
  return rows;
}

async function storedCounts(on: TestGateway = gateway) {
  return {
    transfers: await countRows(on.db, 'transfers'),
    inbound: await countRows(on.db, 'inbound_messages'),
    audit: await countRows(on.db, 'audit_events'),
    attachments: await countRows(on.db, 'attachments'),
  };
}

describe('birth first, then its dossier', () => {
  it('(a) the birth waits in received for the declarant\'s address; the dossier completes it and it is queued', async () => {
    const birth = birthWaitingForAddress();
    const accepted = await postBirth(birth);
    expect(accepted.statusCode, accepted.body).toBe(202);
    const birthId = accepted.json().transferId;
    expect(accepted.json().status).toBe('received');
    const waiting = await read(birthId);
    expect(waiting).toMatchObject({ status: 'received', missing: ['/hoTich/nycNoiCuTru'], bhxhDocument: null });

    const file = attachment();
    const dossier = hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh }, fileDinhKem: [file.file] });
    const before = await countRows(gateway.db, 'transfers');
    const response = await postDossier(dossier);
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json()).toEqual({ transferId: birthId, messageId: dossier.messageId, status: 'queued' });
    // The dossier completed the birth: no transfer of its own.
    expect(await countRows(gateway.db, 'transfers')).toBe(before);
    expect(await transfersOfDossier(dossier.maHoSo)).toEqual([{ id: birthId, type: 'KHAI_SINH', status: 'queued' }]);

    const completed = await read(birthId);
    expect(completed.status).toBe('queued');
    expect(completed.missing).toEqual([]);
    expect(completed.document.maHoSoMCDT).toBe(dossier.maHoSo);
    expect(completed.document.hoTich).toMatchObject({ nycNoiCuTru: DOSSIER_ADDRESS, nycSoDienThoai: '0987654321' });
    expect(completed.bhxhDocument).toMatchObject({
      MA_HO_SO: birthId,
      SO_DINH_DANH: birth.hoTich.soDinhDanh,
      MA_HO_SO_MCDT: dossier.maHoSo,
      MA_TINH: DOSSIER_ADDRESS.maTinh,
      MA_HUYEN: DOSSIER_ADDRESS.maHuyen,
      MA_XA: DOSSIER_ADDRESS.maXa,
      DIA_CHI: DOSSIER_ADDRESS.dcChiTiet,
      HO_TEN_GIAM_HO: 'NGUYỄN VĂN CƯỜNG',
      QUAN_HE_GIAM_HO: 'Cha',
      HINH_THUC_NHAN_THE: 2,
      DIA_CHI_NHAN_THE: DOSSIER_ADDRESS.dcChiTiet,
      TEP_DINH_KEM: [{ LOAI: 'GKS', TEN: 'Giấy khai sinh điện tử', SHA256: file.sha256 }],
    });
    expect(completed.history).toEqual([
      expect.objectContaining({ action: 'khai-sinh.accepted', fromStatus: null, toStatus: 'received', actor: 'hotich-08' }),
      expect.objectContaining({ action: 'mot-cua.applied', fromStatus: 'received', toStatus: 'queued', actor: 'motcua-08' }),
    ]);
    expect(completed.history[1].details).toMatchObject({ maHoSo: dossier.maHoSo });
    expect(completed.history[1].details.supplied).toEqual(expect.arrayContaining(['/hoTich/nycNoiCuTru', '/hoTich/nycSoDienThoai']));

    // The file is kept by the gateway, once, under the birth, and its bytes are the ones sent.
    const { rows } = await gateway.db.query<{ transfer_id: string; sha256: string; size_bytes: number; content: Buffer; file_name: string }>(
      'SELECT transfer_id, sha256, size_bytes, content, file_name FROM attachments WHERE sha256 = $1', [file.sha256],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ transfer_id: birthId, file_name: 'giay-khai-sinh.pdf' });
    expect(Buffer.from(rows[0]?.content as Buffer).equals(Buffer.from(file.file.duLieuTepDinhKem, 'base64'))).toBe(true);

    // The dossier again: the same answer, nothing new.
    const counts = await storedCounts();
    const again = await postDossier(dossier);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(response.json());
    expect(await storedCounts()).toEqual(counts);
  });

  it('(a) an officer\'s PATCH completes a waiting birth too; a later dossier only adds what is still absent', async () => {
    const birth = birthWaitingForAddress();
    const birthId = (await postBirth(birth)).json().transferId;
    const officerAddress = { maTinh: '08', maHuyen: '070', maXa: '02215', dcChiTiet: 'Số 1, đường Tân Trào' };
    const patch = await gateway.request(BIRTH_CLIENT, {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${birthId}`, payload: { hoTich: { nycNoiCuTru: officerAddress } },
    });
    expect(patch.statusCode, patch.body).toBe(200);
    expect(patch.json()).toMatchObject({ status: 'queued', missing: [] });
    expect(patch.json().bhxhDocument.DIA_CHI).toBe(officerAddress.dcChiTiet);

    const dossier = hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh } });
    const response = await postDossier(dossier);
    expect(response.json()).toEqual({ transferId: birthId, messageId: dossier.messageId, status: 'queued' });
    const after = await read(birthId);
    expect(after.document.hoTich.nycNoiCuTru).toEqual(officerAddress);
    expect(after.document.hoTich.nycSoDienThoai).toBe('0987654321');
    expect(after.bhxhDocument).toMatchObject({ DIA_CHI: officerAddress.dcChiTiet, MA_HO_SO_MCDT: dossier.maHoSo });
  });
});

describe('dossier first, then its birth', () => {
  it('(b) the dossier waits as its own transfer; the birth arrives complete and queued, the dossier merged', async () => {
    const birth = birthWaitingForAddress();
    const file = attachment();
    const dossier = hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh }, fileDinhKem: [file.file] });
    const response = await postDossier(dossier);
    expect(response.statusCode, response.body).toBe(202);
    const dossierId = response.json().transferId;
    expect(response.json()).toEqual({ transferId: dossierId, messageId: dossier.messageId, status: 'received' });
    const waiting = await read(dossierId);
    expect(waiting).toMatchObject({ type: 'HO_SO_MOT_CUA', status: 'received', bhxhDocument: null });
    expect(waiting.history).toEqual([expect.objectContaining({ action: 'mot-cua.waiting', fromStatus: null, toStatus: 'received' })]);
    // The dossier's own client sees it too (answers name transfers the client may read).
    expect((await gateway.request(DOSSIER_CLIENT, { method: 'GET', url: `/ngsp/v1/transfers/${dossierId}` })).statusCode).toBe(200);

    const accepted = await postBirth(birth);
    expect(accepted.statusCode, accepted.body).toBe(202);
    const birthId = accepted.json().transferId;
    expect(birthId).not.toBe(dossierId);
    expect(accepted.json().status).toBe('queued');

    const completed = await read(birthId);
    expect(completed).toMatchObject({ type: 'KHAI_SINH', status: 'queued', missing: [] });
    expect(completed.document.maHoSoMCDT).toBe(dossier.maHoSo);
    expect(completed.document.hoTich).toMatchObject({ nycNoiCuTru: DOSSIER_ADDRESS, nycSoDienThoai: '0987654321' });
    expect(completed.bhxhDocument).toMatchObject({
      MA_HO_SO: birthId, MA_HO_SO_MCDT: dossier.maHoSo, DIA_CHI: DOSSIER_ADDRESS.dcChiTiet,
      TEP_DINH_KEM: [{ LOAI: 'GKS', TEN: 'Giấy khai sinh điện tử', SHA256: file.sha256 }],
    });
    expect(completed.history).toEqual([
      expect.objectContaining({ action: 'khai-sinh.accepted', fromStatus: null, toStatus: 'queued', details: expect.objectContaining({ dossiers: [dossierId] }) }),
    ]);

    const merged = await read(dossierId);
    expect(merged.status).toBe('merged');
    expect(merged.history).toEqual([
      expect.objectContaining({ action: 'mot-cua.waiting', toStatus: 'received' }),
      expect.objectContaining({ action: 'mot-cua.merged', fromStatus: 'received', toStatus: 'merged', details: { into: birthId } }),
    ]);
    const events = await auditEvents(dossierId);
    expect(events.map((event) => [event.action, event.fromStatus, event.toStatus])).toEqual([
      ['mot-cua.waiting', null, 'received'],
      ['mot-cua.merged', 'received', 'merged'],
    ]);
    // The attachment moved with the dossier into the birth.
    const { rows } = await gateway.db.query<{ transfer_id: string }>('SELECT transfer_id FROM attachments WHERE sha256 = $1', [file.sha256]);
    expect(rows).toEqual([{ transfer_id: birthId }]);
    // One birth for this child; the dossier no longer waits.
    expect((await transfersOfPerson(birth.hoTich.soDinhDanh)).filter((t) => t.type === 'KHAI_SINH')).toHaveLength(1);
    const listed = await gateway.request('operator', { method: 'GET', url: '/ngsp/v1/transfers?type=HO_SO_MOT_CUA&status=received&limit=500' });
    expect(listed.json().items.map((item: { transferId: string }) => item.transferId)).not.toContain(dossierId);
    expect((await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });

  it('(b) a dossier for a child no birth names yet keeps waiting; a second dossier\'s repeat answers the same', async () => {
    const dossier = hoSoMotCua({ hoTich: { soDinhDanh: khaiSinh().hoTich.soDinhDanh } });
    const first = await postDossier(dossier);
    expect(first.statusCode).toBe(202);
    const again = await postDossier(dossier);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect((await read(first.json().transferId)).status).toBe('received');
  });
});

describe('(c) matched by maHoSo when the dossier\'s record has no soDinhDanh', () => {
  it('birth first: the birth\'s maHoSoMCDT finds the dossier', async () => {
    const code = maHoSo();
    const birth = birthWaitingForAddress({ maHoSoMCDT: code });
    const birthId = (await postBirth(birth)).json().transferId;
    expect((await read(birthId)).status).toBe('received');
    const dossier = hoSoMotCua({ maHoSo: code });
    expect(dossier.data).not.toContain('soDinhDanh');
    const response = await postDossier(dossier);
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json()).toEqual({ transferId: birthId, messageId: dossier.messageId, status: 'queued' });
    const completed = await read(birthId);
    expect(completed.document.hoTich.nycNoiCuTru).toEqual(DOSSIER_ADDRESS);
    expect(completed.bhxhDocument.MA_HO_SO_MCDT).toBe(code);
  });

  it('dossier first: the birth that names it as maHoSoMCDT absorbs it', async () => {
    const code = maHoSo();
    const dossier = hoSoMotCua({ maHoSo: code });
    const dossierId = (await postDossier(dossier)).json().transferId;
    expect((await read(dossierId)).status).toBe('received');
    const birth = birthWaitingForAddress({ maHoSoMCDT: code });
    const accepted = await postBirth(birth);
    expect(accepted.statusCode, accepted.body).toBe(202);
    expect(accepted.json().status).toBe('queued');
    expect((await read(accepted.json().transferId)).document.hoTich.nycNoiCuTru).toEqual(DOSSIER_ADDRESS);
    expect((await read(dossierId)).status).toBe('merged');
  });

  it('maHoSo comes first: a dossier whose code is one birth\'s maHoSoMCDT completes that birth, even if its record names another child', async () => {
    const code = maHoSo();
    const named = birthWaitingForAddress({ maHoSoMCDT: code });
    const namedId = (await postBirth(named)).json().transferId;
    const other = birthWaitingForAddress();
    const otherId = (await postBirth(other)).json().transferId;
    const dossier = hoSoMotCua({ maHoSo: code, hoTich: { soDinhDanh: other.hoTich.soDinhDanh } });
    const response = await postDossier(dossier);
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json().transferId).toBe(namedId);
    expect((await read(namedId)).status).toBe('queued');
    expect((await read(otherId)).status).toBe('received');
  });

  it('a dossier that names neither a known maHoSo nor a known child waits; it does not grab another birth', async () => {
    const other = birthWaitingForAddress({ maHoSoMCDT: maHoSo() });
    const otherId = (await postBirth(other)).json().transferId;
    const dossier = hoSoMotCua({ maHoSo: maHoSo() });
    const response = await postDossier(dossier);
    expect(response.json().transferId).not.toBe(otherId);
    expect(response.json().status).toBe('received');
    expect((await read(otherId)).status).toBe('received');
  });
});

describe('(d) a dossier may supply the BHYT part', () => {
  it('a birth without a BHYT part gets it from the dossier and is queued', async () => {
    const birth = clean(khaiSinh({ bhyt: null }));
    const birthId = (await postBirth(birth)).json().transferId;
    expect(await read(birthId)).toMatchObject({ status: 'received', missing: ['/bhyt/noiDangKyKCB', '/bhyt/hinhThucNhanThe'] });
    const dossier = hoSoMotCua({
      hoTich: { soDinhDanh: birth.hoTich.soDinhDanh },
      bhyt: { noiDangKyKCB: '08002', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'tai_tru_so' },
    });
    const response = await postDossier(dossier);
    expect(response.json()).toEqual({ transferId: birthId, messageId: dossier.messageId, status: 'queued' });
    const completed = await read(birthId);
    expect(completed.document.bhyt).toEqual({ noiDangKyKCB: '08002', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'tai_tru_so' });
    expect(completed.bhxhDocument).toMatchObject({ MA_DKBD: '08002', QUAN_HE_GIAM_HO: 'ME', HINH_THUC_NHAN_THE: 1, HO_TEN_GIAM_HO: 'TRẦN THỊ BÌNH' });
    expect(completed.history[1].details.supplied).toEqual(expect.arrayContaining(['/bhyt/noiDangKyKCB', '/bhyt/hinhThucNhanThe']));
  });

  it('a dossier waiting first brings its BHYT part into the birth', async () => {
    const birth = clean(khaiSinh({ bhyt: null }));
    const dossier = hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh }, bhyt: { noiDangKyKCB: '08001', hinhThucNhanThe: 'buu_chinh' } });
    expect((await postDossier(dossier)).json().status).toBe('received');
    const accepted = await postBirth(birth);
    expect(accepted.json().status).toBe('queued');
    expect((await read(accepted.json().transferId)).bhxhDocument).toMatchObject({ MA_DKBD: '08001', HINH_THUC_NHAN_THE: 2, QUAN_HE_GIAM_HO: 'ME' });
  });

  it('only the fields the birth lacks: the officer\'s facility stays, the missing delivery is taken', async () => {
    const birth = clean(khaiSinh({ bhyt: { noiDangKyKCB: '08001' } }));
    const birthId = (await postBirth(birth)).json().transferId;
    const dossier = hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh }, bhyt: { noiDangKyKCB: '08999', hinhThucNhanThe: 'tai_tru_so' } });
    expect((await postDossier(dossier)).json().status).toBe('queued');
    const completed = await read(birthId);
    expect(completed.document.bhyt).toEqual({ noiDangKyKCB: '08001', hinhThucNhanThe: 'tai_tru_so' });
    expect(completed.bhxhDocument.MA_DKBD).toBe('08001');
  });
});

describe('(e) a dossier never overwrites the birth record', () => {
  it('birth first: every field the record has stays as the registry sent it; only absent ones are filled', async () => {
    const officeAddress = { maTinh: '08', maHuyen: '070', maXa: '02215', dcChiTiet: 'Số 3, ngõ 4, phường Phan Thiết' };
    const ownCode = maHoSo();
    const birth = clean(khaiSinh({
      maHoSoMCDT: ownCode,
      bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'nguoi_di_khai', hinhThucNhanThe: 'buu_chinh' },
      hoTich: { nycNoiCuTru: officeAddress, nycSoDienThoai: '0912345678' },
    }));
    const birthId = (await postBirth(birth)).json().transferId;
    const before = await read(birthId);
    expect(before.status).toBe('queued');

    const dossier = hoSoMotCua({
      hoTich: {
        soDinhDanh: birth.hoTich.soDinhDanh,
        nksHoTen: 'Tên Khác Hẳn',
        nycHoTen: 'Người Khác',
        nycNoiCuTru: DOSSIER_ADDRESS,
        nycSoDienThoai: '0999999999',
        nycEmail: 'nguoi.khai@example.vn',
        meNoiCuTru: DOSSIER_ADDRESS,
        chaSoDDCN: '008093001111',
      },
      bhyt: { noiDangKyKCB: '08999', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'tai_tru_so' },
    });
    const response = await postDossier(dossier);
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json()).toEqual({ transferId: birthId, messageId: dossier.messageId, status: 'queued' });

    const after = await read(birthId);
    const { nycEmail, chaSoDDCN, ...kept } = after.document.hoTich;
    expect(kept).toEqual(before.document.hoTich);
    expect(nycEmail).toBe('nguoi.khai@example.vn');
    expect(chaSoDDCN).toBe('008093001111'); // a known father's number, absent from the record
    expect(after.document.bhyt).toEqual(before.document.bhyt);
    // A birth that already names its one-stop dossier keeps that code.
    expect(after.document.maHoSoMCDT).toBe(ownCode);
    const { MA_HO_SO_MCDT, ...bhxh } = after.bhxhDocument;
    expect(MA_HO_SO_MCDT).toBe(ownCode);
    const { TEP_DINH_KEM, ...bhxhAfter } = bhxh;
    const { MA_HO_SO_MCDT: _beforeCode, ...bhxhBefore } = before.bhxhDocument;
    expect(bhxhAfter).toEqual(bhxhBefore);
    expect(TEP_DINH_KEM).toHaveLength(1);
    expect(bhxhAfter).toMatchObject({ HO_TEN: 'NGUYỄN THỊ ÁNH', DIA_CHI: officeAddress.dcChiTiet, MA_DKBD: '08001', HINH_THUC_NHAN_THE: 2 });
  });

  it('dossier first: the birth that arrives afterwards keeps its own fields too', async () => {
    const birth = clean(khaiSinh());
    const dossier = hoSoMotCua({
      hoTich: { soDinhDanh: birth.hoTich.soDinhDanh, nksHoTen: 'Tên Khác Hẳn', nycSoDienThoai: '0999999999', meNoiCuTru: DOSSIER_ADDRESS },
      bhyt: { noiDangKyKCB: '08999', nguoiGiamHoTheo: 'cha', hinhThucNhanThe: 'tai_tru_so' },
    });
    expect((await postDossier(dossier)).json().status).toBe('received');
    const accepted = await postBirth(birth);
    const after = await read(accepted.json().transferId);
    expect(after.document.hoTich).toMatchObject({
      nksHoTen: birth.hoTich.nksHoTen, nycSoDienThoai: birth.hoTich.nycSoDienThoai, meNoiCuTru: birth.hoTich.meNoiCuTru,
    });
    expect(after.document.hoTich.nycNoiCuTru).toEqual(DOSSIER_ADDRESS);
    expect(after.document.bhyt).toEqual(birth.bhyt);
    expect(after.bhxhDocument).toMatchObject({ HO_TEN: 'NGUYỄN THỊ ÁNH', MA_DKBD: '08001', QUAN_HE_GIAM_HO: 'ME' });
  });
});

describe('(f) a dossier for a birth already sent or issued only links', () => {
  it('the birth\'s status and document stay; the link is audited as mot-cua.linked', async () => {
    // A gateway of its own: leasing takes every queued card of the province.
    const own = await startTestGateway();
    try {
      const birth = clean(khaiSinh());
      const birthId = (await own.request(BIRTH_CLIENT, { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: birth })).json().transferId;
      const lease = await own.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'CAP_THE_TE', max: 10 } });
      expect(lease.statusCode, lease.body).toBe(200);
      expect(lease.json().records.map((record: { MA_HO_SO: string }) => record.MA_HO_SO)).toEqual([birthId]);
      const sent = await read(birthId, own);
      expect(sent.status).toBe('sent');

      const dossier = hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh, nycEmail: 'muon@example.vn' }, bhyt: { noiDangKyKCB: '08999' } });
      const linked = await own.request(DOSSIER_CLIENT, { method: 'POST', url: '/ngsp/v1/mot-cua', payload: dossier });
      expect(linked.statusCode, linked.body).toBe(202);
      expect(linked.json()).toEqual({ transferId: birthId, messageId: dossier.messageId, status: 'sent' });
      const afterLink = await read(birthId, own);
      expect(afterLink.status).toBe('sent');
      expect(afterLink.document).toEqual(sent.document);
      expect(afterLink.bhxhDocument).toEqual(sent.bhxhDocument);
      expect(afterLink.history.at(-1)).toMatchObject({ action: 'mot-cua.linked', fromStatus: 'sent', toStatus: 'sent', details: { maHoSo: dossier.maHoSo } });
      expect(await countRows(own.db, 'transfers')).toBe(1);

      const results = await own.request('bhxh08', {
        method: 'POST', url: `/bhxh/v1/batches/${lease.json().batchId}/results`,
        payload: { results: lease.json().records.map((record: Record<string, unknown>) => issueCard(record)) },
      });
      expect(results.json()).toMatchObject({ accepted: 1, rejected: [] });
      expect((await read(birthId, own)).status).toBe('issued');

      const late = hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh } });
      const linkedLate = await own.request(DOSSIER_CLIENT, { method: 'POST', url: '/ngsp/v1/mot-cua', payload: late });
      expect(linkedLate.json()).toEqual({ transferId: birthId, messageId: late.messageId, status: 'issued' });
      const issued = await read(birthId, own);
      expect(issued.status).toBe('issued');
      expect(issued.document).toEqual(sent.document);
      expect(issued.card).toMatchObject({ maSoBHXH: expect.stringMatching(/^\d{10}$/) });
      expect(issued.history.at(-1)).toMatchObject({ action: 'mot-cua.linked', fromStatus: 'issued', toStatus: 'issued', details: { maHoSo: late.maHoSo } });
      expect(await countRows(own.db, 'transfers')).toBe(1);
      expect((await own.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
    } finally {
      await own.close();
    }
  });
});

describe('(g) the three doors agree for HoSoMotCua', () => {
  it('JSON first, then the same dossier as XML and through SOAP GuiHoSoMotCua: 200 with the same transfer', async () => {
    const dossier = hoSoMotCua({
      hoTich: { soDinhDanh: khaiSinh().hoTich.soDinhDanh },
      fileDinhKem: [attachment().file, attachment('tờ khai', 'to-khai.pdf').file],
    });
    const json = await postDossier(dossier);
    expect(json.statusCode, json.body).toBe(202);
    const before = await storedCounts();

    const xml = await postDossierXml(dossier);
    expect(xml.statusCode, xml.body).toBe(200);
    expect(xml.json()).toEqual(json.json());

    const soap = await postDossierSoap(dossier);
    expect(soap.statusCode, soap.body).toBe(200);
    expect(soapField(soap.body, 'transferId')).toBe(json.json().transferId);
    expect(soapField(soap.body, 'status')).toBe('received');
    expect(await storedCounts()).toEqual(before);
  });

  it('each door on its own completes its birth alike: same document, same card dossier, same attachment', async () => {
    const file = attachment('the same electronic birth certificate');
    const births = [0, 1, 2].map(() => birthWaitingForAddress());
    const birthIds: string[] = [];
    for (const birth of births) birthIds.push((await postBirth(birth)).json().transferId);
    const dossiers = births.map((birth) => hoSoMotCua({
      hoTich: { soDinhDanh: birth.hoTich.soDinhDanh, nycEmail: 'khai@example.vn' },
      bhyt: { noiDangKyKCB: '08001' },
      fileDinhKem: [file.file, attachment('second file', 'to-khai.pdf').file],
    }));
    const json = await postDossier(dossiers[0]);
    expect(json.statusCode, json.body).toBe(202);
    const xml = await postDossierXml(dossiers[1]);
    expect(xml.statusCode, xml.body).toBe(202);
    const soap = await postDossierSoap(dossiers[2]);
    expect(soap.statusCode, soap.body).toBe(200);
    expect([json.json().transferId, xml.json().transferId, soapField(soap.body, 'transferId')]).toEqual(birthIds);

    const transfers = await Promise.all(birthIds.map((id) => read(id)));
    const comparable = transfers.map((transfer) => {
      const { MA_HO_SO: _id, SO_DINH_DANH: _n, MA_HO_SO_MCDT: _c, ...bhxh } = transfer.bhxhDocument;
      const { messageId: _m, maHoSoMCDT: _d, hoTich: { soDinhDanh: _s, ...hoTich }, ...document } = transfer.document;
      return { status: transfer.status, bhxh, document: { ...document, hoTich }, supplied: transfer.history.at(-1).details.supplied };
    });
    expect(comparable[0]?.status).toBe('queued');
    expect(comparable[1]).toEqual(comparable[0]);
    expect(comparable[2]).toEqual(comparable[0]);
    expect(comparable[0]?.bhxh.TEP_DINH_KEM).toContainEqual({ LOAI: 'GKS', TEN: 'Giấy khai sinh điện tử', SHA256: file.sha256 });
    expect(comparable[0]?.bhxh.TEP_DINH_KEM).toHaveLength(2);
    expect(transfers.map((t) => t.history.at(-1).action)).toEqual(['mot-cua.applied', 'mot-cua.applied', 'mot-cua.applied']);
    expect(transfers.map((t, i) => t.bhxhDocument.MA_HO_SO_MCDT === dossiers[i]?.maHoSo)).toEqual([true, true, true]);
  });

  it('a dossier with exactly one attachment: one <fileDinhKem> element is a list of one, through XML as through JSON and SOAP', async () => {
    const file = attachment();
    const dossiers = [0, 1, 2].map(() => hoSoMotCua({ hoTich: { soDinhDanh: khaiSinh().hoTich.soDinhDanh }, fileDinhKem: [file.file] }));
    const json = await postDossier(dossiers[0]);
    expect(json.statusCode, json.body).toBe(202);
    const soap = await postDossierSoap(dossiers[2]);
    expect(soap.statusCode, soap.body).toBe(200);
    const xml = await postDossierXml(dossiers[1]);
    expect(xml.statusCode, xml.body).toBe(202);
    expect(xml.json().status).toBe('received');
    const { rows } = await gateway.db.query<{ transfer_id: string }>('SELECT transfer_id FROM attachments WHERE sha256 = $1 ORDER BY transfer_id', [file.sha256]);
    expect(rows.map((row) => row.transfer_id).sort()).toEqual(
      [json.json().transferId, xml.json().transferId, soapField(soap.body, 'transferId')].sort(),
    );
  });

  it('a refused dossier is refused alike by every door', async () => {
    const dossier = hoSoMotCua({ hoTich: { soDinhDanh: '12345' }, fileDinhKem: undefined });
    const json = await postDossier(dossier);
    expect(json.statusCode).toBe(400);
    expect(json.json().error).toMatchObject({ code: 'VALIDATION_FAILED', details: [expect.objectContaining({ path: '/data/soDinhDanh', code: 'PATTERN' })] });
    const xml = await postDossierXml(dossier);
    expect(xml.statusCode).toBe(400);
    expect(xml.json().error.details).toEqual(json.json().error.details);
    const soap = await postDossierSoap(dossier);
    expect(soap.statusCode).toBe(400);
    expect(soap.body).toContain('VALIDATION_FAILED');
    expect(soap.body).toContain('/data/soDinhDanh');
  });
});

describe('(h) the embedded record is hostile input', () => {
  const hostile: Array<[string, string, number, string, { path?: string; code: string }]> = [
    ['a DOCTYPE with an internal entity',
      '<?xml version="1.0"?><!DOCTYPE hoTich [<!ENTITY ten "Nguyễn">]><hoTich><noiDangKy><maTinh>08</maTinh><maXa>02215</maXa></noiDangKy><nycHoTen>&ten;</nycHoTen></hoTich>',
      400, 'MALFORMED_BODY', { code: 'XML_DTD_FORBIDDEN' }],
    ['an external entity (XXE)',
      '<?xml version="1.0"?><!DOCTYPE hoTich [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><hoTich><noiDangKy><maTinh>08</maTinh><maXa>02215</maXa></noiDangKy><nycHoTen>&xxe;</nycHoTen></hoTich>',
      400, 'MALFORMED_BODY', { code: 'XML_DTD_FORBIDDEN' }],
    ['a billion laughs',
      `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('')}]><hoTich><nycHoTen>&lol9;</nycHoTen></hoTich>`,
      400, 'MALFORMED_BODY', { code: 'XML_DTD_FORBIDDEN' }],
    ['not XML at all', 'hồ sơ không phải XML', 400, 'MALFORMED_BODY', { code: 'INVALID_XML' }],
    ['unclosed elements', '<hoTich><noiDangKy><maTinh>08</maTinh>', 400, 'MALFORMED_BODY', { code: 'INVALID_XML' }],
    ['a root other than <hoTich>',
      '<KhaiSinh><noiDangKy><maTinh>08</maTinh><maXa>02215</maXa></noiDangKy></KhaiSinh>',
      400, 'VALIDATION_FAILED', { path: '/data', code: 'XML_ROOT' }],
    ['a field no birth record has',
      '<hoTich><noiDangKy><maTinh>08</maTinh><maXa>02215</maXa></noiDangKy><script>alert(1)</script></hoTich>',
      400, 'VALIDATION_FAILED', { path: '/data/script', code: 'ADDITIONALPROPERTIES' }],
    ['no registering office',
      '<hoTich><nycNoiCuTru><maTinh>08</maTinh><maXa>02215</maXa><dcChiTiet>Số 1</dcChiTiet></nycNoiCuTru></hoTich>',
      400, 'VALIDATION_FAILED', { path: '/data/noiDangKy', code: 'REQUIRED' }],
    ['an address of the wrong shape',
      '<hoTich><noiDangKy><maTinh>08</maTinh><maXa>02215</maXa></noiDangKy><nycNoiCuTru><maTinh>8</maTinh><maXa>02215</maXa><dcChiTiet>Số 1</dcChiTiet></nycNoiCuTru></hoTich>',
      400, 'VALIDATION_FAILED', { path: '/data/nycNoiCuTru/maTinh', code: 'PATTERN' }],
  ];

  it.each(hostile)('%s: refused, nothing stored', async (_name, data, status, code, detail) => {
    const before = await storedCounts();
    const response = await postDossier(hoSoMotCua({ data }));
    expect(response.statusCode, response.body).toBe(status);
    expect(response.json().error.code).toBe(code);
    expect(response.json().error.details).toContainEqual(expect.objectContaining(detail));
    expect(response.body).not.toContain('root:');
    expect(await storedCounts()).toEqual(before);
  });

  it('a DOCTYPE in the embedded record through SOAP and XML is refused as well', async () => {
    const dossier = hoSoMotCua({ data: hostile[0]?.[1] as string, fileDinhKem: undefined });
    const before = await storedCounts();
    const soap = await postDossierSoap(dossier);
    expect(soap.statusCode, soap.body).toBe(400);
    expect(soap.body).toContain('MALFORMED_BODY');
    const xml = await postDossierXml(dossier);
    expect(xml.statusCode, xml.body).toBe(400);
    expect(xml.json().error.code).toBe('MALFORMED_BODY');
    expect(await storedCounts()).toEqual(before);
  });

  it('the dossier envelope itself is checked: bad ngayTiepNhan, unknown module, bad base64, a path in a file name', async () => {
    const before = await storedCounts();
    const cases: Array<[Partial<HoSoMotCua>, string]> = [
      [{ ngayTiepNhan: '2025-03-14 09:30:00' }, '/ngayTiepNhan'],
      [{ module: 'XX' as 'KS' }, '/module'],
      [{ fileDinhKem: [{ ...attachment().file, duLieuTepDinhKem: '***not base64***' }] }, '/fileDinhKem/0/duLieuTepDinhKem'],
      [{ fileDinhKem: [{ ...attachment().file, tenTepDinhKem: '../../etc/passwd' }] }, '/fileDinhKem/0/tenTepDinhKem'],
    ];
    for (const [change, path] of cases) {
      const response = await postDossier({ ...hoSoMotCua({ hoTich: { soDinhDanh: khaiSinh().hoTich.soDinhDanh } }), ...change });
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json().error.details).toContainEqual(expect.objectContaining({ path }));
    }
    expect(await storedCounts()).toEqual(before);
  });

  it('a dossier outside the client\'s province (its record says where) is 403, nothing stored', async () => {
    const before = await storedCounts();
    const response = await postDossier(hoSoMotCua({ maDonVi: '00004', hoTich: { noiDangKy: { maTinh: '01', maXa: '00004' } } }));
    expect(response.statusCode).toBe(403);
    expect(response.json().error.code).toBe('FORBIDDEN');
    expect(await storedCounts()).toEqual(before);
  });
});

describe('(i) body limits', () => {
  it('the mot-cua door takes a 2 MB attachment; the khai-sinh door refuses a body over 1 MB with 413', async () => {
    const big = attachment(randomBytes(2 * 1024 * 1024), 'giay-khai-sinh-scan.pdf');
    const dossier = hoSoMotCua({ hoTich: { soDinhDanh: khaiSinh().hoTich.soDinhDanh }, fileDinhKem: [big.file] });
    const payload = JSON.stringify(dossier);
    expect(payload.length).toBeGreaterThan(2 * 1024 * 1024);
    const response = await gateway.request(DOSSIER_CLIENT, {
      method: 'POST', url: '/ngsp/v1/mot-cua', headers: { 'content-type': 'application/json' }, payload,
    });
    expect(response.statusCode, response.body.slice(0, 500)).toBe(202);
    const { rows } = await gateway.db.query<{ transfer_id: string; size_bytes: number }>(
      'SELECT transfer_id, size_bytes FROM attachments WHERE sha256 = $1', [big.sha256],
    );
    expect(rows).toEqual([{ transfer_id: response.json().transferId, size_bytes: 2 * 1024 * 1024 }]);

    const before = await storedCounts();
    const birth = khaiSinh({ hoTich: { nksNoiSinh: 'x'.repeat(1024 * 1024 + 10) } });
    const refused = await postBirth(birth);
    expect(refused.statusCode).toBe(413);
    expect(refused.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    const refusedDeath = await gateway.request(BIRTH_CLIENT, {
      method: 'POST', url: '/ngsp/v1/khai-tu', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 10) }),
    });
    expect(refusedDeath.statusCode).toBe(413);
    expect(await storedCounts()).toEqual(before);
  });

  it('the same through SOAP: GuiHoSoMotCua with a 2 MB attachment is taken, GuiKhaiSinh over 1 MB is not', async () => {
    const big = attachment(randomBytes(2 * 1024 * 1024), 'scan.pdf');
    const dossier = hoSoMotCua({ hoTich: { soDinhDanh: khaiSinh().hoTich.soDinhDanh }, fileDinhKem: [big.file] });
    const soap = await postDossierSoap(dossier);
    expect(soap.statusCode, soap.body.slice(0, 500)).toBe(200);
    expect(soapField(soap.body, 'status')).toBe('received');

    const birth = khaiSinh({ hoTich: { nksNoiSinh: 'x'.repeat(1024 * 1024 + 10) } });
    const refused = await gateway.request(BIRTH_CLIENT, {
      method: 'POST', url: '/ngsp/soap',
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: 'urn:lienthong:ngsp:v1#GuiKhaiSinh' },
      payload: toSoapEnvelope('KhaiSinh', birth),
    });
    expect(refused.statusCode).toBe(413);
    expect(refused.body).toContain('PAYLOAD_TOO_LARGE');
  });
});

describe('(k) BHXH cites at most 20 attachments per birth', () => {
  const files = (count: number) => Array.from({ length: count }, () => attachment());
  const kept = async (transferId: string) =>
    (await gateway.db.query<{ sha256: string }>('SELECT sha256 FROM attachments WHERE transfer_id = $1 ORDER BY sha256', [transferId])).rows.map((row) => row.sha256);

  /** The refusal of a dossier whose files would take its birth past BHXH's 20, saying how many it already has. */
  function expectTooManyAttachments(response: Awaited<ReturnType<typeof postDossier>>, already: string) {
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().error).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: [{ path: '/fileDinhKem', code: 'MAXITEMS', message: expect.stringContaining(already) }],
    });
    expect(response.json().error.details[0].message).toContain('at most 20');
  }

  it('birth first: a second dossier of 12 files after one of 12 is refused with 400, nothing written; the same dossier with files that fit is taken', async () => {
    const birth = birthWaitingForAddress();
    const birthId = (await postBirth(birth)).json().transferId;
    const first = files(12);
    const applied = await postDossier(hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh }, fileDinhKem: first.map((f) => f.file) }));
    expect(applied.statusCode, applied.body).toBe(202);
    expect(applied.json()).toMatchObject({ transferId: birthId, status: 'queued' });
    expect((await read(birthId)).bhxhDocument.TEP_DINH_KEM).toHaveLength(12);

    const before = await storedCounts();
    const history = (await read(birthId)).history;
    const second = hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh, nycEmail: 'gia-dinh@example.vn' }, fileDinhKem: files(12).map((f) => f.file) });
    expectTooManyAttachments(await postDossier(second), 'already carries 12');
    expect(await storedCounts()).toEqual(before);
    const unchanged = await read(birthId);
    expect(unchanged.history).toEqual(history);
    expect(unchanged.document.hoTich.nycEmail).toBeUndefined();
    expect(unchanged.bhxhDocument.TEP_DINH_KEM).toHaveLength(12);

    // Files the birth already has count once: 4 of the first dossier's and 8 new make 20. The
    // refused dossier left no trace, so its messageId is taken afresh.
    const fitting = files(8);
    const resent = await postDossier({ ...second, fileDinhKem: [...first.slice(0, 4), ...fitting].map((f) => f.file) });
    expect(resent.statusCode, resent.body).toBe(202);
    expect(resent.json()).toEqual({ transferId: birthId, messageId: second.messageId, status: 'queued' });
    const completed = await read(birthId);
    expect(completed.document.hoTich.nycEmail).toBe('gia-dinh@example.vn');
    expect(completed.bhxhDocument.TEP_DINH_KEM.map((ref: { SHA256: string }) => ref.SHA256).sort()).toEqual([...first, ...fitting].map((f) => f.sha256).sort());
    expect(await kept(birthId)).toEqual([...first, ...fitting].map((f) => f.sha256).sort());

    expectTooManyAttachments(await postDossier(hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh }, fileDinhKem: files(1).map((f) => f.file) })), 'already carries 20');
  });

  it('dossiers first: a second waiting dossier of 12 for the same child is refused; the birth then takes the first one\'s 12', async () => {
    const birth = birthWaitingForAddress();
    const first = files(12);
    const waiting = await postDossier(hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh }, fileDinhKem: first.map((f) => f.file) }));
    expect(waiting.statusCode, waiting.body).toBe(202);
    const waitingId = waiting.json().transferId;

    const before = await storedCounts();
    expectTooManyAttachments(
      await postDossier(hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh }, fileDinhKem: files(12).map((f) => f.file) })),
      'already carry 12',
    );
    expect(await storedCounts()).toEqual(before);

    const accepted = await postBirth(birth);
    expect(accepted.statusCode, accepted.body).toBe(202);
    expect(accepted.json().status).toBe('queued');
    const birthId = accepted.json().transferId;
    expect((await read(birthId)).bhxhDocument.TEP_DINH_KEM.map((ref: { SHA256: string }) => ref.SHA256).sort()).toEqual(first.map((f) => f.sha256).sort());
    expect((await read(waitingId)).status).toBe('merged');
  });

  it('the same through SOAP and XML: the refusal is a 400 with the same code and path', async () => {
    const birth = birthWaitingForAddress();
    await postBirth(birth);
    expect((await postDossier(hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh }, fileDinhKem: files(12).map((f) => f.file) }))).statusCode).toBe(202);
    const second = hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh }, fileDinhKem: files(12).map((f) => f.file) });
    expectTooManyAttachments(await postDossierXml(second), 'already carries 12');
    const soap = await postDossierSoap(second);
    expect(soap.statusCode).toBe(400);
    expect(soap.body).toContain('<code>VALIDATION_FAILED</code>');
    expect(soap.body).toContain('<code>MAXITEMS</code>');
    expect(soap.body).toContain('/fileDinhKem');
  });

  it('two waiting dossiers only a birth can tell belong together: the birth takes the older one\'s files that fit, the other keeps waiting, listed on both', async () => {
    const child = birthWaitingForAddress().hoTich.soDinhDanh;
    const laterCode = maHoSo();
    // D1 waits for the child under its own code; D2, under the code the birth will name, knows no child.
    const olderFiles = files(12);
    const older = await postDossier(hoSoMotCua({ maHoSo: maHoSo(), hoTich: { soDinhDanh: child, nycEmail: 'd1@example.vn' }, fileDinhKem: olderFiles.map((f) => f.file) }));
    const later = await postDossier(hoSoMotCua({ maHoSo: laterCode, hoTich: { nycSoGiayToTuyThan: '008090001234' }, fileDinhKem: files(12).map((f) => f.file) }));
    expect([older.statusCode, later.statusCode], later.body).toEqual([202, 202]);
    const [olderId, laterId] = [older.json().transferId, later.json().transferId];

    const birth = birthWaitingForAddress({ maHoSoMCDT: laterCode, hoTich: { soDinhDanh: child } });
    const accepted = await postBirth(birth);
    expect(accepted.statusCode, accepted.body).toBe(202);
    const birthId = accepted.json().transferId;
    const stored = await read(birthId);
    expect(stored.status).toBe('queued');
    expect(stored.maHoSo).toBe(laterCode);
    expect(stored.document.hoTich.nycEmail).toBe('d1@example.vn');
    expect(stored.document.hoTich.nycSoGiayToTuyThan).toBeUndefined();
    expect(stored.bhxhDocument.TEP_DINH_KEM.map((ref: { SHA256: string }) => ref.SHA256).sort()).toEqual(olderFiles.map((f) => f.sha256).sort());
    expect(await kept(birthId)).toEqual(olderFiles.map((f) => f.sha256).sort());
    expect(stored.history[0]).toMatchObject({
      action: 'khai-sinh.accepted', details: { dossiers: [olderId], dossiersWaiting: [laterId] },
    });

    expect((await read(olderId)).status).toBe('merged');
    const waiting = await read(laterId);
    expect(waiting.status).toBe('received');
    expect(await kept(laterId)).toHaveLength(12);
    expect(waiting.history.at(-1)).toMatchObject({
      action: 'mot-cua.too-many-files', fromStatus: 'received', toStatus: 'received', details: { birth: birthId, files: 24 },
    });

    // The same birth again is answered as before, never refused for its dossiers' files.
    const again = await postBirth(birth);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json().transferId).toBe(birthId);
  });
});

describe('(j) a birth and its dossier arriving together', () => {
  async function race(pairs: number, matchBy: 'soDinhDanh' | 'maHoSo', withFile: boolean) {
    const children = Array.from({ length: pairs }, (_, i) => {
      const code = maHoSo();
      const birth = birthWaitingForAddress(matchBy === 'maHoSo' ? { maHoSoMCDT: code } : {});
      const dossier = hoSoMotCua({
        maHoSo: code,
        hoTich: matchBy === 'soDinhDanh' ? { soDinhDanh: birth.hoTich.soDinhDanh } : {},
        ...(withFile ? {} : { fileDinhKem: undefined }),
      });
      return { birth, dossier, dossierFirst: i % 2 === 0 };
    });
    const answers = await Promise.all(children.flatMap(({ birth, dossier, dossierFirst }) => {
      const b = () => postBirth(birth);
      const d = () => postDossier(dossier);
      return dossierFirst ? [d(), b()] : [b(), d()];
    }));
    for (const [i, child] of children.entries()) {
      const [first, second] = [answers[2 * i], answers[2 * i + 1]];
      const birthAnswer = child.dossierFirst ? second : first;
      const dossierAnswer = child.dossierFirst ? first : second;
      expect(birthAnswer?.statusCode, birthAnswer?.body).toBe(202);
      expect(dossierAnswer?.statusCode, dossierAnswer?.body).toBe(202);

      const births = (await transfersOfPerson(child.birth.hoTich.soDinhDanh)).filter((t) => t.type === 'KHAI_SINH');
      expect(births).toHaveLength(1);
      const birthId = births[0]?.id as string;
      expect(birthAnswer?.json().transferId).toBe(birthId);
      const birth = await read(birthId);
      expect(birth).toMatchObject({ status: 'queued', missing: [] });
      expect(birth.document.hoTich.nycNoiCuTru).toEqual(DOSSIER_ADDRESS);
      expect(birth.bhxhDocument).toMatchObject({ DIA_CHI: DOSSIER_ADDRESS.dcChiTiet, MA_HO_SO_MCDT: child.dossier.maHoSo });
      if (withFile) expect(birth.bhxhDocument.TEP_DINH_KEM).toHaveLength(1);
      else expect(birth.bhxhDocument.TEP_DINH_KEM).toBeUndefined();

      // The dossier was either applied to the birth or merged into it: never left waiting.
      const own = (await transfersOfDossier(child.dossier.maHoSo)).filter((t) => t.type === 'HO_SO_MOT_CUA');
      if (dossierAnswer?.json().transferId === birthId) {
        expect(own).toEqual([]);
        expect(birth.history.map((event: { action: string }) => event.action)).toEqual(['khai-sinh.accepted', 'mot-cua.applied']);
      } else {
        expect(own).toEqual([{ id: dossierAnswer?.json().transferId, type: 'HO_SO_MOT_CUA', status: 'merged' }]);
        expect(birth.history).toEqual([expect.objectContaining({ action: 'khai-sinh.accepted', toStatus: 'queued', details: expect.objectContaining({ dossiers: [own[0]?.id] }) })]);
      }
    }
    const { rows } = await gateway.db.query<{ count: string }>(
      "SELECT count(*) AS count FROM transfers WHERE type = 'HO_SO_MOT_CUA' AND status = 'received' AND ma_ho_so = ANY($1::text[])",
      [children.map((child) => child.dossier.maHoSo)],
    );
    expect(Number(rows[0]?.count)).toBe(0);
  }

  it('10 pairs matched by soDinhDanh, three times over: one complete birth each, every dossier applied or merged', async () => {
    for (let round = 0; round < 3; round++) await race(10, 'soDinhDanh', true);
  });

  it('10 pairs matched by maHoSo alone: the same', async () => {
    await race(10, 'maHoSo', true);
  });

  it('the same for dossiers without attachments, both ways of matching', async () => {
    for (let round = 0; round < 3; round++) await race(10, 'soDinhDanh', false);
    await race(10, 'maHoSo', false);
  });

  it('ends with a verifiable audit chain', async () => {
    expect((await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });
});
