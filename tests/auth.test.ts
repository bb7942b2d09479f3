import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientRegistry, sha256OfKey } from '../src/auth/clients.js';
import { khaiSinh, personalNumber, toSoapEnvelope, toXml } from './support/fixtures.js';
import { countRows, startTestGateway, type TestGateway } from './support/gateway.js';

let gateway: TestGateway;
let tempDir: string;
beforeAll(async () => {
  gateway = await startTestGateway();
  tempDir = mkdtempSync(join(tmpdir(), 'lienthong-auth-'));
});
afterAll(async () => {
  await gateway?.close();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
});

const storedCounts = async () => ({
  transfers: await countRows(gateway.db, 'transfers'),
  inbound: await countRows(gateway.db, 'inbound_messages'),
  audit: await countRows(gateway.db, 'audit_events'),
});

function expectContractError(response: { statusCode: number; json(): any }, status: number, code: string) {
  expect(response.statusCode).toBe(status);
  const body = response.json();
  expect(body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
  expect(Object.keys(body.error).every((key) => ['code', 'message', 'details'].includes(key))).toBe(true);
}

describe('401 UNAUTHORIZED', () => {
  const pushBirth = (authorization?: string) =>
    gateway.request(null, {
      method: 'POST', url: '/ngsp/v1/khai-sinh',
      headers: authorization === undefined ? {} : { authorization },
      payload: khaiSinh() as unknown as object,
    });

  it('without Authorization, with nothing stored', async () => {
    const before = await storedCounts();
    const response = await pushBirth();
    expectContractError(response, 401, 'UNAUTHORIZED');
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(await storedCounts()).toEqual(before);
  });

  it.each([
    ['a wrong key', 'Bearer not-a-known-key'],
    ['a Basic header', `Basic ${Buffer.from('hotich-08:secret').toString('base64')}`],
    ['a bare key without scheme', 'key-registry08-0000'],
    ['Bearer with no key', 'Bearer '],
    ['Bearer with two words', 'Bearer one two'],
  ])('with %s', async (_name, authorization) => {
    const before = await storedCounts();
    const response = await pushBirth(authorization);
    expectContractError(response, 401, 'UNAUTHORIZED');
    expect(await storedCounts()).toEqual(before);
  });

  it('with the right key in a Basic header, or the SHA-256 of the right key as bearer', async () => {
    const key = gateway.keys.registry08;
    expectContractError(await pushBirth(`Basic ${key}`), 401, 'UNAUTHORIZED');
    expectContractError(await pushBirth(`Bearer ${sha256OfKey(key)}`), 401, 'UNAUTHORIZED');
  });

  it('on reads as well as writes', async () => {
    expectContractError(await gateway.request(null, { method: 'GET', url: '/ngsp/v1/transfers' }), 401, 'UNAUTHORIZED');
    expectContractError(await gateway.request(null, { method: 'GET', url: '/audit/v1/verify' }), 401, 'UNAUTHORIZED');
    expectContractError(await gateway.request(null, { method: 'GET', url: '/ngsp/v1/transfers/some-id' }), 401, 'UNAUTHORIZED');
  });

  it('before the body is read: a missing key with a malformed body is still 401', async () => {
    const response = await gateway.request(null, {
      method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'application/json' }, payload: '{"not json',
    });
    expectContractError(response, 401, 'UNAUTHORIZED');
  });

  it('accepts the scheme name in any case (RFC 7235)', async () => {
    const response = await gateway.request(null, {
      method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { authorization: `bearer ${gateway.keys.registry08}` },
      payload: khaiSinh() as unknown as object,
    });
    expect(response.statusCode).toBe(202);
  });
});

describe('403 FORBIDDEN', () => {
  it('a bhxh client may not push a birth; nothing is stored', async () => {
    const before = await storedCounts();
    const response = await gateway.request('bhxh08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() as unknown as object });
    expectContractError(response, 403, 'FORBIDDEN');
    expect(await storedCounts()).toEqual(before);
  });

  it('a registry client may not read the audit log', async () => {
    expectContractError(await gateway.request('registry08', { method: 'GET', url: '/audit/v1/verify' }), 403, 'FORBIDDEN');
    expectContractError(await gateway.request('registry08', { method: 'GET', url: '/audit/v1/events' }), 403, 'FORBIDDEN');
    const auditor = await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' });
    expect(auditor.statusCode).toBe(200);
    expect(auditor.json()).toMatchObject({ ok: true });
  });

  it('a registry client scoped to 01 may not push a birth registered in 08; nothing is stored', async () => {
    const before = await storedCounts();
    const doc = khaiSinh();
    const response = await gateway.request('registry01', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc as unknown as object });
    expectContractError(response, 403, 'FORBIDDEN');
    expect(response.json().error.details).toContainEqual(expect.objectContaining({ path: '/hoTich/noiDangKy/maTinh' }));
    expect(await storedCounts()).toEqual(before);
    // The same document from the client of 08 is accepted: the refusal was about the unit, not the data.
    const allowed = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc as unknown as object });
    expect(allowed.statusCode).toBe(202);
  });

  it('the unit check does not depend on the door: the same refusal as XML', async () => {
    const before = await storedCounts();
    const doc = khaiSinh({ hoTich: { soDinhDanh: personalNumber() } });
    const response = await gateway.request('registry01', {
      method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'application/xml' }, payload: toXml('KhaiSinh', doc),
    });
    expectContractError(response, 403, 'FORBIDDEN');
    expect(await storedCounts()).toEqual(before);
  });
});

describe('the SOAP door', () => {
  const soapPost = (headers: Record<string, string>) =>
    gateway.request(null, {
      method: 'POST', url: '/ngsp/soap',
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: 'urn:lienthong:ngsp:v1#GuiKhaiSinh', ...headers },
      payload: toSoapEnvelope('KhaiSinh', khaiSinh()),
    });

  it('without a key answers a SOAP Fault, HTTP 401, UNAUTHORIZED in faultcode; nothing stored', async () => {
    const before = await storedCounts();
    const response = await soapPost({});
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toMatch(/^text\/xml/);
    expect(response.body).toMatch(/<soap:Envelope[^>]*xmlns:soap="http:\/\/schemas\.xmlsoap\.org\/soap\/envelope\/"/);
    expect(response.body).toMatch(/<faultcode>[^<]*UNAUTHORIZED[^<]*<\/faultcode>/);
    expect(response.body).toContain('<code>UNAUTHORIZED</code>');
    expect(await storedCounts()).toEqual(before);
  });

  it('with a wrong key: 401 Fault; with a key of the wrong role: 403 Fault', async () => {
    const wrong = await soapPost({ authorization: 'Bearer nope' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toMatch(/<faultcode>[^<]*UNAUTHORIZED[^<]*<\/faultcode>/);
    const bhxh = await soapPost({ authorization: `Bearer ${gateway.keys.bhxh08}` });
    expect(bhxh.statusCode).toBe(403);
    expect(bhxh.body).toMatch(/<faultcode>[^<]*FORBIDDEN[^<]*<\/faultcode>/);
  });

  it('the WSDL needs no key', async () => {
    const response = await gateway.request(null, { method: 'GET', url: '/ngsp/soap?wsdl' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('GuiKhaiSinh');
  });
});

describe('public routes need no key', () => {
  it.each([
    ['/healthz', /json/],
    ['/readyz', /json/],
    ['/metrics', /^text\/plain/],
    ['/docs/json', /json/],
  ])('%s', async (url, contentType) => {
    const response = await gateway.request(null, { method: 'GET', url });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(contentType);
  });

  it('/docs/json is the OpenAPI document and declares the bearer scheme', async () => {
    const response = await gateway.request(null, { method: 'GET', url: '/docs/json' });
    const doc = response.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(Object.keys(doc.paths)).toContain('/ngsp/v1/khai-sinh');
  });
});

describe('ClientRegistry', () => {
  const writeClients = (name: string, data: unknown) => {
    const path = join(tempDir, name);
    writeFileSync(path, JSON.stringify(data));
    return path;
  };

  it('fromFile reads a valid file; keys authenticate to their client', () => {
    const path = writeClients('valid.json', [
      { id: 'hotich-08', keySha256: sha256OfKey('key-08'), roles: ['registry'], units: ['08'] },
      { id: 'ops', keySha256: sha256OfKey('key-ops'), roles: ['operator', 'auditor'], units: ['*'] },
      {
        id: 'motcua-01', keySha256: sha256OfKey('key-01'), roles: ['registry'], units: ['01'],
        callbackUrl: 'https://motcua.example.vn/hook', callbackSecret: '0123456789abcdef',
      },
    ]);
    const registry = ClientRegistry.fromFile(path);
    expect(registry.authenticate('key-08')).toEqual({ id: 'hotich-08', roles: ['registry'], units: ['08'] });
    expect(registry.authenticate('key-ops')).toEqual({ id: 'ops', roles: ['operator', 'auditor'], units: ['*'] });
    expect(registry.authenticate('key-01')).toMatchObject({ id: 'motcua-01', callbackUrl: 'https://motcua.example.vn/hook' });
    expect(registry.withCallbacks().map((client) => client.id)).toEqual(['motcua-01']);
    // What a client looks like to the rest of the gateway never carries the digest.
    expect(registry.authenticate('key-08')).not.toHaveProperty('keySha256');
  });

  it.each([
    ['a key that is not a hex SHA-256', [{ id: 'a', keySha256: 'secret', roles: ['registry'], units: ['08'] }], /keySha256/],
    ['a digest too short', [{ id: 'a', keySha256: sha256OfKey('k').slice(1), roles: ['registry'], units: ['08'] }], /keySha256/],
    ['an unknown role', [{ id: 'a', keySha256: sha256OfKey('k'), roles: ['admin'], units: ['08'] }], /roles/],
    ['a province code of 3 digits', [{ id: 'a', keySha256: sha256OfKey('k'), roles: ['registry'], units: ['008'] }], /units/],
    ['the plain key instead of its digest', [{ id: 'a', key: 'k', roles: ['registry'], units: ['08'] }], /./],
    ['not a list', { id: 'a' }, /./],
    ['a callback address without its secret', [{ id: 'a', keySha256: sha256OfKey('k'), roles: ['registry'], units: ['08'], callbackUrl: 'https://a.example.vn/hook' }], /callbackSecret/],
    ['a callback secret without an address', [{ id: 'a', keySha256: sha256OfKey('k'), roles: ['registry'], units: ['08'], callbackSecret: '0123456789abcdef' }], /callbackUrl/],
    ['a school without its unit code', [{ id: 'a', keySha256: sha256OfKey('k'), roles: ['school'], units: ['08'] }], /maDonVi/],
    ['a school for every province', [{ id: 'a', keySha256: sha256OfKey('k'), roles: ['school'], units: ['*'], maDonVi: 'TZ0801A' }], /units/],
    ['a school in two provinces', [{ id: 'a', keySha256: sha256OfKey('k'), roles: ['school'], units: ['08', '01'], maDonVi: 'TZ0801A' }], /units/],
    ['a unit code in lower case', [{ id: 'a', keySha256: sha256OfKey('k'), roles: ['school'], units: ['08'], maDonVi: 'tz0801a' }], /maDonVi/],
  ])('fromFile refuses %s', (_name, data, message) => {
    const path = writeClients(`bad-${Math.random().toString(36).slice(2)}.json`, data);
    expect(() => ClientRegistry.fromFile(path)).toThrow(message);
  });

  it('fromFile reads a school with its unit code and one province; dev mode makes one too', () => {
    const path = writeClients('school.json', [
      { id: 'thpt-ha-giang', keySha256: sha256OfKey('key-school'), roles: ['school'], units: ['08'], maDonVi: 'TZ0801A' },
    ]);
    expect(ClientRegistry.fromFile(path).authenticate('key-school')).toEqual({ id: 'thpt-ha-giang', roles: ['school'], units: ['08'], maDonVi: 'TZ0801A' });
    const dev = ClientRegistry.forDevelopment();
    expect(dev.registry.authenticate(dev.keys.school)).toMatchObject({ roles: ['school'], units: [expect.stringMatching(/^[0-9]{2}$/)], maDonVi: expect.any(String) });
  });

  it('fromFile refuses two clients with one id', () => {
    const path = writeClients('duplicate.json', [
      { id: 'same', keySha256: sha256OfKey('k1'), roles: ['registry'], units: ['08'] },
      { id: 'same', keySha256: sha256OfKey('k2'), roles: ['bhxh'], units: ['08'] },
    ]);
    expect(() => ClientRegistry.fromFile(path)).toThrow(/same/);
  });

  it('fromFile refuses a file that is not JSON', () => {
    const path = join(tempDir, 'broken.json');
    writeFileSync(path, '[{"id": ');
    expect(() => ClientRegistry.fromFile(path)).toThrow();
  });

  it('authenticates by the key, never by its stored SHA-256; unknown keys are null', () => {
    const digest = sha256OfKey('k');
    expect(digest).toBe('8254c329a92850f6d539dd376f4816ee2764517da5e0235514af433164480d7a');
    const registry = new ClientRegistry([{ id: 'c', keySha256: digest, roles: ['registry'], units: ['08'] }]);
    expect(registry.authenticate('k')?.id).toBe('c');
    expect(registry.authenticate(digest)).toBeNull();
    expect(registry.authenticate(digest.toUpperCase())).toBeNull();
    expect(registry.authenticate('K')).toBeNull();
    expect(registry.authenticate('k ')).toBeNull();
    expect(registry.authenticate('')).toBeNull();
    expect(registry.authenticate('unknown')).toBeNull();
  });

  it('the gateway\'s own registry behaves the same over HTTP: the digest of a key is not a key', async () => {
    const response = await gateway.request(null, {
      method: 'GET', url: '/ngsp/v1/transfers', headers: { authorization: `Bearer ${sha256OfKey(gateway.keys.operator)}` },
    });
    expect(response.statusCode).toBe(401);
    const ok = await gateway.request('operator', { method: 'GET', url: '/ngsp/v1/transfers' });
    expect(ok.statusCode).toBe(200);
  });
});
