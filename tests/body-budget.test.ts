import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { chargeFor } from '../src/http/body-budget.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * Large bodies read at once are bounded (LARGE_BODIES_IN_FLIGHT): past the bound a request is
 * answered 503 with Retry-After before a byte of its body is read, and the bytes come back when a
 * request ends, answered or cut off.
 */

// BODY_LIMIT at its least, so a few KiB is a large body; the one-stop door takes up to 20 MiB.
const KIB = 1024;
let gateway: TestGateway;
let port: number;
beforeAll(async () => {
  gateway = await startTestGateway({ env: { BODY_LIMIT: String(KIB), LARGE_BODIES_IN_FLIGHT: String(3 * KIB) } });
  await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  port = (gateway.app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await gateway?.close();
});

/** A one-stop dossier announced as `bytes` long, of which nothing is sent yet: the request stays in flight. */
function largeDossier(bytes: number, door: 'rest' | 'soap' = 'rest'): { request: ClientRequest; response: Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> } {
  const request = httpRequest({
    host: '127.0.0.1', port, method: 'POST', path: door === 'rest' ? '/ngsp/v1/mot-cua' : '/ngsp/soap',
    headers: {
      authorization: `Bearer ${gateway.keys.registry08}`,
      'content-type': door === 'rest' ? 'application/json' : 'text/xml; charset=utf-8',
      'content-length': String(bytes),
    },
  });
  request.on('error', () => {});
  request.flushHeaders();
  const response = new Promise<{ status: number; headers: IncomingMessage['headers']; body: string }>((resolve) => {
    request.on('response', (message) => {
      let body = '';
      message.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; }).on('end', () => resolve({ status: message.statusCode ?? 0, headers: message.headers, body }));
    });
  });
  return { request, response };
}

describe('large bodies in flight', () => {
  it('past the bound: 503 with Retry-After before the body is read; the bytes come back when the first ends', async () => {
    const first = largeDossier(2 * KIB);
    await vi.waitFor(() => expect(gateway.app.bodyBudget.inUse).toBe(2 * KIB), { timeout: 5_000, interval: 10 });

    const second = largeDossier(2 * KIB);
    const refused = await second.response;
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(JSON.parse(refused.body).error).toMatchObject({ code: 'UNAVAILABLE', details: [{ code: 'BUSY' }] });
    second.request.destroy();

    first.request.destroy();
    await vi.waitFor(() => expect(gateway.app.bodyBudget.inUse).toBe(0), { timeout: 5_000, interval: 10 });
    // Given back, the bytes let the next one through to the door.
    const third = largeDossier(2 * KIB);
    await vi.waitFor(() => expect(gateway.app.bodyBudget.inUse).toBe(2 * KIB), { timeout: 5_000, interval: 10 });
    third.request.destroy();
    await vi.waitFor(() => expect(gateway.app.bodyBudget.inUse).toBe(0), { timeout: 5_000, interval: 10 });
  });

  it('past the bound at the SOAP door: the same 503 as a SOAP Fault', async () => {
    const first = largeDossier(2 * KIB, 'soap');
    await vi.waitFor(() => expect(gateway.app.bodyBudget.inUse).toBe(2 * KIB), { timeout: 5_000, interval: 10 });
    const second = largeDossier(2 * KIB, 'soap');
    const refused = await second.response;
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(refused.headers['content-type']).toMatch(/^text\/xml/);
    expect(refused.body).toContain('soap:Fault');
    expect(refused.body).toContain('UNAVAILABLE');
    second.request.destroy();
    first.request.destroy();
    await vi.waitFor(() => expect(gateway.app.bodyBudget.inUse).toBe(0), { timeout: 5_000, interval: 10 });
  });

  it('charges a body by its route: chunked as the route\'s limit, over the limit not at all (the route answers 413)', () => {
    const MIB = 1024 * 1024;
    // A chunked birth (1 MiB route) is not large; a chunked dossier (20 MiB route) counts as 20 MiB.
    expect(chargeFor({ 'transfer-encoding': 'chunked' }, MIB, MIB)).toBe(0);
    expect(chargeFor({ 'transfer-encoding': 'chunked' }, 20 * MIB, MIB)).toBe(20 * MIB);
    expect(chargeFor({ 'content-length': String(5 * MIB) }, 20 * MIB, MIB)).toBe(5 * MIB);
    expect(chargeFor({ 'content-length': String(30 * MIB) }, 20 * MIB, MIB)).toBe(0);
    expect(chargeFor({ 'content-length': String(MIB) }, 20 * MIB, MIB)).toBe(0);
    expect(chargeFor({}, 20 * MIB, MIB)).toBe(0);
  });

  it('small bodies do not count', async () => {
    const answer = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: {} });
    expect(answer.statusCode).toBe(400);
    expect(gateway.app.bodyBudget.inUse).toBe(0);
  });
});
