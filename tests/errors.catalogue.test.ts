import { describe, expect, it } from 'vitest';
import { errorBodySchema, errorCatalogue, GatewayError } from '../src/errors.js';

/** Codes docs/API.md ("Error codes") promises, which external clients branch on; never to be removed. */
const CONTRACT_CODES = [
  'UNAUTHORIZED', 'FORBIDDEN', 'VALIDATION_FAILED', 'MALFORMED_BODY', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE',
  'NOT_ELIGIBLE_AGE', 'DUPLICATE_PERSON', 'NOT_FOUND', 'DUPLICATE_MESSAGE', 'PERSON_DECEASED', 'INVALID_STATE',
  'UNIT_NOT_CONFIGURED', 'UNAVAILABLE',
];

describe('the error catalogue', () => {
  it('holds every code the contract names', () => {
    for (const code of CONTRACT_CODES) expect(Object.keys(errorCatalogue)).toContain(code);
  });

  it('gives every code an HTTP error status and a message', () => {
    for (const [code, entry] of Object.entries(errorCatalogue)) {
      expect(entry.status, code).toBeGreaterThanOrEqual(400);
      expect(entry.status, code).toBeLessThan(600);
      expect(entry.message.length, code).toBeGreaterThan(5);
    }
  });

  it('documents exactly the catalogue\'s codes in the error body schema', () => {
    expect(errorBodySchema.properties.error.properties.code.enum).toEqual(Object.keys(errorCatalogue));
  });

  it('renders the contract shape, with details only when there are some', () => {
    expect(new GatewayError('NOT_FOUND').toBody()).toEqual({ error: { code: 'NOT_FOUND', message: 'No such resource' } });
    const detailed = new GatewayError('VALIDATION_FAILED', 'bad', [{ path: '/a', code: 'REQUIRED', message: 'missing' }]);
    expect(detailed.toBody()).toEqual({ error: { code: 'VALIDATION_FAILED', message: 'bad', details: [{ path: '/a', code: 'REQUIRED', message: 'missing' }] } });
    expect(detailed.status).toBe(400);
  });
});
