import { errorBodySchema, errorCatalogue } from '../src/errors.js';

/**
 * Response shapes: they document the API at /docs and let fastify serialise answers with
 * fast-json-stringify. A field missing here is dropped from the answer, so keep them whole.
 */
const { $id: _unusedId, ...errorBody } = errorBodySchema;

export const errorResponses = Object.fromEntries(
  [...new Set(Object.values(errorCatalogue).map((entry) => entry.status))].map((status) => [
    status,
    { description: `Error (${Object.entries(errorCatalogue).filter(([, e]) => e.status === status).map(([code]) => code).join(', ')})`, ...errorBody },
  ]),
);

export const intakeAnswerSchema = {
  type: 'object',
  required: ['transferId', 'messageId', 'status'],
  properties: {
    transferId: { type: 'string' },
    messageId: { type: 'string' },
    status: { type: 'string', description: 'received or queued; for a dossier, the status of the transfer it completed' },
  },
} as const;

const freeObject = { type: 'object', additionalProperties: true } as const;
const nullableFreeObject = { type: ['object', 'null'], additionalProperties: true } as const;

const transferSummaryProperties = {
  transferId: { type: 'string' },
  messageId: { type: 'string' },
  type: { type: 'string' },
  status: { type: 'string' },
  maTinh: { type: 'string' },
  maDonVi: { type: 'string' },
  maHoSo: { type: ['string', 'null'], description: 'the one-stop-shop dossier code, when there is one' },
  missing: { type: 'array', items: { type: 'string' }, description: 'JSON Pointers of what the BHXH document still lacks' },
  errors: { type: 'array', items: freeObject, description: 'errors BHXH returned' },
  createdAt: { type: 'string', format: 'date-time' },
  updatedAt: { type: 'string', format: 'date-time' },
} as const;

/** One audit event as a transfer's history shows it; the audit API adds the chain fields. */
const historyEntryProperties = {
  seq: { type: 'integer' },
  at: { type: 'string' },
  actor: { type: 'string' },
  action: { type: 'string' },
  fromStatus: { type: ['string', 'null'] },
  toStatus: { type: ['string', 'null'] },
  details: nullableFreeObject,
} as const;

export const transferSummarySchema = { type: 'object', properties: transferSummaryProperties } as const;

export const transferDetailSchema = {
  type: 'object',
  properties: {
    ...transferSummaryProperties,
    document: freeObject,
    bhxhDocument: nullableFreeObject,
    card: nullableFreeObject,
    deliveries: {
      type: 'array',
      description: 'every batch the transfer was in, with each delivery attempt',
      items: {
        type: 'object',
        properties: {
          batchId: { type: 'string' },
          mode: { type: 'string' },
          batchStatus: { type: 'string' },
          outcome: { type: ['string', 'null'] },
          createdAt: { type: 'string' },
          attempts: { type: 'array', items: freeObject },
        },
      },
    },
    history: { type: 'array', items: { type: 'object', properties: historyEntryProperties } },
  },
} as const;

export const transferPageSchema = {
  type: 'object',
  properties: {
    items: { type: 'array', items: transferSummarySchema },
    nextCursor: { type: ['string', 'null'] },
  },
} as const;

export const auditEventSchema = {
  type: 'object',
  properties: {
    ...historyEntryProperties,
    transferId: { type: ['string', 'null'] },
    payloadSha256: { type: ['string', 'null'] },
    details: nullableFreeObject,
    prevHash: { type: 'string' },
    hash: { type: 'string' },
  },
} as const;
