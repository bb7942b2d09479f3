import { Ajv } from 'ajv';
import fc from 'fast-check';
import { XMLValidator } from 'fast-xml-parser';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorBodySchema, errorCatalogue } from '../src/errors.js';
import { hoSoMotCua, khaiTu } from './support/death-fixtures.js';
import { khaiSinh, personalNumber, toXml } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * Generated hostile input at each door (issue 11): valid documents mutated (wrong types, deep
 * nesting, hostile keys, huge strings within the limit), their bytes mutated (truncation, random
 * bytes, invalid UTF-8, DTDs and entities, markup spliced in), random content types, and at the
 * SOAP door random envelopes (no or empty Body, Faults, Headers, SOAP 1.2, href/id and xsi
 * attributes the soap library interprets, random SOAPActions). Whatever arrives, the answer comes
 * within a bound and is never a 5xx: at REST the contract's error shape with the catalogue's status,
 * at SOAP a 1.1 Fault of ours with a catalogue code and nothing of the library in it.
 *
 * FUZZ_RUNS is the number of inputs over the three doors (a few thousand by default, for CI).
 * FUZZ_SEED picks the sample: a fixed one by default, so that every CI run checks the same inputs
 * and a failure there replays anywhere; a number for another sample, `random` for a fresh one each
 * run (fast-check prints the seed of a failure).
 */

const TOTAL_RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const SEED = process.env.FUZZ_SEED === 'random' ? undefined : Number(process.env.FUZZ_SEED ?? 20_250_320);
const RUNS_PER_DOOR = Math.ceil(TOTAL_RUNS / 3);
const ANSWER_BOUND_MS = 10_000;
// Generous per input: the machine is shared, and a failure replays inputs while shrinking.
const TEST_TIMEOUT_MS = 120_000 + RUNS_PER_DOOR * 30;

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway?.close();
});

// ---------------------------------------------------------------------------------------------
// The documents and what is done to them
// ---------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const MESSAGES = [
  { type: 'KhaiSinh', path: '/ngsp/v1/khai-sinh', operation: 'GuiKhaiSinh', make: () => khaiSinh() as unknown as Json },
  { type: 'KhaiTu', path: '/ngsp/v1/khai-tu', operation: 'GuiKhaiTu', make: () => khaiTu() as unknown as Json },
  { type: 'HoSoMotCua', path: '/ngsp/v1/mot-cua', operation: 'GuiHoSoMotCua', make: () => hoSoMotCua({ hoTich: { soDinhDanh: personalNumber() } }) as unknown as Json },
] as const;
type Message = (typeof MESSAGES)[number];

const message = fc.constantFrom(...MESSAGES);

/** Every path in a document, the root included, in a stable order. */
function pathsOf(value: Json, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []) {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((item, index) => pathsOf(item, [...prefix, index], out));
  else if (value !== null && typeof value === 'object') for (const [key, item] of Object.entries(value)) pathsOf(item, [...prefix, key], out);
  return out;
}

/** Own keys even for `__proto__`, which plain assignment would take for the prototype. */
function put(target: Record<string, Json> | Json[], key: string | number, value: Json) {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

type Mutation =
  | { kind: 'set'; at: number; value: Json }
  | { kind: 'delete'; at: number }
  | { kind: 'add'; at: number; key: string; value: Json }
  | { kind: 'nest'; at: number; depth: number; asArray: boolean };

function mutate(document: Json, mutations: readonly Mutation[]): Json {
  let doc = structuredClone(document);
  for (const mutation of mutations) {
    const paths = pathsOf(doc);
    const path = paths[mutation.at % paths.length] ?? [];
    const parentPath = path.slice(0, -1);
    const key = path.at(-1);
    let parent: Json = doc;
    for (const step of parentPath) parent = (parent as Record<string, Json>)[step] as Json;
    const current: Json = key === undefined ? doc : (parent as Record<string, Json>)[key] as Json;
    let next: Json | undefined;
    switch (mutation.kind) {
      // Copies: fast-check may hand the same value to two mutations, and the second could put it inside itself.
      case 'set': next = structuredClone(mutation.value); break;
      case 'delete': next = undefined; break;
      case 'add':
        // Objects only: an array's own "constructor" would break the test's own XML writer, not the gateway.
        if (current !== null && typeof current === 'object' && !Array.isArray(current)) put(current, mutation.key, structuredClone(mutation.value));
        continue;
      case 'nest':
        next = current;
        for (let level = 0; level < mutation.depth; level++) next = mutation.asArray ? [next] : { a: next };
        break;
    }
    if (key === undefined) doc = next ?? null;
    else if (next === undefined) delete (parent as Record<string, Json>)[key];
    else put(parent as Record<string, Json>, key, next);
  }
  return doc;
}

const hostileKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', 'pad', 'a b', '<x>', 'x:y', '1abc', 'ns:__proto__'),
  fc.string({ maxLength: 12 }),
);

const hugeString = fc.record({ length: fc.integer({ min: 10_000, max: 900_000 }), char: fc.constantFrom('a', 'ệ', '😀', '<', '&', '"', '\\') })
  .map(({ length, char }) => char.repeat(Math.floor(length / Buffer.byteLength(char))));

// Huge strings are rare: reading a 1 MB XML document takes the gateway most of a second of CPU.
const wrongValue: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>, weight: 48 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 32 },
  { arbitrary: fc.constantFrom<Json>('', ' ', '31.02.2025', '2025-03-01', '99', '-1', '1e400', 'NaN', '\u0000', '\ufeff', '\u202e', 'A\u0301', '<b>x</b>', ']]>', '&amp;', '&xxe;', null, true, 0, -0, 1e308, Number.MAX_SAFE_INTEGER + 2, [], {}), weight: 48 },
  { arbitrary: hugeString, weight: 1 },
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: wrongValue }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('add' as const), at: fc.nat(), key: hostileKey, value: wrongValue }),
  fc.record({ kind: fc.constant('nest' as const), at: fc.nat(), depth: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 40, max: 300 })), asArray: fc.boolean() }),
);

const mutations = fc.oneof({ arbitrary: fc.constant([]), weight: 1 }, { arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }), weight: 6 });

// ---------------------------------------------------------------------------------------------
// Bytes
// ---------------------------------------------------------------------------------------------

const INVALID_UTF8 = [[0xc3, 0x28], [0xa0, 0xa1], [0xe2, 0x28, 0xa1], [0xf0, 0x28, 0x8c, 0xbc], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff], [0xfe, 0xff], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]];

const BILLION_LAUGHS = `<!DOCTYPE r [<!ENTITY l "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY l${i + 1} "${`&l${i === 0 ? '' : i};`.repeat(10)}">`).join('')}]>`;
const SNIPPETS = [
  BILLION_LAUGHS, '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>', '<!DOCTYPE r SYSTEM "http://attacker.example/x.dtd">', '&l9;', '&x;', '&nbsp;', '&#0;', '&#xD800;', '&#x1F600;', '&',
  '<?xml version="1.0" encoding="ISO-8859-1"?>', '<?xml-stylesheet href="x"?>', '<![CDATA[<a>]]>', '<![CDATA[<?xml version="1.0"?><a>]]>', ']]>', '<!-- x -->', '<!--', '-->',
  '<', '>', '</', '/>', '<a>', '</a>', '<a/>', '<__proto__>1</__proto__>', '<x:constructor xmlns:x="u">1</x:constructor>', '<a id="r" href="#r"/>', '"', "'", '\\', '\\u0000', '{', '}', '[', ']', ',', ':',
  '\u0000', '\u0007', '\ufffe', '\r\n', '\ufeff', '"__proto__":{"p":1},', '"constructor":{"prototype":{"p":1}},',
  // Deeper than any document is built here, as raw text.
  '['.repeat(50_000), '{"a":'.repeat(20_000), '<a>'.repeat(20_000), `${'<a>'.repeat(5000)}x${'</a>'.repeat(5000)}`,
];

type ByteMutation =
  | { kind: 'none' }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array }
  | { kind: 'invalidUtf8'; at: number; sequence: number }
  | { kind: 'snippet'; at: number; snippet: number }
  | { kind: 'bom' }
  | { kind: 'utf16' }
  | { kind: 'random'; bytes: Uint8Array };

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'none' as const }), weight: 8 },
  { arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('invalidUtf8' as const), at: fc.nat(), sequence: fc.nat(INVALID_UTF8.length - 1) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('snippet' as const), at: fc.nat(), snippet: fc.nat(SNIPPETS.length - 1) }), weight: 4 },
  { arbitrary: fc.constant({ kind: 'bom' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'utf16' as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 512 }) }), weight: 1 },
);

function mutateBytes(body: Buffer, change: ByteMutation): Buffer {
  const splice = (at: number, remove: number, insert: Uint8Array | Buffer) =>
    Buffer.concat([body.subarray(0, at % (body.length + 1)), Buffer.from(insert), body.subarray((at % (body.length + 1)) + remove)]);
  switch (change.kind) {
    case 'none': return body;
    case 'truncate': return body.subarray(0, change.at % (body.length + 1));
    case 'insert': return splice(change.at, 0, change.bytes);
    case 'overwrite': return splice(change.at, change.bytes.length, change.bytes);
    case 'invalidUtf8': return splice(change.at, 0, Uint8Array.from(INVALID_UTF8[change.sequence] ?? []));
    case 'snippet': return splice(change.at, 0, Buffer.from(SNIPPETS[change.snippet] ?? ''));
    case 'bom': return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]);
    case 'utf16': return Buffer.from(`\ufeff${body.toString('utf8')}`, 'utf16le');
    case 'random': return Buffer.from(change.bytes);
  }
}

const printable = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);

/** The content type the door expects most of the time, else another or a random one. */
const contentType = (usual: string[]) => fc.oneof(
  { arbitrary: fc.constantFrom(...usual), weight: 12 },
  {
    arbitrary: fc.constantFrom(
      'application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'APPLICATION/JSON', 'application/xml', 'text/xml',
      'text/xml; charset=iso-8859-1', 'application/soap+xml', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
      'application/jsonx', 'application/octet-stream', '*/*', ';', 'application/json;', 'text/xml; charset="utf-8"; action="x"',
    ),
    weight: 3,
  },
  { arbitrary: printable, weight: 1 },
);

// ---------------------------------------------------------------------------------------------
// SOAP envelopes
// ---------------------------------------------------------------------------------------------

const SOAP_11 = 'http://schemas.xmlsoap.org/soap/envelope/';
const SOAP_12 = 'http://www.w3.org/2003/05/soap-envelope';
const NGSP = 'urn:lienthong:ngsp:v1';

const envelopeShape = fc.record({
  prolog: fc.constantFrom('', '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?>\n', '<?xml version="1.0" encoding="ISO-8859-1"?>', '\ufeff'),
  prefix: fc.constantFrom('soap:', 'SOAP-ENV:', 's:', ''),
  namespace: fc.constantFrom(SOAP_11, SOAP_11, SOAP_12, 'urn:example:other', ''),
  rootName: fc.constantFrom('Envelope', 'Envelope', 'Envelope', 'Body', 'KhaiSinh', 'envelope'),
  header: fc.constantFrom(
    '', '', '<H:Header/>', '<H:Header><x:HoSoMotCua xmlns:x="urn:lienthong:ngsp:v1"/></H:Header>',
    '<H:Header><wsse:Security xmlns:wsse="urn:s"><wsse:UsernameToken><wsse:Username>u</wsse:Username><wsse:Password>p</wsse:Password></wsse:UsernameToken><Timestamp/></wsse:Security></H:Header>',
    '<H:Header>text<a id="r" href="#r"/></H:Header>',
  ),
  body: fc.constantFrom('message', 'message', 'message', 'message', 'missing', 'selfClosed', 'empty', 'comment', 'fault', 'fault12', 'text', 'twoMessages', 'unknown', 'nestedXml', 'afterBody'),
  messagePrefix: fc.constantFrom('tns:', '', 'a:b:'),
  messageNamespace: fc.constantFrom(NGSP, NGSP, '', 'urn:other'),
  attributes: fc.constantFrom('', '', ' id="r" href="#r"', ' href="#nowhere"', ' xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"', ' xsi:type="tns:KhaiTu" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"', ' xsi:type="xsd:int" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"', ' attributes="x"'),
  soapAction: fc.oneof(
    fc.constantFrom<string | undefined>(undefined, '', '""', 'GuiKhaiSinh', `"${NGSP}#GuiKhaiSinh"`, `${NGSP}#GuiKhaiTu`, `"${NGSP}#GuiHoSoMotCua"`, `"${NGSP}#Nothing"`, '"', '""""'),
    printable,
  ),
});
type EnvelopeShape = typeof envelopeShape extends fc.Arbitrary<infer T> ? T : never;

/** The message as an element of the Body: the REST XML document, its root renamed and namespaced. */
function messageElement(type: string, document: Json, shape: EnvelopeShape): string {
  const inner = toXml(type, document).replace(/^<\?xml[^>]*\?>/, '');
  const name = `${shape.messagePrefix}${type}`;
  const declaration = shape.messageNamespace === '' ? '' : ` xmlns${shape.messagePrefix === '' ? '' : `:${shape.messagePrefix.split(':')[0]}`}="${shape.messageNamespace}"`;
  return inner.startsWith(`<${type}>`) && inner.endsWith(`</${type}>`)
    ? `<${name}${declaration}${shape.attributes}>${inner.slice(type.length + 2, -(type.length + 3))}</${name}>`
    : inner;
}

function envelope(type: string, document: Json, shape: EnvelopeShape): string {
  const p = shape.prefix;
  const element = messageElement(type, document, shape);
  const bodies: Record<EnvelopeShape['body'], string> = {
    message: `<${p}Body>${element}</${p}Body>`,
    missing: '',
    selfClosed: `<${p}Body/>`,
    empty: `<${p}Body></${p}Body>`,
    comment: `<${p}Body> <!-- ${element.slice(0, 80).replace(/--/g, '')} --> </${p}Body>`,
    fault: `<${p}Body><${p}Fault><faultcode>${p}Server</faultcode><faultstring>boom</faultstring><detail><e><a>1</a></e></detail></${p}Fault></${p}Body>`,
    fault12: `<${p}Body><${p}Fault><${p}Code><${p}Value>${p}Receiver</${p}Value></${p}Code><${p}Reason><${p}Text>x</${p}Text></${p}Reason></${p}Fault></${p}Body>`,
    text: `<${p}Body>hello</${p}Body>`,
    twoMessages: `<${p}Body>${element}${element}</${p}Body>`,
    unknown: `<${p}Body><tns:Nothing xmlns:tns="${NGSP}"><a>1</a></tns:Nothing></${p}Body>`,
    nestedXml: `<${p}Body><tns:${type} xmlns:tns="${NGSP}"><messageId><![CDATA[<?xml version="1.0"?><a><b>]]></messageId></tns:${type}></${p}Body>`,
    afterBody: `<${p}Body>${element}</${p}Body><${p}Trailer/>`,
  };
  const xmlns = shape.namespace === '' ? '' : ` xmlns${p === '' ? '' : `:${p.slice(0, -1)}`}="${shape.namespace}"`;
  const header = shape.header.replace(/H:/g, p);
  return `${shape.prolog}<${p}${shape.rootName}${xmlns}>${header}${bodies[shape.body]}</${p}${shape.rootName}>`;
}

// ---------------------------------------------------------------------------------------------
// What every answer must be
// ---------------------------------------------------------------------------------------------

const validateErrorBody = new Ajv({ allErrors: true, strict: true }).compile(errorBodySchema);

/** The answer, or a failure once the bound has passed (so a hang fails the test instead of stalling it). */
async function answer(options: InjectOptions): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_BOUND_MS} ms`)), ANSWER_BOUND_MS);
  });
  try {
    return await Promise.race([gateway.request('registry08', options), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function expectRestAnswer(response: LightMyRequestResponse) {
  expect(response.statusCode, response.body.slice(0, 500)).toBeLessThan(500);
  if (response.statusCode < 400) {
    expect([200, 202]).toContain(response.statusCode);
    expect(response.json()).toMatchObject({ transferId: expect.any(String), messageId: expect.any(String), status: expect.any(String) });
    return;
  }
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json();
  expect(validateErrorBody(body), `${response.body.slice(0, 500)} ${JSON.stringify(validateErrorBody.errors)}`).toBe(true);
  expect(errorCatalogue[body.error.code as keyof typeof errorCatalogue].status).toBe(response.statusCode);
}

const FAULT_CODE = /<faultcode>soap:Client\.([A-Z_]+)<\/faultcode>/;
const LIBRARY_WORDS = /TypeError|ReferenceError|RangeError|InternalServerError|soap:Code>|soap:Reason>|node_modules|\n\s+at /;

function expectSoapAnswer(response: LightMyRequestResponse) {
  expect(response.statusCode, response.body.slice(0, 500)).toBeLessThan(500);
  expect(response.headers['content-type']).toMatch(/^text\/xml/);
  expect(response.body).not.toMatch(LIBRARY_WORDS);
  expect(XMLValidator.validate(response.body)).toBe(true);
  if (response.statusCode < 400) {
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatch(/<Gui(KhaiSinh|KhaiTu|HoSoMotCua)Response xmlns="urn:lienthong:ngsp:v1"><transferId>/);
    return;
  }
  const code = FAULT_CODE.exec(response.body)?.[1] as keyof typeof errorCatalogue | undefined;
  expect(code, response.body.slice(0, 500)).toBeDefined();
  expect(errorCatalogue[code as keyof typeof errorCatalogue]?.status).toBe(response.statusCode);
  expect(response.body).toContain(`<code>${code}</code>`);
}

const fuzzOptions = { numRuns: RUNS_PER_DOOR, endOnFailure: true, ...(SEED === undefined ? {} : { seed: SEED }) };

describe(`the doors under ${RUNS_PER_DOOR * 3} generated inputs`, () => {
  it('REST JSON: never a 5xx, always the error shape with the catalogue status, within the bound', async () => {
    await fc.assert(fc.asyncProperty(
      message, mutations, byteMutation, contentType(['application/json', 'application/json; charset=utf-8']),
      async (target: Message, changes, bytes, type) => {
        const body = mutateBytes(Buffer.from(JSON.stringify(mutate(target.make(), changes))), bytes);
        expectRestAnswer(await answer({ method: 'POST', url: target.path, headers: { 'content-type': type }, payload: body }));
      },
    ), fuzzOptions);
  }, TEST_TIMEOUT_MS);

  it('REST XML: never a 5xx, always the error shape with the catalogue status, within the bound', async () => {
    await fc.assert(fc.asyncProperty(
      message, mutations, byteMutation, contentType(['application/xml', 'text/xml', 'application/xml; charset=utf-8']), fc.boolean(),
      async (target: Message, changes, bytes, type, wrongRoot) => {
        const xml = toXml(wrongRoot ? 'KhaiSinh' : target.type, mutate(target.make(), changes));
        expectRestAnswer(await answer({ method: 'POST', url: target.path, headers: { 'content-type': type }, payload: mutateBytes(Buffer.from(xml), bytes) }));
      },
    ), fuzzOptions);
  }, TEST_TIMEOUT_MS);

  it('SOAP: never a 5xx, a 1.1 Fault of ours with a catalogue code or the operation\'s answer, within the bound', async () => {
    await fc.assert(fc.asyncProperty(
      message, mutations, envelopeShape, byteMutation, contentType(['text/xml; charset=utf-8', 'text/xml']),
      async (target: Message, changes, shape, bytes, type) => {
        const body = mutateBytes(Buffer.from(envelope(target.type, mutate(target.make(), changes), shape)), bytes);
        const headers: Record<string, string> = { 'content-type': type };
        if (shape.soapAction !== undefined) headers.soapaction = shape.soapAction;
        expectSoapAnswer(await answer({ method: 'POST', url: '/ngsp/soap', headers, payload: body }));
      },
    ), fuzzOptions);
  }, TEST_TIMEOUT_MS);
});
