import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/** The files a newcomer sends first (README, `npm run demo`) must stay valid as the rules grow. */
const example = (file: string) => readFileSync(new URL(`../examples/${file}`, import.meta.url), 'utf8');

let gateway: TestGateway;
beforeAll(async () => {
  // A clock after the examples' registration day (20.11.2026), as on the machine that runs them.
  gateway = await startTestGateway({ now: () => new Date('2026-11-29T03:00:00Z') });
});
afterAll(() => gateway.close());

const post = (url: string, contentType: string, payload: string, headers: Record<string, string> = {}) =>
  gateway.request('registry08', { method: 'POST', url, headers: { 'content-type': contentType, ...headers }, payload });

describe('examples/', () => {
  it('khai-sinh.json is a complete birth: queued at once', async () => {
    const response = await post('/ngsp/v1/khai-sinh', 'application/json', example('khai-sinh.json'));
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ messageId: 'vi-du-khai-sinh-0001', status: 'queued' });
  });

  it('khai-sinh.xml is the same kind of document as XML: queued', async () => {
    const response = await post('/ngsp/v1/khai-sinh', 'application/xml', example('khai-sinh.xml'));
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ messageId: 'vi-du-khai-sinh-xml-0001', status: 'queued' });
  });

  it('khai-sinh.soap.xml is a GuiKhaiSinh envelope the SOAP door accepts', async () => {
    const response = await post('/ngsp/soap', 'text/xml; charset=utf-8', example('khai-sinh.soap.xml'), {
      soapaction: '"urn:lienthong:ngsp:v1#GuiKhaiSinh"',
    });
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatch(/<status>queued<\/status>/);
    expect(response.body).toMatch(/<messageId>vi-du-khai-sinh-soap-0001<\/messageId>/);
  });

  it('khai-tu.json is a death: queued', async () => {
    const response = await post('/ngsp/v1/khai-tu', 'application/json', example('khai-tu.json'));
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ messageId: 'vi-du-khai-tu-0001', status: 'queued' });
  });

  it('cap-lai-the.json is a BHXH office\'s request for a lost card: queued, due that working day', async () => {
    const response = await gateway.request('reissue08', {
      method: 'POST', url: '/ngsp/v1/cap-lai-the', headers: { 'content-type': 'application/json' }, payload: example('cap-lai-the.json'),
    });
    expect(response.statusCode, response.body).toBe(202);
    // Sunday 29.11.2026: counted from Monday.
    expect(response.json()).toMatchObject({ messageId: 'vi-du-cap-lai-the-0001', status: 'queued', hanTra: '2026-11-30' });
  });

  it('mot-cua.json completes khai-sinh-chua-co-bhyt.json: the birth waits received, the dossier queues it', async () => {
    const birth = await post('/ngsp/v1/khai-sinh', 'application/json', example('khai-sinh-chua-co-bhyt.json'));
    expect(birth.statusCode).toBe(202);
    expect(birth.json()).toMatchObject({ status: 'received' });
    const dossier = await post('/ngsp/v1/mot-cua', 'application/json', example('mot-cua.json'));
    expect(dossier.statusCode).toBe(202);
    expect(dossier.json()).toEqual({ transferId: birth.json().transferId, messageId: 'vi-du-mot-cua-0001', status: 'queued' });
  });
});
