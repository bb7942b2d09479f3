import { request as httpRequest, Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRAIN_BEYOND_LIMIT, readBody } from '../adapters/content-types.js';
import { errorBodySchema, GatewayError } from '../src/errors.js';
import { khaiSinh, toSoapEnvelope } from './support/fixtures.js';
import { countRows, startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * Bodies over a door's limit, over a real socket with Node's http client writing the whole body
 * before it reads the answer (issue 10): the 413 must be readable every time, however the
 * connection is held, and a body far past the limit must be cut off rather than read for ever.
 */

const ONE_MB = 1024 * 1024;
const FIVE_MB = 5 * ONE_MB;
const validateErrorBody = new Ajv({ allErrors: true, strict: true }).compile(errorBodySchema);

let gateway: TestGateway;
let port: number;
beforeAll(async () => {
  gateway = await startTestGateway();
  await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  port = (gateway.app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await gateway?.close();
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

interface SendOptions {
  path: string;
  headers: OutgoingHttpHeaders;
  agent: Agent | false;
  /** Written at once with its Content-Length, or piece by piece (chunked) when `chunked` is set. */
  body: Buffer;
  chunked?: boolean;
}

/**
 * One request, settled when the exchange is over. Any connection error rejects, even one after the
 * answer was read: a client still writing its body when the socket breaks under it (EPIPE,
 * ECONNRESET) may not get to read the answer at all, depending on timing and on the client.
 */
function send({ path, headers, agent, body, chunked = false }: SendOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answer: Answer | undefined;
    let failure: Error | undefined;
    const request = httpRequest({
      host: '127.0.0.1', port, method: 'POST', path, agent,
      headers: { authorization: `Bearer ${gateway.keys.registry08}`, ...headers, ...(chunked ? {} : { 'content-length': body.length }) },
    });
    request.on('error', (error) => {
      failure ??= error;
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        answer = { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') };
      });
    });
    request.on('close', () => {
      if (failure) reject(failure);
      else if (!answer) reject(new Error('the connection closed without a complete answer'));
      else if (!request.writableFinished) reject(new Error('the body was not written whole'));
      else resolve(answer);
    });
    if (!chunked) {
      request.end(body);
      return;
    }
    for (let offset = 0; offset < body.length; offset += 256 * 1024) request.write(body.subarray(offset, offset + 256 * 1024));
    request.end();
  });
}

const json = (size: number) => Buffer.from(JSON.stringify({ ...khaiSinh(), pad: 'a'.repeat(size) }));

function expectRest413(answer: Answer) {
  expect(answer.status).toBe(413);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(answer.body);
  expect(validateErrorBody(body), JSON.stringify(validateErrorBody.errors)).toBe(true);
  expect(body.error.code).toBe('PAYLOAD_TOO_LARGE');
}

describe('a body over the 1 MB limit of the REST door', () => {
  it('30 bodies of 5 MB in a row over a keep-alive agent each get a readable 413 in the error shape', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const body = json(FIVE_MB);
      for (let i = 0; i < 30; i++) {
        expectRest413(await send({ path: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'application/json' }, agent, body }));
      }
    } finally {
      agent.destroy();
    }
  });

  it('30 bodies of 5 MB in a row, each on its own connection with Connection: close, each get a readable 413', async () => {
    const body = json(FIVE_MB);
    for (let i = 0; i < 30; i++) {
      expectRest413(await send({ path: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'application/json', connection: 'close' }, agent: false, body }));
    }
  });

  it('10 bodies of 5 MB sent chunked, without a Content-Length, each get a readable 413', async () => {
    const body = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><KhaiSinh><!--${'a'.repeat(FIVE_MB)}--></KhaiSinh>`);
    for (let i = 0; i < 10; i++) {
      expectRest413(await send({ path: '/ngsp/v1/khai-tu', headers: { 'content-type': 'application/xml' }, agent: false, body, chunked: true }));
    }
  });

  it('stores nothing, and the door answers the next good document as usual', async () => {
    const before = await countRows(gateway.db, 'transfers');
    expectRest413(await send({ path: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'application/json' }, agent: false, body: json(FIVE_MB) }));
    expect(await countRows(gateway.db, 'transfers')).toBe(before);
    const good = await send({ path: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'application/json' }, agent: false, body: Buffer.from(JSON.stringify(khaiSinh())) });
    expect(good.status).toBe(202);
  });
});

describe('a body over the largest limit of the SOAP door', () => {
  it('3 envelopes of 25 MB (over the 20 MB of a one-stop dossier) each get a readable PAYLOAD_TOO_LARGE Fault', async () => {
    const envelope = Buffer.from(toSoapEnvelope('KhaiSinh', khaiSinh()).replace('<soap:Body>', `<soap:Body><!--${'a'.repeat(25 * ONE_MB)}-->`));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        const answer = await send({
          path: '/ngsp/soap', agent, body: envelope,
          headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '"urn:lienthong:ngsp:v1#GuiKhaiSinh"' },
        });
        expect(answer.status).toBe(413);
        expect(answer.headers['content-type']).toMatch(/^text\/xml/);
        expect(answer.body).toContain('<faultcode>soap:Client.PAYLOAD_TOO_LARGE</faultcode>');
      }
    } finally {
      agent.destroy();
    }
  });
});

describe('a body far beyond what the door drains', () => {
  /** Writes 1 MB chunks until the gateway answers or drops the connection; returns what happened. */
  function sendForever(headers: OutgoingHttpHeaders): Promise<{ written: number; outcome: number | string }> {
    return new Promise((resolve) => {
      const chunk = Buffer.alloc(ONE_MB, 0x61);
      let written = 0;
      let over = false;
      const request = httpRequest({
        host: '127.0.0.1', port, method: 'POST', path: '/ngsp/v1/khai-sinh', agent: false,
        headers: { authorization: `Bearer ${gateway.keys.registry08}`, 'content-type': 'application/json', ...headers },
      });
      const finish = (outcome: number | string) => {
        if (over) return;
        over = true;
        request.destroy();
        resolve({ written, outcome });
      };
      request.on('response', (response) => finish(response.statusCode ?? 0));
      request.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
      // Cap the client too, so a gateway that reads for ever fails the test instead of hanging it.
      const pump = () => {
        while (!over && written < 4 * DRAIN_BEYOND_LIMIT) {
          written += chunk.length;
          if (!request.write(chunk)) return void request.once('drain', pump);
        }
        if (!over) request.end();
      };
      pump();
    });
  }

  // What the socket buffers of both ends may hold besides what the gateway read.
  const SOCKET_SLACK = 16 * ONE_MB;

  it('a chunked body that never ends is cut off once the limit plus the drain bound has been read', async () => {
    const { written, outcome } = await sendForever({});
    expect([413, 'ECONNRESET', 'EPIPE']).toContain(outcome);
    expect(written).toBeLessThanOrEqual(ONE_MB + DRAIN_BEYOND_LIMIT + SOCKET_SLACK);
  });

  it('a Content-Length far beyond the bound is refused at once, without reading the body', async () => {
    const { written, outcome } = await sendForever({ 'content-length': String(1024 * ONE_MB) });
    expect([413, 'ECONNRESET', 'EPIPE']).toContain(outcome);
    expect(written).toBeLessThanOrEqual(SOCKET_SLACK);
  });

  it('the gateway still answers afterwards', async () => {
    const good = await send({ path: '/ngsp/v1/khai-sinh', headers: { 'content-type': 'application/json' }, agent: false, body: Buffer.from(JSON.stringify(khaiSinh())) });
    expect(good.status).toBe(202);
  });
});

describe('readBody', () => {
  /** A stream of `total` bytes in 64 kB chunks, counting how many were taken from it. */
  function source(total: number) {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const counter = { pulled: 0 };
    const stream = new Readable({
      read() {
        if (counter.pulled >= total) {
          this.push(null);
          return;
        }
        counter.pulled += chunk.length;
        this.push(chunk);
      },
    });
    return { stream, counter };
  }

  async function refusal(promise: Promise<unknown>): Promise<GatewayError> {
    const error = await promise.then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }

  it('gives a body within the limit whole', async () => {
    const { stream } = source(ONE_MB);
    expect((await readBody(stream, undefined, ONE_MB)).length).toBe(ONE_MB);
  });

  it('reads a body over the limit to its end before refusing it', async () => {
    const { stream, counter } = source(FIVE_MB);
    expect((await refusal(readBody(stream, undefined, ONE_MB))).code).toBe('PAYLOAD_TOO_LARGE');
    expect(counter.pulled).toBe(FIVE_MB);
    expect(stream.readableEnded).toBe(true);
  });

  it('stops reading once the limit plus the drain bound is passed', async () => {
    const { stream, counter } = source(10 * DRAIN_BEYOND_LIMIT);
    expect((await refusal(readBody(stream, undefined, ONE_MB))).code).toBe('PAYLOAD_TOO_LARGE');
    // Past the bound the stream is paused; it may have read a few chunks ahead by then.
    expect(counter.pulled).toBeLessThanOrEqual(ONE_MB + DRAIN_BEYOND_LIMIT + ONE_MB);
    stream.destroy();
  });

  it('refuses a declared length beyond the bound without reading a byte', async () => {
    const { stream, counter } = source(FIVE_MB);
    expect((await refusal(readBody(stream, String(ONE_MB + DRAIN_BEYOND_LIMIT + 1), ONE_MB))).code).toBe('PAYLOAD_TOO_LARGE');
    expect(counter.pulled).toBe(0);
    stream.destroy();
  });

  it('answers a body cut short by its sender as a refusal, not an internal error', async () => {
    const stream = new Readable({ read() {} });
    const reading = readBody(stream, undefined, ONE_MB);
    stream.push(Buffer.from('{"messageId":'));
    stream.destroy();
    expect((await refusal(reading)).code).toBe('MALFORMED_BODY');
  });
});
