import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import * as soap from 'soap';
import type { ApiClient } from '../src/auth/clients.js';
import { GatewayError } from '../src/errors.js';
import { toGatewayError } from '../src/http/error-handler.js';
import { requireClient } from '../src/http/auth-plugin.js';
import type { IntakeService } from '../src/intake/intake-service.js';
import { SENDER_ROLES, bodyLimitOf, sendersOf, type BodyLimits, type MessageType } from '../src/messages/registry.js';
import { decodeUtf8 } from '../src/codec/body-text.js';
import { screenXmlText, soapBodyElement } from '../src/codec/xml-document.js';
import { readBody } from './content-types.js';
import { buildWsdl, NGSP_NAMESPACE, SOAP_OPERATIONS, type SoapOperation } from './wsdl.js';
import { documentBody } from './api-docs.js';
import { soapExample } from './openapi-examples.js';
import { AUTH_ERRORS, BODY_ERRORS, SERVER_ERRORS, faultResponses, xmlText } from './openapi-shapes.js';

const SOAP_PATH = '/ngsp/soap';

export interface NgspSoapOptions extends BodyLimits {
  intake: IntakeService;
}

interface SoapCall {
  client: ApiClient;
  log: FastifyBaseLogger;
  /** Set once our operation has answered or refused: any other answer is the library's own. */
  answered: boolean;
  /** Headers our refusal carries (Retry-After), which the library's Fault answer would not. */
  faultHeaders?: Record<string, string>;
}

/** The body as the door hands it to the soap library, with the operation read from it. */
interface SoapEnvelope {
  text: string;
  operation: SoapOperation;
}

/** Refusals of the envelope itself rather than of the message in it; each says where it came from. */
const ENVELOPE_REFUSALS = new Set(['SOAP_ENVELOPE', 'SOAP_OPERATION', 'SOAP_ACTION']);

function soapActionOf(operation: SoapOperation): string {
  return `${NGSP_NAMESPACE}#${operation.name}`;
}

/**
 * The operation an envelope calls: the element its Body carries, and the SOAPAction header, when
 * it says anything, naming the same operation. Nothing else decides it, the body limit included.
 */
function operationOf(text: string, soapAction: string | string[] | undefined): SoapOperation {
  const element = soapBodyElement(text);
  const operation = SOAP_OPERATIONS.find(({ input }) => input === element);
  if (!operation) {
    throw new GatewayError('VALIDATION_FAILED', 'The Body carries no message of this service', [{
      path: '', code: 'SOAP_OPERATION',
      message: `expected ${SOAP_OPERATIONS.map(({ input }) => `<${input}>`).join(', ')}, got <${element.slice(0, 60)}>`,
    }]);
  }
  // SOAP 1.1 §6.1.1: quoted, and "" means the intent is in the envelope alone.
  const header = Array.isArray(soapAction) ? soapAction.join(', ') : soapAction ?? '';
  const action = header.length >= 2 && header.startsWith('"') && header.endsWith('"') ? header.slice(1, -1) : header;
  if (action !== '' && action !== soapActionOf(operation)) {
    const named = SOAP_OPERATIONS.find((candidate) => soapActionOf(candidate) === action);
    throw new GatewayError('VALIDATION_FAILED', named ? `The SOAPAction names ${named.name} but the Body carries <${operation.input}>` : 'The SOAPAction names no operation of this service', [{
      path: '', code: 'SOAP_ACTION', message: `expected "${soapActionOf(operation)}" or none, got "${action.slice(0, 120)}"`,
    }]);
  }
  return operation;
}

/** What the soap library answered for itself, for the log: the kind of error, never its text (it may quote the request). */
function libraryErrorKind(body: string): string {
  return /\b(\w*Error)\b/.exec(body)?.[1] ?? (/Fault/.test(body) ? 'Fault' : 'unknown');
}

/** A Fault that carries the catalogue's code in faultcode (`soap:Client.CODE`) and in its detail. */
function soapFault(error: GatewayError) {
  const side = error.status >= 500 ? 'Server' : 'Client';
  return {
    Fault: {
      faultcode: `soap:${side}.${error.code}`,
      faultstring: error.message,
      detail: {
        error: {
          code: error.code,
          message: error.message,
          ...(error.details.length ? { details: { detail: error.details } } : {}),
        },
      },
      statusCode: error.status,
    },
  };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A Fault envelope for errors raised before the soap library sees the request (auth, hostile XML). */
function faultEnvelope(error: GatewayError): string {
  const detail = error.details
    .map((d) => `<detail><path>${escapeXml(d.path)}</path><code>${escapeXml(d.code)}</code><message>${escapeXml(d.message)}</message></detail>`)
    .join('');
  return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>`
    + `<faultcode>soap:${error.status >= 500 ? 'Server' : 'Client'}.${error.code}</faultcode><faultstring>${escapeXml(error.message)}</faultstring>`
    + `<detail><error><code>${error.code}</code><message>${escapeXml(error.message)}</message>${detail ? `<details>${detail}</details>` : ''}</error></detail>`
    + `</soap:Fault></soap:Body></soap:Envelope>`;
}

/**
 * SOAP 1.1 door (docs/API.md). fastify reads, limits and screens the body (UTF-8, DTDs, depth)
 * and authenticates; the soap library, run serverless, dispatches by WSDL; the operation hands the
 * document to the same intake as REST. AsyncLocalStorage carries the caller into the operation.
 */
async function ngspSoap(app: FastifyInstance, options: NgspSoapOptions) {
  const calls = new AsyncLocalStorage<SoapCall>();
  const operation = (type: MessageType) => async (args: unknown) => {
    const call = calls.getStore();
    if (!call) throw new Error('SOAP operation called outside a request');
    try {
      return (await options.intake.accept(type, args, call.client, 'soap')).answer;
    } catch (error) {
      const gatewayError = toGatewayError(error);
      logRefusal(call.log, gatewayError, error);
      call.faultHeaders = gatewayError.headers;
      throw soapFault(gatewayError);
    } finally {
      call.answered = true;
    }
  };
  const server = await soap.createServerless({
    path: SOAP_PATH,
    xml: buildWsdl(`http://localhost${SOAP_PATH}`),
    services: {
      NgspService: {
        NgspPort: Object.fromEntries(SOAP_OPERATIONS.map(({ name, input }) => [name, operation(input)])),
      },
    },
  });

  app.removeAllContentTypeParsers();
  // The operation is known only once the body is read: read up to the largest that an operation the
  // caller may send takes (a card office's account never streams a dossier's 20 MB to be refused).
  const largestFor = (client: ApiClient) => Math.max(...SOAP_OPERATIONS
    .filter(({ input }) => sendersOf(input).some((role) => client.roles.includes(role)))
    .map(({ input }) => bodyLimitOf(input, options)));
  app.addContentTypeParser(['text/xml', 'application/soap+xml', 'application/xml'], async (request: FastifyRequest, payload: IncomingMessage): Promise<SoapEnvelope> => {
    const body = await readBody(payload, request.headers['content-length'], largestFor(requireClient(request)));
    const text = decodeUtf8(body);
    screenXmlText(text);
    const operation = operationOf(text, request.headers.soapaction);
    // One SOAP path serves every operation: each gets the limit of the message type it carries.
    if (body.length > bodyLimitOf(operation.input, options)) {
      throw new GatewayError('PAYLOAD_TOO_LARGE');
    }
    return { text, operation };
  });

  const sendFault = (request: FastifyRequest, reply: FastifyReply, error: unknown, context: Record<string, unknown> = {}) => {
    const gatewayError = toGatewayError(error);
    if (gatewayError.status >= 500) {
      logRefusal(request.log, gatewayError, error);
    } else if (ENVELOPE_REFUSALS.has(gatewayError.details[0]?.code ?? '')) {
      request.log.warn({ code: gatewayError.code, detail: gatewayError.details[0]?.code, ...context }, 'SOAP envelope refused');
    }
    return reply.code(gatewayError.status).headers(gatewayError.headers).type('text/xml; charset=utf-8').send(faultEnvelope(gatewayError));
  };
  app.setErrorHandler((error, request, reply) => sendFault(request, reply, error));

  app.get(SOAP_PATH, {
    schema: {
      operationId: 'getWsdl',
      tags: ['registry'],
      summary: 'WSDL of the SOAP door (?wsdl)',
      querystring: { type: 'object', properties: { wsdl: { type: 'string', description: 'present and empty, as SOAP tools ask: ?wsdl' } } },
      response: { 200: { description: 'The WSDL, its soap:address at the host the request named', ...xmlText('WSDL 1.1') } },
    },
  }, async (request, reply) => {
    const location = `${request.protocol}://${request.host}${SOAP_PATH}`;
    return reply.type('text/xml; charset=utf-8').send(buildWsdl(location));
  });

  app.post<{ Body: SoapEnvelope }>(SOAP_PATH, {
    // The most any operation takes (the parser above reads no more than the caller's operations take):
    // what the body budget charges a chunked envelope.
    bodyLimit: Math.max(options.bodyLimit, options.attachmentBodyLimit),
    // Authenticated in onRequest, before the body is read: an unknown sender cannot make us parse it.
    config: {
      // Each operation's own senders are checked once the Body says which it is (IntakeService).
      roles: SENDER_ROLES,
      // The parser hands the route the envelope already read, so there is no body schema to check it against.
      swaggerTransform: documentBody({
        type: 'string',
        description: `A SOAP 1.1 envelope whose Body carries ${SOAP_OPERATIONS.map(({ input }) => `<${input}>`).join(', ')} (namespace ${NGSP_NAMESPACE}), the same documents as at the REST doors; SOAPAction, when given, must name the same operation`,
        examples: [soapExample],
      }),
    },
    schema: {
      operationId: 'callSoap',
      tags: ['registry'],
      summary: `SOAP 1.1 operations ${SOAP_OPERATIONS.map(({ name }) => name).join(', ')}`,
      consumes: ['text/xml'],
      response: {
        200: { description: 'The operation\'s response: transferId, messageId and status (and hanTra for GuiCapLaiThe), as the REST doors answer', ...xmlText('a SOAP 1.1 envelope') },
        ...faultResponses(
          ...AUTH_ERRORS, ...BODY_ERRORS, 'NOT_ELIGIBLE_AGE', 'UNIT_NOT_CONFIGURED', 'DUPLICATE_MESSAGE', 'DUPLICATE_PERSON',
          'PERSON_DECEASED', 'DUPLICATE_REQUEST', ...SERVER_ERRORS,
        ),
      },
    },
  }, async (request, reply) => {
    const call: SoapCall = { client: requireClient(request), log: request.log, answered: false };
    // The library dispatches by SOAPAction when there is one: naming the operation read from the
    // Body makes it run the one whose body limit was applied, whatever the library makes of the rest.
    const headers = { soapaction: `"${soapActionOf(request.body.operation)}"` };
    const response = await calls.run(call, () => server.processRequest(request.body.text, { headers, url: SOAP_PATH }));
    if (!call.answered) {
      // The library refused the envelope itself, in words of its own (a stack trace, a SOAP 1.2
      // Fault): none of that leaves. Reaching here means the door's own reading let it through.
      return sendFault(request, reply, new GatewayError('MALFORMED_BODY', 'The SOAP envelope could not be read', [
        { path: '', code: 'SOAP_ENVELOPE', message: 'the envelope is not one this service reads' },
      ]), { libraryStatus: response.statusCode, libraryError: libraryErrorKind(response.body) });
    }
    return reply.code(response.statusCode).headers(call.faultHeaders ?? {}).type('text/xml; charset=utf-8').send(response.body);
  });
}

/** As the REST doors do: an outage is logged when it starts and ends, not once per 503 answered. */
function logRefusal(log: FastifyBaseLogger, gatewayError: GatewayError, error: unknown): void {
  if (gatewayError.code === 'UNAVAILABLE') log.debug({ code: gatewayError.code }, 'SOAP request answered 503');
  else if (gatewayError.status >= 500) log.error({ err: error }, 'SOAP request failed');
}

export const ngspSoapPlugin = fp(ngspSoap, { name: 'lienthong-ngsp-soap', fastify: '5.x', encapsulate: true });
