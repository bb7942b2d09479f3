import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../src/errors.js';
import { readXml, type XmlDocument } from '../src/codec/xml-document.js';
import { readJson } from './body-reader.js';

/** An XML body, marked so a door can tell it from JSON and check its root element. */
export class XmlBody {
  constructor(readonly document: XmlDocument) {}
}

/**
 * How much of a body past its limit is read and thrown away before the 413 is sent. A sender that
 * writes the whole body before reading the answer (most HTTP clients) gets a connection reset
 * instead of the 413 if the socket closes under it with bytes still unread; past this the gateway
 * would rather cut such a sender off than keep reading.
 */
export const DRAIN_BEYOND_LIMIT = 32 * 1024 * 1024;

/**
 * The body of a request, refused with PAYLOAD_TOO_LARGE past `limit` bytes: only after it has been
 * read to its end, holding none of what lies past the limit, so that the sender can read the answer.
 * A body that is (or says it is) more than {@link DRAIN_BEYOND_LIMIT} past the limit is refused
 * at once; fastify then closes the connection.
 */
export function readBody(payload: Readable, declaredLength: string | undefined, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(declaredLength) > limit + DRAIN_BEYOND_LIMIT) {
      reject(new GatewayError('PAYLOAD_TOO_LARGE'));
      return;
    }
    let received = 0;
    let chunks: Buffer[] = [];
    const settle = (error: Error | null) => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onAbort);
      payload.removeListener('close', onAbort);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, received));
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limit) {
        chunks.push(chunk);
        return;
      }
      chunks = [];
      if (received > limit + DRAIN_BEYOND_LIMIT) {
        // Read no further: the socket closes after the answer, whatever the sender still writes.
        payload.pause();
        settle(new GatewayError('PAYLOAD_TOO_LARGE'));
      }
    };
    const onEnd = () => settle(received > limit ? new GatewayError('PAYLOAD_TOO_LARGE') : null);
    // Nobody is left to read the answer; a refusal keeps it out of the error log.
    const onAbort = () => settle(new GatewayError('MALFORMED_BODY', 'The body ended before it was complete'));
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onAbort);
    payload.on('close', onAbort);
    payload.resume();
  });
}

/**
 * The only body formats the registry doors read, each up to its route's `bodyLimit`. Bodies are
 * read as bytes so that UTF-8 is checked strictly and depth and DTDs are refused before any parser
 * builds anything; fastify answers any other content type with 415.
 */
export function registerDocumentParsers(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', async (request: FastifyRequest, payload: IncomingMessage) =>
    readJson(await readRouteBody(request, payload)));
  app.addContentTypeParser(['application/xml', 'text/xml'], async (request: FastifyRequest, payload: IncomingMessage) =>
    new XmlBody(readXml(await readRouteBody(request, payload))));
}

function readRouteBody(request: FastifyRequest, payload: IncomingMessage): Promise<Buffer> {
  return readBody(payload, request.headers['content-length'], request.routeOptions.bodyLimit);
}

/** JSON for the operator and BHXH APIs, where an action without parameters may come with no body. */
export function readJsonOrNothing(body: Buffer): unknown {
  return body.length === 0 ? undefined : readJson(body);
}
