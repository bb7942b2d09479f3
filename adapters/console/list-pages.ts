import type { FastifyInstance } from 'fastify';
import type { RowViewStatus } from '../../src/messages/pupil-list/list-service.js';
import { OPERATOR, type Query, send, sessionOf, text } from './forms.js';
import { html } from './html.js';
import { CONSOLE_PREFIX, statusName, when } from './layout.js';
import type { SectionServices } from './sections.js';

const LISTS_SHOWN = 100;
const ROWS_PER_PAGE = 100;
const UNIT = /^[A-Za-z0-9]{1,16}$/;

const LIST_STATUS_NAMES: Record<string, string> = { checked: 'đã kiểm tra, chưa gửi', queued: 'đã gửi đi', replaced: 'đã có danh sách thay' };
const ROW_STATUS_NAMES: Partial<Record<RowViewStatus, string>> = { invalid: 'không hợp lệ', withdrawn: 'đã rút (danh sách thay bỏ dòng này)' };
const rowStatusName = (status: RowViewStatus) => ROW_STATUS_NAMES[status] ?? statusName(status);
const day = (iso: string | null) => (iso ? `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)}` : '');

/** Schools' D03-TS lists of the operator's provinces: the latest per school, and one list's rows with where each stands. */
export function listPages(app: FastifyInstance, services: SectionServices): void {
  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/lists`, { config: OPERATOR }, async (request, reply) => {
    const typed = text(request.query.maDonVi);
    const maDonVi = typed && UNIT.test(typed) ? typed : undefined;
    const lists = await services.listOverview.recent(sessionOf(request).client, { maDonVi, limit: LISTS_SHOWN });
    return send(reply, request, {
      title: 'Danh sách học sinh, sinh viên (D03-TS)', section: '/lists', problem: typed && !maDonVi ? 'Mã đơn vị gồm chữ và số, tối đa 16 ký tự.' : undefined,
    }, html`
<form class="filters" method="get" action="${CONSOLE_PREFIX}/lists">
  <label>Mã đơn vị (trường)<input name="maDonVi" value="${typed ?? ''}" size="10" maxlength="16"></label>
  <button type="submit">Lọc</button>
</form>
<p class="muted">${LISTS_SHOWN} danh sách mới nhất${maDonVi && html` của đơn vị ${maDonVi}`}.</p>
<table aria-label="Danh sách D03-TS"><thead><tr><th>Đơn vị</th><th>Tỉnh</th><th>Kỳ kê khai</th><th>Trạng thái</th><th class="num">Số dòng</th><th class="num">Hợp lệ</th><th class="num">Không hợp lệ</th><th>Nhận lúc</th><th></th></tr></thead><tbody>
${lists.length === 0 ? html`<tr><td colspan="9" class="muted">Chưa có danh sách nào.</td></tr>` : lists.map((list) => html`<tr>
  <td><a href="${CONSOLE_PREFIX}/lists?maDonVi=${encodeURIComponent(list.maDonVi)}">${list.maDonVi}</a>${list.tenDonVi && html` ${list.tenDonVi}`}</td><td>${list.maTinh}</td><td>${list.kyKeKhai}</td>
  <td>${LIST_STATUS_NAMES[list.status] ?? list.status}</td><td class="num">${list.rows}</td><td class="num">${list.valid}</td><td class="num">${list.invalid}</td><td>${when(list.createdAt)}</td>
  <td><a href="${CONSOLE_PREFIX}/lists/${encodeURIComponent(list.listId)}">Các dòng</a></td></tr>`)}
</tbody></table>`);
  });

  app.get<{ Params: { listId: string }; Querystring: Query }>(`${CONSOLE_PREFIX}/lists/:listId`, { config: OPERATOR }, async (request, reply) => {
    const typed = text(request.query.cursor);
    const cursor = typed && /^\d{1,9}$/.test(typed) ? typed : undefined;
    const list = await services.lists.read(sessionOf(request).client, request.params.listId, { limit: ROWS_PER_PAGE, cursor });
    const counts = await services.listOverview.rowStatuses(list.listId, list.status);
    const path = `${CONSOLE_PREFIX}/lists/${encodeURIComponent(list.listId)}`;
    return send(reply, request, { title: `Danh sách ${list.maDonVi} kỳ ${list.kyKeKhai}`, section: '/lists' }, html`
<p>Đơn vị ${list.maDonVi}${list.tenDonVi && html` (${list.tenDonVi})`}, tỉnh ${list.maTinh}, tệp ${list.format}, nhận lúc ${when(list.createdAt)}: <strong>${LIST_STATUS_NAMES[list.status] ?? list.status}</strong>${list.replacedBy && html`, thay bằng <a href="${CONSOLE_PREFIX}/lists/${encodeURIComponent(list.replacedBy)}">danh sách sau</a>`}.</p>
<div class="cards">
  <div class="card">Số dòng<strong>${list.rows}</strong></div>
  ${(Object.entries(counts) as Array<[RowViewStatus, number]>).map(([status, count]) => html`<div class="card">${rowStatusName(status)}<strong>${count}</strong></div>`)}
</div>
<table aria-label="Các dòng"><thead><tr><th class="num">STT</th><th>Trạng thái</th><th>Mã thẻ</th><th>Hạn thẻ</th><th>Lỗi BHXH</th><th>Ghi chú</th></tr></thead><tbody>
${list.items.length === 0 ? html`<tr><td colspan="6" class="muted">Không còn dòng nào.</td></tr>` : list.items.map((row) => html`<tr>
  <td class="num">${row.stt}</td><td><span class="status status-${row.status}">${rowStatusName(row.status)}</span></td><td class="mono">${row.maThe ?? ''}</td>
  <td>${row.gtTheTu && html`${day(row.gtTheTu)} – ${day(row.gtTheDen)}`}</td><td class="mono">${row.bhxhErrors.map((error) => error.MA_LOI).join(', ')}</td><td>${row.ghiChu}</td></tr>`)}
</tbody></table>
<nav class="pager" aria-label="Trang">
  ${cursor && html`<a href="${path}">Trang đầu</a>`}
  ${list.nextCursor && html`<a href="${path}?cursor=${list.nextCursor}">Trang sau</a>`}
</nav>`);
  });
}
