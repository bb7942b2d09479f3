import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256OfKey } from '../src/auth/clients.js';
import { khaiSinh, khaiSinhHaNoi } from './support/fixtures.js';
import { startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';

// The shared test clients have no auditor limited to a province; this test adds one.
const AUDITOR_01_KEY = `key-auditor01-${randomBytes(8).toString('hex')}`;

let gateway: TestGateway;
let transfer08: string;
let transfer01: string;

beforeAll(async () => {
  gateway = await startTestGateway({
    clients: [{ id: 'audit-01', keySha256: sha256OfKey(AUDITOR_01_KEY), roles: ['auditor'], units: ['01'] }],
  });
  const sent08 = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
  const sent01 = await gateway.request('registry01', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinhHaNoi() });
  expect([sent08.statusCode, sent01.statusCode]).toEqual([202, 202]);
  transfer08 = sent08.json().transferId;
  transfer01 = sent01.json().transferId;
  // Events that name a province but no transfer: one hold each side, and one of every province.
  for (const [as, body] of [['operator01', { maTinh: '01' }], ['operator', { maTinh: '08' }], ['operator', {}]] as const) {
    const held = await gateway.request(as, { method: 'POST', url: '/ops/v1/dispatch/pause', payload: body });
    expect(held.statusCode).toBe(200);
  }
});
afterAll(async () => {
  await gateway?.close();
});

type Reader = ClientName | 'auditor01';

const get = (as: Reader, url: string) =>
  as === 'auditor01'
    ? gateway.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${AUDITOR_01_KEY}` } })
    : gateway.request(as, { method: 'GET', url });

interface Event { seq: number; action: string; transferId: string | null; details: { maTinh?: string } | null }

/** Every event the client may list, page after page. */
async function allEvents(as: Reader, limit: number): Promise<Event[]> {
  const events: Event[] = [];
  let after = '0';
  for (let more = true; more;) {
    const response = await get(as, `/audit/v1/events?after=${after}&limit=${limit}`);
    expect(response.statusCode).toBe(200);
    const page: { events: Event[]; nextCursor: string } = response.json();
    events.push(...page.events);
    more = page.events.length > 0;
    after = page.nextCursor;
  }
  return events;
}

describe('audit events are scoped to the client\'s provinces', () => {
  it.each(['auditor01', 'operator01'] as const)('%s gets 404 for another province\'s transfer, as for the transfer itself', async (as) => {
    const transfer = await get(as, `/ngsp/v1/transfers/${transfer08}`);
    const events = await get(as, `/audit/v1/events?transferId=${transfer08}`);
    expect(transfer.statusCode).toBe(404);
    expect(events.statusCode).toBe(404);
    expect(events.json().code).toBe(transfer.json().code);
  });

  it.each(['auditor01', 'operator01'] as const)('%s gets 404 for a transfer that does not exist, so an id reveals nothing', async (as) => {
    expect((await get(as, '/audit/v1/events?transferId=no-such-transfer')).statusCode).toBe(404);
  });

  it.each(['auditor01', 'operator01'] as const)('%s reads its own province\'s transfer events', async (as) => {
    const response = await get(as, `/audit/v1/events?transferId=${transfer01}`);
    expect(response.statusCode).toBe(200);
    expect(response.json().events.map((event: Event) => event.action)).toEqual(['khai-sinh.accepted']);
  });

  it.each(['auditor', 'operator'] as const)('%s of every province reads any transfer\'s events', async (as) => {
    const response = await get(as, `/audit/v1/events?transferId=${transfer08}`);
    expect(response.statusCode).toBe(200);
    expect(response.json().events).toEqual([expect.objectContaining({ action: 'khai-sinh.accepted', transferId: transfer08 })]);
  });

  it('lists, without a transfer, only what concerns the client\'s provinces, page after page', async () => {
    const scoped = await allEvents('auditor01', 1);
    expect(scoped.map((event) => [event.action, event.transferId, event.details?.maTinh ?? null])).toEqual([
      ['khai-sinh.accepted', transfer01, null],
      ['dispatch.paused', null, '01'],
      ['dispatch.paused', null, '*'],
    ]);
    const everything = await allEvents('auditor', 200);
    expect(everything.map((event) => event.transferId)).toContain(transfer08);
    expect(everything).toHaveLength(5);
    expect(await allEvents('operator01', 2)).toEqual(scoped);
  });
});
