import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hoSoMotCua } from './support/death-fixtures.js';
import { capLaiThe, thayDoiThongTin } from './support/reissue-fixtures.js';
import { khaiSinh } from './support/fixtures.js';
import { startDispatchHarness, type DispatchHarness } from './support/dispatch-harness.js';

/**
 * The console in a real browser (Debian's chromium, driven by playwright-core), found by the
 * accessible names of CONTRACT §10: sign in, filter failed transfers, open one, replay it with a
 * reason, a bulk replay's dry run and real run with its progress, pause and resume a province, sign
 * out. Any request to another origin than the gateway fails the test. UPDATE_SCREENSHOTS=1 writes
 * the screenshots shown in the README into docs/console/.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];
const WAIT = { timeout: 15_000, interval: 50 };

let h: DispatchHarness;
let browser: Browser;
let base: string;
let screenshotDir: string;
const foreignRequests: string[] = [];
/** What the browser refused under the CSP: a page that tried to load from elsewhere, or inline script or style. */
const refusedByPolicy: string[] = [];

beforeAll(async () => {
  // BHXH refuses every batch, so what is dispatched ends `failed`: what an operator replays.
  h = await startDispatchHarness({ script: [{ kind: 'status', status: 400, body: '{"error":"LOAI khong hop le"}' }], now: () => new Date() });
  base = await h.gateway.app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  screenshotDir = process.env.UPDATE_SCREENSHOTS ? join(process.cwd(), 'docs', 'console') : mkdtempSync(join(tmpdir(), 'console-shots-'));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
  if (screenshotDir && !process.env.UPDATE_SCREENSHOTS) rmSync(screenshotDir, { recursive: true, force: true });
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'vi-VN' });
  const page = await context.newPage();
  page.on('request', (request) => {
    if (new URL(request.url()).origin !== base) foreignRequests.push(request.url());
  });
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) refusedByPolicy.push(message.text());
  });
  return page;
}

const shoot = (page: Page, name: string) => page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });

async function pushBirths(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await h.gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
    expect(response.statusCode, response.body).toBe(202);
    ids.push(response.json().transferId);
  }
  return ids;
}

async function statusOf(id: string): Promise<{ status: string; history: Array<{ action: string; details?: Record<string, unknown> }> }> {
  return (await h.gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${id}` })).json();
}

async function paused(): Promise<string[]> {
  return (await h.gateway.request('operator', { method: 'GET', url: '/ops/v1/dispatch' })).json().paused;
}

describe('the console in Chromium', () => {
  it('an operator finds failed transfers, replays one and then the rest in bulk, holds a province, and signs out', async () => {
    const ids = await pushBirths(4);
    await h.runs.run();
    await vi.waitFor(async () => {
      for (const id of ids) expect((await statusOf(id)).status).toBe('failed');
    }, WAIT);

    const page = await newPage();
    await page.goto(`${base}/console/`);
    await expect.poll(() => page.url()).toBe(`${base}/console/login`);
    await shoot(page, 'sign-in');
    await page.getByLabel('Khóa').fill(h.gateway.keys.operator);
    await page.getByRole('button', { name: 'Đăng nhập' }).click();
    await page.getByRole('heading', { name: 'Hồ sơ liên thông' }).waitFor();

    // Filter the failed ones.
    await page.getByLabel('Trạng thái').selectOption({ label: 'gửi không thành công' });
    await page.getByRole('button', { name: 'Lọc' }).click();
    await page.waitForURL(/status=failed/);
    const rows = page.locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(4);
    for (const id of ids) expect(await page.getByRole('link', { name: id }).count()).toBe(1);
    await shoot(page, 'transfers');

    // Open one and replay it with a reason.
    const [first, ...rest] = ids as [string, ...string[]];
    await page.getByRole('link', { name: first }).click();
    await page.getByRole('heading', { name: `Hồ sơ ${first}` }).waitFor();
    expect(await page.getByText('HTTP 400').count()).toBeGreaterThan(0);
    await shoot(page, 'transfer');
    await page.getByRole('button', { name: 'Gửi lại' }).click();
    await page.getByLabel('Lý do').fill('BHXH đã sửa lược đồ');
    await page.getByRole('button', { name: 'Xác nhận' }).click();
    await page.getByRole('status').filter({ hasText: 'Đã đưa hồ sơ vào hàng chờ gửi' }).waitFor();
    expect(await page.locator('.status').first().textContent()).toBe('chờ gửi');
    const replayed = await statusOf(first);
    expect(replayed.status).toBe('queued');
    expect(replayed.history.at(-1)).toMatchObject({ action: 'transfer.replayed', details: { reason: 'BHXH đã sửa lược đồ' } });

    // Bulk: a dry run shows the count and a sample, and changes nothing; the real run shows its progress.
    await page.getByRole('link', { name: 'Gửi lại hàng loạt' }).click();
    await page.getByLabel('Mã tỉnh').fill('08');
    await page.getByRole('button', { name: 'Xem trước' }).click();
    await page.getByText('3 hồ sơ khớp bộ lọc.').waitFor();
    for (const id of rest) expect(await page.getByRole('link', { name: id }).count()).toBe(1);
    for (const id of rest) expect((await statusOf(id)).status).toBe('failed');
    await shoot(page, 'bulk-replay');
    await page.getByLabel('Lý do').fill('BHXH đã sửa lược đồ, gửi lại cả tỉnh');
    await page.getByRole('button', { name: 'Xác nhận' }).click();
    await page.getByRole('heading', { name: 'Tiến độ gửi lại hàng loạt' }).waitFor();
    // The page reloads itself until the job is done.
    await page.locator('[data-job-status="done"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('progress').getAttribute('value')).toBe('3');
    expect(await page.locator('progress').getAttribute('max')).toBe('3');
    await shoot(page, 'bulk-progress');
    for (const id of rest) expect((await statusOf(id)).status).toBe('queued');

    // Hold province 08, then release it.
    await page.getByRole('link', { name: 'Điều phối' }).click();
    await page.getByLabel('Mã tỉnh').fill('08');
    await page.getByRole('button', { name: 'Tạm dừng' }).click();
    await page.getByRole('status').filter({ hasText: 'Đã tạm dừng' }).waitFor();
    expect(await paused()).toEqual(['08']);
    await shoot(page, 'dispatch');
    await page.getByRole('button', { name: 'Tiếp tục 08' }).click();
    await page.getByRole('status').filter({ hasText: 'Đã cho gửi tiếp' }).waitFor();
    expect(await paused()).toEqual([]);

    for (const [section, name] of [['Lô gửi', 'batches'], ['Tồn đọng', 'backlog'], ['Thông báo lỗi', 'callbacks']] as const) {
      await page.getByRole('link', { name: section }).click();
      await page.waitForLoadState();
      expect(await page.locator('.problem').count()).toBe(0);
      // The backlog's chart of waiting and overdue records, one per province.
      if (name === 'backlog') expect(await page.getByRole('img', { name: /Tỉnh 08/ }).count()).toBe(1);
      await shoot(page, name);
    }
    // A one-stop dossier still waiting (all of them, with 0 days): closed with a reason.
    const dossier = await h.gateway.request('registry08b', { method: 'POST', url: '/ngsp/v1/mot-cua', payload: hoSoMotCua() as object });
    expect(dossier.statusCode, dossier.body).toBe(202);
    const dossierId = dossier.json().transferId as string;
    await page.getByRole('link', { name: 'Một cửa chờ' }).click();
    await page.getByLabel('Chờ quá (ngày)').fill('0');
    await page.getByRole('button', { name: 'Lọc' }).click();
    await page.getByRole('link', { name: dossierId }).waitFor();
    await shoot(page, 'dossiers');
    await page.getByRole('link', { name: 'Gắn hoặc đóng' }).click();
    const closing = page.getByRole('form', { name: 'Đóng hồ sơ' });
    await closing.getByLabel('Lý do').fill('Khai sinh đăng ký ở nước ngoài');
    await closing.getByRole('button', { name: 'Đóng' }).click();
    await page.getByRole('status').filter({ hasText: 'Đã đóng hồ sơ một cửa.' }).waitFor();
    expect((await statusOf(dossierId)).status).toBe('closed');
    // Two card requests, one of them made overdue: it stands out.
    const requests: string[] = [];
    for (const [as, document] of [['reissue08', capLaiThe()], ['correction08', thayDoiThongTin()]] as const) {
      const response = await h.gateway.request(as, { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: document as object });
      expect(response.statusCode, response.body).toBe(202);
      requests.push(response.json().transferId);
    }
    const threeDaysAgo = new Date(Date.now() + 7 * 3600_000 - 3 * 86_400_000).toISOString().slice(0, 10);
    await h.gateway.db.query('UPDATE transfers SET due_on = $2 WHERE id = $1', [requests[0], threeDaysAgo]);
    await page.getByRole('link', { name: 'Cấp lại thẻ' }).click();
    await page.getByRole('heading', { name: 'Cấp lại, đổi thẻ BHYT' }).waitFor();
    expect(await page.locator('tr.overdue').count()).toBe(1);
    expect(await page.locator('tr.overdue').getByRole('link', { name: requests[0] }).count()).toBe(1);
    await shoot(page, 'reissues');
    await page.getByRole('link', { name: 'Danh sách D03' }).click();
    await page.getByRole('heading', { name: 'Danh sách học sinh, sinh viên (D03-TS)' }).waitFor();
    expect(await page.locator('.problem').count()).toBe(0);

    await page.getByRole('link', { name: 'Nhật ký' }).click();
    await page.getByRole('button', { name: 'Kiểm tra chuỗi' }).click();
    await page.getByText('Chuỗi nguyên vẹn').waitFor();
    await shoot(page, 'audit');

    await page.getByRole('button', { name: 'Đăng xuất' }).click();
    await page.getByText('Đã đăng xuất.').waitFor();
    await page.goto(`${base}/console/transfers`);
    // The browser dropped the cookie: it is simply not signed in.
    await expect.poll(() => page.url()).toBe(`${base}/console/login`);
    await page.context().close();

    expect(foreignRequests).toEqual([]);
    expect(refusedByPolicy).toEqual([]);
    // A browser and a dozen pages: generous for a loaded 2-core CI machine running other files beside it.
  }, 120_000);

  it('the origin guard the test above relies on does catch a page that loads from elsewhere', async () => {
    const page = await newPage();
    const before = foreignRequests.length;
    // Nothing leaves the machine: such a request is aborted once seen.
    await page.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => route.abort());
    await page.setContent('<img src="http://cdn.invalid/logo.png" alt="">');
    await expect.poll(() => foreignRequests.length).toBe(before + 1);
    foreignRequests.splice(before);
    await page.context().close();
  });
});
