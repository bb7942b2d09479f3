import { Ajv } from 'ajv';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { xmlEntityDecoder } from '../src/codec/xml-document.js';
import { errorBodySchema, errorCatalogue, type ErrorCode } from '../src/errors.js';
import { khaiSinh, toSoapEnvelope, toXml } from './support/fixtures.js';
import { countRows, startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';

/**
 * Hostile bodies over HTTP. tests/body-reader.test.ts covers the parser itself; here the gateway's
 * answers: the status and code of the catalogue, the contract's error shape (REST) or a SOAP Fault
 * (SOAP), and nothing stored, whatever arrives.
 */

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway?.close();
});

const validateErrorBody = new Ajv({ allErrors: true, strict: true }).compile(errorBodySchema);

const ONE_MB = 1024 * 1024;
const XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>';
const utf8 = (text: string) => Buffer.from(text, 'utf8');
const INVALID_UTF8 = Buffer.from([0xc3, 0x28]); // a two-byte lead followed by ASCII

const BILLION_LAUGHS = `${XML_HEADER}
<!DOCTYPE KhaiSinh [
  <!ENTITY lol "lol">
  ${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`).join('\n  ')}
]>
<KhaiSinh><messageId>&lol9;</messageId></KhaiSinh>`;

const XXE = `${XML_HEADER}
<!DOCTYPE KhaiSinh [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<KhaiSinh><messageId>m-xxe</messageId><hoTich><nksHoTen>&xxe;</nksHoTen></hoTich></KhaiSinh>`;

const deepXml = (levels: number) => `<KhaiSinh>${'<a>'.repeat(levels)}x${'</a>'.repeat(levels)}</KhaiSinh>`;
const deepJsonObjects = (levels: number) => `{"messageId":"m","hoTich":${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}`;

const json = (payload: string | Buffer): InjectOptions => ({ method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'application/json' }, payload });
const xml = (payload: string | Buffer): InjectOptions => ({ method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'application/xml' }, payload });
const soap = (payload: string | Buffer, contentType = 'text/xml; charset=utf-8'): InjectOptions => ({
  method: 'POST', url: '/ngsp/soap', headers: { 'content-type': contentType, soapaction: 'urn:lienthong:ngsp:v1#GuiKhaiSinh' }, payload,
});

async function storedCounts() {
  return {
    transfers: await countRows(gateway.db, 'transfers'),
    inbound_messages: await countRows(gateway.db, 'inbound_messages'),
    audit_events: await countRows(gateway.db, 'audit_events'),
  };
}

/** Sends the request and checks that no table gained a row, whatever the answer. */
async function sendStoringNothing(as: ClientName | null, options: InjectOptions): Promise<LightMyRequestResponse> {
  const before = await storedCounts();
  const response = await gateway.request(as, options);
  expect(await storedCounts()).toEqual(before);
  return response;
}

/** A REST refusal: the catalogue's status for the code, JSON in the contract's error shape. */
function expectRestError(response: LightMyRequestResponse, code: ErrorCode, detail?: string) {
  expect(response.statusCode).toBe(errorCatalogue[code].status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json();
  expect(validateErrorBody(body), JSON.stringify(validateErrorBody.errors)).toBe(true);
  expect(body.error.code).toBe(code);
  if (detail !== undefined) {
    expect(body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ code: detail })]));
  }
}

/** A SOAP refusal: a Fault whose faultcode carries the code, with the catalogue's HTTP status. */
function expectSoapFault(response: LightMyRequestResponse, code: ErrorCode, detail?: string) {
  expect(response.statusCode).toBe(errorCatalogue[code].status);
  expect(response.headers['content-type']).toMatch(/^text\/xml/);
  expect(response.body).toMatch(/<(\w+:)?Fault>/);
  expect(response.body).toMatch(new RegExp(`<faultcode>[^<]*\\b${code}</faultcode>`));
  expect(response.body).toContain(`<code>${code}</code>`);
  if (detail !== undefined) expect(response.body).toContain(`<code>${detail}</code>`);
}

interface HostileCase {
  name: string;
  request: () => InjectOptions;
  code: ErrorCode;
  detail?: string;
}

const xmlAttacks: HostileCase[] = [
  { name: 'refuses a billion-laughs entity bomb', request: () => xml(BILLION_LAUGHS), code: 'MALFORMED_BODY', detail: 'XML_DTD_FORBIDDEN' },
  { name: 'refuses an external entity (XXE) naming /etc/passwd', request: () => xml(XXE), code: 'MALFORMED_BODY', detail: 'XML_DTD_FORBIDDEN' },
  { name: 'refuses an external DTD fetched by SYSTEM identifier', request: () => xml(`${XML_HEADER}<!DOCTYPE KhaiSinh SYSTEM "http://attacker.example/evil.dtd"><KhaiSinh><messageId>m</messageId></KhaiSinh>`), code: 'MALFORMED_BODY', detail: 'XML_DTD_FORBIDDEN' },
  { name: 'refuses a DOCTYPE written in lower case', request: () => xml(`<!doctype KhaiSinh [<!entity a "b">]><KhaiSinh><messageId>&a;</messageId></KhaiSinh>`), code: 'MALFORMED_BODY', detail: 'XML_DTD_FORBIDDEN' },
  { name: 'refuses a reference to an entity that was never declared', request: () => xml(`<KhaiSinh><messageId>&xxe;</messageId></KhaiSinh>`), code: 'MALFORMED_BODY', detail: 'INVALID_XML' },
  { name: 'refuses XML nested 100 000 elements deep', request: () => xml(deepXml(100_000)), code: 'MALFORMED_BODY', detail: 'TOO_DEEP' },
  { name: 'refuses XML nested 20 elements deep (readable, but deeper than any KhaiSinh)', request: () => xml(deepXml(20)), code: 'MALFORMED_BODY', detail: 'TOO_DEEP' },
  { name: 'refuses XML with more than 20 000 elements', request: () => xml(`<KhaiSinh>${'<x/>'.repeat(20_001)}</KhaiSinh>`), code: 'MALFORMED_BODY', detail: 'TOO_MANY_ELEMENTS' },
  { name: 'refuses broken XML (an element not closed)', request: () => xml(`<KhaiSinh><messageId>m</messageId><hoTich>`), code: 'MALFORMED_BODY', detail: 'INVALID_XML' },
  { name: 'refuses XML with two root elements', request: () => xml(`<KhaiSinh/><KhaiSinh/>`), code: 'MALFORMED_BODY', detail: 'INVALID_XML' },
  { name: 'refuses XML mixing text and child elements', request: () => xml(`<KhaiSinh>text<messageId>m</messageId></KhaiSinh>`), code: 'MALFORMED_BODY', detail: 'XML_MIXED_CONTENT' },
  { name: 'refuses XML with invalid UTF-8 bytes', request: () => xml(Buffer.concat([utf8('<KhaiSinh><messageId>'), INVALID_UTF8, utf8('</messageId></KhaiSinh>')])), code: 'MALFORMED_BODY', detail: 'INVALID_UTF8' },
  { name: 'refuses XML sent in UTF-16', request: () => xml(Buffer.from('\ufeff<KhaiSinh><messageId>m</messageId></KhaiSinh>', 'utf16le')), code: 'MALFORMED_BODY', detail: 'XML_ENCODING' },
  { name: 'refuses XML declaring an encoding other than UTF-8', request: () => xml(`<?xml version="1.0" encoding="ISO-8859-1"?><KhaiSinh/>`), code: 'MALFORMED_BODY', detail: 'XML_ENCODING' },
  { name: 'refuses a processing instruction', request: () => xml(`${XML_HEADER}<?xml-stylesheet href="http://attacker.example/x.xsl"?><KhaiSinh/>`), code: 'MALFORMED_BODY', detail: 'XML_PI_FORBIDDEN' },
  { name: 'refuses an element named __proto__', request: () => xml(`<KhaiSinh><__proto__><polluted>1</polluted></__proto__></KhaiSinh>`), code: 'MALFORMED_BODY', detail: 'FORBIDDEN_NAME' },
  { name: 'refuses an element named constructor', request: () => xml(`<KhaiSinh><constructor><prototype>1</prototype></constructor></KhaiSinh>`), code: 'MALFORMED_BODY', detail: 'FORBIDDEN_NAME' },
  { name: 'refuses a well-formed birth whose XML root is not <KhaiSinh>', request: () => xml(toXml('KhaiTu', khaiSinh())), code: 'VALIDATION_FAILED', detail: 'XML_ROOT' },
];

const jsonAttacks: HostileCase[] = [
  { name: 'refuses JSON nested 100 000 arrays deep', request: () => json('['.repeat(100_000) + ']'.repeat(100_000)), code: 'MALFORMED_BODY', detail: 'TOO_DEEP' },
  { name: 'refuses JSON objects nested 20 deep (readable, but deeper than any KhaiSinh)', request: () => json(deepJsonObjects(20)), code: 'MALFORMED_BODY', detail: 'TOO_DEEP' },
  { name: 'refuses broken JSON', request: () => json('{"messageId": "m", "hoTich": {'), code: 'MALFORMED_BODY', detail: 'INVALID_JSON' },
  { name: 'refuses JSON with a trailing comma', request: () => json('{"messageId": "m",}'), code: 'MALFORMED_BODY', detail: 'INVALID_JSON' },
  { name: 'refuses an empty JSON body', request: () => json(''), code: 'MALFORMED_BODY' },
  { name: 'refuses JSON with invalid UTF-8 bytes', request: () => json(Buffer.concat([utf8('{"messageId":"'), INVALID_UTF8, utf8('"}')])), code: 'MALFORMED_BODY', detail: 'INVALID_UTF8' },
  { name: 'refuses a JSON array instead of an object', request: () => json(JSON.stringify([khaiSinh()])), code: 'VALIDATION_FAILED', detail: 'TYPE' },
  { name: 'refuses a JSON string instead of an object', request: () => json('"KhaiSinh"'), code: 'VALIDATION_FAILED', detail: 'TYPE' },
  { name: 'refuses a JSON number instead of an object', request: () => json('42'), code: 'VALIDATION_FAILED', detail: 'TYPE' },
  { name: 'refuses JSON null', request: () => json('null'), code: 'VALIDATION_FAILED', detail: 'TYPE' },
  { name: 'refuses a top-level "__proto__" key', request: () => json('{"messageId":"m","__proto__":{"polluted":true}}'), code: 'MALFORMED_BODY', detail: 'FORBIDDEN_NAME' },
  { name: 'refuses a "__proto__" key inside hoTich', request: () => json(JSON.stringify(khaiSinh()).replace('"hoTich":{', '"hoTich":{"__proto__":{"polluted":true},')), code: 'MALFORMED_BODY', detail: 'FORBIDDEN_NAME' },
  { name: 'refuses a "constructor.prototype" key', request: () => json('{"messageId":"m","constructor":{"prototype":{"polluted":true}}}'), code: 'MALFORMED_BODY', detail: 'FORBIDDEN_NAME' },
];

const transportAttacks: HostileCase[] = [
  { name: 'refuses a JSON body over 1 MB with 413', request: () => json(JSON.stringify({ ...khaiSinh(), pad: 'a'.repeat(ONE_MB) })), code: 'PAYLOAD_TOO_LARGE' },
  { name: 'refuses an XML body over 1 MB with 413', request: () => xml(`<KhaiSinh><!--${'a'.repeat(ONE_MB)}--></KhaiSinh>`), code: 'PAYLOAD_TOO_LARGE' },
  { name: 'refuses text/plain with 415', request: () => ({ method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'text/plain' }, payload: JSON.stringify(khaiSinh()) }), code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'refuses a body with no content type with 415', request: () => ({ method: 'POST', url: '/ngsp/v1/khai-sinh', payload: JSON.stringify(khaiSinh()) }), code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'refuses a form-encoded body with 415', request: () => ({ method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'messageId=m' }), code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'refuses a content type that only starts like JSON (application/jsonx) with 415', request: () => ({ method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'application/jsonx' }, payload: JSON.stringify(khaiSinh()) }), code: 'UNSUPPORTED_MEDIA_TYPE' },
];

describe('hostile XML at the REST door', () => {
  it.each(xmlAttacks)('$name', async ({ request, code, detail }) => {
    const response = await sendStoringNothing('registry08', request());
    expectRestError(response, code, detail);
  });

  it('never expands an entity into the answer', async () => {
    const bomb = await sendStoringNothing('registry08', xml(BILLION_LAUGHS));
    expect(bomb.body).not.toContain('lollollol');
    const xxe = await sendStoringNothing('registry08', xml(XXE));
    expect(xxe.body).not.toContain('root:');
  });
});

describe('hostile JSON at the REST door', () => {
  it.each(jsonAttacks)('$name', async ({ request, code, detail }) => {
    const response = await sendStoringNothing('registry08', request());
    expectRestError(response, code, detail);
  });

  it('leaves Object.prototype untouched after prototype-pollution attempts', async () => {
    for (const body of ['{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}']) {
      await sendStoringNothing('registry08', json(body));
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });
});

describe('size and content type at the REST door', () => {
  it.each(transportAttacks)('$name', async ({ request, code, detail }) => {
    const response = await sendStoringNothing('registry08', request());
    expectRestError(response, code, detail);
  });

  it('reads a body just under 1 MB (then refuses it for its unknown field, 400 not 413)', async () => {
    const doc = khaiSinh();
    const base = Buffer.byteLength(JSON.stringify({ ...doc, pad: '' }));
    const payload = JSON.stringify({ ...doc, pad: 'a'.repeat(ONE_MB - base - 16) });
    expect(Buffer.byteLength(payload)).toBe(ONE_MB - 16);
    const response = await sendStoringNothing('registry08', json(payload));
    expectRestError(response, 'VALIDATION_FAILED', 'ADDITIONALPROPERTIES');
  });
});

describe('authentication comes before the body', () => {
  it('refuses an unauthenticated 5 MB body at the REST door with 401, not 413', async () => {
    const response = await sendStoringNothing(null, json(`{"pad":"${'a'.repeat(5 * ONE_MB)}"}`));
    expectRestError(response, 'UNAUTHORIZED');
    expect(response.headers['www-authenticate']).toBe('Bearer');
  });

  it('refuses a 5 MB body with an unknown key at the REST door with 401', async () => {
    const response = await sendStoringNothing(null, {
      ...json(`{"pad":"${'a'.repeat(5 * ONE_MB)}"}`),
      headers: { 'content-type': 'application/json', authorization: 'Bearer not-a-key-of-anyone' },
    });
    expectRestError(response, 'UNAUTHORIZED');
  });

  it.each([
    { name: 'refuses an unauthenticated 5 MB body at the SOAP door with a 401 Fault, not 413', payload: () => `<soap:Envelope>${'a'.repeat(5 * ONE_MB)}</soap:Envelope>` },
    { name: 'refuses an unauthenticated entity bomb at the SOAP door with a 401 Fault, before reading it', payload: () => BILLION_LAUGHS },
  ])('$name', async ({ payload }) => {
    const response = await sendStoringNothing(null, soap(payload()));
    expectSoapFault(response, 'UNAUTHORIZED');
  });
});

describe('hostile bodies at the SOAP door', () => {
  const envelope = (inner: string) =>
    `${XML_HEADER}<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>${inner}</soap:Body></soap:Envelope>`;
  const bombEnvelope = BILLION_LAUGHS.replace('<KhaiSinh>', '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><KhaiSinh>')
    .replace('</KhaiSinh>', '</KhaiSinh></soap:Body></soap:Envelope>');

  it.each([
    { name: 'answers a DOCTYPE entity bomb with a MALFORMED_BODY Fault', request: () => soap(bombEnvelope), code: 'MALFORMED_BODY' as const, detail: 'XML_DTD_FORBIDDEN' },
    { name: 'answers an external entity (XXE) with a MALFORMED_BODY Fault', request: () => soap(XXE), code: 'MALFORMED_BODY' as const, detail: 'XML_DTD_FORBIDDEN' },
    { name: 'answers an envelope over 1 MB with a PAYLOAD_TOO_LARGE Fault (413)', request: () => soap(toSoapEnvelope('KhaiSinh', khaiSinh()).replace('<soap:Body>', `<soap:Body><!--${'a'.repeat(ONE_MB)}-->`)), code: 'PAYLOAD_TOO_LARGE' as const },
    { name: 'answers an envelope nested 100 000 elements deep with a MALFORMED_BODY Fault', request: () => soap(envelope(deepXml(100_000))), code: 'MALFORMED_BODY' as const, detail: 'TOO_DEEP' },
    { name: 'answers broken XML with a MALFORMED_BODY Fault', request: () => soap(envelope('<KhaiSinh><messageId>m</messageId>').replace('</soap:Envelope>', '')), code: 'MALFORMED_BODY' as const, detail: 'INVALID_XML' },
    { name: 'answers a reference to an undeclared entity with a MALFORMED_BODY Fault', request: () => soap(envelope('<KhaiSinh><messageId>&xxe;</messageId></KhaiSinh>')), code: 'MALFORMED_BODY' as const, detail: 'INVALID_XML' },
    { name: 'answers a character reference to NUL with a MALFORMED_BODY Fault', request: () => soap(envelope('<KhaiSinh><messageId>a&#0;</messageId></KhaiSinh>')), code: 'MALFORMED_BODY' as const, detail: 'INVALID_XML' },
    { name: 'answers invalid UTF-8 with a MALFORMED_BODY Fault', request: () => soap(Buffer.concat([utf8(envelope('<KhaiSinh><messageId>')), INVALID_UTF8])), code: 'MALFORMED_BODY' as const, detail: 'INVALID_UTF8' },
    { name: 'answers a JSON body with an UNSUPPORTED_MEDIA_TYPE Fault (415)', request: () => soap(JSON.stringify(khaiSinh()), 'application/json'), code: 'UNSUPPORTED_MEDIA_TYPE' as const },
  ])('$name', async ({ request, code, detail }) => {
    const response = await sendStoringNothing('registry08', request());
    expectSoapFault(response, code, detail);
    expect(response.body).not.toContain('lollollol');
    expect(response.body).not.toContain('root:');
  });
});

describe('XML dense with references', () => {
  /** A birth whose child's name is `name` as written in the XML, in a body of its own or in a SOAP envelope. */
  const withName = (document: string, name: string) => document.replace(/<nksHoTen>[^<]*<\/nksHoTen>/, `<nksHoTen>${name}</nksHoTen>`);
  /** As many copies of `reference` as keep `document` within 1 MB once they are its child's name. */
  const fillingOneMb = (document: string, reference: string) =>
    Math.floor((ONE_MB - Buffer.byteLength(withName(document, ''))) / reference.length);
  /** The texts and attribute values (the XML declaration's) of a body: what the parser hands its decoder. */
  const decodableIn = (body: string) => (body.match(/>[^<]+</g)?.length ?? 0) + (body.match(/="[^"]*"/g)?.length ?? 0);

  it.each([
    { name: 'character references (&#7897;)', reference: '&#7897;', decoded: 'ộ' },
    { name: 'the five predefined entities', reference: '&lt;&gt;&quot;&apos;&amp;', decoded: '<>"\'&' },
  ])('a 1 MB body of $name is read decoding each text once, not each reference', async ({ reference, decoded }) => {
    const document = toXml('KhaiSinh', khaiSinh());
    const copies = fillingOneMb(document, reference);
    const body = withName(document, reference.repeat(copies));
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(ONE_MB);
    const decodes = vi.spyOn(xmlEntityDecoder, 'decode');
    try {
      const response = await sendStoringNothing('registry08', xml(body));
      // Read to the end: the name is too long only once decoded (counted in characters).
      expectRestError(response, 'VALIDATION_FAILED');
      expect(response.json().error.details).toContainEqual(expect.objectContaining({ path: '/hoTich/nksHoTen', code: 'MAXLENGTH' }));
      const longest = decodes.mock.results.map((result) => String(result.value)).sort((a, b) => b.length - a.length)[0];
      expect(longest).toBe(decoded.repeat(copies));
      // Tens of thousands of references, yet the decoder ran once per text of the body (the
      // parser's call), and the screen before the parser decoded none of them.
      expect(copies).toBeGreaterThan(40_000);
      expect(decodes.mock.calls.length).toBeLessThanOrEqual(decodableIn(body));
    } finally {
      decodes.mockRestore();
    }
  });

  it('the same through SOAP: the screen decodes no reference, the soap library reads them', async () => {
    const document = toSoapEnvelope('KhaiSinh', khaiSinh());
    const body = withName(document, '&#7897;'.repeat(fillingOneMb(document, '&#7897;')));
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(ONE_MB);
    const decodes = vi.spyOn(xmlEntityDecoder, 'decode');
    try {
      const response = await sendStoringNothing('registry08', soap(body));
      expectSoapFault(response, 'VALIDATION_FAILED', 'MAXLENGTH');
      expect(decodes).not.toHaveBeenCalled();
    } finally {
      decodes.mockRestore();
    }
  });

  it('one reference the gateway does not decode, amid a megabyte of good ones, is still refused', async () => {
    const document = toXml('KhaiSinh', khaiSinh());
    const half = '&#7897;'.repeat(fillingOneMb(document, '&#7897;') / 2 - 1);
    const response = await sendStoringNothing('registry08', xml(withName(document, `${half}&nbsp;${half}`)));
    expectRestError(response, 'MALFORMED_BODY', 'INVALID_XML');
    expect(response.json().error.details[0].message).toContain('&nbsp;');
  });
});
