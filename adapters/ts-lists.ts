import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { D03_CONTENT_TYPES, CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE } from '../src/codec/d03ts/read-list.js';
import { GatewayError } from '../src/errors.js';
import { requireClient } from '../src/http/auth-plugin.js';
import type { D03Row } from '../src/messages/pupil-list/d03-row.js';
import type { PupilLists } from '../src/messages/pupil-list/list-service.js';
import { readSchema } from '../src/package-files.js';
import { readBody } from './content-types.js';
import { AUTH_ERRORS, BODY_ERRORS, SERVER_ERRORS, errorResponses } from './openapi-shapes.js';

export interface TsListsOptions {
  lists: PupilLists;
  /** A 30,000-row XLSX is a few MB: the doors' larger limit, the one attachments use. */
  bodyLimit: number;
}

const KY_KE_KHAI = /^(0[1-9]|1[0-2])\/[0-9]{4}$/;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,128}$/;

/** The upload door reads the body itself (the codecs), so fastify only documents its parts. */
const documentedOnly = () => () => true;

type Json = Record<string, unknown>;
const d03Schema = readSchema<{ $defs: Record<string, Json> & { row: { properties: Record<string, Json> } } }>('d03-ts.schema.json');
const resolved = (property: Json): Json => (typeof property.$ref === 'string' ? d03Schema.$defs[property.$ref.split('/').pop() as string] as Json : property);
/** A correction's fields: the JSON row's, each but the STT (which renumbers the row) may be null to clear it. */
const correctionProperties = Object.fromEntries(Object.entries(d03Schema.$defs.row.properties).map(([name, property]) => {
  const schema = resolved(property);
  return [name, name === 'stt' ? schema : { ...schema, type: [schema.type as string, 'null'] }];
}));

const problem = {
  type: 'object',
  required: ['stt', 'path', 'code', 'message'],
  properties: { stt: { type: 'integer' }, path: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } },
} as const;
const listStatus = {
  type: 'string',
  enum: ['checked', 'queued', 'replaced'],
  description: 'checked: some rows are invalid and the list waits for the school; queued: it waits to be sent to BHXH; replaced: a later list took its place',
} as const;
const counts = { rows: { type: 'integer' }, valid: { type: 'integer' }, invalid: { type: 'integer' } } as const;
const listSummary = { type: 'object', required: ['listId', 'status', 'rows', 'valid', 'invalid'], properties: { listId: { type: 'string' }, status: listStatus, ...counts } } as const;
const listAnswer = {
  type: 'object',
  required: ['listId', 'status', 'rows', 'valid', 'invalid', 'errors', 'warnings'],
  properties: {
    listId: { type: 'string' }, status: listStatus, ...counts, errors: { type: 'array', items: problem }, warnings: { type: 'array', items: problem },
    replaces: { type: 'string', description: 'with ?replaces: the list this one replaced' },
    unchanged: { type: 'integer', description: 'with ?replaces: rows left as they were, which kept their earlier outcome' },
  },
} as const;
/** A row's statuses: its own check, then its transfer's, from queued on. */
const ROW_STATUSES = ['invalid', 'queued', 'sending', 'sent', 'issued', 'returned', 'failed', 'withdrawn'];
const rowView = {
  type: 'object',
  required: ['stt', 'status', 'ghiChu', 'problems', 'warnings', 'cardPeriod', 'maThe', 'gtTheTu', 'gtTheDen', 'bhxhErrors'],
  properties: {
    stt: { type: 'integer' },
    status: {
      type: 'string', enum: ROW_STATUSES,
      description: 'invalid (to correct), queued (waiting to be sent), where its record to BHXH is (sending, sent, issued, returned, failed), or withdrawn: dropped by the list that replaced its own before it left',
    },
    maThe: { type: ['string', 'null'], description: 'the card BHXH issued' },
    gtTheTu: { type: ['string', 'null'], format: 'date', description: 'the issued card runs from' },
    gtTheDen: { type: ['string', 'null'], format: 'date', description: 'the issued card runs to' },
    bhxhErrors: {
      type: 'array', description: 'what BHXH said of a returned row',
      items: { type: 'object', required: ['MA_LOI'], properties: { MA_LOI: { type: 'string' }, MO_TA: { type: 'string' } } },
    },
    ghiChu: { type: 'string', description: 'the note the school reads in column Q of the file' },
    problems: { type: 'array', items: problem },
    warnings: { type: 'array', items: problem },
    cardPeriod: {
      type: ['object', 'null'],
      description: 'the card period a valid row will be sent for (ISO dates)',
      required: ['from', 'to'],
      properties: { from: { type: 'string', format: 'date' }, to: { type: 'string', format: 'date' } },
    },
  },
} as const;
const listView = {
  type: 'object',
  required: ['listId', 'status', 'replacedBy', 'maTinh', 'maDonVi', 'tenDonVi', 'kyKeKhai', 'format', 'rows', 'valid', 'invalid', 'createdAt', 'updatedAt', 'items', 'nextCursor'],
  properties: {
    listId: { type: 'string' }, status: listStatus, replacedBy: { type: ['string', 'null'] }, maTinh: { type: 'string' }, maDonVi: { type: 'string' }, tenDonVi: { type: ['string', 'null'] },
    kyKeKhai: { type: 'string' }, format: { type: 'string', enum: ['xlsx', 'csv', 'xml', 'json'] }, ...counts,
    createdAt: { type: 'string', format: 'date-time' }, updatedAt: { type: 'string', format: 'date-time' },
    items: { type: 'array', items: rowView },
    nextCursor: { type: ['string', 'null'], description: 'pass as cursor for the next page of rows; null after the last' },
  },
} as const;

const listIdParams = { type: 'object', required: ['listId'], properties: { listId: { type: 'string', maxLength: 64 } } } as const;
const uploadExample = {
  kyKeKhai: '10/2026',
  rows: [{
    stt: 1, hoTen: 'Nguyễn Văn An', soDinhDanh: '008210001234', ngaySinh: '05/03/2010', gioiTinh: 'Nam', noiDangKyKCB: '08001',
    ngayBienLai: '01/10/2026', soBienLai: 'BL0001', soTien: 884520, tuThang: '10/2026', soThang: 12, lop: '10',
  }],
};

/** Schools' D03-TS lists (docs/API.md, "Pupils' and students' lists"). */
async function tsLists(app: FastifyInstance, options: TsListsOptions) {
  const { lists } = options;
  const school = { roles: ['school' as const] };
  const readers = { roles: ['school' as const, 'operator' as const, 'auditor' as const] };

  // The upload's own context: every list form is read as bytes, up to the route's limit, by the codecs.
  await app.register(async (uploads) => {
    uploads.removeAllContentTypeParsers();
    uploads.addContentTypeParser([...D03_CONTENT_TYPES], async (request: FastifyRequest, payload: IncomingMessage) =>
      readBody(payload, request.headers['content-length'], request.routeOptions.bodyLimit));

    uploads.post<{ Querystring: { kyKeKhai?: string; replaces?: string }; Body: Buffer }>('/ts/v1/danh-sach', {
      config: school,
      bodyLimit: options.bodyLimit,
      validatorCompiler: documentedOnly,
      schema: {
        operationId: 'postDanhSach',
        tags: ['schools'],
        summary: 'Send a D03-TS list (XLSX, CSV, XML or JSON): every row is checked and the list stored',
        description: 'Idempotent by the Idempotency-Key header, per client: the same key with the same file answers 200 with the first answer.',
        querystring: {
          type: 'object',
          required: ['kyKeKhai'],
          properties: {
            kyKeKhai: { type: 'string', pattern: KY_KE_KHAI.source, description: 'the period, MM/yyyy' },
            replaces: { type: 'string', maxLength: 64, description: 'a list of this school and period that this one takes the place of' },
          },
        },
        headers: { type: 'object', required: ['idempotency-key'], properties: { 'idempotency-key': { type: 'string', pattern: IDEMPOTENCY_KEY.source } } },
        body: {
          content: {
            'application/json': { schema: { type: 'object', description: 'the JSON form: {kyKeKhai, rows}, each row with the form\'s fields', examples: [uploadExample] } },
            [XLSX_CONTENT_TYPE]: { schema: { type: 'string', format: 'binary', description: 'the workbook as the declaration software exports it' } },
            [CSV_CONTENT_TYPE]: { schema: { type: 'string', description: 'UTF-8, the header row then one row per person' } },
            'application/xml': { schema: { type: 'string', description: 'the I-VAN D03-TS form, bare or in its Hoso envelope' } },
            'text/xml': { schema: { type: 'string', description: 'as application/xml' } },
          },
        },
        response: {
          200: { ...listAnswer, description: 'This Idempotency-Key was used before with the same list: the first answer again' },
          202: { ...listAnswer, description: 'Checked and stored' },
          ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, 'DUPLICATE_MESSAGE', 'INVALID_STATE', ...SERVER_ERRORS),
        },
      },
    }, async (request, reply) => {
      const { kyKeKhai, replaces } = request.query;
      const idempotencyKey = request.headers['idempotency-key'];
      const invalid = [
        ...(typeof kyKeKhai === 'string' && KY_KE_KHAI.test(kyKeKhai) ? [] : [{ path: '/querystring/kyKeKhai', code: 'PATTERN', message: 'the period is required as MM/yyyy' }]),
        ...(typeof idempotencyKey === 'string' && IDEMPOTENCY_KEY.test(idempotencyKey)
          ? [] : [{ path: '/headers/idempotency-key', code: 'REQUIRED', message: 'an Idempotency-Key of 1 to 128 letters, digits or . _ : - is required' }]),
        ...(replaces === undefined || (typeof replaces === 'string' && replaces.length <= 64)
          ? [] : [{ path: '/querystring/replaces', code: 'MAXLENGTH', message: 'a list id' }]),
      ];
      if (invalid.length > 0) throw new GatewayError('VALIDATION_FAILED', 'The request is not valid', invalid);
      const result = await lists.upload(requireClient(request), {
        kyKeKhai: kyKeKhai as string, replaces, idempotencyKey: idempotencyKey as string, contentType: request.headers['content-type'], body: request.body,
      });
      return reply.code(result.statusCode).send(result.answer);
    });
  });

  app.get<{ Params: { listId: string }; Querystring: { limit: number; cursor?: string } }>('/ts/v1/danh-sach/:listId', {
    config: readers,
    schema: {
      operationId: 'getDanhSach',
      tags: ['schools'],
      summary: 'A list, its status and a page of its rows in file order, each with its note',
      params: listIdParams,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 500 }, cursor: { type: 'string', pattern: '^[0-9]{1,9}$' } },
      },
      response: { 200: listView, ...errorResponses(...AUTH_ERRORS, 'VALIDATION_FAILED', 'NOT_FOUND', ...SERVER_ERRORS) },
    },
  }, async (request) => lists.read(requireClient(request), request.params.listId, request.query));

  app.get<{ Params: { listId: string } }>('/ts/v1/danh-sach/:listId/file', {
    config: readers,
    schema: {
      operationId: 'getDanhSachFile',
      tags: ['schools'],
      summary: 'The list back in the form\'s 17 columns, Ghi chú filled for every row: XLSX, or CSV with Accept: text/csv',
      params: listIdParams,
      response: {
        200: {
          description: 'The annotated list',
          content: { [XLSX_CONTENT_TYPE]: { schema: { type: 'string', format: 'binary' } }, [CSV_CONTENT_TYPE]: { schema: { type: 'string' } } },
        },
        ...errorResponses(...AUTH_ERRORS, 'VALIDATION_FAILED', 'NOT_FOUND', ...SERVER_ERRORS),
      },
    },
  }, async (request, reply) => {
    const csv = (request.headers.accept ?? '').toLowerCase().includes(CSV_CONTENT_TYPE);
    const file = await lists.file(requireClient(request), request.params.listId, csv ? 'csv' : 'xlsx');
    return reply
      .header('content-type', csv ? `${CSV_CONTENT_TYPE}; charset=utf-8` : XLSX_CONTENT_TYPE)
      .header('content-disposition', `attachment; filename="D03-TS-${request.params.listId}.${csv ? 'csv' : 'xlsx'}"`)
      .send(file);
  });

  app.patch<{ Params: { listId: string; stt: number }; Body: Partial<D03Row> }>('/ts/v1/danh-sach/:listId/rows/:stt', {
    config: school,
    schema: {
      operationId: 'patchDanhSachRow',
      tags: ['schools'],
      summary: 'Correct one row (the fields given replace the row\'s; null clears one); the whole list is checked again',
      params: { type: 'object', required: ['listId', 'stt'], properties: { listId: { type: 'string', maxLength: 64 }, stt: { type: 'integer', minimum: 1, maximum: 999999 } } },
      body: { type: 'object', additionalProperties: false, minProperties: 1, properties: correctionProperties, examples: [{ ngaySinh: '05/03/2010' }] },
      response: {
        200: { type: 'object', required: [...rowView.required, 'list'], properties: { ...rowView.properties, list: listSummary } },
        ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_STATE', ...SERVER_ERRORS),
      },
    },
  }, async (request) => lists.correctRow(requireClient(request), request.params.listId, request.params.stt, request.body));

  app.post<{ Params: { listId: string }; Body: { validOnly?: boolean } | undefined }>('/ts/v1/danh-sach/:listId/send', {
    config: school,
    schema: {
      operationId: 'sendDanhSach',
      tags: ['schools'],
      summary: 'Send the list on (→ queued); validOnly sends the valid rows and keeps the invalid ones for correction',
      params: listIdParams,
      body: { type: 'object', additionalProperties: false, properties: { validOnly: { type: 'boolean', default: false } }, examples: [{ validOnly: true }] },
      response: { 200: listSummary, ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_STATE', ...SERVER_ERRORS) },
    },
  }, async (request) => lists.send(requireClient(request), request.params.listId, request.body?.validOnly ?? false));
}

export const tsListsPlugin = fp(tsLists, { name: 'lienthong-ts-lists', fastify: '5.x', encapsulate: true });
