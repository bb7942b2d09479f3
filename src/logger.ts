import type { LoggerOptions } from 'pino';

/**
 * Personal data never reaches the logs in clear. Redaction paths are compiled once by pino when the
 * logger is built; they cover the documents wherever a log call might carry one, and the API key.
 */
const personalFields = [
  'hoTich', 'document', 'bhxhDocument', 'body', 'records', 'data',
  'soDinhDanh', 'SO_DINH_DANH', 'HO_TEN', 'nksHoTen', 'meHoTen', 'chaHoTen', 'nycHoTen', 'nktHoTen',
];

export const redactPaths = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  ...personalFields,
  ...personalFields.map((field) => `*.${field}`),
];

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
  };
}
