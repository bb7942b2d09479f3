import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { KhaiSinh } from '../src/domain/documents.js';
import { BhxhSimulator, issueCard, type Behaviour } from '../src/dev/bhxh-simulator.js';
import { khaiTu, khaiTuOf } from './support/death-fixtures.js';
import { khaiSinh } from './support/fixtures.js';
import { capLaiThe } from './support/reissue-fixtures.js';
import { DispatchRuns } from './support/dispatch-runs.js';
import { countRows, startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * One person, in order (docs/DOMAIN.md, "Deaths"; the issue): transfers about one personal number reach BHXH in
 * registration order. A death waits while that person's card transfer is with BHXH; a card not yet
 * sent when the death is registered is never sent (`deceased`, audited); a birth for someone already
 * registered dead is refused. Each test has its own BHXH simulator, gateway and queues.
 */

/**
 * Between the gateway and the simulator: every delivery reaches the simulator at once (so its log is
 * the order in which BHXH received them), but the answer to a batch of a held `loai` is kept back
 * until `release()` — BHXH still working on the card batch while the death arrives.
 */
class GatedFront {
  private server: Server | undefined;
  private held = new Set<string>();
  private waiting: Array<() => void> = [];
  url = '';

  constructor(private readonly simulator: BhxhSimulator) {}

  async start(): Promise<string> {
    const server = createServer((request, response) => void this.forward(request, response));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  hold(loai: 'CAP_THE_TE' | 'BAO_GIAM' | 'CAP_LAI_THE'): void {
    this.held.add(loai);
  }

  release(): void {
    this.held.clear();
    for (const resume of this.waiting.splice(0)) resume();
  }

  private async forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const name of ['content-type', 'idempotency-key', 'authorization']) {
        const value = request.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const upstream = await fetch(`${this.simulator.url}${request.url ?? '/'}`, { method: request.method, headers, body });
      const text = await upstream.text();
      const loai = (JSON.parse(body) as { loai?: string }).loai ?? '';
      if (this.held.has(loai)) await new Promise<void>((resolve) => this.waiting.push(resolve));
      response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' });
      response.end(text);
    } catch {
      response.destroy();
    }
  }

  async close(): Promise<void> {
    this.release();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

interface Harness {
  simulator: BhxhSimulator;
  front: GatedFront;
  gateway: TestGateway;
  runs: DispatchRuns;
}

let h: Harness | undefined;
const WAIT = { timeout: 15_000, interval: 50 };

async function start(...script: Behaviour[]): Promise<Harness> {
  const simulator = new BhxhSimulator();
  await simulator.start();
  if (script.length > 0) simulator.setScript(...script);
  const front = new GatedFront(simulator);
  const gateway = await startTestGateway({
    startDispatcher: true,
    env: {
      BHXH_PUSH_URL: await front.start(),
      DISPATCH_INTERVAL_MS: '3600000',
      RETRY_BASE_DELAY_MS: '20',
      // Long enough that a held card batch is still in flight (one attempt) when released.
      BHXH_TIMEOUT_MS: '20000',
      BREAKER_VOLUME_THRESHOLD: '50',
    },
  });
  h = { simulator, front, gateway, runs: DispatchRuns.watch(gateway) };
  await h.runs.firstRunDone();
  return h;
}

afterEach(async () => {
  const current = h;
  h = undefined;
  if (!current) return;
  try {
    current.front.release();
    await current.runs.close();
    await current.gateway.close();
  } finally {
    await current.front.close();
    await current.simulator.close();
  }
});

const harness = (): Harness => {
  if (!h) throw new Error('no gateway started');
  return h;
};

interface HistoryEvent { actor: string; action: string; fromStatus: string | null; toStatus: string | null; details?: Record<string, unknown> }

async function detail(id: string) {
  const response = await harness().gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${id}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as Promise<{ status: string; type: string; document: KhaiSinh; bhxhDocument: Record<string, unknown> | null; history: HistoryEvent[]; missing: string[] }>;
}

const statusOf = async (id: string) => (await detail(id)).status;

async function waitForStatus(id: string, status: string): Promise<void> {
  await vi.waitFor(async () => expect(await statusOf(id)).toBe(status), WAIT);
}

/** POST /ops/v1/dispatch/run, then waits for that run (not its deliveries) to have finished. */
async function runDispatch(): Promise<void> {
  await harness().runs.run();
}

async function pushBirth(doc: KhaiSinh, expected = 'queued'): Promise<string> {
  const response = await harness().gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc });
  expect(response.statusCode, response.body).toBe(202);
  expect(response.json().status).toBe(expected);
  return response.json().transferId;
}

/**
 * Sends the card of this birth and holds BHXH's answer at its door: the card transfer stays `sending`
 * (BHXH has it, but has not acknowledged it) until released.
 */
async function holdCardInFlight(front: GatedFront, birthId: string): Promise<void> {
  front.hold('CAP_THE_TE');
  await runDispatch();
  await waitForStatus(birthId, 'sending');
}

async function pushDeath(doc: unknown): Promise<string> {
  const response = await harness().gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-tu', payload: doc as object });
  expect(response.statusCode, response.body).toBe(202);
  expect(response.json().status).toBe('queued');
  return response.json().transferId;
}

async function auditActions(transferId: string): Promise<Array<[string, string | null, string | null]>> {
  const response = await harness().gateway.request('auditor', { method: 'GET', url: `/audit/v1/events?transferId=${transferId}` });
  expect(response.statusCode, response.body).toBe(200);
  const body = response.json();
  const events = (Array.isArray(body) ? body : body.events ?? body.items) as Array<{ action: string; fromStatus: string | null; toStatus: string | null }>;
  return events.map((event) => [event.action, event.fromStatus, event.toStatus]);
}

/** The loai of each delivery BHXH received, in the order received, with the records each carried. */
const received = () => harness().simulator.deliveries.map((delivery) => ({
  loai: delivery.body.loai, ids: delivery.body.records.map((record) => String(record.MA_HO_SO)),
}));

describe('(a) a death registered before the card is sent', () => {
  it('the queued card becomes deceased (audited); a run sends only the BAO_GIAM batch; the death is processed', async () => {
    await start();
    const birth = khaiSinh();
    const birthId = await pushBirth(birth);
    const deathId = await pushDeath(khaiTuOf(birth));

    const card = await detail(birthId);
    expect(card.status).toBe('deceased');
    expect(card.history.at(-1)).toMatchObject({
      action: 'transfer.person-deceased', fromStatus: 'queued', toStatus: 'deceased', actor: 'hotich-08', details: { death: deathId },
    });
    expect(await auditActions(birthId)).toEqual([
      ['khai-sinh.accepted', null, 'queued'],
      ['transfer.person-deceased', 'queued', 'deceased'],
    ]);

    await runDispatch();
    await waitForStatus(deathId, 'processed');
    expect(received()).toEqual([{ loai: 'BAO_GIAM', ids: [deathId] }]);
    expect(harness().simulator.deliveries[0]?.body).toMatchObject({ maTinh: '08', loai: 'BAO_GIAM' });
    expect(harness().simulator.deliveries[0]?.body.records[0]).toMatchObject({ SO_DINH_DANH: birth.hoTich.soDinhDanh, LY_DO: 'CHET', NGAY_CHET: '20250316' });

    // More runs: the card never leaves.
    await runDispatch();
    expect(await statusOf(birthId)).toBe('deceased');
    expect(harness().simulator.recordsReceived()).not.toContain(birthId);
    const death = await detail(deathId);
    expect(death.history.map((event) => event.toStatus)).toEqual(['queued', 'sending', 'sent', 'processed']);
    expect((await harness().gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' })).json().ok).toBe(true);
  });

  it('a card still waiting for its BHYT part (received) becomes deceased too, and can no longer be completed', async () => {
    await start();
    const birth = khaiSinh({ bhyt: null });
    const birthId = await pushBirth(birth, 'received');
    await pushDeath(khaiTuOf(birth));
    expect((await detail(birthId)).history.at(-1)).toMatchObject({ action: 'transfer.person-deceased', fromStatus: 'received', toStatus: 'deceased' });
    const patch = await harness().gateway.request('registry08', {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${birthId}`,
      payload: { bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'buu_chinh' } },
    });
    expect(patch.statusCode).toBe(409);
    expect(patch.json().error.code).toBe('INVALID_STATE');
    expect(await statusOf(birthId)).toBe('deceased');
  });

  it('the death of another person leaves the card alone', async () => {
    await start();
    const birthId = await pushBirth(khaiSinh());
    await pushDeath(khaiTu());
    expect(await statusOf(birthId)).toBe('queued');
  });
});

describe('(b) a death registered while the card is with BHXH', () => {
  it('the death waits queued through runs while the card is with BHXH; once the card is issued, the death is sent', async () => {
    const { front } = await start();
    const birth = khaiSinh();
    const birthId = await pushBirth(birth);
    await holdCardInFlight(front, birthId);
    await vi.waitFor(() => expect(received()).toEqual([{ loai: 'CAP_THE_TE', ids: [birthId] }]), WAIT);

    const deathId = await pushDeath(khaiTuOf(birth));
    // The card is in flight: it is left to finish, not marked deceased.
    expect(await statusOf(birthId)).toBe('sending');
    await runDispatch();
    await runDispatch();
    expect(await statusOf(deathId)).toBe('queued');
    expect(await statusOf(birthId)).toBe('sending');
    expect(received().map((delivery) => delivery.loai)).toEqual(['CAP_THE_TE']);

    front.release();
    await waitForStatus(birthId, 'issued');
    // The card's acknowledgement makes room and claims what waits, the death among it; a run would too.
    await runDispatch();
    await waitForStatus(deathId, 'processed');
    expect(received()).toEqual([
      { loai: 'CAP_THE_TE', ids: [birthId] },
      { loai: 'BAO_GIAM', ids: [deathId] },
    ]);
    const card = await detail(birthId);
    expect(card.history.map((event) => event.toStatus)).toEqual(['queued', 'sending', 'sent', 'issued']);
    expect(card.history.map((event) => event.action)).not.toContain('transfer.person-deceased');
    const death = await detail(deathId);
    expect(death.history.map((event) => event.toStatus)).toEqual(['queued', 'sending', 'sent', 'processed']);
    // In registration order: the card was answered before the death left.
    const issuedAt = Date.parse((card.history.at(-1) as unknown as { at: string }).at);
    const deathSentAt = Date.parse((death.history[1] as unknown as { at: string }).at);
    expect(deathSentAt).toBeGreaterThanOrEqual(issuedAt);
  });

  it('other people\'s deaths are not held back by this card', async () => {
    const { front } = await start();
    const birth = khaiSinh();
    const birthId = await pushBirth(birth);
    await holdCardInFlight(front, birthId);
    const ownDeath = await pushDeath(khaiTuOf(birth));
    const otherDeath = await pushDeath(khaiTu());
    await runDispatch();
    await waitForStatus(otherDeath, 'processed');
    expect(await statusOf(ownDeath)).toBe('queued');
    front.release();
    await waitForStatus(birthId, 'issued');
    await runDispatch();
    await waitForStatus(ownDeath, 'processed');
  });

  it('a card BHXH returns after the death was registered is not sent again: it ends deceased', async () => {
    const { front, simulator } = await start();
    const birth = khaiSinh();
    const birthId = await pushBirth(birth);
    simulator.setScript({
      kind: 'answer',
      result: (record) => record.NGAY_CHET === undefined
        ? { MA_HO_SO: record.MA_HO_SO, KET_QUA: 'LOI', LOI: [{ MA_LOI: 'SAI_DIA_CHI', MO_TA: 'Địa chỉ không đúng' }] }
        : issueCard(record),
    });
    await holdCardInFlight(front, birthId);
    const deathId = await pushDeath(khaiTuOf(birth));
    front.release();
    await waitForStatus(birthId, 'returned');

    // The officer would resend it; BHXH must not get a card for a person known to be dead.
    await harness().gateway.request('registry08', { method: 'POST', url: `/ngsp/v1/transfers/${birthId}/resend` });
    await runDispatch();
    await waitForStatus(deathId, 'processed');
    await runDispatch();
    expect(harness().simulator.recordsReceived().filter((id) => id === birthId)).toHaveLength(1);
    expect(await statusOf(birthId)).toBe('deceased');
    expect((await detail(birthId)).history.map((event) => event.action)).toContain('transfer.person-deceased');
  });
});

describe('(b) a death registered while a card asked for again (CAP_LAI_THE) is with BHXH', () => {
  /** Sends a card request (re-issue of a lost card) and holds it in flight, as holdCardInFlight a birth's. */
  async function requestInFlight(front: GatedFront, request = capLaiThe()): Promise<string> {
    const response = await harness().gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: request });
    expect(response.statusCode, response.body).toBe(202);
    const requestId = response.json().transferId as string;
    front.hold('CAP_LAI_THE');
    await runDispatch();
    await waitForStatus(requestId, 'sending');
    return requestId;
  }

  /** The death of the request's person (born 12.05.1990, a man), giving both numbers. */
  const deathOf = (request: ReturnType<typeof capLaiThe>, soDinhDanh: string) => khaiTu({
    hoTich: { nktSoDDCN: soDinhDanh, nktNgaySinh: request.nguoi.ngaySinh, nktHoTen: request.nguoi.hoTen, nktMaSoBHXH: request.nguoi.maSoBhxh },
  });

  it('a request named by BHXH number alone: the death giving that number waits until BHXH answered the request', async () => {
    const { front } = await start();
    const full = capLaiThe();
    const request = capLaiThe({ nguoi: { ...full.nguoi, soDinhDanh: undefined }, maThe: full.maThe });
    const requestId = await requestInFlight(front, request);
    const deathId = await pushDeath(deathOf(full, full.nguoi.soDinhDanh as string));
    expect(await statusOf(requestId)).toBe('sending');
    await runDispatch();
    expect(await statusOf(deathId)).toBe('queued');
    expect(received().map((delivery) => delivery.loai)).toEqual(['CAP_LAI_THE']);

    front.release();
    await waitForStatus(requestId, 'issued');
    await runDispatch();
    await waitForStatus(deathId, 'processed');
    expect(received()).toEqual([
      { loai: 'CAP_LAI_THE', ids: [requestId] },
      { loai: 'BAO_GIAM', ids: [deathId] },
    ]);
  });

  it('a request BHXH returns after the death was registered is not sent again: it ends deceased', async () => {
    const { front, simulator } = await start();
    simulator.setScript({
      kind: 'answer',
      result: (record) => record.NGAY_CHET === undefined
        ? { MA_HO_SO: record.MA_HO_SO, KET_QUA: 'LOI', LOI: [{ MA_LOI: 'SAI_HO_TEN', MO_TA: 'Họ tên không khớp' }] }
        : issueCard(record),
    });
    const request = capLaiThe();
    const requestId = await requestInFlight(front, request);
    const deathId = await pushDeath(deathOf(request, request.nguoi.soDinhDanh as string));
    front.release();
    await waitForStatus(requestId, 'returned');

    // Its office would resend it; BHXH must not get a card for a person known to be dead.
    const resent = await harness().gateway.request('reissue08', { method: 'POST', url: `/ngsp/v1/transfers/${requestId}/resend` });
    expect(resent.statusCode, resent.body).toBe(200);
    await runDispatch();
    await waitForStatus(deathId, 'processed');
    await runDispatch();
    expect(harness().simulator.recordsReceived().filter((id) => id === requestId)).toHaveLength(1);
    expect(await statusOf(requestId)).toBe('deceased');
    expect((await detail(requestId)).history.at(-1)).toMatchObject({ action: 'transfer.person-deceased', fromStatus: 'queued', toStatus: 'deceased', details: { death: deathId } });
  });
});

describe('(b2) a death registered while BHXH has acknowledged the card but not answered it', () => {
  it('the death waits while the card is sent (202, results to come); once its result is posted, a run sends the death', async () => {
    const { simulator, gateway } = await start({ kind: 'accept' });
    const birth = khaiSinh();
    const birthId = await pushBirth(birth);
    await runDispatch();
    await waitForStatus(birthId, 'sent');
    const deathId = await pushDeath(khaiTuOf(birth));
    expect(await statusOf(birthId)).toBe('sent');
    await runDispatch();
    expect(await statusOf(deathId)).toBe('queued');
    expect(received().map((delivery) => delivery.loai)).toEqual(['CAP_THE_TE']);

    const card = simulator.deliveries[0];
    const posted = await gateway.request('bhxh08', {
      method: 'POST', url: `/bhxh/v1/batches/${card?.batchId}/results`, payload: { results: card?.body.records.map((record) => issueCard(record)) },
    });
    expect(posted.statusCode, posted.body).toBe(200);
    await waitForStatus(birthId, 'issued');
    await runDispatch();
    await waitForStatus(deathId, 'sent');
    expect(received().map((delivery) => delivery.loai)).toEqual(['CAP_THE_TE', 'BAO_GIAM']);
  });
});

describe('(c) a death registered after the card was issued', () => {
  it('is queued and processed as any death; the issued card stays issued', async () => {
    await start();
    const birth = khaiSinh();
    const birthId = await pushBirth(birth);
    await runDispatch();
    await waitForStatus(birthId, 'issued');

    const deathId = await pushDeath(khaiTuOf(birth));
    expect(await statusOf(birthId)).toBe('issued');
    await runDispatch();
    await waitForStatus(deathId, 'processed');
    expect(received()).toEqual([
      { loai: 'CAP_THE_TE', ids: [birthId] },
      { loai: 'BAO_GIAM', ids: [deathId] },
    ]);
    expect(await statusOf(birthId)).toBe('issued');
    expect((await detail(birthId)).history.map((event) => event.toStatus)).toEqual(['queued', 'sending', 'sent', 'issued']);
  });
});

describe('(d) a birth for a person already registered dead', () => {
  it('is refused with 409 PERSON_DECEASED and nothing is stored', async () => {
    await start();
    const birth = khaiSinh();
    await pushDeath(khaiTuOf(birth));
    const count = async () => ({
      transfers: await countRows(harness().gateway.db, 'transfers'),
      inbound: await countRows(harness().gateway.db, 'inbound_messages'),
      audit: await countRows(harness().gateway.db, 'audit_events'),
    });
    const before = await count();
    const response = await harness().gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: birth });
    expect(response.statusCode, response.body).toBe(409);
    expect(response.json().error).toMatchObject({
      code: 'PERSON_DECEASED',
      details: [expect.objectContaining({ path: '/hoTich/soDinhDanh', code: 'PERSON_DECEASED' })],
    });
    expect(await count()).toEqual(before);
    // Through SOAP alike, and after the death was processed too.
    await runDispatch();
    const { rows } = await harness().gateway.db.query<{ id: string }>("SELECT id FROM transfers WHERE type = 'KHAI_TU' AND so_dinh_danh = $1", [birth.hoTich.soDinhDanh]);
    await waitForStatus(rows[0]?.id as string, 'processed');
    const again = await harness().gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: { ...birth, messageId: `${birth.messageId}-2` } });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('PERSON_DECEASED');
    expect(await countRows(harness().gateway.db, 'transfers')).toBe(before.transfers);
  });
});

describe('(e) corrections replace the document of the one transfer', () => {
  it('a PATCH of a queued birth replaces its document; there is still one transfer, and it is sent once as corrected', async () => {
    await start();
    const birth = khaiSinh();
    const birthId = await pushBirth(birth);
    const before = await countRows(harness().gateway.db, 'transfers');
    const patch = await harness().gateway.request('registry08', {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${birthId}`,
      payload: { hoTich: { nksHoTen: 'Nguyễn Thị Ánh Dương' }, bhyt: { hinhThucNhanThe: 'tai_tru_so' } },
    });
    expect(patch.statusCode, patch.body).toBe(200);
    expect(patch.json()).toMatchObject({ transferId: birthId, status: 'queued' });
    expect(await countRows(harness().gateway.db, 'transfers')).toBe(before);
    const { rows } = await harness().gateway.db.query<{ id: string }>("SELECT id FROM transfers WHERE type = 'KHAI_SINH' AND so_dinh_danh = $1", [birth.hoTich.soDinhDanh]);
    expect(rows).toEqual([{ id: birthId }]);

    const corrected = await detail(birthId);
    expect(corrected.document.hoTich.nksHoTen).toBe('Nguyễn Thị Ánh Dương');
    expect(corrected.bhxhDocument).toMatchObject({ MA_HO_SO: birthId, HO_TEN: 'NGUYỄN THỊ ÁNH DƯƠNG', HINH_THUC_NHAN_THE: 1 });
    expect(corrected.history.map((event) => event.action)).toEqual(['khai-sinh.accepted', 'khai-sinh.corrected']);

    await runDispatch();
    await waitForStatus(birthId, 'issued');
    expect(received()).toEqual([{ loai: 'CAP_THE_TE', ids: [birthId] }]);
    expect(harness().simulator.deliveries[0]?.body.records[0]).toMatchObject({ HO_TEN: 'NGUYỄN THỊ ÁNH DƯƠNG', HINH_THUC_NHAN_THE: 1 });
  });

  it('a PATCH of a deceased card is 409 INVALID_STATE and changes nothing', async () => {
    await start();
    const birth = khaiSinh();
    const birthId = await pushBirth(birth);
    await pushDeath(khaiTuOf(birth));
    const before = await detail(birthId);
    expect(before.status).toBe('deceased');
    const patch = await harness().gateway.request('registry08', {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${birthId}`, payload: { hoTich: { nksHoTen: 'Tên Mới' } },
    });
    expect(patch.statusCode, patch.body).toBe(409);
    expect(patch.json().error.code).toBe('INVALID_STATE');
    const after = await detail(birthId);
    expect(after.document).toEqual(before.document);
    expect(after.history).toHaveLength(before.history.length);
    const resend = await harness().gateway.request('registry08', { method: 'POST', url: `/ngsp/v1/transfers/${birthId}/resend` });
    expect(resend.statusCode).toBe(409);
    expect(resend.json().error.code).toBe('INVALID_STATE');
  });

  it('a correction cannot move a card onto the personal number of a person registered dead', async () => {
    await start();
    const birthId = await pushBirth(khaiSinh());
    // A girl born 1 March 2025, registered dead, whose own birth never came through this gateway.
    const deadChild = khaiSinh();
    await pushDeath(khaiTuOf(deadChild));
    const patch = await harness().gateway.request('registry08', {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${birthId}`, payload: { hoTich: { soDinhDanh: deadChild.hoTich.soDinhDanh } },
    });
    if (patch.statusCode === 409) {
      // Refused as intake refuses such a birth.
      expect(patch.json().error.code).toBe('PERSON_DECEASED');
      expect((await detail(birthId)).status).toBe('queued');
    } else {
      // Or taken, but then the card is never sent: it ends deceased, audited.
      expect(patch.statusCode, patch.body).toBe(200);
      await runDispatch();
      await vi.waitFor(() => expect(received().some((delivery) => delivery.loai === 'BAO_GIAM')).toBe(true), WAIT);
      await runDispatch();
      expect(harness().simulator.recordsReceived()).not.toContain(birthId);
      expect(await statusOf(birthId)).toBe('deceased');
      expect((await detail(birthId)).history.map((event) => event.action)).toContain('transfer.person-deceased');
    }
  });
});

describe('(f) a birth and a death of one person arriving together', () => {
  it('10 pairs at once: the death is always taken; the card is either refused PERSON_DECEASED or ends deceased, never queued', async () => {
    await start();
    const births = Array.from({ length: 10 }, () => khaiSinh());
    const answers = await Promise.all(births.flatMap((birth, i) => {
      const b = () => harness().gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: birth });
      const d = () => harness().gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-tu', payload: khaiTuOf(birth) });
      return i % 2 === 0 ? [b(), d()] : [d(), b()];
    }));
    for (const [i, birth] of births.entries()) {
      const [first, second] = [answers[2 * i], answers[2 * i + 1]];
      const birthAnswer = i % 2 === 0 ? first : second;
      const deathAnswer = i % 2 === 0 ? second : first;
      expect(deathAnswer?.statusCode, deathAnswer?.body).toBe(202);
      const { rows } = await harness().gateway.db.query<{ type: string; status: string }>(
        'SELECT type, status FROM transfers WHERE so_dinh_danh = $1 ORDER BY type', [birth.hoTich.soDinhDanh],
      );
      if (birthAnswer?.statusCode === 409) {
        expect(birthAnswer.json().error.code).toBe('PERSON_DECEASED');
        expect(rows).toEqual([{ type: 'KHAI_TU', status: 'queued' }]);
      } else {
        expect(birthAnswer?.statusCode, birthAnswer?.body).toBe(202);
        expect(rows).toEqual([{ type: 'KHAI_SINH', status: 'deceased' }, { type: 'KHAI_TU', status: 'queued' }]);
      }
    }
    await runDispatch();
    await vi.waitFor(async () => {
      const { rows } = await harness().gateway.db.query<{ count: string }>("SELECT count(*) AS count FROM transfers WHERE type = 'KHAI_TU' AND status = 'processed'");
      expect(Number(rows[0]?.count)).toBe(10);
    }, WAIT);
    expect(received().every((delivery) => delivery.loai === 'BAO_GIAM')).toBe(true);
  });
});
