import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { TRANSFER_STATUSES } from '../src/domain/transfer-status.js';
import { khaiSinh, khaiSinhHaNoi } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/** The value of one series in a scrape, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('the transfer gauges of /metrics', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    // A period longer than the test: only the counts the test asks for happen after the first.
    gateway = await startTestGateway({ env: { METRICS_REFRESH_MS: '3600000' } });
  });
  afterAll(async () => {
    await gateway?.close();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const scrape = async () => {
    const response = await gateway.request(null, { method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    return response.body;
  };
  const accept = async (document = khaiSinh()) => {
    const response = await gateway.request(document.hoTich.noiDangKy.maTinh === '01' ? 'registry01' : 'registry08', {
      method: 'POST', url: '/ngsp/v1/khai-sinh', payload: document,
    });
    expect(response.statusCode).toBe(202);
  };

  it('show every status of the state table, by status and by province, as of the last count', async () => {
    await accept();
    await accept();
    await accept(khaiSinh({ bhyt: null }));
    await accept(khaiSinhHaNoi());
    await gateway.app.metrics.transferCounts.refresh();

    const text = await scrape();
    const statuses = [...text.matchAll(/^lienthong_transfers\{status="([a-z_]+)"\}/gm)].map((match) => match[1]);
    expect(statuses).toEqual([...TRANSFER_STATUSES]);
    expect(sample(text, 'lienthong_transfers{status="queued"}')).toBe(3);
    expect(sample(text, 'lienthong_transfers{status="received"}')).toBe(1);
    expect(sample(text, 'lienthong_transfers{status="issued"}')).toBe(0);
    expect(sample(text, 'lienthong_transfers_by_province{status="queued",ma_tinh="08"}')).toBe(2);
    expect(sample(text, 'lienthong_transfers_by_province{status="received",ma_tinh="08"}')).toBe(1);
    expect(sample(text, 'lienthong_transfers_by_province{status="queued",ma_tinh="01"}')).toBe(1);
    expect(sample(text, 'lienthong_transfers_by_province{status="received",ma_tinh="01"}')).toBe(0);
    expect(sample(text, 'lienthong_transfers_by_province{status="queued",ma_tinh="02"}')).toBeUndefined();
    expect(sample(text, 'lienthong_transfers_counted_timestamp_seconds')).toBeGreaterThan(0);
  });

  it('are read from memory: a scrape answers the last count while the database does not answer', async () => {
    await gateway.app.metrics.transferCounts.refresh();
    const before = await scrape();
    const queued = sample(before, 'lienthong_transfers{status="queued"}');
    const countedAt = sample(before, 'lienthong_transfers_counted_timestamp_seconds');

    const unreachable = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    const query = vi.spyOn(gateway.db, 'query').mockImplementation(unreachable);
    const transaction = vi.spyOn(gateway.db, 'transaction').mockImplementation(unreachable);
    const during = await scrape();
    expect(query).not.toHaveBeenCalled();
    expect(transaction).not.toHaveBeenCalled();
    expect(sample(during, 'lienthong_transfers{status="queued"}')).toBe(queued);

    // A count that fails leaves the last one in place, and its time says how old it is.
    await expect(gateway.app.metrics.transferCounts.refresh()).rejects.toThrow(/ECONNREFUSED/);
    expect(query).toHaveBeenCalled();
    const afterFailure = await scrape();
    expect(sample(afterFailure, 'lienthong_transfers{status="queued"}')).toBe(queued);
    expect(sample(afterFailure, 'lienthong_transfers_counted_timestamp_seconds')).toBe(countedAt);
  });

  it('catch up with the database at the next count, and not before', async () => {
    await gateway.app.metrics.transferCounts.refresh();
    const queued = sample(await scrape(), 'lienthong_transfers{status="queued"}') ?? Number.NaN;
    await accept();
    expect(sample(await scrape(), 'lienthong_transfers{status="queued"}')).toBe(queued);
    await gateway.app.metrics.transferCounts.refresh();
    expect(sample(await scrape(), 'lienthong_transfers{status="queued"}')).toBe(queued + 1);
  });
});

describe('/metrics with METRICS_TOKEN set', () => {
  const token = 'scrape-token-for-the-test';
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ env: { METRICS_TOKEN: token } });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const scrapeWith = (authorization?: string) =>
    gateway.request(null, { method: 'GET', url: '/metrics', headers: authorization === undefined ? {} : { authorization } });

  it.each([
    ['no Authorization header', undefined],
    ['another token', 'Bearer not-the-token'],
    ['the token without Bearer', token],
    ['the token with something after it', `Bearer ${token}x`],
  ])('answers 401 UNAUTHORIZED to %s', async (_case, authorization) => {
    const response = await scrapeWith(authorization);
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect(response.body).not.toContain('lienthong_');
  });

  it('answers 401 to an API key: the token is its own secret', async () => {
    const response = await gateway.request('operator', { method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(401);
  });

  it('answers the bearer of the token, and leaves the other health routes open', async () => {
    const response = await scrapeWith(`Bearer ${token}`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.body).toContain('lienthong_transfers{status="queued"}');
    expect((await gateway.request(null, { method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('says so in the OpenAPI document', async () => {
    const doc = (await gateway.request(null, { method: 'GET', url: '/docs/json' })).json();
    const operation = doc.paths['/metrics'].get;
    expect(operation.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['200', '401']));
  });
});
