import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import * as soap from 'soap';
import type { ApiClient } from '../src/auth/clients.js';
import { GatewayError } from '../src/errors.js';
import { toGatewayError } from '../src/http/error-handler.js';
import { requireClient } from '../src/http/auth-plugin.js';
import type { IntakeService, MessageType } from '../src/intake/intake-service.js';
import { decodeUtf8, screenXmlText } from './body-reader.js';
import { readBody } from './content-types.js';
import { buildWsdl, SOAP_OPERATIONS } from './wsdl.js';

export const SOAP_PATH = '/ngsp/soap';
const ONE_STOP_OPERATION = /<(?:[A-Za-z_][\w.-]*:)?HoSoMotCua[\s>]/;

export interface NgspSoapOptions {
  intake: IntakeService;
  bodyLimit: number;
  /** GuiHoSoMotCua alone may carry attachments up to this size. */
  motCuaBodyLimit: number;
}

interface SoapCall {
  client: ApiClient;
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
 * SOAP 1.1 door (CONTRACT.md §3). fastify reads, limits and screens the body (UTF-8, DTDs, depth)
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
      throw soapFault(toGatewayError(error));
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
  const largest = Math.max(options.bodyLimit, options.motCuaBodyLimit);
  app.addContentTypeParser(['text/xml', 'application/soap+xml', 'application/xml'], async (request: FastifyRequest, payload: IncomingMessage) => {
    const body = await readBody(payload, request.headers['content-length'], largest);
    // One SOAP path serves every operation: only a one-stop dossier may use the larger limit.
    if (body.length > options.bodyLimit && !ONE_STOP_OPERATION.test(body.subarray(0, 4096).toString('latin1'))) {
      throw new GatewayError('PAYLOAD_TOO_LARGE');
    }
    const text = decodeUtf8(body);
    screenXmlText(text);
    return text;
  });

  const sendFault = (request: FastifyRequest, reply: FastifyReply, error: unknown) => {
    const gatewayError = toGatewayError(error);
    if (gatewayError.status >= 500) request.log.error({ err: error }, 'SOAP request failed');
    return reply.code(gatewayError.status).headers(gatewayError.headers).type('text/xml; charset=utf-8').send(faultEnvelope(gatewayError));
  };
  app.setErrorHandler((error, request, reply) => sendFault(request, reply, error));

  app.get(SOAP_PATH, { schema: { tags: ['registry'], summary: 'WSDL of the SOAP door (?wsdl)' } }, async (request, reply) => {
    const location = `${request.protocol}://${request.host}${SOAP_PATH}`;
    return reply.type('text/xml; charset=utf-8').send(buildWsdl(location));
  });

  app.post<{ Body: string }>(SOAP_PATH, {
    // Authenticated in onRequest, before the body is read: an unknown sender cannot make us parse it.
    config: { roles: ['registry'] },
    schema: { tags: ['registry'], summary: 'SOAP 1.1 operations GuiKhaiSinh, GuiKhaiTu, GuiHoSoMotCua (registry role)' },
  }, async (request, reply) => {
    const client = requireClient(request);
    const response = await calls.run({ client }, () =>
      server.processRequest(request.body, { headers: request.headers as Record<string, string>, url: SOAP_PATH }),
    );
    return reply.code(response.statusCode).type('text/xml; charset=utf-8').send(response.body);
  });
}

export const ngspSoapPlugin = fp(ngspSoap, { name: 'lienthong-ngsp-soap', fastify: '5.x', encapsulate: true });
