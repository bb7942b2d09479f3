import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, sha256OfKey, type Role } from '../src/auth/clients.js';
import { khaiSinh, toSoapEnvelope } from './support/fixtures.js';
import { startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';
import { capLaiThe, thayDoiThongTin } from './support/reissue-fixtures.js';

/**
 * Least privilege (docs/DOMAIN.md, "Card re-issue and change"; seed 004, point 2): every role ×
 * every endpoint of the OpenAPI document, then what each re-issue account may send and read.
 */

/** The operations each role may call; any other that needs a key answers it 403. */
const ALLOWED: Record<Role, string[]> = {
  registry: ['postKhaiSinh', 'postKhaiTu', 'postHoSoMotCua', 'patchKhaiSinh', 'resendTransfer', 'getTransfer', 'listTransfers', 'callSoap'],
  bhxh: ['leaseBatch', 'postBatchResults', 'renewLease'],
  operator: [
    'patchKhaiSinh', 'patchCapLaiThe', 'withdrawCapLaiThe', 'resendTransfer', 'getTransfer', 'listTransfers', 'listAuditEvents', 'verifyAuditChain',
    'listTransfersForOperators', 'replayTransfer', 'replayTransfers', 'getReplayJob', 'pauseDispatch', 'resumeDispatch', 'runDispatch',
    'getDispatchState', 'reloadCatalogues', 'getBacklogReport', 'listCallbacks', 'retryCallbacks', 'getDanhSach', 'getDanhSachFile',
    'listStaleDossiers', 'linkDossierToBirth', 'closeDossier',
  ],
  auditor: ['getTransfer', 'listTransfers', 'listAuditEvents', 'verifyAuditChain', 'getDanhSach', 'getDanhSachFile'],
  school: ['postDanhSach', 'getDanhSach', 'getDanhSachFile', 'patchDanhSachRow', 'sendDanhSach'],
  reissue: ['postCapLaiThe', 'patchCapLaiThe', 'withdrawCapLaiThe', 'callSoap', 'resendTransfer', 'getTransfer', 'listTransfers'],
  correction: ['postCapLaiThe', 'patchCapLaiThe', 'withdrawCapLaiThe', 'callSoap', 'resendTransfer', 'getTransfer', 'listTransfers'],
};

const keyOf = (role: Role) => `key-matrix-${role}`;

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway({
    clients: ROLES.map((role) => ({
      id: `matrix-${role}`, keySha256: sha256OfKey(keyOf(role)), roles: [role], units: ['08'],
      ...(role === 'school' ? { maDonVi: 'TZ0801A' } : {}),
    })),
  });
});
afterAll(async () => {
  await gateway?.close();
});

interface Operation { operationId: string; security?: unknown[] }

async function keyedOperations(): Promise<Array<{ method: string; url: string; operationId: string }>> {
  const doc = (await gateway.request(null, { method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, Operation>> };
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item)
    .filter(([, operation]) => operation.security === undefined || operation.security.length > 0)
    .map(([method, operation]) => ({
      method: method.toUpperCase(),
      url: path.replace(/\{[^}]+\}/g, '0195b4c2-7a10-7000-8000-0000000000ff'),
      operationId: operation.operationId,
    })));
}

describe('every role × every endpoint', () => {
  it('the table names every operation that needs a key, and only those', async () => {
    const operations = (await keyedOperations()).map(({ operationId }) => operationId);
    expect(operations).toContain('postCapLaiThe');
    expect(operations).toContain('patchCapLaiThe');
    const named = new Set(Object.values(ALLOWED).flat());
    expect([...named].filter((id) => !operations.includes(id))).toEqual([]);
  });

  for (const role of ROLES) {
    it(`${role}: its own operations pass the role check, every other one is 403 in the contract's error shape`, async () => {
      const outcomes: Array<{ operationId: string; status: number; code?: string; message?: string }> = [];
      for (const { method, url, operationId } of await keyedOperations()) {
        const response = await gateway.app.inject({
          method: method as 'GET', url,
          headers: { authorization: `Bearer ${keyOf(role)}`, 'content-type': 'application/json' },
          ...(method === 'GET' ? {} : { payload: '{}' }),
        });
        // A SOAP refusal is a Fault carrying the same code and message.
        const json = String(response.headers['content-type'] ?? '').includes('json');
        outcomes.push({
          operationId, status: response.statusCode,
          code: json ? response.json().error?.code : /<code>([A-Z_]+)<\/code>/.exec(response.body)?.[1],
          message: json ? response.json().error?.message : /<faultstring>([^<]*)<\/faultstring>/.exec(response.body)?.[1],
        });
      }
      // Refused for its role, not for what it asked (a province outside its units is a 403 too).
      const refused = outcomes.filter((outcome) => outcome.status === 401 || (outcome.status === 403 && /needs one of the roles/.test(outcome.message ?? '')));
      const expectedRefused = outcomes.filter((outcome) => !ALLOWED[role].includes(outcome.operationId));
      expect(refused.map((outcome) => outcome.operationId).sort()).toEqual(expectedRefused.map((outcome) => outcome.operationId).sort());
      for (const outcome of refused) expect(outcome, outcome.operationId).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    });
  }
});

describe('who may send which card request', () => {
  const post = (as: ClientName, doc: unknown) => gateway.request(as, { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: doc as object });
  const soap = (as: ClientName, root: string, operation: string, doc: unknown) =>
    gateway.request(as, {
      method: 'POST', url: '/ngsp/soap', headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `urn:lienthong:ngsp:v1#${operation}` },
      payload: toSoapEnvelope(root, doc),
    });

  const cases: Array<{ as: ClientName; doc: () => unknown; status: number; path?: string }> = [
    { as: 'reissue08', doc: () => capLaiThe({ lyDo: 'mat' }), status: 202 },
    { as: 'reissue08', doc: () => capLaiThe({ lyDo: 'hong' }), status: 202 },
    { as: 'reissue08', doc: () => thayDoiThongTin(), status: 403, path: '/lyDo' },
    { as: 'correction08', doc: () => thayDoiThongTin(), status: 202 },
    { as: 'correction08', doc: () => capLaiThe({ lyDo: 'mat' }), status: 403, path: '/lyDo' },
    { as: 'correction08', doc: () => capLaiThe({ lyDo: 'hong' }), status: 403, path: '/lyDo' },
    // Any office of the province, for any person of it; none for another province's.
    { as: 'reissue08b', doc: () => capLaiThe(), status: 202 },
    { as: 'reissue01', doc: () => capLaiThe(), status: 403, path: '/maTinh' },
    { as: 'registry08', doc: () => capLaiThe(), status: 403 },
    { as: 'operator', doc: () => capLaiThe(), status: 403 },
  ];
  for (const { as, doc, status, path } of cases) {
    it(`${as} sending ${JSON.stringify((doc() as { lyDo: string }).lyDo)}: ${status}${path ? ` at ${path}` : ''}`, async () => {
      const response = await post(as, doc());
      expect(response.statusCode, response.body).toBe(status);
      if (status === 403) {
        expect(response.json().error.code).toBe('FORBIDDEN');
        if (path) expect(response.json().error.details).toEqual([expect.objectContaining({ path, code: 'FORBIDDEN' })]);
      }
    });
  }

  it('SOAP: a registry cannot call GuiCapLaiThe, a re-issue account cannot call GuiKhaiSinh', async () => {
    const registry = await soap('registry08', 'CapLaiThe', 'GuiCapLaiThe', capLaiThe());
    expect(registry.statusCode).toBe(403);
    expect(registry.body).toContain('soap:Client.FORBIDDEN');
    const office = await soap('reissue08', 'KhaiSinh', 'GuiKhaiSinh', khaiSinh());
    expect(office.statusCode).toBe(403);
    expect(office.body).toContain('soap:Client.FORBIDDEN');
    const allowed = await soap('reissue08', 'CapLaiThe', 'GuiCapLaiThe', capLaiThe());
    expect(allowed.statusCode, allowed.body).toBe(200);
  });
});

describe('who reads which card request', () => {
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const send = async (name: string, as: ClientName, url: string, doc: unknown) => {
      const response = await gateway.request(as, { method: 'POST', url, payload: doc as object });
      expect(response.statusCode, response.body).toBe(202);
      ids[name] = response.json().transferId;
    };
    await send('lost', 'reissue08', '/ngsp/v1/cap-lai-the', capLaiThe({ lyDo: 'mat' }));
    await send('damagedByOtherOffice', 'reissue08b', '/ngsp/v1/cap-lai-the', capLaiThe({ lyDo: 'hong' }));
    await send('change', 'correction08', '/ngsp/v1/cap-lai-the', thayDoiThongTin());
    await send('birth', 'registry08', '/ngsp/v1/khai-sinh', khaiSinh());
  });

  const table: Array<{ as: ClientName; sees: string[] }> = [
    { as: 'reissue08', sees: ['lost', 'damagedByOtherOffice'] },
    { as: 'reissue08b', sees: ['lost', 'damagedByOtherOffice'] },
    { as: 'correction08', sees: ['change'] },
    { as: 'reissue01', sees: [] },
    { as: 'registry08', sees: ['birth'] },
    { as: 'operator', sees: ['lost', 'damagedByOtherOffice', 'change', 'birth'] },
    { as: 'auditor', sees: ['lost', 'damagedByOtherOffice', 'change', 'birth'] },
  ];
  for (const { as, sees } of table) {
    it(`${as} reads ${sees.join(', ') || 'none of them'}, one by one and in lists`, async () => {
      for (const [name, id] of Object.entries(ids)) {
        const response = await gateway.request(as, { method: 'GET', url: `/ngsp/v1/transfers/${id}` });
        expect(response.statusCode, `${as} GET ${name}`).toBe(sees.includes(name) ? 200 : 404);
      }
      const listed: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const response = await gateway.request(as, { method: 'GET', url: `/ngsp/v1/transfers?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
        expect(response.statusCode).toBe(200);
        const page = response.json() as { items: Array<{ transferId: string }>; nextCursor: string | null };
        listed.push(...page.items.map((item) => item.transferId));
        if (page.items.length === 0 || !page.nextCursor) break;
        cursor = page.nextCursor;
      }
      const mine = Object.entries(ids).filter(([, id]) => listed.includes(id)).map(([name]) => name);
      expect(mine.sort()).toEqual([...sees].sort());
    });
  }

  it('a re-issue account lists nothing but re-issues of its reasons, whatever it sent', async () => {
    const response = await gateway.request('reissue08', { method: 'GET', url: '/ngsp/v1/transfers?limit=500' });
    const items = response.json().items as Array<{ type: string; reason?: string; maTinh: string }>;
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) expect(item).toMatchObject({ type: 'CAP_LAI_THE', reason: expect.stringMatching(/^(mat|hong)$/), maTinh: '08' });
  });
});
