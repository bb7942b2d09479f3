import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { khaiTu } from './support/death-fixtures.js';
import { toXml } from './support/fixtures.js';
import { countRows, startTestGateway, type TestGateway } from './support/gateway.js';

/** Found by the doors' fuzz test: a number too large to be finite reached the mapping and made a 500. */
let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(() => gateway.close());

describe('a number that is not finite', () => {
  it.each([
    ['JSON text "1e400"', 'application/json', () => JSON.stringify(khaiTu({ hoTich: { gbtLoai: '1e400' } }))],
    ['JSON number 1e400', 'application/json', () => JSON.stringify(khaiTu()).replace('"gbtLoai":1', '"gbtLoai":1e400')],
    ['XML text 1e400', 'application/xml', () => toXml('KhaiTu', khaiTu({ hoTich: { gbtLoai: '1e400' } }))],
  ])('is a 400 on its field, not a 500, and nothing is stored (%s)', async (_name, contentType, body) => {
    const response = await gateway.request('registry08', {
      method: 'POST', url: '/ngsp/v1/khai-tu', headers: { 'content-type': contentType }, payload: body(),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({
      code: 'VALIDATION_FAILED', details: [{ path: '/hoTich/gbtLoai', code: 'TYPE' }],
    });
    expect(await countRows(gateway.db, 'transfers')).toBe(0);
  });
});
