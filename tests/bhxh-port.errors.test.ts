import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { PermanentDeliveryError, TransientDeliveryError } from '../src/dispatch/bhxh-port.js';
import { loggerOptions } from '../src/logger.js';

describe('a delivery error carrying BHXH\'s answer', () => {
  it.each([
    ['transient', new TransientDeliveryError('BHXH answered 503', 503, undefined, '{"loi":"NGUYỄN THỊ ÁNH 008326004521"}')],
    ['permanent', new PermanentDeliveryError('BHXH answered 422', 422, '{"loi":"NGUYỄN THỊ ÁNH 008326004521"}')],
  ])('keeps the answer for the attempt row but never writes it to the log (%s)', (_kind, error) => {
    expect(error.answer).toContain('008326004521');
    const lines: string[] = [];
    const logger = pino(loggerOptions('info'), new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } }));
    logger.warn({ err: error }, 'job failed');
    expect(lines.join('')).toContain('BHXH answered');
    expect(lines.join('')).not.toContain('008326004521');
  });
});
