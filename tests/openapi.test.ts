import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import openapiTS from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packagePath } from '../src/package-files.js';
import { startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';

/** The served document, read as plain JSON: what a client generator sees. */
type Json = Record<string, unknown>;
interface Media { schema?: Json; example?: unknown }
interface Operation {
  operationId?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: Array<{ in: string; name: string }>;
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { content?: Record<string, Media> }>;
}
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json> };
}

let gateway: TestGateway;
let doc: OpenApiDocument;

beforeAll(async () => {
  // The examples are examples/'s files, registered on 20.11.2026: a clock after that day.
  gateway = await startTestGateway({ now: () => new Date('2026-11-29T03:00:00Z') });
  const response = await gateway.request(null, { method: 'GET', url: '/docs/json' });
  expect(response.statusCode).toBe(200);
  doc = response.json();
});
afterAll(async () => {
  await gateway?.close();
});

const operations = () => Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, operation]) => ({ path, method, operation, name: `${method.toUpperCase()} ${path}` })));
const operation = (id: string) => {
  const found = operations().find(({ operation: candidate }) => candidate.operationId === id);
  if (!found) throw new Error(`no operation ${id}`);
  return found.operation;
};
const schemaName = (media: Media | undefined) => String(media?.schema?.$ref ?? '').replace('#/components/schemas/', '');
const errorStatuses = (op: Operation) => Object.keys(op.responses).filter((status) => Number(status) >= 400);

describe('the OpenAPI document at /docs/json', () => {
  it('is valid OpenAPI 3.0', async () => {
    expect(doc.openapi).toMatch(/^3\.0\./);
    // The parser dereferences in place.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it('names every schema as a client type, and only the schemas some route uses', () => {
    const names = Object.keys(doc.components.schemas);
    for (const name of names) expect(name).toMatch(/^[A-Z][A-Za-z0-9]*$/);
    expect(names.filter((name) => /^def-/.test(name))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining([
      'KhaiSinh', 'KhaiTu', 'HoSoMotCua', 'Error', 'IntakeAnswer', 'Transfer', 'TransferSummary', 'TransferPage', 'Batch',
      'BhxhResult', 'CapTheTe', 'BaoGiam', 'AuditEvent', 'ChainVerdict', 'ReplayJob', 'CommonAddress',
    ]));
    const referenced = new Set(JSON.stringify(doc).match(/#\/components\/schemas\/[A-Za-z0-9]+/g));
    for (const name of names) expect(referenced, name).toContain(`#/components/schemas/${name}`);
  });

  it('holds no JSON Schema keyword OpenAPI 3.0 lacks', () => {
    const found: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) node.forEach((item, index) => walk(item, `${path}/${index}`));
      if (node === null || typeof node !== 'object' || Array.isArray(node)) return;
      for (const [key, value] of Object.entries(node)) {
        // Examples are data: a key there is a field of a document, not a keyword.
        if (key === 'example') continue;
        if (['$comment', '$defs', '$id', '$schema', 'const', 'if', 'then', 'else', 'dependentRequired', 'examples'].includes(key)) found.push(`${path}/${key}`);
        walk(value, `${path}/${key}`);
      }
    };
    walk(doc, '');
    expect(found).toEqual([]);
  });

  it('gives every operation a unique camelCase operationId', () => {
    const ids = operations().map(({ name, operation: op }) => {
      expect(op.operationId, name).toMatch(/^[a-z][A-Za-z]*$/);
      return op.operationId;
    });
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(['postKhaiSinh', 'postKhaiTu', 'postHoSoMotCua', 'getTransfer', 'leaseBatch', 'callSoap', 'getWsdl']));
  });

  it('documents the intake answers as they are sent: 202 accepted, 200 a repeated messageId', () => {
    for (const id of ['postKhaiSinh', 'postKhaiTu', 'postHoSoMotCua']) {
      const { responses } = operation(id);
      expect(schemaName(responses['202']?.content?.['application/json']), id).toBe('IntakeAnswer');
      expect(schemaName(responses['200']?.content?.['application/json']), id).toBe('IntakeAnswer');
    }
    const accepted = doc.components.schemas.IntakeAnswer as { required: string[] };
    expect(accepted.required).toEqual(['transferId', 'messageId', 'status']);
  });

  it('documents the lease: the batch (200) or nothing waiting (204, no body)', () => {
    const { responses } = operation('leaseBatch');
    expect(schemaName(responses['200']?.content?.['application/json'])).toBe('Batch');
    expect(responses['204']).toBeDefined();
    expect(responses['204']?.content).toBeUndefined();
    const max = (operation('leaseBatch').requestBody?.content['application/json']?.schema?.properties as Record<string, Json>).max;
    expect(max).not.toHaveProperty('maximum');
  });

  it('documents the XML and SOAP doors with their content types', () => {
    for (const id of ['postKhaiSinh', 'postKhaiTu', 'postHoSoMotCua', 'patchKhaiSinh']) {
      expect(Object.keys(operation(id).requestBody?.content ?? {}), id).toEqual(['application/json', 'application/xml']);
    }
    expect(schemaName(operation('postKhaiSinh').requestBody?.content['application/xml'])).toBe('KhaiSinh');
    const soap = doc.paths['/ngsp/soap'];
    expect(soap?.post?.operationId).toBe('callSoap');
    expect(Object.keys(soap?.post?.requestBody?.content ?? {})).toEqual(['text/xml']);
    expect(Object.keys(soap?.post?.responses['200']?.content ?? {})).toEqual(['text/xml']);
    expect(Object.keys(soap?.post?.responses['401']?.content ?? {})).toEqual(['text/xml']);
    expect(soap?.get?.parameters).toEqual([expect.objectContaining({ in: 'query', name: 'wsdl' })]);
    expect(Object.keys(soap?.get?.responses['200']?.content ?? {})).toEqual(['text/xml']);
  });

  it('lists only the errors a route can give', () => {
    for (const { name, operation: op } of operations()) {
      const statuses = errorStatuses(op);
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      if (isPublic) expect(statuses, name).not.toContain('401');
      else expect(statuses, name).toEqual(expect.arrayContaining(['401', '403']));
      if (op.requestBody) expect(statuses, name).toEqual(expect.arrayContaining(['400', '413', '415']));
      else expect(statuses.filter((status) => status === '413' || status === '415'), name).toEqual([]);
      // Only a route that looks something up by id can answer 404: an id in its path, or a transfer's in its query.
      if (!op.parameters?.some((parameter) => parameter.in === 'path' || parameter.name === 'transferId')) expect(statuses, name).not.toContain('404');
    }
    expect(errorStatuses(operation('getTransfer'))).toEqual(['400', '401', '403', '404', '500', '503']);
    expect(errorStatuses(operation('listAuditEvents'))).toEqual(['400', '401', '403', '404', '500', '503']);
    expect(errorStatuses(operation('postKhaiTu'))).toEqual(['400', '401', '403', '409', '413', '415', '422', '500', '503']);
    expect(errorStatuses(operation('postHoSoMotCua'))).not.toContain('422');
    expect(errorStatuses(operation('getLiveness'))).toEqual([]);
    expect(schemaName(operation('getTransfer').responses['404']?.content?.['application/json'])).toBe('Error');
  });

  it('has an example for every request body, and the gateway accepts each one', async () => {
    const roleOf: Record<string, ClientName> = { registry: 'registry08', offices: 'reissue08', bhxh: 'bhxh08', operators: 'operator', audit: 'auditor' };
    const exact: Record<string, number> = {
      postKhaiSinh: 202, postKhaiTu: 202, postHoSoMotCua: 202, postCapLaiThe: 202, callSoap: 200, leaseBatch: 200, replayTransfers: 200,
    };
    const withBody = operations().filter(({ operation: op }) => op.requestBody);
    expect(withBody.length).toBeGreaterThan(10);
    for (const { path, method, name, operation: op } of withBody) {
      const [contentType, media] = Object.entries(op.requestBody?.content ?? {})[0] ?? [];
      const example = media?.example ?? doc.components.schemas[schemaName(media)]?.example;
      expect(example, name).toBeDefined();
      const response = await gateway.request(roleOf[op.tags?.[0] ?? ''] ?? null, {
        method: method.toUpperCase() as 'POST',
        // Path ids name nothing here: a route that looks one up answers 404, after checking the body.
        url: path.replace(/\{[^}]+\}/g, '0195b4c2-7a10-7000-8000-0000000000ff'),
        headers: { 'content-type': contentType ?? '' },
        payload: typeof example === 'string' ? example : JSON.stringify(example),
      });
      const expected = exact[op.operationId ?? ''];
      if (expected) expect(response.statusCode, `${name}: ${response.body}`).toBe(expected);
      else expect([400, 413, 415], `${name}: ${response.body}`).not.toContain(response.statusCode);
    }
  });

  it('generates a TypeScript client whose types are the API\'s, not any', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lienthong-client-'));
    try {
      await writeFile(join(dir, 'api.ts'), await openapiTS(structuredClone(doc) as never));
      await writeFile(join(dir, 'use.ts'), CLIENT_USE);
      const tsc = packagePath('node_modules', '.bin', 'tsc');
      const errors = await promisify(execFile)(tsc, ['--ignoreConfig', '--noEmit', '--strict', 'use.ts'], { cwd: dir })
        .then(() => null, (error: Error & { stdout?: string }) => error.stdout || error.message);
      expect(errors).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Code a registry or BHXH developer would write against the generated types. */
const CLIENT_USE = `
import type { components, operations, paths } from './api';

type Schemas = components['schemas'];

export const birth: Schemas['KhaiSinh'] = {
  messageId: 'HT08-2025-1', maDonVi: '02215',
  bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'buu_chinh' },
  hoTich: {
    soDangKy: '1', quyenSo: '01/2025', ngayDangKy: '15.03.2025', noiDangKy: { maTinh: '08', maXa: '02215' },
    soDinhDanh: '008325000123', nksHoTen: 'Nguyễn Thị Ánh', nksGioiTinh: 2, nksNgaySinh: '01.03.2025',
    nksNoiSinh: 'Tuyên Quang', nksDanToc: '01', nksQuocTich: 'VN', nksLoaiKhaiSinh: 1, nycHoTen: 'Nguyễn Văn Cường', nycQuanHe: 'Cha',
  },
};
export const sent: paths['/ngsp/v1/khai-sinh']['post']['requestBody']['content']['application/json'] = birth;

type Accepted = operations['postKhaiSinh']['responses'][202]['content']['application/json'];
export const transferId = (answer: Accepted): string => answer.transferId;

// @ts-expect-error: maDonVi is text
export const numericUnit: Schemas['KhaiSinh'] = { ...birth, maDonVi: 2215 };
// @ts-expect-error: nksGioiTinh is 1, 2 or 3
export const badSex: Schemas['KhaiSinh']['hoTich']['nksGioiTinh'] = 4;
// @ts-expect-error: a KhaiSinh has no such field
export const unknownField: Schemas['KhaiSinh'] = { messageId: 'x', maDonVi: '02215', hoTich: birth.hoTich, notAField: true };

type LeaseRequest = operations['leaseBatch']['requestBody']['content']['application/json'];
export const lease: LeaseRequest = { maTinh: '08', loai: 'CAP_THE_TE', max: 100 };
// @ts-expect-error: loai is CAP_THE_TE, BAO_GIAM or CAP_LAI_THE
export const badLease: LeaseRequest = { maTinh: '08', loai: 'KHAI_SINH' };

type Leased = operations['leaseBatch']['responses'][200]['content']['application/json'];
export const records = (batch: Leased): Array<Schemas['CapTheTe'] | Schemas['BaoGiam'] | Schemas['CapLaiTheBhxh'] | Schemas['D03TsRecord'] | null> => batch.records;

export const reissue: Schemas['CapLaiThe'] = {
  messageId: 'CL08-2025-1', maCoQuan: '08BHXH071', maTinh: '08', lyDo: 'mat',
  nguoi: { maSoBhxh: '0812345678', hoTen: 'Nguyễn Văn Bình', ngaySinh: '12.05.1990', gioiTinh: 1 }, hinhThucNhanThe: 'tai_tru_so',
};
type Reissued = operations['postCapLaiThe']['responses'][202]['content']['application/json'];
export const hanTra = (answer: Reissued): string | undefined => answer.hanTra;
// @ts-expect-error: lyDo is mat, hong or thay_doi_thong_tin
export const badReason: Schemas['CapLaiThe']['lyDo'] = 'doi_the';
export const result: Schemas['BhxhResult'] = { MA_HO_SO: 'id', KET_QUA: 'LOI', LOI: [{ MA_LOI: 'TRUNG_NHAN_KHAU' }] };

type Detail = operations['getTransfer']['responses'][200]['content']['application/json'];
export const status = (transfer: Detail): Schemas['TransferSummary']['status'] => transfer.status;
// @ts-expect-error: a 404 carries the error shape, not a transfer
export const notFound = (error: operations['getTransfer']['responses'][404]['content']['application/json']): Detail => error;
`;
