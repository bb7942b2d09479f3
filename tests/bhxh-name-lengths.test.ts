import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hoSoMotCua, khaiTu } from './support/death-fixtures.js';
import { khaiSinh } from './support/fixtures.js';
import { countRows, startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';

/**
 * Names within intake's 100 characters that are longer than BHXH's 200 once in capitals ('ﬃ' →
 * 'FFI'): every door that leads to a BHXH document refuses them as VALIDATION_FAILED on the field,
 * stores nothing, and never fails at the mapping (which answered 500).
 */

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway?.close();
});

const TOO_LONG = 'ﬃ'.repeat(100);

async function storedCounts() {
  return {
    transfers: await countRows(gateway.db, 'transfers'),
    inbound_messages: await countRows(gateway.db, 'inbound_messages'),
    audit_events: await countRows(gateway.db, 'audit_events'),
    attachments: await countRows(gateway.db, 'attachments'),
  };
}

const send = (url: string, payload: unknown, as: ClientName = 'registry08') =>
  gateway.request(as, { method: 'POST', url, payload: payload as object });

const read = async (transferId: string) => (await gateway.request('registry08', { method: 'GET', url: `/ngsp/v1/transfers/${transferId}` })).json();

function expectRefusedOn(response: { statusCode: number; json: () => { error: { code: string; details: unknown[] } } }, path: string) {
  expect(response.statusCode).toBe(400);
  const { error } = response.json();
  expect(error.code).toBe('VALIDATION_FAILED');
  expect(error.details).toEqual([expect.objectContaining({ path, code: 'BHXH_MAXLENGTH' })]);
}

describe('a name longer than BHXH takes once in capitals', () => {
  it('refuses a birth whose name is 201 characters in capitals, and takes one of exactly 200 whole', async () => {
    const before = await storedCounts();
    expectRefusedOn(await send('/ngsp/v1/khai-sinh', khaiSinh({ hoTich: { nksHoTen: 'ﬃ'.repeat(67) } })), '/hoTich/nksHoTen');
    expect(await storedCounts()).toEqual(before);

    const response = await send('/ngsp/v1/khai-sinh', khaiSinh({ hoTich: { nksHoTen: `${'ﬃ'.repeat(66)}ß`, meHoTen: 'ŉ'.repeat(100) } }));
    expect(response.statusCode, response.body).toBe(202);
    const { bhxhDocument } = await read(response.json().transferId);
    expect(bhxhDocument.HO_TEN).toBe(`${'FFI'.repeat(66)}SS`);
    expect(bhxhDocument.HO_TEN_GIAM_HO).toBe('ʼN'.repeat(100));
  });

  it('refuses a death whose name is 300 characters in capitals, storing nothing, and takes one of exactly 200 whole', async () => {
    const before = await storedCounts();
    expectRefusedOn(await send('/ngsp/v1/khai-tu', khaiTu({ hoTich: { nktHoTen: TOO_LONG } })), '/hoTich/nktHoTen');
    expect(await storedCounts()).toEqual(before);

    const response = await send('/ngsp/v1/khai-tu', khaiTu({ hoTich: { nktHoTen: 'ß'.repeat(100) } }));
    expect(response.statusCode, response.body).toBe(202);
    expect((await read(response.json().transferId)).bhxhDocument.HO_TEN).toBe('SS'.repeat(100));
  });

  it('refuses a correction (PATCH) to such a name and leaves the birth as it was', async () => {
    const accepted = await send('/ngsp/v1/khai-sinh', khaiSinh());
    expect(accepted.statusCode).toBe(202);
    const transferId = accepted.json().transferId;
    const before = await read(transferId);
    const response = await gateway.request('registry08', {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${transferId}`, payload: { hoTich: { nksHoTen: TOO_LONG } },
    });
    expectRefusedOn(response, '/hoTich/nksHoTen');
    expect(await read(transferId)).toEqual(before);
  });

  it.each([
    { module: 'KS' as const, hoTich: { nksHoTen: TOO_LONG }, path: '/data/nksHoTen' },
    { module: 'KT' as const, hoTich: { nktHoTen: TOO_LONG }, path: '/data/nktHoTen' },
  ])('refuses a one-stop dossier ($module) whose record holds such a name, storing nothing', async ({ module, hoTich, path }) => {
    const before = await storedCounts();
    expectRefusedOn(await send('/ngsp/v1/mot-cua', hoSoMotCua({ module, hoTich }), 'registry08b'), path);
    expect(await storedCounts()).toEqual(before);
  });

  it('refuses a dossier that would complete a birth stored with such a name before names were checked', async () => {
    const birth = khaiSinh({ bhyt: null });
    const accepted = await send('/ngsp/v1/khai-sinh', birth);
    expect(accepted.json().status).toBe('received');
    const transferId = accepted.json().transferId;
    // What an earlier version stored: an incomplete card was never mapped, so its name was never measured.
    await gateway.db.query(
      `UPDATE transfers SET document = jsonb_set(document, '{hoTich,nksHoTen}', to_jsonb($2::text)) WHERE id = $1`,
      [transferId, TOO_LONG],
    );
    const before = await storedCounts();
    const dossier = hoSoMotCua({
      hoTich: { soDinhDanh: birth.hoTich.soDinhDanh },
      bhyt: { noiDangKyKCB: '08001', hinhThucNhanThe: 'buu_chinh', nguoiGiamHoTheo: 'me' },
    });
    expectRefusedOn(await send('/ngsp/v1/mot-cua', dossier, 'registry08b'), '/hoTich/nksHoTen');
    expect(await storedCounts()).toEqual(before);
    expect(await read(transferId)).toMatchObject({ status: 'received', bhxhDocument: null });
  });
});
