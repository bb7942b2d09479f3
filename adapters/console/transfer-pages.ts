import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../src/errors.js';
import { provinceScope } from '../../src/auth/clients.js';
import { transferSummary } from '../../src/transfers/transfer-views.js';
import { REPLAYABLE_STATUSES, TRANSFER_STATUSES } from '../../src/domain/transfer-status.js';
import { ANYONE, OPERATOR, BATCH_STATUS_NAMES, type Form, type Query, PAGE_SIZE, dayStart, errorCodes, filterFields, filterQuery, json, noticeOf, readFilter, readReason, reasonForm, send, sessionOf, text, transferLink } from './forms.js';
import { html } from './html.js';
import { CONSOLE_PREFIX, statusBadge, statusName, when } from './layout.js';
import type { SectionServices } from './sections.js';

/** The transfers: the filtered list, one transfer whole, and replaying it with a reason. */
export function transferPages(app: FastifyInstance, services: SectionServices): void {
  const { reads, replays } = services;
  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/transfers`, { config: ANYONE }, async (request, reply) => {
    const { client } = sessionOf(request);
    const { filter, problems } = readFilter(request.query, TRANSFER_STATUSES);
    const matching = {
      status: filter.status, maTinh: filter.unit, provinces: provinceScope(client), type: filter.type,
      createdFrom: filter.from && dayStart(filter.from), createdTo: filter.to && dayStart(filter.to, true), bhxhErrorCode: filter.errorCode,
    };
    const cursor = text(request.query.last) === '1' ? ((await reads.lastPage(matching, PAGE_SIZE)) ?? undefined) : text(request.query.cursor);
    const result = await reads.list(matching, { limit: PAGE_SIZE, after: cursor }).catch((error: unknown) => {
      // A cursor from an older page layout or typed by hand: start again from the first page.
      if (error instanceof GatewayError && error.code === 'VALIDATION_FAILED') return null;
      throw error;
    });
    if (!result) problems.push('Vị trí trang không hợp lệ; hãy xem lại từ trang đầu.');
    const items = (result?.items ?? []).map(transferSummary);
    return send(reply, request, { title: 'Hồ sơ liên thông', section: '/transfers', problem: problems.join(' ') || undefined }, html`
<form class="filters" method="get" action="${CONSOLE_PREFIX}/transfers" role="search">
  ${filterFields(filter, TRANSFER_STATUSES, 'Nhận', true)}
  <button type="submit">Lọc</button>
</form>
<p class="muted">Hồ sơ thay đổi sớm nhất ở trang đầu, mới thay đổi ở các trang sau và trang cuối; mỗi trang ${PAGE_SIZE} hồ sơ, không bỏ sót hồ sơ nào đổi trạng thái trong lúc xem (hồ sơ vừa đổi chuyển xuống cuối).</p>
<table>
  <thead><tr><th>Mã hồ sơ</th><th>Loại</th><th>Tỉnh</th><th>Trạng thái</th><th>Lỗi BHXH</th><th>Nhận lúc</th><th>Cập nhật</th></tr></thead>
  <tbody>
  ${items.length === 0 ? html`<tr><td colspan="7" class="muted">Không có hồ sơ nào.</td></tr>` : items.map((item) => html`<tr>
    <td class="mono">${transferLink(item.transferId)}</td><td>${item.type}</td><td>${item.maTinh}</td><td>${statusBadge(item.status)}</td>
    <td class="mono">${errorCodes(item.errors)}</td><td>${when(item.createdAt)}</td><td>${when(item.updatedAt)}</td></tr>`)}
  </tbody>
</table>
<nav class="pager" aria-label="Trang">
  ${cursor && html`<a href="${CONSOLE_PREFIX}/transfers${filterQuery(filter)}">Trang đầu</a>`}
  ${result?.nextCursor && items.length === PAGE_SIZE && html`<a href="${CONSOLE_PREFIX}/transfers${filterQuery(filter, { cursor: result.nextCursor })}">Trang sau</a>`}
  <a href="${CONSOLE_PREFIX}/transfers${filterQuery(filter, { last: '1' })}">Trang cuối (thay đổi mới nhất)</a>
</nav>`);
  });

  app.get<{ Params: { transferId: string }; Querystring: Query }>(`${CONSOLE_PREFIX}/transfers/:transferId`, { config: ANYONE }, async (request, reply) => {
    const { client } = sessionOf(request);
    const transfer = await reads.detail(request.params.transferId, client);
    const { events } = await services.auditLog.events(client, { transferId: transfer.transferId, limit: 1000 });
    const mayReplay = client.roles.includes('operator') && (REPLAYABLE_STATUSES as readonly string[]).includes(transfer.status);
    return send(reply, request, { title: `Hồ sơ ${transfer.transferId}`, section: '/transfers', notice: noticeOf(request.query) }, html`
<table>
  <tbody>
    <tr><th>Trạng thái</th><td>${statusBadge(transfer.status)}</td></tr>
    <tr><th>Loại</th><td>${transfer.type}</td></tr>
    <tr><th>Tỉnh / đơn vị</th><td>${transfer.maTinh} / ${transfer.maDonVi}</td></tr>
    <tr><th>messageId</th><td class="mono">${transfer.messageId}</td></tr>
    ${transfer.maHoSo && html`<tr><th>Hồ sơ một cửa</th><td class="mono">${transfer.maHoSo}</td></tr>`}
    ${transfer.missing.length > 0 && html`<tr><th>Còn thiếu</th><td>${transfer.missing.join(', ')}</td></tr>`}
    <tr><th>Nhận lúc</th><td>${when(transfer.createdAt)}</td></tr>
    <tr><th>Cập nhật</th><td>${when(transfer.updatedAt)}</td></tr>
  </tbody>
</table>
${mayReplay && html`<form method="get" action="${CONSOLE_PREFIX}/transfers/${encodeURIComponent(transfer.transferId)}/replay"><button type="submit">Gửi lại</button></form>`}
<h2>Lỗi BHXH trả về</h2>
${transfer.errors.length === 0 ? html`<p class="muted">Không có.</p>` : html`<table><thead><tr><th>Mã lỗi</th><th>Mô tả</th></tr></thead><tbody>
  ${transfer.errors.map((error) => { const { MA_LOI, MO_TA } = error as { MA_LOI?: string; MO_TA?: string }; return html`<tr><td class="mono">${MA_LOI ?? ''}</td><td>${MO_TA ?? ''}</td></tr>`; })}
</tbody></table>`}
<h2>Lịch sử</h2>
<table><thead><tr><th>Lúc</th><th>Người / hệ thống</th><th>Việc</th><th>Từ</th><th>Sang</th><th>Ghi chú</th></tr></thead><tbody>
  ${transfer.history.map((event) => html`<tr><td>${when(event.at)}</td><td>${event.actor}</td><td class="mono">${event.action}</td>
    <td>${event.fromStatus && statusName(event.fromStatus)}</td><td>${event.toStatus && statusName(event.toStatus)}</td>
    <td>${event.details && typeof event.details.reason === 'string' ? event.details.reason : ''}</td></tr>`)}
</tbody></table>
<h2>Các lần gửi</h2>
${transfer.deliveries.length === 0 ? html`<p class="muted">Chưa gửi lần nào.</p>` : html`<table><thead><tr><th>Lô</th><th>Cách</th><th>Trạng thái lô</th><th>Kết quả</th><th>Các lần thử</th></tr></thead><tbody>
  ${transfer.deliveries.map((delivery) => html`<tr><td class="mono">${delivery.batchId}</td><td>${delivery.mode}</td><td>${BATCH_STATUS_NAMES[delivery.batchStatus] ?? delivery.batchStatus}</td>
    <td>${delivery.outcome ?? '—'}</td>
    <td>${delivery.attempts.length === 0 ? '—' : html`<ol>${delivery.attempts.map((attempt) => html`<li>${when(attempt.at)}: ${attempt.outcome}${attempt.httpStatus !== null && html` (HTTP ${attempt.httpStatus})`}${attempt.error && html` — ${attempt.error}`}</li>`)}</ol>`}</td></tr>`)}
</tbody></table>`}
<h2>Hồ sơ nhận được</h2>
${json(transfer.document)}
<h2>Hồ sơ gửi BHXH</h2>
${transfer.bhxhDocument === null ? html`<p class="muted">Chưa lập (hồ sơ còn thiếu thông tin).</p>` : json(transfer.bhxhDocument)}
${transfer.card && html`<h2>Thẻ BHYT</h2>${json(transfer.card)}`}
<h2>Sự kiện nhật ký kiểm toán</h2>
<table><thead><tr><th>#</th><th>Lúc</th><th>Việc</th><th>Băm nội dung</th><th>Băm</th></tr></thead><tbody>
  ${events.map((event) => html`<tr><td class="num">${event.seq}</td><td>${when(event.at)}</td><td class="mono">${event.action}</td>
    <td class="mono">${event.payloadSha256 ? event.payloadSha256.slice(0, 16) : '—'}</td><td class="mono">${event.hash.slice(0, 16)}</td></tr>`)}
</tbody></table>`);
  });

  const replayOnePage = async (request: FastifyRequest<{ Params: { transferId: string } }>, reply: FastifyReply, problem?: string, reason?: string, status = 400) => {
    const { client, csrfToken } = sessionOf(request);
    const transfer = await reads.detail(request.params.transferId, client);
    const path = `${CONSOLE_PREFIX}/transfers/${encodeURIComponent(transfer.transferId)}`;
    return send(reply, request, { title: `Gửi lại hồ sơ ${transfer.transferId}`, section: '/transfers' }, html`
<p>Hồ sơ ${transferLink(transfer.transferId)} đang ${statusBadge(transfer.status)}. Gửi lại sẽ đưa hồ sơ về <strong>${statusName('queued')}</strong>; lý do được ghi vào nhật ký kiểm toán.</p>
${reasonForm(`${path}/replay`, csrfToken, html``, problem, reason)}`, problem ? status : 200);
  };

  app.get<{ Params: { transferId: string } }>(`${CONSOLE_PREFIX}/transfers/:transferId/replay`, { config: OPERATOR }, async (request, reply) =>
    replayOnePage(request, reply));

  app.post<{ Params: { transferId: string }; Body: Form }>(`${CONSOLE_PREFIX}/transfers/:transferId/replay`, { config: OPERATOR }, async (request, reply) => {
    const { reason, problem } = readReason(request.body);
    if (!reason) return replayOnePage(request, reply, problem, text(request.body.reason));
    const transfer = await replays.replayOne(request.params.transferId, reason, sessionOf(request).client).catch((error: unknown) => {
      if (error instanceof GatewayError && error.code === 'INVALID_STATE') return null;
      throw error;
    });
    if (!transfer) {
      return replayOnePage(request, reply, `Không gửi lại được: chỉ gửi lại hồ sơ ${REPLAYABLE_STATUSES.map(statusName).join(' hoặc ')} và đã đủ thông tin.`, reason, 409);
    }
    return reply.redirect(`${CONSOLE_PREFIX}/transfers/${encodeURIComponent(transfer.id)}?notice=replayed`, 303);
  });
}
