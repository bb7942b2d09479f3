import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { issueCard, BhxhSimulator } from '../src/dev/bhxh-simulator.js';
import { khaiSinh } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

let simulator: BhxhSimulator;
let gateway: TestGateway;

beforeAll(async () => {
  simulator = new BhxhSimulator();
  await simulator.start();
  gateway = await startTestGateway({
    startDispatcher: true,
    env: {
      BHXH_PUSH_URL: simulator.url, BHXH_PUSH_TOKEN: 'bhxh-secret', DISPATCH_BATCH_SIZE: '3',
      DISPATCH_INTERVAL_MS: '3600000', RETRY_BASE_DELAY_MS: '20',
    },
  });
});
afterAll(async () => {
  await gateway?.close();
  await simulator?.close();
});

const statusOf = async (id: string) =>
  (await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${id}` })).json();

describe('push dispatch', () => {
  it('delivers a mixed batch: each result applies to its own record', async () => {
    // BHXH's script is set before anything is queued: the scheduler may run at any moment.
    const docs = Array.from({ length: 5 }, () => khaiSinh());
    const refusedPeople = new Set([docs[1]?.hoTich.soDinhDanh, docs[3]?.hoTich.soDinhDanh]);
    simulator.setScript({
      kind: 'answer',
      result: (record) => refusedPeople.has(String(record.SO_DINH_DANH))
        ? { MA_HO_SO: record.MA_HO_SO, KET_QUA: 'LOI', LOI: [{ MA_LOI: 'TRUNG_NHAN_KHAU', MO_TA: 'Trùng nhân khẩu' }] }
        : issueCard(record),
    });
    const ids: string[] = [];
    for (const doc of docs) {
      const response = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc });
      expect(response.statusCode).toBe(202);
      ids.push(response.json().transferId);
    }
    const run = await gateway.request('operator', { method: 'POST', url: '/ops/v1/dispatch/run' });
    expect(run.statusCode).toBe(202);

    await vi.waitFor(async () => {
      for (const id of ids) expect(['issued', 'returned']).toContain((await statusOf(id)).status);
    }, { timeout: 10_000, interval: 50 });

    // Five records in batches of at most three (the scheduler's first run may already have taken some),
    // each record sent once, each batch with its id as Idempotency-Key.
    const sizes = simulator.deliveries.map((delivery) => delivery.body.records.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(5);
    expect(simulator.recordsReceived().sort()).toEqual([...ids].sort());
    for (const delivery of simulator.deliveries) {
      expect(delivery.idempotencyKey).toBe(delivery.batchId);
      expect(delivery.authorization).toBe('Bearer bhxh-secret');
      expect(delivery.body).toMatchObject({ maTinh: '08', loai: 'CAP_THE_TE' });
    }

    const issued = await statusOf(ids[0] as string);
    expect(issued.status).toBe('issued');
    expect(issued.card).toMatchObject({ maSoBHXH: expect.stringMatching(/^\d{10}$/), maThe: expect.stringMatching(/^TE108\d{10}$/), gtTheTu: '20250301' });
    expect(issued.deliveries).toEqual([expect.objectContaining({ mode: 'push', outcome: 'issued', attempts: [expect.objectContaining({ outcome: 'answered', httpStatus: 200 })] })]);
    expect(issued.history.map((event: { toStatus: string }) => event.toStatus)).toEqual(['queued', 'sending', 'sent', 'issued']);

    const returned = await statusOf(ids[1] as string);
    expect(returned).toMatchObject({ status: 'returned', errors: [{ MA_LOI: 'TRUNG_NHAN_KHAU', MO_TA: 'Trùng nhân khẩu' }] });
    const warnings = await gateway.request('registry08', { method: 'GET', url: '/ngsp/v1/transfers?status=returned' });
    expect(warnings.json().items.map((item: { transferId: string }) => item.transferId).sort()).toEqual([ids[1], ids[3]].sort());

    const metrics = (await gateway.request(null, { method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/lienthong_bhxh_returned_errors_total\{code="TRUNG_NHAN_KHAU"\} 2/);
    expect(metrics).toMatch(/lienthong_bhxh_results_total\{outcome="issued"\} 3/);
    expect((await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });
});
