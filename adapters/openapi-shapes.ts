import { errorBodySchema, errorCatalogue, type ErrorCode } from '../src/errors.js';
import { TRANSFER_STATUSES } from '../src/domain/transfer-status.js';
import { BHXH_DOCUMENT_TYPES, MESSAGE_TYPES, TRANSFER_TYPES } from '../src/messages/registry.js';
import { AWAITING_BHXH_SAMPLE_SIZE } from '../src/transfers/backlog-report.js';

/**
 * The shapes the API answers with, each under the name a client generated from /docs gives its type.
 * Routes refer to them as `{ $ref: 'Name#' }` (api-docs.ts registers them); fastify also serialises
 * answers with them, and a field missing here is silently dropped from the answer, so keep them whole.
 */

export { TRANSFER_STATUSES };

const freeObject = { type: 'object', additionalProperties: true } as const;
const nullableFreeObject = { type: ['object', 'null'], additionalProperties: true } as const;
const nullableString = { type: ['string', 'null'] } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const countsByStatus = { type: 'object', additionalProperties: { type: 'integer' }, description: 'records by status' } as const;

const errorSchema = { ...errorBodySchema, $id: 'Error' } as const;

const intakeAnswer = {
  $id: 'IntakeAnswer',
  type: 'object',
  required: ['transferId', 'messageId', 'status'],
  properties: {
    transferId: { type: 'string' },
    messageId: { type: 'string' },
    status: { type: 'string', enum: TRANSFER_STATUSES, description: 'received or queued; for a dossier, the status of the transfer it completed' },
    hanTra: { type: 'string', format: 'date', description: 'a card re-issue or change: the day (Vietnam) by whose end the card is due' },
  },
} as const;

const transferSummaryProperties = {
  transferId: { type: 'string' },
  messageId: { type: 'string' },
  type: { type: 'string', enum: TRANSFER_TYPES },
  status: { type: 'string', enum: TRANSFER_STATUSES },
  maTinh: { type: 'string' },
  maDonVi: { type: 'string' },
  maHoSo: { ...nullableString, description: 'the one-stop-shop dossier code, when there is one' },
  missing: { type: 'array', items: { type: 'string' }, description: 'JSON Pointers of what the BHXH document still lacks' },
  errors: {
    type: 'array',
    description: 'the errors BHXH returned (status returned)',
    items: { type: 'object', required: ['MA_LOI'], properties: { MA_LOI: { type: 'string' }, MO_TA: { type: 'string' } } },
  },
  createdAt: dateTime,
  updatedAt: dateTime,
} as const;

const transferSummaryRequired = Object.keys(transferSummaryProperties);

/** Only where the type has them: a card re-issue's reason and due date. */
const transferSummaryOptional = {
  reason: { type: 'string', description: 'a card re-issue or change: its lyDo (mat, hong, thay_doi_thong_tin)' },
  hanTra: { type: 'string', format: 'date', description: 'a card re-issue or change: the day by whose end it is due' },
} as const;

const transferSummary = {
  $id: 'TransferSummary', type: 'object', required: transferSummaryRequired, properties: { ...transferSummaryProperties, ...transferSummaryOptional },
} as const;

/** One audit event as a transfer's history shows it; the audit API adds the chain fields. */
const historyEntryProperties = {
  seq: { type: 'integer' },
  at: dateTime,
  actor: { type: 'string' },
  action: { type: 'string' },
  fromStatus: nullableString,
  toStatus: nullableString,
  details: nullableFreeObject,
} as const;

const historyEntryRequired = ['seq', 'at', 'actor', 'action', 'fromStatus', 'toStatus'];

const transfer = {
  $id: 'Transfer',
  type: 'object',
  required: [...transferSummaryRequired, 'document', 'bhxhDocument', 'card', 'deliveries', 'history'],
  properties: {
    ...transferSummaryProperties,
    ...transferSummaryOptional,
    document: { ...freeObject, description: `the document as received and corrected: one of ${Object.keys(MESSAGE_TYPES).join(', ')}` },
    bhxhDocument: { ...nullableFreeObject, description: 'the CapTheTe, BaoGiam or CapLaiTheBhxh document as it will be (or was) sent' },
    card: {
      type: ['object', 'null'],
      description: 'the card BHXH issued (status issued)',
      properties: { maSoBHXH: { type: 'string' }, maThe: { type: 'string' }, gtTheTu: { type: 'string' }, gtTheDen: { type: 'string' } },
    },
    deliveries: {
      type: 'array',
      description: 'every batch the transfer was in, with each delivery attempt',
      items: {
        type: 'object',
        required: ['batchId', 'mode', 'batchStatus', 'outcome', 'createdAt', 'attempts'],
        properties: {
          batchId: { type: 'string' },
          mode: { type: 'string', enum: ['push', 'pull'] },
          batchStatus: { type: 'string', enum: ['open', 'delivered', 'closed', 'failed', 'expired'] },
          outcome: nullableString,
          createdAt: dateTime,
          attempts: {
            type: 'array',
            items: {
              type: 'object',
              required: ['attempt', 'at', 'outcome', 'httpStatus', 'error'],
              properties: {
                attempt: { type: 'integer' },
                at: dateTime,
                outcome: { type: 'string', enum: ['answered', 'transient', 'permanent'] },
                httpStatus: { type: ['integer', 'null'] },
                error: nullableString,
              },
            },
          },
        },
      },
    },
    history: { type: 'array', items: { type: 'object', required: historyEntryRequired, properties: historyEntryProperties } },
  },
} as const;

const transferPage = {
  $id: 'TransferPage',
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: {
    items: { type: 'array', items: { $ref: 'TransferSummary#' } },
    nextCursor: {
      ...nullableString,
      description: 'opaque; pass as `cursor` for the next page. Pages follow the order of last change and never skip a late commit; null only on an empty page: keep the last cursor and poll with it',
    },
  },
} as const;

const auditEvent = {
  $id: 'AuditEvent',
  type: 'object',
  required: [...historyEntryRequired, 'transferId', 'payloadSha256', 'details', 'prevHash', 'hash'],
  properties: {
    ...historyEntryProperties,
    transferId: nullableString,
    payloadSha256: { ...nullableString, description: 'SHA-256 of the document this step saw; the document itself is not kept twice' },
    chain: { type: 'integer', description: 'the chain it is sealed into (0: the single chain of earlier versions)' },
    chainSeq: { type: 'integer', description: 'its place in that chain, from 1' },
    prevHash: { type: 'string' },
    hash: { type: 'string' },
  },
} as const;

const auditEventPage = {
  $id: 'AuditEventPage',
  type: 'object',
  required: ['events', 'nextCursor'],
  properties: {
    events: { type: 'array', items: { $ref: 'AuditEvent#' } },
    nextCursor: { type: 'string', description: 'opaque, to pass as `after` for the events after this page; there is always one, even on an empty page (a number as `after` is answered with a cursor too)' },
  },
} as const;

const auditProblem = {
  $id: 'AuditProblem',
  type: 'object',
  required: ['kind', 'detail'],
  properties: {
    kind: {
      type: 'string',
      enum: ['changed-event', 'removed-event', 'cut-end', 'rewritten-head', 'bad-signature', 'broken-checkpoint-link', 'rewritten-checkpoint', 'removed-checkpoint'],
    },
    detail: { type: 'string' },
    chain: { type: 'integer' },
    chainSeq: { type: 'integer', description: 'the place in the chain where it shows' },
    seq: { type: 'integer', description: 'the event found there' },
    checkpoint: { type: 'integer' },
  },
} as const;

const chainVerdict = {
  $id: 'ChainVerdict',
  type: 'object',
  required: ['ok', 'events', 'problems', 'moreProblems', 'chains', 'checkpoints'],
  properties: {
    ok: { type: 'boolean' },
    events: { type: 'integer', description: 'events verified' },
    head: { type: 'string', description: 'the Merkle root over every chain\'s last verified event' },
    brokenSeq: { type: 'integer', description: 'not ok: the seq of the first problem naming an event (a cut end: the last event kept), 0 when only checkpoints are wrong' },
    reason: { type: 'string', description: 'the first problem in words (not ok)' },
    problems: { type: 'array', items: { $ref: 'AuditProblem#' }, description: 'every chain\'s first problem, and every checkpoint\'s: the first 100' },
    moreProblems: { type: 'integer', description: 'problems found beyond those listed' },
    chains: { type: 'integer' },
    checkpoints: {
      type: 'object',
      required: ['count', 'checked', 'last', 'unsignedEvents'],
      properties: {
        count: { type: 'integer' },
        checked: { type: 'boolean', description: 'false: the gateway has no audit public key, signatures were not checked' },
        last: {
          type: ['object', 'null'],
          required: ['number', 'at'],
          properties: { number: { type: 'integer' }, at: dateTime },
        },
        unsignedEvents: { type: 'integer', description: 'events after the last valid checkpoint: chained, not yet signed' },
      },
    },
  },
} as const;

/** One row of a school's pupil list as BHXH receives it (dates yyyyMMdd, TU_THANG yyyyMM). */
const d03TsRecord = {
  $id: 'D03TsRecord',
  type: 'object',
  required: ['MA_HO_SO', 'STT', 'HO_TEN', 'NGAY_SINH', 'GIOI_TINH', 'MA_DKBD', 'TU_THANG', 'SO_THANG', 'GT_THE_TU', 'GT_THE_DEN'],
  properties: {
    MA_HO_SO: { type: 'string', description: '<listId>:<stt>' }, STT: { type: 'integer' }, HO_TEN: { type: 'string' },
    MA_SO_BHXH: { type: 'string' }, SO_DINH_DANH: { type: 'string' }, NGAY_SINH: { type: 'string' }, GIOI_TINH: { type: 'integer', enum: [1, 2] },
    DIA_CHI: { type: 'string' }, MA_DKBD: { type: 'string' }, NGAY_BIEN_LAI: { type: 'string' }, SO_BIEN_LAI: { type: 'string' },
    SO_TIEN: { type: 'number' }, TU_THANG: { type: 'string' }, SO_THANG: { type: 'integer', enum: [3, 6, 12] },
    GT_THE_TU: { type: 'string' }, GT_THE_DEN: { type: 'string' }, MA_NV_THU: { type: 'string' },
  },
} as const;

const batch = {
  $id: 'Batch',
  type: 'object',
  required: ['batchId', 'maTinh', 'loai', 'records'],
  properties: {
    batchId: { type: 'string', description: 'answer the records at /bhxh/v1/batches/{batchId}/results' },
    maTinh: { type: 'string' },
    loai: { type: 'string', enum: BHXH_DOCUMENT_TYPES },
    leaseExpiresAt: { ...dateTime, description: 'a leased batch: records not answered by then are queued again' },
    maDonVi: { type: 'string', description: 'a batch of a school\'s pupil list: the school\'s BHXH unit code; such a batch holds one list at most' },
    kyKeKhai: { type: 'string', description: 'a batch of a school\'s pupil list: the list\'s period, MM/yyyy' },
    records: {
      type: 'array',
      description: 'CapTheTe documents when loai is CAP_THE_TE, BaoGiam when BAO_GIAM, CapLaiTheBhxh for a card re-issue, a school list\'s rows for the pupil-list document; each MA_HO_SO is the transfer id',
      items: { anyOf: [{ $ref: 'CapTheTe#' }, { $ref: 'BaoGiam#' }, { $ref: 'CapLaiTheBhxh#' }, { $ref: 'D03TsRecord#' }, { type: 'null' }] },
    },
  },
} as const;

const batchResultsAnswer = {
  $id: 'BatchResultsAnswer',
  type: 'object',
  required: ['accepted', 'rejected'],
  properties: {
    accepted: { type: 'integer' },
    rejected: {
      type: 'array',
      description: 'results not applied: unknown record, not awaiting a result in this batch, answered already, or malformed',
      items: { type: 'object', required: ['MA_HO_SO', 'reason'], properties: { MA_HO_SO: nullableString, reason: { type: 'string' } } },
    },
  },
} as const;

const replayPreview = {
  $id: 'ReplayPreview',
  type: 'object',
  required: ['matched', 'sample'],
  properties: {
    matched: { type: 'integer' },
    sample: { type: 'array', items: { type: 'string' }, description: 'up to 20 of the matching transfer ids' },
  },
} as const;

const replayStarted = {
  $id: 'ReplayStarted',
  type: 'object',
  required: ['jobId', 'matched'],
  properties: { jobId: { type: 'string' }, matched: { type: 'integer' } },
} as const;

const replayJob = {
  $id: 'ReplayJob',
  type: 'object',
  required: ['jobId', 'status', 'matched', 'replayed', 'skipped', 'reason', 'requestedBy', 'filter', 'createdAt', 'finishedAt'],
  properties: {
    jobId: { type: 'string' },
    status: { type: 'string', enum: ['running', 'done', 'failed'] },
    matched: { type: 'integer' },
    replayed: { type: 'integer' },
    skipped: { type: 'integer', description: 'matched, but no longer replayable when its turn came' },
    reason: { type: 'string' },
    requestedBy: { type: 'string' },
    filter: { ...freeObject, description: 'the filter the job was started with' },
    createdAt: dateTime,
    finishedAt: { ...dateTime, type: ['string', 'null'] },
  },
} as const;

const dispatchState = {
  $id: 'DispatchState',
  type: 'object',
  required: ['nextRunAt', 'intervalMs', 'breaker', 'paused', 'counts'],
  properties: {
    nextRunAt: { ...dateTime, type: ['string', 'null'] },
    intervalMs: { type: 'integer' },
    breaker: {
      type: 'object',
      required: ['state'],
      properties: {
        state: { type: 'string', enum: ['closed', 'halfOpen', 'open', 'disabled'], description: 'disabled: no BHXH push URL, pull only' },
        stats: { ...freeObject, description: 'the circuit breaker\'s counters' },
      },
    },
    paused: { type: 'array', items: { type: 'string' }, description: 'held provinces; * holds all' },
    counts: countsByStatus,
  },
} as const;

const pausedProvinces = {
  $id: 'PausedProvinces',
  type: 'object',
  required: ['paused'],
  properties: { paused: { type: 'array', items: { type: 'string' }, description: 'held provinces; * holds all' } },
} as const;

const dispatchRun = { $id: 'DispatchRun', type: 'object', required: ['jobId'], properties: { jobId: { type: 'string' } } } as const;

const catalogueReload = {
  $id: 'CatalogueReload',
  type: 'object',
  required: ['reloaded', 'facilities'],
  properties: { reloaded: { type: 'boolean' }, facilities: { type: 'integer', description: 'health-care facilities now listed' } },
} as const;

const backlogReport = {
  $id: 'BacklogReport',
  type: 'object',
  required: ['deadline', 'provinces'],
  properties: {
    deadline: { ...dateTime, description: 'records registered before this (Vietnam time) are past the 5-working-day limit; a card re-issue is late once its hanTra has ended' },
    provinces: {
      type: 'array',
      items: {
        type: 'object',
        required: ['maTinh', 'counts', 'oldestWaiting', 'pastDeadline', 'pastDueDate', 'awaitingBhxhPastDeadline', 'awaitingBhxhOldest'],
        properties: {
          maTinh: { type: 'string' },
          counts: countsByStatus,
          oldestWaiting: { ...dateTime, type: ['string', 'null'], description: 'the oldest record not yet in a final status' },
          pastDeadline: { type: 'integer', description: 'records not final past their deadline: 5 working days from registration, or a card re-issue\'s own hanTra' },
          pastDueDate: { type: 'integer', description: 'of pastDeadline, the card re-issues and changes past their hanTra' },
          awaitingBhxhPastDeadline: { type: 'integer', description: 'of pastDeadline, those BHXH holds (sent) and has not answered' },
          awaitingBhxhOldest: {
            type: 'array',
            maxItems: AWAITING_BHXH_SAMPLE_SIZE,
            description: 'the oldest of them, oldest first: what to chase at BHXH',
            items: {
              type: 'object',
              required: ['transferId', 'batchId', 'receivedAt'],
              properties: { transferId: { type: 'string' }, batchId: { type: ['string', 'null'] }, receivedAt: dateTime },
            },
          },
        },
      },
    },
  },
} as const;

const liveness = { $id: 'Liveness', type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } as const;

const readiness = {
  $id: 'Readiness',
  type: 'object',
  required: ['status', 'database', 'redis'],
  properties: {
    status: { type: 'string', enum: ['ready'] },
    database: { type: 'string', description: 'postgres or pglite' },
    redis: { type: 'string', enum: ['ok', 'down'], description: 'reported, not waited for: without Redis, messages are still accepted and wait in the database' },
  },
} as const;

export const responseSchemas = [
  errorSchema, intakeAnswer, transferSummary, transfer, transferPage, auditEvent, auditEventPage, auditProblem, chainVerdict, d03TsRecord, batch,
  batchResultsAnswer, replayPreview, replayStarted, replayJob, dispatchState, pausedProvinces, dispatchRun, catalogueReload,
  backlogReport, liveness, readiness,
];

/** Refusals any route taking a JSON or XML body can give before its handler runs. */
export const BODY_ERRORS: ErrorCode[] = ['MALFORMED_BODY', 'VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];
/** Every route with roles: no key or an unknown one, or a key without the role. */
export const AUTH_ERRORS: ErrorCode[] = ['UNAUTHORIZED', 'FORBIDDEN'];
/** Every route that reads or writes the database or Redis. */
export const SERVER_ERRORS: ErrorCode[] = ['UNAVAILABLE', 'INTERNAL'];

/** The codes by the status they are answered with, each described by its catalogue message. */
function byStatus(codes: ErrorCode[]): Array<[string, string]> {
  const grouped = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) {
    const { status } = errorCatalogue[code];
    grouped.set(status, [...(grouped.get(status) ?? []), code]);
  }
  return [...grouped].map(([status, list]) => [String(status), list.map((code) => `${code}: ${errorCatalogue[code].message}`).join('; ')]);
}

/** The error answers of a route, by status, each naming the codes it can carry. */
export function errorResponses(...codes: ErrorCode[]): Record<string, { $ref: string; description: string }> {
  return Object.fromEntries(byStatus(codes).map(([status, description]) => [status, { $ref: 'Error#', description }]));
}

export const xmlText = (description: string) => ({ content: { 'text/xml': { schema: { type: 'string', description } } } }) as const;

/** The same refusals at the SOAP door: a Fault whose faultcode is `soap:Client.<code>` (`soap:Server.<code>` for 5xx). */
export function faultResponses(...codes: ErrorCode[]) {
  return Object.fromEntries(byStatus(codes).map(([status, description]) => [
    status,
    { description, ...xmlText('a SOAP 1.1 Fault; detail/error holds code, message and details as at the REST doors') },
  ]));
}
