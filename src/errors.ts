/**
 * The one catalogue of errors the gateway answers with. REST bodies, SOAP Faults and the OpenAPI
 * document all read it, so a code can never mean two things at two doors.
 */
export const errorCatalogue = {
  UNAUTHORIZED: { status: 401, message: 'A valid API key is required' },
  FORBIDDEN: { status: 403, message: 'This client may not do that' },
  NOT_FOUND: { status: 404, message: 'No such resource' },
  MALFORMED_BODY: { status: 400, message: 'The body could not be read' },
  VALIDATION_FAILED: { status: 400, message: 'The document does not satisfy its schema' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported content type' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The body is larger than this endpoint accepts' },
  NOT_ELIGIBLE_AGE: { status: 422, message: 'The child is not under 6 years old on the registration day' },
  UNIT_NOT_CONFIGURED: { status: 422, message: 'The unit is not in the unit catalogue in force on that date' },
  DUPLICATE_PERSON: { status: 409, message: 'A birth for this personal number is already held' },
  DUPLICATE_MESSAGE: { status: 409, message: 'This messageId was already used with different content' },
  PERSON_DECEASED: { status: 409, message: 'This person is registered as deceased' },
  DUPLICATE_REQUEST: { status: 409, message: 'An open request for this person and reason is already held' },
  INVALID_STATE: { status: 409, message: 'The transfer is not in a state that allows this' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  UNAVAILABLE: { status: 503, message: 'A dependency is unavailable; try again later' },
  INTERNAL: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export interface ErrorDetail {
  /** JSON Pointer into the submitted document, e.g. `/hoTich/nksNgaySinh`. */
  path: string;
  code: string;
  message: string;
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetail[];
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message?: string,
    details: ErrorDetail[] = [],
    headers: Record<string, string> = {},
  ) {
    super(message ?? errorCatalogue[code].message);
    this.name = 'GatewayError';
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.details = details;
    this.headers = headers;
  }

  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details.length > 0 ? { details: this.details } : {}),
      },
    };
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: ErrorDetail[] };
}

export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(errorCatalogue) },
        message: { type: 'string' },
        details: {
          type: 'array',
          items: {
            type: 'object',
            required: ['path', 'code', 'message'],
            properties: {
              path: { type: 'string' },
              code: { type: 'string' },
              message: { type: 'string' },
            },
          },
        },
      },
    },
  },
} as const;

/**
 * No card for a person registered dead: every path about a person refuses in the same words, at the
 * path where its message module's document gives the person.
 */
export function personDeceased(path: string): GatewayError {
  return new GatewayError('PERSON_DECEASED', 'A death is registered for this personal number; no card can be issued', [
    { path, code: 'PERSON_DECEASED', message: 'this person is registered as deceased' },
  ]);
}

/** A record of this person is already held, where a type allows one per person (the module names it: "birth"). */
export function duplicatePerson(record: string, path: string): GatewayError {
  return new GatewayError('DUPLICATE_PERSON', `A ${record} for this personal number is already held`, [
    { path, code: 'DUPLICATE_PERSON', message: `a ${record} for this personal number is already held` },
  ]);
}

/** A request of this kind for this person is still open (not yet answered with a card): one at a time. */
export function duplicateRequest(path: string, openTransferId: string | null): GatewayError {
  const which = openTransferId === null ? 'another request' : `transfer ${openTransferId}`;
  return new GatewayError('DUPLICATE_REQUEST', 'An open request for this person and reason is already held', [
    { path, code: 'DUPLICATE_REQUEST', message: `${which} asks the same for this person and is not done yet` },
  ]);
}

/** Seconds a client is told to wait after a 503 for want of a dependency. */
export const RETRY_AFTER_SECONDS = 5;

/** A dependency (the database, Redis) cannot be reached: the client may try again shortly. */
export function unavailable(message?: string): GatewayError {
  return new GatewayError('UNAVAILABLE', message, [], { 'retry-after': String(RETRY_AFTER_SECONDS) });
}
