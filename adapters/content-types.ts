import type { FastifyInstance } from 'fastify';
import { readJson, readXml, type XmlDocument } from './body-reader.js';

/** An XML body, marked so a door can tell it from JSON and check its root element. */
export class XmlBody {
  constructor(readonly document: XmlDocument) {}
}

/**
 * The only body formats the registry doors read. Bodies arrive as Buffers so that UTF-8 is checked
 * strictly and size, depth and DTDs are refused before any parser builds anything; fastify answers
 * any other content type with 415 and anything over `bodyLimit` with 413 before we see a byte.
 */
export function registerDocumentParsers(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
    try {
      done(null, readJson(body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  app.addContentTypeParser(['application/xml', 'text/xml'], { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
    try {
      done(null, new XmlBody(readXml(body as Buffer)));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

/** JSON for the operator and BHXH APIs, where an action without parameters may come with no body. */
export function readJsonOrNothing(body: Buffer): unknown {
  return body.length === 0 ? undefined : readJson(body);
}
