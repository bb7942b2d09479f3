import { afterEach, describe, expect, it, vi } from 'vitest';
import { issueCard } from '../src/dev/bhxh-simulator.js';
import { startDispatchHarness, type DispatchHarness } from './support/dispatch-harness.js';
import { startTestGateway } from './support/gateway.js';
import { khaiSinh } from './support/fixtures.js';
import { capLaiThe, thayDoiThongTin } from './support/reissue-fixtures.js';

/**
 * Card requests go to BHXH as CAP_LAI_THE records through the same dispatch as births and deaths
 * (docs/API.md, "Card re-issue and change"): BHXH's OK issues the new card, its LOI returns the
 * request, which its office corrects and resends, or an operator replays.
 */

let h: DispatchHarness | undefined;
const WAIT = { timeout: 15_000, interval: 50 };

afterEach(async () => {
  const current = h;
  h = undefined;
  await current?.close();
});

async function start(): Promise<DispatchHarness> {
  h = await startDispatchHarness({ env: { BHXH_TIMEOUT_MS: '2000' } });
  return h;
}

interface TransferView {
  status: string;
  card: Record<string, string> | null;
  errors: Array<{ MA_LOI: string }>;
  document: { nguoi: { hoTen: string } };
  bhxhDocument: Record<string, unknown>;
  history: Array<{ action: string; toStatus: string | null }>;
}

async function detail(harness: DispatchHarness, id: string): Promise<TransferView> {
  const response = await harness.gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${id}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

async function waitForStatus(harness: DispatchHarness, id: string, status: string): Promise<TransferView> {
  let seen: TransferView | undefined;
  await vi.waitFor(async () => {
    seen = await detail(harness, id);
    expect(seen.status).toBe(status);
  }, WAIT);
  return seen as TransferView;
}

describe('CAP_LAI_THE to BHXH', () => {
  it('answered OK: issued, with the new card; the batch is a CAP_LAI_THE batch of the province', async () => {
    const harness = await start();
    const doc = capLaiThe();
    const response = await harness.gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: doc });
    expect(response.statusCode, response.body).toBe(202);
    const { transferId, hanTra } = response.json();

    await harness.runs.run();
    const issued = await waitForStatus(harness, transferId, 'issued');
    const delivery = harness.simulator.deliveries[0];
    expect(delivery?.body).toMatchObject({ loai: 'CAP_LAI_THE', maTinh: '08' });
    expect(delivery?.body.records).toEqual([expect.objectContaining({ MA_HO_SO: transferId, LY_DO: 1, HAN_TRA: hanTra.replaceAll('-', '') })]);
    expect(issued.card).toEqual({
      maSoBHXH: doc.nguoi.maSoBhxh, maThe: doc.maThe, gtTheTu: hanTra.replaceAll('-', ''), gtTheDen: `${hanTra.slice(0, 4)}1231`,
    });
  });

  it('answered LOI: returned with BHXH\'s errors; its office corrects it and resends it, and the new answer issues the card', async () => {
    const harness = await start();
    const doc = thayDoiThongTin();
    harness.simulator.setScript(
      { kind: 'answer', result: (record) => ({ MA_HO_SO: record.MA_HO_SO, KET_QUA: 'LOI', LOI: [{ MA_LOI: 'SAI_HO_TEN', MO_TA: 'Họ tên không khớp' }] }) },
      { kind: 'answer', result: issueCard },
    );
    const response = await harness.gateway.request('correction08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: doc });
    expect(response.statusCode, response.body).toBe(202);
    const { transferId } = response.json();

    await harness.runs.run();
    const returned = await waitForStatus(harness, transferId, 'returned');
    expect(returned.errors).toEqual([{ MA_LOI: 'SAI_HO_TEN', MO_TA: 'Họ tên không khớp' }]);

    // Another kind of account of the same office may not touch it; its own kind may.
    const patch = (as: 'reissue08' | 'correction08') => harness.gateway.request(as, {
      method: 'PATCH', url: `/ngsp/v1/cap-lai-the/${transferId}`, payload: { nguoi: { hoTen: 'Nguyễn Văn Bính' } },
    });
    expect((await patch('reissue08')).statusCode).toBe(404);
    const corrected = await patch('correction08');
    expect(corrected.statusCode, corrected.body).toBe(200);
    expect(corrected.json()).toMatchObject({ status: 'returned', document: { nguoi: { hoTen: 'Nguyễn Văn Bính' } }, bhxhDocument: { HO_TEN: 'NGUYỄN VĂN BÍNH' } });

    const resent = await harness.gateway.request('correction08', { method: 'POST', url: `/ngsp/v1/transfers/${transferId}/resend` });
    expect(resent.statusCode, resent.body).toBe(200);
    expect(resent.json().status).toBe('queued');

    await harness.runs.run();
    const issued = await waitForStatus(harness, transferId, 'issued');
    expect(issued.card?.maThe).toBe(doc.maThe);
    expect(harness.simulator.deliveries.map((delivery) => delivery.body.records[0]?.HO_TEN)).toEqual(['NGUYỄN VĂN BÌNH', 'NGUYỄN VĂN BÍNH']);
    expect(issued.history.map((event) => event.action)).toEqual(expect.arrayContaining(['cap-lai-the.accepted', 'cap-lai-the.corrected', 'transfer.resend']));
  });

  it('a returned request is replayed by an operator, and a correction is refused once it is with BHXH again', async () => {
    const harness = await start();
    harness.simulator.setScript(
      { kind: 'answer', result: (record) => ({ MA_HO_SO: record.MA_HO_SO, KET_QUA: 'LOI', LOI: [{ MA_LOI: 'TAM_DUNG' }] }) },
      { kind: 'accept' },
    );
    const response = await harness.gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: capLaiThe({ lyDo: 'hong' }) });
    const { transferId } = response.json();
    await harness.runs.run();
    await waitForStatus(harness, transferId, 'returned');

    const replayed = await harness.gateway.request('operator', {
      method: 'POST', url: `/ops/v1/transfers/${transferId}/replay`, payload: { reason: 'BHXH lifted its pause' },
    });
    expect(replayed.statusCode, replayed.body).toBe(200);
    await harness.runs.run();
    await waitForStatus(harness, transferId, 'sent');
    const late = await harness.gateway.request('reissue08', {
      method: 'PATCH', url: `/ngsp/v1/cap-lai-the/${transferId}`, payload: { hinhThucNhanThe: 'buu_chinh', diaChiNhanThe: 'Số 5' },
    });
    expect(late.statusCode).toBe(409);
    expect(late.json().error.code).toBe('INVALID_STATE');
  });
});

describe('CAP_LAI_THE leased by BHXH', () => {
  it('BHXH leases the province\'s card requests as a CAP_LAI_THE batch and answers them: OK issues, LOI returns', async () => {
    const gateway = await startTestGateway();
    try {
      const ids: string[] = [];
      for (const doc of [capLaiThe(), capLaiThe({ lyDo: 'hong' })]) {
        const response = await gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: doc });
        expect(response.statusCode, response.body).toBe(202);
        ids.push(response.json().transferId);
      }
      const births = await gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'CAP_THE_TE' } });
      expect(births.statusCode).toBe(204);
      const leased = await gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'CAP_LAI_THE' } });
      expect(leased.statusCode, leased.body).toBe(200);
      const batch = leased.json() as { batchId: string; loai: string; records: Array<Record<string, unknown>> };
      expect(batch.loai).toBe('CAP_LAI_THE');
      expect(batch.records.map((record) => record.MA_HO_SO)).toEqual(ids);

      const [ok, loi] = batch.records as [Record<string, unknown>, Record<string, unknown>];
      const answered = await gateway.request('bhxh08', {
        method: 'POST', url: `/bhxh/v1/batches/${batch.batchId}/results`,
        payload: { results: [issueCard(ok), { MA_HO_SO: loi.MA_HO_SO, KET_QUA: 'LOI', LOI: [{ MA_LOI: 'THE_DA_CAP' }] }] },
      });
      expect(answered.statusCode, answered.body).toBe(200);
      const read = async (id: string) => (await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${id}` })).json();
      expect(await read(ids[0] as string)).toMatchObject({ status: 'issued', card: { maThe: ok.MA_THE } });
      expect(await read(ids[1] as string)).toMatchObject({ status: 'returned', errors: [{ MA_LOI: 'THE_DA_CAP' }] });
    } finally {
      await gateway.close();
    }
  });

  it('an OK without the new card is rejected, never applied', async () => {
    const gateway = await startTestGateway();
    try {
      const response = await gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: capLaiThe() });
      const leased = (await gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'CAP_LAI_THE' } })).json();
      const answered = await gateway.request('bhxh08', {
        method: 'POST', url: `/bhxh/v1/batches/${leased.batchId}/results`,
        payload: { results: [{ MA_HO_SO: response.json().transferId, KET_QUA: 'OK' }] },
      });
      expect(answered.json().rejected).toEqual([expect.objectContaining({ MA_HO_SO: response.json().transferId, reason: expect.stringContaining('MA_THE') })]);
      expect((await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${response.json().transferId}` })).json().status).toBe('sent');
    } finally {
      await gateway.close();
    }
  });

  it('an OK whose card is another person\'s (MA_SO_BHXH not the request\'s) is rejected, never applied', async () => {
    const gateway = await startTestGateway();
    try {
      const response = await gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: capLaiThe() });
      const transferId = response.json().transferId as string;
      const leased = (await gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'CAP_LAI_THE' } })).json();
      const stranger = '0899999999';
      const answered = await gateway.request('bhxh08', {
        method: 'POST', url: `/bhxh/v1/batches/${leased.batchId}/results`,
        payload: { results: [{ ...issueCard(leased.records[0]), MA_SO_BHXH: stranger, MA_THE: `GD408${stranger}` }] },
      });
      expect(answered.json().rejected).toEqual([expect.objectContaining({ MA_HO_SO: transferId, reason: expect.stringContaining('MA_SO_BHXH') })]);
      expect((await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${transferId}` })).json()).toMatchObject({ status: 'sent', card: null });
    } finally {
      await gateway.close();
    }
  });

  describe('a returned request', () => {
    /** Requests, leased by BHXH and answered LOI: returned, in province 08. */
    async function returnedRequest(gateway: Awaited<ReturnType<typeof startTestGateway>>, doc = capLaiThe()): Promise<string> {
      const response = await gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: doc });
      expect(response.statusCode, response.body).toBe(202);
      const transferId = response.json().transferId as string;
      const leased = (await gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'CAP_LAI_THE' } })).json();
      const answered = await gateway.request('bhxh08', {
        method: 'POST', url: `/bhxh/v1/batches/${leased.batchId}/results`,
        payload: { results: [{ MA_HO_SO: transferId, KET_QUA: 'LOI', LOI: [{ MA_LOI: 'SAI_HO_TEN' }] }] },
      });
      expect(answered.json(), answered.body).toEqual({ accepted: 1, rejected: [] });
      return transferId;
    }

    it('is resent only by its own kind of account of its province, or an operator of it', async () => {
      const gateway = await startTestGateway();
      try {
        const transferId = await returnedRequest(gateway);
        for (const as of ['correction08', 'reissue01', 'operator01', 'registry08'] as const) {
          const refused = await gateway.request(as, { method: 'POST', url: `/ngsp/v1/transfers/${transferId}/resend` });
          expect(refused.statusCode, `${as}: ${refused.body}`).toBe(404);
        }
        const status = async () => (await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${transferId}` })).json().status;
        expect(await status()).toBe('returned');
        expect((await gateway.request('reissue08b', { method: 'POST', url: `/ngsp/v1/transfers/${transferId}/resend` })).statusCode).toBe(200);
        expect(await status()).toBe('queued');
      } finally {
        await gateway.close();
      }
    });

    it('is withdrawn by its office with a reason (→ closed, audited): no longer open, the person may ask again', async () => {
      const gateway = await startTestGateway();
      try {
        const doc = capLaiThe();
        const transferId = await returnedRequest(gateway, doc);
        const withdraw = (as: 'reissue08' | 'reissue08b' | 'correction08' | 'reissue01' | 'operator01', id = transferId) =>
          gateway.request(as, { method: 'POST', url: `/ngsp/v1/cap-lai-the/${id}/withdraw`, payload: { reason: 'The person found the lost card' } });
        const again = () => gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: capLaiThe({ lyDo: 'hong', nguoi: doc.nguoi, maThe: doc.maThe }) });
        expect((await again()).json().error.code).toBe('DUPLICATE_REQUEST');
        for (const as of ['correction08', 'reissue01', 'operator01'] as const) expect((await withdraw(as)).statusCode, as).toBe(404);

        const withdrawn = await withdraw('reissue08b');
        expect(withdrawn.statusCode, withdrawn.body).toBe(200);
        expect(withdrawn.json()).toMatchObject({ status: 'closed' });
        expect(withdrawn.json().history.at(-1)).toMatchObject({
          action: 'cap-lai-the.withdrawn', fromStatus: 'returned', toStatus: 'closed', actor: 'tkcl-08-huyen', details: { reason: 'The person found the lost card' },
        });
        expect((await again()).statusCode).toBe(202);
        // Closed is final; a request not returned is not withdrawn.
        expect((await withdraw('reissue08')).json().error.code).toBe('INVALID_STATE');
        const queued = (await gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: capLaiThe() })).json().transferId as string;
        const early = await withdraw('reissue08', queued);
        expect(early.statusCode).toBe(409);
        expect(early.json().error.code).toBe('INVALID_STATE');
      } finally {
        await gateway.close();
      }
    });

    it('is withdrawn by an operator of its province too', async () => {
      const gateway = await startTestGateway();
      try {
        const transferId = await returnedRequest(gateway);
        const withdrawn = await gateway.request('operator', {
          method: 'POST', url: `/ngsp/v1/cap-lai-the/${transferId}/withdraw`, payload: { reason: 'The office closed; the person asked elsewhere' },
        });
        expect(withdrawn.statusCode, withdrawn.body).toBe(200);
        expect(withdrawn.json().history.at(-1)).toMatchObject({ action: 'cap-lai-the.withdrawn', actor: 'ops-all', toStatus: 'closed' });
      } finally {
        await gateway.close();
      }
    });
  });

  it('a request by BHXH number alone is known by the personal number on the birth\'s issued card: one by personal number is then refused', async () => {
    const gateway = await startTestGateway();
    try {
      const birth = khaiSinh();
      const born = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: birth });
      expect(born.statusCode, born.body).toBe(202);
      const leased = (await gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'CAP_THE_TE' } })).json();
      await gateway.request('bhxh08', { method: 'POST', url: `/bhxh/v1/batches/${leased.batchId}/results`, payload: { results: leased.records.map(issueCard) } });
      const card = (await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${born.json().transferId}` })).json().card;
      expect(card?.maSoBHXH).toMatch(/^[0-9]{10}$/);

      const person = { hoTen: 'Nguyễn Thị Ánh', ngaySinh: birth.hoTich.nksNgaySinh, gioiTinh: birth.hoTich.nksGioiTinh };
      const byBhxhNumber = await gateway.request('reissue08', {
        method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: capLaiThe({ nguoi: { ...person, soDinhDanh: undefined, maSoBhxh: card.maSoBHXH }, maThe: undefined }),
      });
      expect(byBhxhNumber.statusCode, byBhxhNumber.body).toBe(202);
      const byPersonalNumber = await gateway.request('reissue08', {
        method: 'POST', url: '/ngsp/v1/cap-lai-the',
        payload: capLaiThe({ lyDo: 'hong', nguoi: { ...person, soDinhDanh: birth.hoTich.soDinhDanh, maSoBhxh: undefined }, maThe: undefined }),
      });
      expect(byPersonalNumber.statusCode, byPersonalNumber.body).toBe(409);
      expect(byPersonalNumber.json().error.code).toBe('DUPLICATE_REQUEST');
    } finally {
      await gateway.close();
    }
  });

  it('a request whose card was issued (BHXH\'s OK) is no longer open: the next one for the person is taken', async () => {
    const gateway = await startTestGateway();
    try {
      const doc = capLaiThe();
      const first = (await gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: doc })).json().transferId as string;
      const leased = (await gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'CAP_LAI_THE' } })).json();
      await gateway.request('bhxh08', { method: 'POST', url: `/bhxh/v1/batches/${leased.batchId}/results`, payload: { results: leased.records.map(issueCard) } });
      expect((await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${first}` })).json().status).toBe('issued');
      const next = await gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: capLaiThe({ lyDo: 'hong', nguoi: doc.nguoi, maThe: doc.maThe }) });
      expect(next.statusCode, next.body).toBe(202);
    } finally {
      await gateway.close();
    }
  });
});
