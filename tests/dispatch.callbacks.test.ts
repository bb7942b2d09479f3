import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256OfKey } from '../src/auth/clients.js';
import { issueCard } from '../src/dev/bhxh-simulator.js';
import { khaiSinh } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

const CLIENT_ID = 'hotich-08-cb';
const CLIENT_KEY = 'key-registry-with-callbacks-0123456789';
const SECRET = 'callback-secret-for-tests-9f8e7d6c';

interface Received {
  /** What the receiver answered, and when (ms). */
  answered: number;
  receivedAt: number;
  signature: string | undefined;
  /**
   * Whether the header is `t=<unix seconds>,v1=<HMAC of "<t>.<body>">,sha256=<HMAC of the body>`,
   * both with the client's secret, as docs/API.md tells a receiver to check.
   */
  signatureValid: boolean;
  /** The header's `t`. */
  signedAt: number;
  contentType: string | undefined;
  raw: string;
  body: { eventId: string; transferId: string; messageId: string; status: string; at: string; card?: Record<string, string>; errors?: unknown[] };
}

const hmac = (text: string) => createHmac('sha256', SECRET).update(text, 'utf8').digest('hex');
const sameText = (a: string | undefined, b: string) => a !== undefined && Buffer.byteLength(a) === Buffer.byteLength(b) && timingSafeEqual(Buffer.from(a), Buffer.from(b));

function checkSignature(raw: string, header: string | undefined): { valid: boolean; t: number } {
  const elements = Object.fromEntries((header ?? '').split(',').map((element) => element.split('=', 2) as [string, string]));
  const t = Number(elements.t);
  const valid = /^t=\d+,v1=[0-9a-f]{64},sha256=[0-9a-f]{64}$/.test(header ?? '')
    && sameText(elements.v1, hmac(`${elements.t}.${raw}`)) && sameText(elements.sha256, hmac(raw));
  return { valid, t };
}

/** A registry's callback endpoint on loopback: checks every signature, answers as told. */
class CallbackReceiver {
  readonly received: Received[] = [];
  /** Answer for the next requests, in order; when empty, 200. */
  plan: number[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const signature = request.headers['x-signature'] as string | undefined;
        const { valid: signatureValid, t: signedAt } = checkSignature(raw, signature);
        const answered = this.plan.length > 0 ? (this.plan.shift() as number) : 200;
        let body: Received['body'];
        try {
          body = JSON.parse(raw);
        } catch {
          body = { eventId: '?', transferId: '?', messageId: '?', status: '?', at: '?' };
        }
        this.received.push({ answered, receivedAt: Date.now(), signature, signatureValid, signedAt, contentType: request.headers['content-type'], raw, body });
        response.writeHead(answered, { 'content-type': 'text/plain' }).end(answered < 300 ? 'ok' : 'not now');
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/lienthong`;
  }

  /** The callbacks answered 2xx, i.e. delivered. */
  delivered(): Received[] {
    return this.received.filter((entry) => entry.answered >= 200 && entry.answered < 300);
  }

  deliveredStatuses(transferId: string): string[] {
    return this.delivered().filter((entry) => entry.body.transferId === transferId).map((entry) => entry.body.status);
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

let receiver: CallbackReceiver;
let gateway: TestGateway;

beforeEach(async () => {
  receiver = new CallbackReceiver();
  await receiver.start();
  gateway = await startTestGateway({
    startDispatcher: true,
    env: { MAINTENANCE_INTERVAL_MS: '100', RETRY_BASE_DELAY_MS: '20', DISPATCH_INTERVAL_MS: '3600000' },
    clients: [{ id: CLIENT_ID, keySha256: sha256OfKey(CLIENT_KEY), roles: ['registry'], units: ['08'], callbackUrl: receiver.url, callbackSecret: SECRET }],
  });
});
afterEach(async () => {
  await gateway?.close();
  await receiver?.close();
});

/** Pushes births as the registry client that has a callback URL. */
async function push(count: number): Promise<Array<{ transferId: string; messageId: string }>> {
  const pushed: Array<{ transferId: string; messageId: string }> = [];
  for (let i = 0; i < count; i++) {
    const doc = khaiSinh();
    const response = await gateway.app.inject({
      method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { authorization: `Bearer ${CLIENT_KEY}` }, payload: doc,
    });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ status: 'queued', messageId: doc.messageId });
    pushed.push({ transferId: response.json().transferId, messageId: doc.messageId });
  }
  return pushed;
}

/** BHXH leases everything queued in 08 and answers each record with `answer`. */
async function leaseAndAnswer(answer: (record: Record<string, unknown>) => Record<string, unknown>): Promise<string> {
  const leased = await gateway.request('bhxh08', { method: 'POST', url: '/bhxh/v1/batches/lease', payload: { maTinh: '08', loai: 'CAP_THE_TE' } });
  expect(leased.statusCode).toBe(200);
  const batch = leased.json() as { batchId: string; records: Array<Record<string, unknown>> };
  const results = await gateway.request('bhxh08', {
    method: 'POST', url: `/bhxh/v1/batches/${batch.batchId}/results`, payload: { results: batch.records.map(answer) },
  });
  expect(results.json()).toMatchObject({ accepted: batch.records.length, rejected: [] });
  return batch.batchId;
}

const statusHistory = async (transferId: string) => {
  const response = await gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${transferId}` });
  return response.json() as { status: string; card: Record<string, string> | null; history: Array<{ seq: number; at: string; toStatus: string }> };
};

describe('callbacks to the registry', () => {
  it('POSTs each status change once, in order, with its event id, signed with a timestamp and the raw body', async () => {
    const startedAt = Math.floor(Date.now() / 1000);
    const [birth] = await push(1);
    const { transferId, messageId } = birth as { transferId: string; messageId: string };
    await vi.waitFor(() => expect(receiver.deliveredStatuses(transferId)).toEqual(['queued']), { timeout: 10_000, interval: 50 });

    await leaseAndAnswer(issueCard);
    await vi.waitFor(() => expect(receiver.deliveredStatuses(transferId)).toEqual(['queued', 'sent', 'issued']), { timeout: 10_000, interval: 50 });

    expect(receiver.received).toHaveLength(3);
    const detail = await statusHistory(transferId);
    expect(detail.status).toBe('issued');
    for (const entry of receiver.received) {
      expect(entry.signatureValid, entry.signature).toBe(true);
      expect(entry.signedAt).toBeGreaterThanOrEqual(startedAt);
      expect(entry.signedAt).toBeLessThanOrEqual(entry.receivedAt / 1000);
      expect(entry.contentType).toMatch(/^application\/json/);
      expect(entry.body).toMatchObject({ transferId, messageId });
      expect(Object.keys(entry.body).sort()).toEqual(
        entry.body.status === 'issued' ? ['at', 'card', 'eventId', 'messageId', 'status', 'transferId'] : ['at', 'eventId', 'messageId', 'status', 'transferId'],
      );
    }
    // Each `at` is the moment of that change as the history records it.
    expect(receiver.received.map((entry) => entry.body.at)).toEqual(detail.history.map((event) => new Date(event.at).toISOString()));
    // Each eventId is that change's audit event.
    expect(receiver.received.map((entry) => entry.body.eventId)).toEqual(detail.history.map((event) => String(event.seq)));
    const issued = receiver.received[2] as Received;
    expect(issued.body.card).toEqual(detail.card);
    expect(issued.body.card).toMatchObject({ maThe: expect.stringMatching(/^TE108\d{10}$/), maSoBHXH: expect.stringMatching(/^\d{10}$/) });
  });

  it("carries BHXH's errors on a returned record's callback", async () => {
    const [birth] = await push(1);
    const { transferId } = birth as { transferId: string };
    const errors = [{ MA_LOI: 'SAI_NOI_DK_KCB', MO_TA: 'Nơi đăng ký KCB không hợp lệ' }];
    await leaseAndAnswer((record) => ({ MA_HO_SO: record.MA_HO_SO, KET_QUA: 'LOI', LOI: errors }));

    await vi.waitFor(() => expect(receiver.deliveredStatuses(transferId)).toEqual(['queued', 'sent', 'returned']), { timeout: 10_000, interval: 50 });
    const returned = receiver.delivered().find((entry) => entry.body.status === 'returned') as Received;
    expect(returned.signatureValid).toBe(true);
    expect(returned.body.errors).toEqual(errors);
    expect(returned.body.card).toBeUndefined();
    for (const entry of receiver.delivered().filter((e) => e.body.status !== 'returned')) expect(entry.body.errors).toBeUndefined();
  });

  it('retries while the receiver answers 500, until 2xx: nothing lost, nothing out of order, nothing twice', async () => {
    // The receiver fails the first six calls; meanwhile five transfers change status three times each.
    receiver.plan = [500, 500, 503, 500, 500, 500];
    const births = await push(5);
    await leaseAndAnswer((record) =>
      record.MA_HO_SO === births[2]?.transferId ? { MA_HO_SO: record.MA_HO_SO, KET_QUA: 'LOI', LOI: [{ MA_LOI: 'TRUNG_NHAN_KHAU' }] } : issueCard(record),
    );

    await vi.waitFor(() => expect(receiver.delivered()).toHaveLength(15), { timeout: 20_000, interval: 50 });
    expect(receiver.received.filter((entry) => entry.answered >= 500)).toHaveLength(6);
    // With backoff: after six refusals (RETRY_BASE_DELAY_MS 20, doubling, jitter ±50 %) the next call
    // waits at least 20 × 2⁵ × 0.5 = 320 ms, where the 100 ms maintenance tick alone would retry sooner.
    const [lastRefused, firstDelivered] = [receiver.received[5], receiver.received[6]] as [Received, Received];
    expect(firstDelivered.receivedAt - lastRefused.receivedAt).toBeGreaterThanOrEqual(300);

    for (const [index, { transferId }] of births.entries()) {
      // Delivered once each, in the order they happened.
      expect(receiver.deliveredStatuses(transferId)).toEqual(['queued', 'sent', index === 2 ? 'returned' : 'issued']);
    }
    // Per transfer, every call (refused ones included) in the order the changes happened: a refused
    // callback is retried before anything after it is sent.
    const rank: Record<string, number> = { queued: 0, sent: 1, issued: 2, returned: 2 };
    for (const { transferId } of births) {
      const ranks = receiver.received.filter((entry) => entry.body.transferId === transferId).map((entry) => rank[entry.body.status]);
      expect(ranks).toEqual([...ranks].sort((a, b) => Number(a) - Number(b)));
    }
    // The first call refused is the first one delivered: nothing was skipped past it.
    expect((receiver.delivered()[0] as Received).raw).toBe((receiver.received[0] as Received).raw);
    for (const entry of receiver.received) expect(entry.signatureValid).toBe(true);

    // Nothing is delivered again after its 2xx: a later change is announced after all of the above,
    // and when it has arrived no earlier callback has come a second time.
    const [later] = await push(1);
    await vi.waitFor(() => expect(receiver.deliveredStatuses(String(later?.transferId))).toEqual(['queued']), { timeout: 10_000, interval: 50 });
    expect(receiver.delivered()).toHaveLength(16);
    const keys = receiver.delivered().map((entry) => `${entry.body.transferId}/${entry.body.status}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
