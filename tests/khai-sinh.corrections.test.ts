import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KhaiSinh } from '../src/domain/documents.js';
import { changeTransferInTx, lockTransferInTx, type TransferStatus } from '../src/store/transfers.js';
import type { HoSoMotCua } from '../src/messages/dossier/merge.js';
import { attachment, hoSoMotCua } from './support/death-fixtures.js';
import { khaiSinh, personalNumber, toXml } from './support/fixtures.js';
import { countRows, startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway?.close();
});

const push = async (doc: KhaiSinh, as: ClientName = 'registry08') => {
  const response = await gateway.request(as, { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc as unknown as object });
  expect(response.statusCode).toBe(202);
  return response.json() as { transferId: string; messageId: string; status: string };
};
const patch = (transferId: string, body: unknown, as: ClientName = 'registry08') =>
  gateway.request(as, { method: 'PATCH', url: `/ngsp/v1/khai-sinh/${transferId}`, payload: body as object });
const resend = (transferId: string, as: ClientName = 'registry08') =>
  gateway.request(as, { method: 'POST', url: `/ngsp/v1/transfers/${transferId}/resend` });
const read = async (transferId: string, as: ClientName = 'registry08') => {
  const response = await gateway.request(as, { method: 'GET', url: `/ngsp/v1/transfers/${transferId}` });
  expect(response.statusCode).toBe(200);
  return response.json();
};
const auditCount = () => countRows(gateway.db, 'audit_events');

/** Test setup only: puts a transfer in a state the later dispatch/BHXH flows will reach. */
async function moveTo(transferId: string, status: TransferStatus, extra: { bhxhErrors?: unknown[] } = {}) {
  await gateway.db.transaction(async (tx) => {
    const current = await lockTransferInTx(tx, transferId);
    if (!current) throw new Error(`no transfer ${transferId}`);
    await changeTransferInTx(tx, current, { status, ...extra }, { actor: 'test-setup', action: `test.${status}` });
  });
}

/** From queued, the moves that reach each status as dispatch and BHXH would. */
const PATH_FROM_QUEUED: Partial<Record<TransferStatus, TransferStatus[]>> = {
  sending: ['sending'],
  sent: ['sent'],
  issued: ['sent', 'issued'],
  processed: ['sent', 'processed'],
  failed: ['sent', 'failed'],
};

async function moveFromQueued(transferId: string, status: TransferStatus) {
  for (const step of PATH_FROM_QUEUED[status] ?? []) await moveTo(transferId, step);
}

const completeBhyt = { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'buu_chinh' } as const;

function expectValidation(response: { statusCode: number; json(): any }, path: string) {
  expect(response.statusCode).toBe(400);
  const body = response.json();
  expect(body.error.code).toBe('VALIDATION_FAILED');
  expect(body.error.details.map((detail: { path: string }) => detail.path)).toContain(path);
}

describe('PATCH /ngsp/v1/khai-sinh/:transferId completes a received birth', () => {
  it('a birth without its BHYT part, completed, becomes queued with its card dossier and a corrected event', async () => {
    const doc = khaiSinh({ bhyt: null });
    const { transferId, status } = await push(doc);
    expect(status).toBe('received');

    const response = await patch(transferId, { bhyt: completeBhyt });
    expect(response.statusCode).toBe(200);
    const answer = response.json();
    expect(answer).toMatchObject({ transferId, status: 'queued', missing: [] });
    expect(answer.document.bhyt).toEqual(completeBhyt);
    expect(answer.document.hoTich).toEqual((await read(transferId)).document.hoTich);

    const transfer = await read(transferId);
    expect(transfer.status).toBe('queued');
    expect(transfer.missing).toEqual([]);
    expect(transfer.bhxhDocument).toMatchObject({
      MA_HO_SO: transferId,
      SO_DINH_DANH: doc.hoTich.soDinhDanh,
      MA_DKBD: '08001',
      HO_TEN_GIAM_HO: 'TRẦN THỊ BÌNH',
      QUAN_HE_GIAM_HO: 'ME',
      HINH_THUC_NHAN_THE: 2,
      DIA_CHI_NHAN_THE: 'Số 5, tổ 3, phường Phan Thiết',
    });
    expect(transfer.history).toEqual([
      expect.objectContaining({ action: 'khai-sinh.accepted', fromStatus: null, toStatus: 'received', actor: 'hotich-08' }),
      expect.objectContaining({
        action: 'khai-sinh.corrected', fromStatus: 'received', toStatus: 'queued', actor: 'hotich-08',
        details: { fields: ['/bhyt/noiDangKyKCB', '/bhyt/nguoiGiamHoTheo', '/bhyt/hinhThucNhanThe'] },
      }),
    ]);
  });

  it('a partial completion stays received and lists what is still missing', async () => {
    const { transferId } = await push(khaiSinh({ bhyt: null }));
    const response = await patch(transferId, { bhyt: { noiDangKyKCB: '08001' } });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ status: 'received', missing: ['/bhyt/hinhThucNhanThe'], bhxhDocument: null });

    const transfer = await read(transferId);
    expect(transfer).toMatchObject({ status: 'received', missing: ['/bhyt/hinhThucNhanThe'], bhxhDocument: null });
    expect(transfer.document.bhyt).toEqual({ noiDangKyKCB: '08001' });
    expect(transfer.history.at(-1)).toMatchObject({
      action: 'khai-sinh.corrected', fromStatus: 'received', toStatus: 'received',
      details: { fields: ['/bhyt/noiDangKyKCB'], missing: ['/bhyt/hinhThucNhanThe'] },
    });

    // The second step completes it; earlier BHYT fields are kept.
    const second = await patch(transferId, { bhyt: { hinhThucNhanThe: 'tai_tru_so' } });
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({ status: 'queued', missing: [] });
    expect(second.json().document.bhyt).toEqual({ noiDangKyKCB: '08001', hinhThucNhanThe: 'tai_tru_so' });
    expect(second.json().bhxhDocument).toMatchObject({ MA_DKBD: '08001', HINH_THUC_NHAN_THE: 1, QUAN_HE_GIAM_HO: 'ME' });
  });

  it('supplying the guardian\'s address (meNoiCuTru) completes the record, the dossier carries it', async () => {
    const doc = khaiSinh({ hoTich: { meNoiCuTru: undefined } });
    delete (doc.hoTich as Partial<KhaiSinh['hoTich']>).meNoiCuTru;
    const { transferId, status } = await push(doc);
    expect(status).toBe('received');
    const before = await read(transferId);
    expect(before.missing).toEqual(['/hoTich/meNoiCuTru']);

    const address = { maTinh: '08', maHuyen: '070', maXa: '02218', dcChiTiet: '  Thôn  Tân   Phú,  xã An Tường ' };
    const response = await patch(transferId, { hoTich: { meNoiCuTru: address } });
    expect(response.statusCode).toBe(200);
    const transfer = await read(transferId);
    expect(transfer).toMatchObject({ status: 'queued', missing: [] });
    const normalisedAddress = { ...address, dcChiTiet: 'Thôn Tân Phú, xã An Tường' };
    // Only the given field changed; the rest of the stored document is as it was.
    expect(transfer.document).toEqual({ ...before.document, hoTich: { ...before.document.hoTich, meNoiCuTru: normalisedAddress } });
    expect(transfer.bhxhDocument).toMatchObject({
      MA_TINH: '08', MA_HUYEN: '070', MA_XA: '02218', DIA_CHI: 'Thôn Tân Phú, xã An Tường',
      DIA_CHI_NHAN_THE: 'Thôn Tân Phú, xã An Tường', HO_TEN_GIAM_HO: 'TRẦN THỊ BÌNH',
    });
    expect(transfer.history.at(-1)).toMatchObject({ action: 'khai-sinh.corrected', details: { fields: ['/hoTich/meNoiCuTru'] } });
  });

  it('a hoTich correction of a record without BHYT part changes only that field (no empty bhyt appears)', async () => {
    const { transferId } = await push(khaiSinh({ bhyt: null }));
    const before = await read(transferId);
    const response = await patch(transferId, { hoTich: { nksNoiSinh: 'Trạm y tế xã An Tường' } });
    expect(response.statusCode).toBe(200);
    const transfer = await read(transferId);
    expect(transfer.status).toBe('received');
    expect(transfer.document).toEqual({ ...before.document, hoTich: { ...before.document.hoTich, nksNoiSinh: 'Trạm y tế xã An Tường' } });
  });
});

describe('PATCH of a queued birth', () => {
  it('correcting the child\'s name keeps it queued, the dossier follows, and no second transfer appears', async () => {
    const doc = khaiSinh();
    const { transferId, status } = await push(doc);
    expect(status).toBe('queued');
    const before = await read(transferId);
    const transfers = await countRows(gateway.db, 'transfers');
    const inbound = await countRows(gateway.db, 'inbound_messages');

    // NFD input with stray spaces is stored as NFC, trimmed and collapsed.
    const response = await patch(transferId, { hoTich: { nksHoTen: '  Nguyễn   Thị Ánh Dương '.normalize('NFD') } });
    expect(response.statusCode).toBe(200);
    const transfer = await read(transferId);
    expect(transfer.status).toBe('queued');
    expect(transfer.transferId).toBe(transferId);
    expect(transfer.document).toEqual({ ...before.document, hoTich: { ...before.document.hoTich, nksHoTen: 'Nguyễn Thị Ánh Dương' } });
    expect(transfer.bhxhDocument).toEqual({ ...before.bhxhDocument, HO_TEN: 'NGUYỄN THỊ ÁNH DƯƠNG' });
    expect(transfer.history.map((event: { action: string; fromStatus: string; toStatus: string }) => [event.action, event.fromStatus, event.toStatus])).toEqual([
      ['khai-sinh.accepted', null, 'queued'],
      ['khai-sinh.corrected', 'queued', 'queued'],
    ]);
    expect(await countRows(gateway.db, 'transfers')).toBe(transfers);
    expect(await countRows(gateway.db, 'inbound_messages')).toBe(inbound);
  });

  it('changing the guardian to the father follows into the dossier', async () => {
    const chaNoiCuTru = { maTinh: '08', maXa: '02215', dcChiTiet: 'Tổ 7, phường Phan Thiết' };
    const { transferId } = await push(khaiSinh({ hoTich: { chaNoiCuTru, chaSoDDCN: '008093001111' } }));
    const response = await patch(transferId, { bhyt: { nguoiGiamHoTheo: 'cha' } });
    expect(response.statusCode).toBe(200);
    const transfer = await read(transferId);
    expect(transfer.status).toBe('queued');
    expect(transfer.document.bhyt).toEqual({ ...completeBhyt, nguoiGiamHoTheo: 'cha' });
    expect(transfer.bhxhDocument).toMatchObject({
      HO_TEN_GIAM_HO: 'NGUYỄN VĂN CƯỜNG', QUAN_HE_GIAM_HO: 'CHA', SO_DINH_DANH_GIAM_HO: '008093001111',
      DIA_CHI: 'Tổ 7, phường Phan Thiết', MA_XA: '02215',
    });
    expect(transfer.bhxhDocument).not.toHaveProperty('MA_HUYEN');
  });
});

describe('a correction that breaks a rule changes nothing', () => {
  it('a personal number that disagrees with the child\'s sex is 400 with its path', async () => {
    const { transferId } = await push(khaiSinh());
    const before = await read(transferId);
    const events = await auditCount();
    // 4th digit 2 = male born 2000–2099, but the child is a girl.
    const response = await patch(transferId, { hoTich: { soDinhDanh: personalNumber('008', 25, 2) } });
    expectValidation(response, '/hoTich/soDinhDanh');
    expect(response.json().error.details).toContainEqual(expect.objectContaining({ path: '/hoTich/soDinhDanh', code: 'PERSONAL_NUMBER_MISMATCH' }));
    expect(await read(transferId)).toEqual(before);
    expect(await auditCount()).toBe(events);
  });

  it('a birth date the personal number disagrees with is 400 at /hoTich/soDinhDanh', async () => {
    const { transferId } = await push(khaiSinh({ bhyt: null }));
    const before = await read(transferId);
    const events = await auditCount();
    const response = await patch(transferId, { bhyt: completeBhyt, hoTich: { nksNgaySinh: '01.03.2024' } });
    expectValidation(response, '/hoTich/soDinhDanh');
    expect(await read(transferId)).toEqual(before);
    expect(await auditCount()).toBe(events);
  });

  it('schema errors inside the correction point into the document', async () => {
    const { transferId } = await push(khaiSinh());
    const before = await read(transferId);
    const events = await auditCount();
    const badCode = await patch(transferId, { hoTich: { nksGioiTinh: 9 }, bhyt: { noiDangKyKCB: 'X' } });
    expectValidation(badCode, '/hoTich/nksGioiTinh');
    expect(badCode.json().error.details.map((detail: { path: string }) => detail.path)).toContain('/bhyt/noiDangKyKCB');
    expectValidation(await patch(transferId, { hoTich: { nksMauMat: 'nâu' } }), '/hoTich/nksMauMat');
    expectValidation(await patch(transferId, { bhyt: { nguoiGiamHoTheo: 'ong_ba' } }), '/bhyt/nguoiGiamHoTheo');
    expect(await read(transferId)).toEqual(before);
    expect(await auditCount()).toBe(events);
  });

  it('a correction making the child 6 or older on the registration day is NOT_ELIGIBLE_AGE', async () => {
    const { transferId } = await push(khaiSinh());
    const before = await read(transferId);
    const events = await auditCount();
    const response = await patch(transferId, { hoTich: { nksNgaySinh: '01.03.2018', soDinhDanh: personalNumber('008', 18, 3) } });
    expect(response.statusCode).toBe(422);
    expect(response.json().error.code).toBe('NOT_ELIGIBLE_AGE');
    expect(response.json().error.details).toContainEqual(expect.objectContaining({ path: '/hoTich/nksNgaySinh' }));
    expect(await read(transferId)).toEqual(before);
    expect(await auditCount()).toBe(events);
  });

  it('a personal number already held by another birth is DUPLICATE_PERSON and changes nothing', async () => {
    const first = khaiSinh();
    await push(first);
    const { transferId } = await push(khaiSinh());
    const before = await read(transferId);
    const events = await auditCount();
    const response = await patch(transferId, { hoTich: { soDinhDanh: first.hoTich.soDinhDanh } });
    expect(response.statusCode).toBe(409);
    expect(response.json().error).toMatchObject({ code: 'DUPLICATE_PERSON', details: [expect.objectContaining({ path: '/hoTich/soDinhDanh' })] });
    expect(await read(transferId)).toEqual(before);
    expect(await auditCount()).toBe(events);
  });
});

describe('which states may be corrected', () => {
  // The officer is told why, in the names the civil-status software uses.
  it.each([
    ['sending', /^The transfer is sending \(đang gửi\): it is in a batch on its way to BHXH, not yet acknowledged; it can be corrected only if BHXH returns it$/],
    ['sent', /^The transfer is sent \(đã gửi\): BHXH has it and has not answered yet; it can be corrected only if BHXH returns it$/],
    ['issued', /^The transfer is issued \(đã cấp thẻ\), a final status: it can no longer be corrected$/],
    ['processed', /^The transfer is processed \(đã báo giảm\), a final status: it can no longer be corrected$/],
    ['failed', /^The transfer is failed \(gửi không thành công\): only a received \(chưa gửi\), queued \(chờ gửi\) or returned \(bị trả về\) transfer can be corrected$/],
  ] as const)('a %s transfer is 409 INVALID_STATE saying why, and stays as it is', async (state, message) => {
    const { transferId } = await push(khaiSinh());
    await moveFromQueued(transferId, state);
    const before = await read(transferId);
    expect(before.status).toBe(state);
    const events = await auditCount();
    const response = await patch(transferId, { hoTich: { nksHoTen: 'Nguyễn Thị Khác' } });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toEqual({ error: expect.objectContaining({ code: 'INVALID_STATE', message: expect.stringMatching(message) }) });
    expect(await read(transferId)).toEqual(before);
    expect(await auditCount()).toBe(events);
  });

  it('a returned transfer corrected stays returned with its new dossier; resend makes it queued', async () => {
    const { transferId } = await push(khaiSinh());
    await moveTo(transferId, 'sent');
    const bhxhErrors = [{ MA_LOI: 'SAI_HO_TEN', MO_TA: 'Họ tên không khớp' }];
    await moveTo(transferId, 'returned', { bhxhErrors });
    const before = await read(transferId);
    expect(before.errors).toEqual(bhxhErrors);

    const response = await patch(transferId, { hoTich: { nksHoTen: 'Nguyễn Thị Ánh Hồng' } });
    expect(response.statusCode).toBe(200);
    const corrected = await read(transferId);
    expect(corrected.status).toBe('returned');
    expect(corrected.bhxhDocument).toEqual({ ...before.bhxhDocument, HO_TEN: 'NGUYỄN THỊ ÁNH HỒNG' });
    expect(corrected.history.at(-1)).toMatchObject({ action: 'khai-sinh.corrected', fromStatus: 'returned', toStatus: 'returned' });

    const again = await resend(transferId);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ transferId, status: 'queued' });
    const resent = await read(transferId);
    expect(resent.status).toBe('queued');
    expect(resent.bhxhDocument.HO_TEN).toBe('NGUYỄN THỊ ÁNH HỒNG');
    expect(resent.history.at(-1)).toMatchObject({ action: 'transfer.resend', fromStatus: 'returned', toStatus: 'queued', actor: 'hotich-08' });

    // Once queued again it is no longer "returned": a second resend is refused.
    const twice = await resend(transferId);
    expect(twice.statusCode).toBe(409);
    expect(twice.json().error.code).toBe('INVALID_STATE');
  });

  it('a returned transfer left incomplete by a correction cannot be resent until it is complete again', async () => {
    const { transferId } = await push(khaiSinh());
    await moveTo(transferId, 'sent');
    await moveTo(transferId, 'returned', { bhxhErrors: [{ MA_LOI: 'SAI_DIA_CHI', MO_TA: 'Địa chỉ không đúng' }] });
    // An empty value removes a field, as an empty XML element does.
    const cleared = await patch(transferId, { hoTich: { meNoiCuTru: '' } });
    expect(cleared.statusCode).toBe(200);
    expect(cleared.json()).toMatchObject({ status: 'returned', missing: ['/hoTich/meNoiCuTru'], bhxhDocument: null });

    const refused = await resend(transferId);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'INVALID_STATE', details: [expect.objectContaining({ path: '/hoTich/meNoiCuTru' })] });
    expect((await read(transferId)).status).toBe('returned');

    const address = { maTinh: '08', maXa: '02215', dcChiTiet: 'Số 9, tổ 1, phường Phan Thiết' };
    expect((await patch(transferId, { hoTich: { meNoiCuTru: address } })).statusCode).toBe(200);
    const again = await resend(transferId);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ status: 'queued', missing: [], bhxhDocument: expect.objectContaining({ DIA_CHI: 'Số 9, tổ 1, phường Phan Thiết' }) });
  });

  it.each([
    ['received', /^The transfer is received \(chưa gửi\): only a returned \(bị trả về\) transfer can be resent$/],
    ['queued', /^The transfer is queued \(chờ gửi\): only a returned \(bị trả về\) transfer can be resent$/],
    ['sending', /^The transfer is sending \(đang gửi\): it is in a batch on its way to BHXH, not yet acknowledged; it can be resent only if BHXH returns it$/],
    ['sent', /^The transfer is sent \(đã gửi\): BHXH has it and has not answered yet; it can be resent only if BHXH returns it$/],
    ['issued', /^The transfer is issued \(đã cấp thẻ\), a final status: it can no longer be resent$/],
    ['failed', /^The transfer is failed \(gửi không thành công\): only a returned \(bị trả về\) transfer can be resent$/],
  ] as const)('resend of a %s transfer is 409 INVALID_STATE saying why', async (state, message) => {
    const { transferId } = await push(khaiSinh(state === 'received' ? { bhyt: null } : {}));
    await moveFromQueued(transferId, state);
    const before = await read(transferId);
    expect(before.status).toBe(state);
    const events = await auditCount();
    const response = await resend(transferId);
    expect(response.statusCode).toBe(409);
    expect(response.json().error).toMatchObject({ code: 'INVALID_STATE', message: expect.stringMatching(message) });
    expect(await read(transferId)).toEqual(before);
    expect(await auditCount()).toBe(events);
  });
});

describe('who may correct what', () => {
  it('an unknown transferId is 404 NOT_FOUND for PATCH and resend', async () => {
    for (const id of ['0190f0f0-0000-7000-8000-000000000000', 'no-such-transfer']) {
      const patched = await patch(id, { bhyt: completeBhyt });
      expect(patched.statusCode).toBe(404);
      expect(patched.json().error.code).toBe('NOT_FOUND');
      const resent = await resend(id);
      expect(resent.statusCode).toBe(404);
      expect(resent.json().error.code).toBe('NOT_FOUND');
    }
  });

  it('another registry client\'s transfer is 404, as if it did not exist, and is not changed', async () => {
    const { transferId } = await push(khaiSinh({ bhyt: null }));
    const before = await read(transferId);
    for (const other of ['registry08b', 'registry01'] as const) {
      const response = await patch(transferId, { bhyt: completeBhyt }, other);
      expect(response.statusCode).toBe(404);
      expect(response.json().error.code).toBe('NOT_FOUND');
      expect((await resend(transferId, other)).statusCode).toBe(404);
    }
    expect(await read(transferId)).toEqual(before);
  });

  it('an operator for all provinces may correct; an operator scoped to 01 gets 404 for an 08 transfer', async () => {
    const { transferId } = await push(khaiSinh({ bhyt: null }));
    const scoped = await patch(transferId, { bhyt: completeBhyt }, 'operator01');
    expect(scoped.statusCode).toBe(404);
    expect(scoped.json().error.code).toBe('NOT_FOUND');
    expect((await read(transferId)).status).toBe('received');

    const response = await patch(transferId, { bhyt: completeBhyt }, 'operator');
    expect(response.statusCode).toBe(200);
    const transfer = await read(transferId);
    expect(transfer.status).toBe('queued');
    expect(transfer.history.at(-1)).toMatchObject({ action: 'khai-sinh.corrected', actor: 'ops-all' });
  });

  it('roles that may not correct are 403', async () => {
    const { transferId } = await push(khaiSinh({ bhyt: null }));
    for (const as of ['bhxh08', 'auditor'] as const) {
      const response = await patch(transferId, { bhyt: completeBhyt }, as);
      expect(response.statusCode).toBe(403);
      expect(response.json().error.code).toBe('FORBIDDEN');
    }
    expect((await read(transferId)).status).toBe('received');
  });

  it('a registry client may not move a record to a province outside its units', async () => {
    const { transferId } = await push(khaiSinh());
    const before = await read(transferId);
    const response = await patch(transferId, { hoTich: { noiDangKy: { maTinh: '01', maXa: '02215' } } });
    expect(response.statusCode).toBe(403);
    expect(response.json().error.code).toBe('FORBIDDEN');
    expect(await read(transferId)).toEqual(before);
  });

  it('after any correction of noiDangKy the transfer\'s province agrees with its document', async () => {
    const { transferId } = await push(khaiSinh());
    // maDonVi stays the commune 02215, so only the province changes; 01 lists no communes (shape check only).
    await patch(transferId, { hoTich: { noiDangKy: { maTinh: '01', maXa: '02215' } } }, 'operator');
    const transfer = await read(transferId, 'operator');
    expect(transfer.maTinh).toBe(transfer.document.hoTich.noiDangKy.maTinh);
  });
});

describe('the PATCH body', () => {
  it('an unknown top-level field is 400 VALIDATION_FAILED naming it', async () => {
    const { transferId } = await push(khaiSinh({ bhyt: null }));
    const response = await patch(transferId, { bhyt: completeBhyt, messageId: 'other' });
    expectValidation(response, '/messageId');
    expect((await read(transferId)).status).toBe('received');
  });

  it('the same correction as XML (application/xml, root KhaiSinh) is applied as JSON would be', async () => {
    const { transferId } = await push(khaiSinh({ bhyt: null }));
    const response = await gateway.request('registry08', {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${transferId}`, headers: { 'content-type': 'application/xml' },
      payload: toXml('KhaiSinh', { bhyt: completeBhyt, hoTich: { meLoaiCuTru: 2 } }),
    });
    expect(response.statusCode).toBe(200);
    const transfer = await read(transferId);
    expect(transfer.status).toBe('queued');
    expect(transfer.document.bhyt).toEqual(completeBhyt);
    // XML carries text; the one validator coerces it as at intake.
    expect(transfer.document.hoTich.meLoaiCuTru).toBe(2);
  });

  it('an empty object, or parts that are not objects, are 400 VALIDATION_FAILED', async () => {
    const { transferId } = await push(khaiSinh({ bhyt: null }));
    const events = await auditCount();
    const empty = await patch(transferId, {});
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe('VALIDATION_FAILED');
    expectValidation(await patch(transferId, { bhyt: 'me' }), '/bhyt');
    expectValidation(await patch(transferId, { hoTich: [1] }), '/hoTich');
    expect(await auditCount()).toBe(events);
    expect((await read(transferId)).status).toBe('received');
  });
});

describe('concurrent corrections', () => {
  it('PATCHes of one transfer at once all apply, none is lost, and the audit chain verifies', async () => {
    const { transferId } = await push(khaiSinh({ bhyt: null }));
    const corrections = [
      { bhyt: completeBhyt },
      { hoTich: { nksNoiSinh: 'Trạm y tế phường Phan Thiết' } },
      { hoTich: { nksQueQuan: 'Tuyên Quang' } },
      { hoTich: { trangSo: '42' } },
      { hoTich: { nycSoDienThoai: '0987654321' } },
      { hoTich: { nycEmail: 'cuong@example.vn' } },
      { hoTich: { meLoaiCuTru: 2 } },
      { hoTich: { chaLoaiCuTru: 1 } },
    ];
    const responses = await Promise.all(corrections.map((body) => patch(transferId, body)));
    expect(responses.map((response) => response.statusCode)).toEqual(corrections.map(() => 200));

    const transfer = await read(transferId);
    expect(transfer.status).toBe('queued');
    expect(transfer.document.bhyt).toEqual(completeBhyt);
    expect(transfer.document.hoTich).toMatchObject({
      nksNoiSinh: 'Trạm y tế phường Phan Thiết', nksQueQuan: 'Tuyên Quang', trangSo: '42',
      nycSoDienThoai: '0987654321', nycEmail: 'cuong@example.vn', meLoaiCuTru: 2, chaLoaiCuTru: 1,
    });
    const corrected = transfer.history.filter((event: { action: string }) => event.action === 'khai-sinh.corrected');
    expect(corrected).toHaveLength(corrections.length);
    // Each event starts where the one before it ended: the changes were serialised.
    for (let index = 1; index < transfer.history.length; index += 1) {
      expect(transfer.history[index].fromStatus).toBe(transfer.history[index - 1].toStatus);
      expect(transfer.history[index].seq).toBeGreaterThan(transfer.history[index - 1].seq);
    }

    const verify = await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' });
    expect(verify.statusCode).toBe(200);
    expect(verify.json()).toMatchObject({ ok: true, events: await auditCount() });
  });

  it('concurrent PATCHes and a resend of a returned transfer each succeed or fail cleanly; the chain verifies', async () => {
    const { transferId } = await push(khaiSinh());
    await moveTo(transferId, 'sent');
    await moveTo(transferId, 'returned', { bhxhErrors: [{ MA_LOI: 'X', MO_TA: 'x' }] });
    const responses = await Promise.all([
      patch(transferId, { hoTich: { nksHoTen: 'Nguyễn Thị Một' } }),
      resend(transferId),
      patch(transferId, { hoTich: { nksNoiSinh: 'Nhà hộ sinh' } }),
      resend(transferId),
    ]);
    for (const response of responses) {
      expect([200, 409]).toContain(response.statusCode);
      if (response.statusCode === 409) expect(response.json().error.code).toBe('INVALID_STATE');
    }
    // Exactly one resend wins; the other sees a queued transfer.
    expect([responses[1]!.statusCode, responses[3]!.statusCode].sort()).toEqual([200, 409]);
    const transfer = await read(transferId);
    expect(transfer.status).toBe('queued');
    const applied = transfer.history.filter((event: { action: string }) => event.action !== 'khai-sinh.accepted' && !event.action.startsWith('test.'));
    expect(applied).toHaveLength(responses.filter((response) => response.statusCode === 200).length);
    const verify = await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' });
    expect(verify.json()).toMatchObject({ ok: true });
  });
});

describe('a birth that holds more than 20 files, kept before BHXH\'s limit was enforced', () => {
  /** Test setup only: files kept for the birth as a gateway before that limit could have kept them, in order; file i holds the text `${transferId}${i}`. */
  async function keepFilesAsBefore(transferId: string, count: number): Promise<string[]> {
    const { rows } = await gateway.db.query<{ sha256: string }>(
      `INSERT INTO attachments (transfer_id, sha256, loai, ten, file_name, size_bytes, content, created_at)
       SELECT $1, encode(sha256(convert_to($1 || i, 'UTF8')), 'hex'), 'GKS', 'Giấy tờ ' || i, 'tep-' || i || '.pdf',
              octet_length($1 || i), convert_to($1 || i, 'UTF8'),
              now() - interval '1 hour' + i * interval '1 second'
         FROM generate_series(1, $2::int) AS i
       RETURNING sha256`,
      [transferId, count],
    );
    return rows.map((row) => row.sha256);
  }
  const dossierFor = (doc: KhaiSinh, files: Array<{ file: NonNullable<HoSoMotCua['fileDinhKem']>[number] }>) =>
    gateway.request('registry08b', {
      method: 'POST', url: '/ngsp/v1/mot-cua',
      payload: hoSoMotCua({ hoTich: { soDinhDanh: doc.hoTich.soDinhDanh }, fileDinhKem: files.map((f) => f.file) }) as unknown as object,
    });

  it('a correction is taken: the card dossier cites the 20 kept first, the event says how many are not cited', async () => {
    const doc = khaiSinh({ bhyt: null });
    const { transferId, status } = await push(doc);
    expect(status).toBe('received');
    const kept = await keepFilesAsBefore(transferId, 22);

    const response = await patch(transferId, { bhyt: completeBhyt });
    expect(response.statusCode, response.body).toBe(200);
    const corrected = await read(transferId);
    expect(corrected.status).toBe('queued');
    expect(corrected.bhxhDocument.TEP_DINH_KEM.map((ref: { SHA256: string }) => ref.SHA256)).toEqual(kept.slice(0, 20));
    expect(corrected.history.at(-1)).toMatchObject({ action: 'khai-sinh.corrected', details: { filesNotCited: 2 } });
  });

  it('a dossier that brings no file the birth lacks is taken; one that adds a file is refused at /fileDinhKem, nothing written', async () => {
    const doc = khaiSinh({ bhyt: null });
    const { transferId } = await push(doc);
    await keepFilesAsBefore(transferId, 21);

    const before = await auditCount();
    const adding = await dossierFor(doc, [attachment()]);
    expect(adding.statusCode, adding.body).toBe(400);
    expect(adding.json().error).toMatchObject({
      code: 'VALIDATION_FAILED', details: [{ path: '/fileDinhKem', code: 'MAXITEMS', message: expect.stringContaining('already carries 21') }],
    });
    expect(await auditCount()).toBe(before);

    // Its content is one of the files the birth keeps (setup: the transfer id and the file's number).
    const repeated = await dossierFor(doc, [attachment(`${transferId}3`)]);
    expect(repeated.statusCode, repeated.body).toBe(202);
    expect(repeated.json()).toMatchObject({ transferId, status: 'received' });
  });
});
