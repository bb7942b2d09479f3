import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { provinceScope } from '../src/auth/clients.js';
import { GatewayError, type ErrorCode } from '../src/errors.js';
import { requireClient } from '../src/http/auth-plugin.js';
import type { IntakeService } from '../src/intake/intake-service.js';
import type { BirthCorrection, BirthCorrections } from '../src/messages/birth/corrections.js';
import type { ReissueCorrection, ReissueCorrections } from '../src/messages/reissue/corrections.js';
import type { ReissueWithdrawals } from '../src/messages/reissue/withdrawals.js';
import {
  KIND_READER_ROLES, TRANSFER_TYPES, bodyLimitOf, readableKindsOf, sendersOf, type BodyLimits, type MessageType,
} from '../src/messages/registry.js';
import type { Resends } from '../src/transfers/resends.js';
import type { TransferReads } from '../src/transfers/transfer-reads.js';
import { transferSummary } from '../src/transfers/transfer-views.js';
import { XmlBody, registerDocumentParsers } from './content-types.js';
import { capLaiTheCorrectionExample, khaiSinhCorrectionExample } from './openapi-examples.js';
import { AUTH_ERRORS, BODY_ERRORS, SERVER_ERRORS, TRANSFER_STATUSES, errorResponses } from './openapi-shapes.js';

export interface NgspRestOptions extends BodyLimits {
  reads: TransferReads;
  intake: IntakeService;
  birthCorrections: BirthCorrections;
  reissueCorrections: ReissueCorrections;
  reissueWithdrawals: ReissueWithdrawals;
  resends: Resends;
}

/** The door validates for itself: JSON, XML and SOAP must share one validator (src/intake/validator.ts). */
const documentedOnly = () => () => true;

/** The document a JSON or XML body carries; an XML root must name the message type. */
/**
 * A correction's preValidation: an XML body is checked by the same body schema as JSON once its root
 * (`<KhaiSinh>`, `<CapLaiThe>`) is unwrapped.
 */
function unwrapXmlRoot(messageType: MessageType) {
  return async (request: FastifyRequest) => {
    if (request.body instanceof XmlBody) request.body = documentOf(request.body, messageType).document;
  };
}

function documentOf(body: unknown, messageType: string): { document: unknown; door: 'rest-json' | 'rest-xml' } {
  if (!(body instanceof XmlBody)) return { document: body, door: 'rest-json' };
  if (body.document.root !== messageType) {
    throw new GatewayError('VALIDATION_FAILED', `The XML root element must be <${messageType}>`, [
      { path: '', code: 'XML_ROOT', message: `expected <${messageType}>, got <${body.document.root}>` },
    ]);
  }
  return { document: body.document.value, door: 'rest-xml' };
}

const transferIdParams = {
  type: 'object',
  required: ['transferId'],
  properties: { transferId: { type: 'string', maxLength: 64 } },
} as const;

/** REST door of the NGSP emulation (docs/API.md): JSON or the same document as XML. */
async function ngspRest(app: FastifyInstance, options: NgspRestOptions) {
  // Each route's bodyLimit applies; routes without one take the server's.
  registerDocumentParsers(app);

  const doors: Array<{ path: string; type: MessageType; operationId: string; summary: string; refusals: ErrorCode[]; tag?: string }> = [
    {
      path: '/ngsp/v1/khai-sinh', type: 'KhaiSinh', operationId: 'postKhaiSinh',
      summary: 'Push a birth registration (KhaiSinh), as JSON or XML',
      refusals: ['NOT_ELIGIBLE_AGE', 'UNIT_NOT_CONFIGURED', 'DUPLICATE_MESSAGE', 'DUPLICATE_PERSON', 'PERSON_DECEASED'],
    },
    {
      path: '/ngsp/v1/khai-tu', type: 'KhaiTu', operationId: 'postKhaiTu',
      summary: 'Push a death registration (KhaiTu), as JSON or XML',
      refusals: ['UNIT_NOT_CONFIGURED', 'DUPLICATE_MESSAGE', 'DUPLICATE_PERSON'],
    },
    {
      path: '/ngsp/v1/mot-cua', type: 'HoSoMotCua', operationId: 'postHoSoMotCua',
      summary: 'Push a one-stop-shop dossier (HoSoMotCua); answers with the transfer it completes, or its own that waits',
      refusals: ['DUPLICATE_MESSAGE'],
    },
    {
      path: '/ngsp/v1/cap-lai-the', type: 'CapLaiThe', operationId: 'postCapLaiThe',
      summary: 'Ask for a BHYT card again (CapLaiThe: lost, damaged, or its information changes), as JSON or XML; answers with its due date hanTra',
      refusals: ['DUPLICATE_MESSAGE', 'DUPLICATE_REQUEST', 'PERSON_DECEASED'],
      tag: 'offices',
    },
  ];
  for (const door of doors) {
    app.post(door.path, {
      config: { roles: [...sendersOf(door.type)] },
      bodyLimit: bodyLimitOf(door.type, options),
      validatorCompiler: documentedOnly,
      schema: {
        operationId: door.operationId,
        summary: door.summary,
        tags: [door.tag ?? 'registry'],
        consumes: ['application/json', 'application/xml'],
        body: { $ref: `${door.type}#` },
        response: {
          200: { $ref: 'IntakeAnswer#', description: 'This messageId was accepted before with the same content: the first answer again, nothing stored' },
          202: { $ref: 'IntakeAnswer#', description: 'Accepted and stored' },
          ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, ...door.refusals, ...SERVER_ERRORS),
        },
      },
    }, async (request, reply) => {
      const { document, door: entry } = documentOf(request.body, door.type);
      const result = await options.intake.accept(door.type, document, requireClient(request), entry);
      return reply.code(result.statusCode).send(result.answer);
    });
  }

  app.patch<{ Params: { transferId: string }; Body: BirthCorrection }>('/ngsp/v1/khai-sinh/:transferId', {
    config: { roles: ['registry', 'operator'] },
    preValidation: unwrapXmlRoot('KhaiSinh'),
    schema: {
      operationId: 'patchKhaiSinh',
      summary: 'Complete or correct the BHYT part and hoTich fields of a birth (received, queued or returned)',
      description: 'The fields given replace those of the birth; the result is checked as a whole KhaiSinh is at intake.',
      tags: ['registry'],
      consumes: ['application/json', 'application/xml'],
      params: transferIdParams,
      body: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        properties: {
          bhyt: { type: 'object', description: 'fields of KhaiSinh.bhyt' },
          hoTich: { type: 'object', description: 'fields of KhaiSinh.hoTich' },
        },
        examples: [khaiSinhCorrectionExample],
      },
      response: {
        200: { $ref: 'Transfer#' },
        ...errorResponses(
          ...AUTH_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_STATE', 'PERSON_DECEASED', 'DUPLICATE_PERSON',
          'NOT_ELIGIBLE_AGE', 'UNIT_NOT_CONFIGURED', ...SERVER_ERRORS,
        ),
      },
    },
  }, async (request) => {
    const transfer = await options.birthCorrections.correct(request.params.transferId, request.body, requireClient(request));
    return options.reads.detailOf(transfer);
  });

  app.patch<{ Params: { transferId: string }; Body: ReissueCorrection }>('/ngsp/v1/cap-lai-the/:transferId', {
    config: { roles: [...sendersOf('CapLaiThe'), 'operator'] },
    preValidation: unwrapXmlRoot('CapLaiThe'),
    schema: {
      operationId: 'patchCapLaiThe',
      summary: 'Correct a card request not yet sent or returned by BHXH: the person, the old card, the new values, the delivery, the office',
      description: 'The fields given replace those of the request (nguoi and thayDoi field by field); the result is checked as a whole CapLaiThe is at intake. lyDo and maTinh cannot change. A returned request stays returned until it is resent.',
      tags: ['offices'],
      consumes: ['application/json', 'application/xml'],
      params: transferIdParams,
      body: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        properties: {
          maCoQuan: { type: 'string' },
          nguoi: { type: 'object', description: 'fields of CapLaiThe.nguoi' },
          maThe: { type: 'string' },
          thayDoi: { type: 'object', description: 'fields of CapLaiThe.thayDoi' },
          hinhThucNhanThe: { type: 'string' },
          diaChiNhanThe: { type: 'string' },
        },
        examples: [capLaiTheCorrectionExample],
      },
      response: {
        200: { $ref: 'Transfer#' },
        ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_STATE', 'PERSON_DECEASED', 'DUPLICATE_REQUEST', ...SERVER_ERRORS),
      },
    },
  }, async (request) => {
    const transfer = await options.reissueCorrections.correct(request.params.transferId, request.body, requireClient(request));
    return options.reads.detailOf(transfer);
  });

  app.post<{ Params: { transferId: string }; Body: { reason: string } }>('/ngsp/v1/cap-lai-the/:transferId/withdraw', {
    config: { roles: [...sendersOf('CapLaiThe'), 'operator'] },
    schema: {
      operationId: 'withdrawCapLaiThe',
      summary: 'Give up a card request BHXH returned or that could not be delivered (→ closed), so the person may ask again; the reason is audited',
      tags: ['offices'],
      params: transferIdParams,
      body: {
        type: 'object', additionalProperties: false, required: ['reason'],
        properties: { reason: { type: 'string', minLength: 3, maxLength: 1000, description: 'why; recorded in the audit log' } },
        examples: [{ reason: 'The person found the lost card' }],
      },
      response: { 200: { $ref: 'Transfer#' }, ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_STATE', ...SERVER_ERRORS) },
    },
  }, async (request) => {
    const transfer = await options.reissueWithdrawals.withdraw(request.params.transferId, request.body.reason, requireClient(request));
    return options.reads.detailOf(transfer);
  });

  app.post<{ Params: { transferId: string } }>('/ngsp/v1/transfers/:transferId/resend', {
    config: { roles: ['registry', 'operator', ...KIND_READER_ROLES] },
    schema: {
      operationId: 'resendTransfer',
      summary: 'Send a returned transfer again',
      tags: ['registry'],
      params: transferIdParams,
      response: { 200: { $ref: 'Transfer#' }, ...errorResponses(...AUTH_ERRORS, 'VALIDATION_FAILED', 'NOT_FOUND', 'INVALID_STATE', ...SERVER_ERRORS) },
    },
  }, async (request) => {
    const transfer = await options.resends.resend(request.params.transferId, requireClient(request));
    return options.reads.detailOf(transfer);
  });

  app.get<{ Params: { transferId: string } }>('/ngsp/v1/transfers/:transferId', {
    config: { roles: ['registry', 'operator', 'auditor', ...KIND_READER_ROLES] },
    schema: {
      operationId: 'getTransfer',
      summary: 'One transfer: status, BHXH document, errors, card, history',
      tags: ['registry'],
      params: transferIdParams,
      response: { 200: { $ref: 'Transfer#' }, ...errorResponses(...AUTH_ERRORS, 'VALIDATION_FAILED', 'NOT_FOUND', ...SERVER_ERRORS) },
    },
  }, async (request) => options.reads.detail(request.params.transferId, requireClient(request)));

  app.get('/ngsp/v1/transfers', {
    config: { roles: ['registry', 'operator', 'auditor', ...KIND_READER_ROLES] },
    schema: {
      operationId: 'listTransfers',
      summary: 'A page of transfers (e.g. status=returned for the warning list)',
      tags: ['registry'],
      querystring: transferQuerySchema,
      response: { 200: { $ref: 'TransferPage#' }, ...errorResponses(...AUTH_ERRORS, 'VALIDATION_FAILED', ...SERVER_ERRORS) },
    },
  }, async (request) => listPage(options.reads, request as FastifyRequest<{ Querystring: TransferQuery }>, true));
}

export interface TransferQuery {
  status?: (typeof TRANSFER_STATUSES)[number];
  unit?: string;
  type?: (typeof TRANSFER_TYPES)[number];
  from?: string;
  to?: string;
  limit: number;
  cursor?: string;
}

export const transferQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: TRANSFER_STATUSES },
    unit: { type: 'string', pattern: '^[0-9]{2}$' },
    type: { type: 'string', enum: TRANSFER_TYPES },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
    // It holds PostgreSQL snapshots, which list the transactions in progress: more on a busy server.
    cursor: { type: 'string', maxLength: 8192 },
  },
} as const;

/**
 * A registry client sees the transfers it sent; operators and auditors those of their provinces; a
 * client of kind-limited roles only (a BHXH office's re-issue accounts) those kinds in its provinces.
 */
export async function listPage(reads: TransferReads, request: FastifyRequest<{ Querystring: TransferQuery }>, ownOnly: boolean) {
  const client = requireClient(request);
  const query = request.query;
  const seesProvinces = client.roles.includes('operator') || client.roles.includes('auditor');
  const isRegistryOnly = ownOnly && client.roles.includes('registry') && !seesProvinces;
  const kindsOnly = !seesProvinces && !client.roles.includes('registry');
  const page = await reads.list(
    {
      status: query.status,
      maTinh: query.unit,
      provinces: provinceScope(client),
      type: query.type,
      clientId: isRegistryOnly ? client.id : undefined,
      kinds: kindsOnly ? readableKindsOf(client) : undefined,
      createdFrom: query.from,
      createdTo: query.to,
    },
    { limit: query.limit, after: query.cursor },
  );
  return { items: page.items.map(transferSummary), nextCursor: page.nextCursor };
}

export const ngspRestPlugin = fp(ngspRest, { name: 'lienthong-ngsp-rest', fastify: '5.x', encapsulate: true });
