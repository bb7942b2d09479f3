import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { provinceScope } from '../../src/auth/clients.js';
import type { ConsoleSession } from '../../src/auth/console-sessions.js';
import type { AuditLog } from '../../src/audit/audit-log.js';
import type { Catalogues } from '../../src/catalogues/catalogues.js';
import type { BatchOverview } from '../../src/dispatch/batch-overview.js';
import type { CallbackOperations, CallbackView } from '../../src/dispatch/callbacks.js';
import type { DispatchHolds } from '../../src/dispatch/dispatch-holds.js';
import type { Dispatcher } from '../../src/dispatch/dispatcher.js';
import { FINAL_STATUSES, REPLAYABLE_STATUSES, TRANSFER_STATUSES, type TransferStatus } from '../../src/domain/transfer-status.js';
import { GatewayError } from '../../src/errors.js';
import { TRANSFER_TYPES } from '../../src/messages/registry.js';
import type { BacklogDay } from '../../src/transfers/backlog-report.js';
import type { ReplayFilter, Replays } from '../../src/transfers/replays.js';
import type { TransferReads } from '../../src/transfers/transfer-reads.js';
import { transferSummary } from '../../src/transfers/transfer-views.js';
import { html, type Html } from './html.js';
import { CONSOLE_PREFIX, csrfField, page, statusBadge, statusName, when, type PageOptions } from './layout.js';

export interface SectionServices {
  reads: TransferReads;
  auditLog: AuditLog;
  replays: Replays;
  holds: DispatchHolds;
  dispatcher: Dispatcher;
  batches: BatchOverview;
  callbacks: CallbackOperations;
  catalogues: Catalogues;
  now: () => Date;
}

type Query = Record<string, string | undefined>;
type Form = Record<string, string | undefined>;

const PAGE_SIZE = 50;
const HISTORY_DAYS = 14;
const DAY_MS = 24 * 3600_000;
const REASON_MIN = 3;
const REASON_MAX = 1000;

const sessionOf = (request: FastifyRequest) => request.consoleSession as ConsoleSession;

function send(reply: FastifyReply, request: FastifyRequest, options: PageOptions, body: Html, status = 200) {
  const session = sessionOf(request);
  return reply.code(status).type('text/html; charset=utf-8').send(page({ client: session.client, csrfToken: session.csrfToken, ...options }, body));
}

/** Notices named in a redirect's query: fixed texts, so a link cannot put words in the console's mouth. */
const NOTICES: Record<string, string> = {
  replayed: 'Đã đưa hồ sơ vào hàng chờ gửi (chờ gửi).',
  paused: 'Đã tạm dừng gửi cho tỉnh.',
  resumed: 'Đã cho gửi tiếp.',
  run: 'Đã yêu cầu một lượt gửi ngay.',
  retried: 'Đã cho gửi lại các thông báo lỗi.',
};

const noticeOf = (query: Query) => (query.notice ? NOTICES[query.notice] : undefined);

const text = (value: string | undefined) => {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
};

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const PROVINCE = /^\d{2}$/;

/** The start of a Vietnamese calendar day, or of the day after (an inclusive "to"). */
function dayStart(date: string, dayAfter = false): string {
  return new Date(Date.parse(`${date}T00:00:00+07:00`) + (dayAfter ? DAY_MS : 0)).toISOString();
}

interface TransferFilterForm {
  status?: TransferStatus;
  unit?: string;
  type?: (typeof TRANSFER_TYPES)[number];
  from?: string;
  to?: string;
  errorCode?: string;
}

/** The list's filter as typed, kept only where it is well formed; what is not is named back. */
function readFilter(query: Query, statuses: readonly string[]): { filter: TransferFilterForm; problems: string[] } {
  const filter: TransferFilterForm = {};
  const problems: string[] = [];
  const status = text(query.status);
  if (status) statuses.includes(status) ? (filter.status = status as TransferStatus) : problems.push('Trạng thái không hợp lệ.');
  const unit = text(query.unit);
  if (unit) PROVINCE.test(unit) ? (filter.unit = unit) : problems.push('Mã tỉnh gồm 2 chữ số.');
  const type = text(query.type);
  if (type) (TRANSFER_TYPES as readonly string[]).includes(type) ? (filter.type = type as TransferFilterForm['type']) : problems.push('Loại hồ sơ không hợp lệ.');
  for (const field of ['from', 'to'] as const) {
    const date = text(query[field]);
    if (date) DATE.test(date) && !Number.isNaN(Date.parse(date)) ? (filter[field] = date) : problems.push('Ngày không hợp lệ.');
  }
  const errorCode = text(query.errorCode);
  if (errorCode) errorCode.length <= 64 ? (filter.errorCode = errorCode) : problems.push('Mã lỗi quá dài.');
  return { filter, problems };
}

function filterQuery(filter: TransferFilterForm, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries({ ...filter, ...extra })) if (value) params.set(name, value);
  const query = params.toString();
  return query ? `?${query}` : '';
}

const option = (value: string, label: string, selected: string | undefined) =>
  html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;

function filterFields(filter: TransferFilterForm, statuses: readonly string[], dateLabel: string, anyStatus: boolean): Html {
  return html`
  <label>Trạng thái<select name="status">
    ${anyStatus && option('', 'Tất cả', filter.status)}
    ${statuses.map((status) => option(status, statusName(status), filter.status))}
  </select></label>
  <label>Mã tỉnh<input name="unit" value="${filter.unit ?? ''}" size="3" maxlength="2" inputmode="numeric" pattern="[0-9]{2}"></label>
  <label>Loại<select name="type">${option('', 'Tất cả', filter.type)}${TRANSFER_TYPES.map((type) => option(type, type, filter.type))}</select></label>
  <label>${dateLabel} từ ngày<input type="date" name="from" value="${filter.from ?? ''}"></label>
  <label>đến ngày<input type="date" name="to" value="${filter.to ?? ''}"></label>
  <label>Mã lỗi BHXH<input name="errorCode" value="${filter.errorCode ?? ''}" size="10" maxlength="64"></label>`;
}

const transferLink = (transferId: string) => html`<a href="${CONSOLE_PREFIX}/transfers/${encodeURIComponent(transferId)}">${transferId}</a>`;

function errorCodes(errors: unknown[]): string {
  return errors.map((error) => String((error as { MA_LOI?: unknown }).MA_LOI ?? '')).filter(Boolean).join(', ');
}

const json = (value: unknown) => html`<pre>${JSON.stringify(value, null, 2)}</pre>`;

function readReason(form: Form): { reason?: string; problem?: string } {
  const reason = text(form.reason);
  if (!reason || reason.length < REASON_MIN) return { problem: `Cần ghi lý do (ít nhất ${REASON_MIN} ký tự).` };
  if (reason.length > REASON_MAX) return { problem: `Lý do dài quá ${REASON_MAX} ký tự.` };
  return { reason };
}

const reasonForm = (action: string, csrfToken: string, hidden: Html, problem?: string, reason?: string) => html`
<form class="stack" method="post" action="${action}">
  ${csrfField(csrfToken)}${hidden}
  ${problem && html`<p class="problem" role="alert">${problem}</p>`}
  <label>Lý do<textarea name="reason" required minlength="${REASON_MIN}" maxlength="${REASON_MAX}">${reason ?? ''}</textarea></label>
  <button type="submit">Xác nhận</button>
</form>`;

/** A line chart of two series, drawn on the server: waiting (blue) and past the deadline (red). */
export function backlogChart(maTinh: string, series: BacklogDay[]): Html {
  const width = 560;
  const height = 180;
  const pad = { left: 40, right: 12, top: 12, bottom: 28 };
  const top = Math.max(1, ...series.map((point) => point.waiting));
  const x = (index: number) => pad.left + (index * (width - pad.left - pad.right)) / Math.max(1, series.length - 1);
  const y = (value: number) => height - pad.bottom - (value * (height - pad.top - pad.bottom)) / top;
  const line = (pick: (point: BacklogDay) => number) => series.map((point, index) => `${x(index).toFixed(1)},${y(pick(point)).toFixed(1)}`).join(' ');
  const first = series[0];
  const last = series[series.length - 1];
  return html`<svg class="chart" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" aria-label="Tỉnh ${maTinh}: hồ sơ đang chờ và quá hạn theo ngày">
  <line x1="${pad.left}" y1="${y(0)}" x2="${width - pad.right}" y2="${y(0)}" stroke="#9aa6b2"/>
  <line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${y(0)}" stroke="#9aa6b2"/>
  <text x="${pad.left - 6}" y="${pad.top + 4}" text-anchor="end" font-size="11" fill="#5b6776">${top}</text>
  <text x="${pad.left - 6}" y="${y(0)}" text-anchor="end" font-size="11" fill="#5b6776">0</text>
  ${first && html`<text x="${pad.left}" y="${height - 8}" font-size="11" fill="#5b6776">${first.day}</text>`}
  ${last && html`<text x="${width - pad.right}" y="${height - 8}" text-anchor="end" font-size="11" fill="#5b6776">${last.day}</text>`}
  <polyline points="${line((point) => point.waiting)}" fill="none" stroke="#0b5394" stroke-width="2"/>
  <polyline points="${line((point) => point.pastDeadline)}" fill="none" stroke="#b3261e" stroke-width="2" stroke-dasharray="5 3"/>
</svg>`;
}

const BATCH_STATUS_NAMES: Record<string, string> = {
  open: 'đang mở', delivered: 'đã giao', closed: 'đã xong', failed: 'không gửi được', expired: 'hết hạn nhận', released: 'trả lại hàng chờ',
};
const BREAKER_NAMES: Record<string, string> = { closed: 'đóng (gửi bình thường)', halfOpen: 'nửa mở (đang thử lại)', open: 'mở (tạm ngừng gửi)', disabled: 'không dùng' };

/** The console's sections (layout.ts SECTIONS), each a page or two over the same services as the operator API. */
export async function consoleSections(app: FastifyInstance, services: SectionServices): Promise<void> {
  const { reads, replays } = services;
  const anyone = { consoleRoles: ['operator', 'auditor'] as const };
  const operator = { consoleRoles: ['operator'] as const };

  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/transfers`, { config: anyone }, async (request, reply) => {
    const { client } = sessionOf(request);
    const { filter, problems } = readFilter(request.query, TRANSFER_STATUSES);
    const cursor = text(request.query.cursor);
    const result = await reads.list(
      {
        status: filter.status, maTinh: filter.unit, provinces: provinceScope(client), type: filter.type,
        createdFrom: filter.from && dayStart(filter.from), createdTo: filter.to && dayStart(filter.to, true), bhxhErrorCode: filter.errorCode,
      },
      { limit: PAGE_SIZE, after: cursor },
    ).catch((error: unknown) => {
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
<p class="muted">Sắp theo thứ tự thay đổi gần nhất; mỗi trang ${PAGE_SIZE} hồ sơ, không bỏ sót hồ sơ nào đổi trạng thái trong lúc xem.</p>
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
</nav>`);
  });

  app.get<{ Params: { transferId: string }; Querystring: Query }>(`${CONSOLE_PREFIX}/transfers/:transferId`, { config: anyone }, async (request, reply) => {
    const { client } = sessionOf(request);
    const transfer = await reads.detail(request.params.transferId, client);
    const events = await services.auditLog.events(client, { transferId: transfer.transferId, limit: 1000 });
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

  const replayOnePage = async (request: FastifyRequest<{ Params: { transferId: string } }>, reply: FastifyReply, problem?: string, reason?: string) => {
    const { client, csrfToken } = sessionOf(request);
    const transfer = await reads.detail(request.params.transferId, client);
    const path = `${CONSOLE_PREFIX}/transfers/${encodeURIComponent(transfer.transferId)}`;
    return send(reply, request, { title: `Gửi lại hồ sơ ${transfer.transferId}`, section: '/transfers' }, html`
<p>Hồ sơ ${transferLink(transfer.transferId)} đang ${statusBadge(transfer.status)}. Gửi lại sẽ đưa hồ sơ về <strong>${statusName('queued')}</strong>; lý do được ghi vào nhật ký kiểm toán.</p>
${reasonForm(`${path}/replay`, csrfToken, html``, problem, reason)}`, problem ? 400 : 200);
  };

  app.get<{ Params: { transferId: string } }>(`${CONSOLE_PREFIX}/transfers/:transferId/replay`, { config: operator }, async (request, reply) =>
    replayOnePage(request, reply));

  app.post<{ Params: { transferId: string }; Body: Form }>(`${CONSOLE_PREFIX}/transfers/:transferId/replay`, { config: operator }, async (request, reply) => {
    const { reason, problem } = readReason(request.body);
    if (!reason) return replayOnePage(request, reply, problem, request.body.reason);
    const transfer = await replays.replayOne(request.params.transferId, reason, sessionOf(request).client);
    return reply.redirect(`${CONSOLE_PREFIX}/transfers/${encodeURIComponent(transfer.id)}?notice=replayed`, 303);
  });

  const bulkFilter = (filter: TransferFilterForm): ReplayFilter => ({
    status: filter.status as ReplayFilter['status'], unit: filter.unit, type: filter.type, errorCode: filter.errorCode,
    from: filter.from && dayStart(filter.from), to: filter.to && dayStart(filter.to, true),
  });

  const bulkPage = async (request: FastifyRequest, reply: FastifyReply, query: Query, problem?: string) => {
    const { client, csrfToken } = sessionOf(request);
    const { filter, problems } = readFilter({ status: 'failed', ...query }, REPLAYABLE_STATUSES);
    if (filter.unit && !client.units.includes('*') && !client.units.includes(filter.unit)) problems.push(`Tỉnh ${filter.unit} không thuộc phạm vi của khóa này.`);
    const preview = query.preview === '1' && problems.length === 0 ? await replays.preview(bulkFilter(filter), client) : null;
    const hidden = html`${Object.entries(filter).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}`;
    return send(reply, request, { title: 'Gửi lại hàng loạt', section: '/replay', problem: [...problems, problem].filter(Boolean).join(' ') || undefined }, html`
<form class="filters" method="get" action="${CONSOLE_PREFIX}/replay">
  <input type="hidden" name="preview" value="1">
  ${filterFields(filter, REPLAYABLE_STATUSES, 'Thay đổi', false)}
  <button type="submit">Xem trước</button>
</form>
${preview && html`<section aria-label="Xem trước">
  <p><strong>${preview.matched}</strong> hồ sơ khớp bộ lọc.${preview.matched > preview.sample.length && html` ${preview.sample.length} hồ sơ đầu:`}</p>
  ${preview.sample.length > 0 && html`<ul>${preview.sample.map((transferId) => html`<li class="mono">${transferLink(transferId)}</li>`)}</ul>`}
  ${preview.matched > 0 && reasonForm(`${CONSOLE_PREFIX}/replay`, csrfToken, hidden, undefined, query.reason)}
</section>`}`, problem ? 400 : 200);
  };

  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/replay`, { config: operator }, async (request, reply) => bulkPage(request, reply, request.query));

  app.post<{ Body: Form }>(`${CONSOLE_PREFIX}/replay`, { config: operator }, async (request, reply) => {
    const { client } = sessionOf(request);
    const { filter, problems } = readFilter({ status: 'failed', ...request.body }, REPLAYABLE_STATUSES);
    const { reason, problem } = readReason(request.body);
    if (!reason || problems.length > 0) return bulkPage(request, reply, { ...request.body, preview: '1' }, [problem, ...problems].filter(Boolean).join(' '));
    if (filter.unit && !client.units.includes('*') && !client.units.includes(filter.unit)) throw new GatewayError('FORBIDDEN', `Tỉnh ${filter.unit} không thuộc phạm vi của khóa này.`);
    const { jobId } = await replays.startBulk(bulkFilter(filter), reason, client);
    return reply.redirect(`${CONSOLE_PREFIX}/replay/${encodeURIComponent(jobId)}`, 303);
  });

  app.get<{ Params: { jobId: string } }>(`${CONSOLE_PREFIX}/replay/:jobId`, { config: operator }, async (request, reply) => {
    const job = await replays.progress(request.params.jobId, sessionOf(request).client);
    const done = job.replayed + job.skipped;
    const STATES = { running: 'đang chạy', done: 'đã xong', failed: 'không hoàn thành' } as const;
    return send(reply, request, { title: 'Tiến độ gửi lại hàng loạt', section: '/replay', refreshSeconds: job.status === 'running' ? 1 : undefined }, html`
<p>Trạng thái: <strong data-job-status="${job.status}">${STATES[job.status]}</strong> · lý do: ${job.reason} · người yêu cầu: ${job.requestedBy} · bắt đầu ${when(job.createdAt)}${job.finishedAt && html` · xong ${when(job.finishedAt)}`}</p>
<label>Đã xử lý ${done} / ${job.matched}<progress max="${Math.max(1, job.matched)}" value="${job.matched === 0 ? 1 : done}">${done} / ${job.matched}</progress></label>
<div class="cards">
  <div class="card">Đã đưa vào hàng chờ<strong>${job.replayed}</strong></div>
  <div class="card">Bỏ qua (đã đổi trạng thái)<strong>${job.skipped}</strong></div>
  <div class="card">Khớp bộ lọc<strong>${job.matched}</strong></div>
</div>`);
  });

  app.get(`${CONSOLE_PREFIX}/batches`, { config: operator }, async (request, reply) => {
    const list = await services.batches.recent(sessionOf(request).client, { limit: 100 });
    return send(reply, request, { title: 'Lô gửi BHXH', section: '/batches' }, html`
<p>Cầu dao (circuit breaker): <strong>${BREAKER_NAMES[services.dispatcher.breakerState]}</strong></p>
<table><thead><tr><th>Lô</th><th>Tỉnh</th><th>Loại</th><th>Cách</th><th>Trạng thái</th><th class="num">Số hồ sơ</th><th class="num">Lần thử</th><th>Lỗi gần nhất</th><th>Lập lúc</th><th>Giao lúc</th></tr></thead><tbody>
${list.length === 0 ? html`<tr><td colspan="10" class="muted">Chưa có lô nào.</td></tr>` : list.map((batch) => html`<tr>
  <td class="mono">${batch.id}</td><td>${batch.maTinh}</td><td>${batch.loai}</td><td>${batch.mode}</td><td>${BATCH_STATUS_NAMES[batch.status] ?? batch.status}</td>
  <td class="num">${batch.recordCount}</td><td class="num">${batch.attempts}</td><td>${batch.lastError ?? ''}</td><td>${when(batch.createdAt)}</td><td>${when(batch.deliveredAt)}</td></tr>`)}
</tbody></table>`);
  });

  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/dispatch`, { config: operator }, async (request, reply) => {
    const { client, csrfToken } = sessionOf(request);
    const [nextRunAt, paused, counts] = await Promise.all([services.dispatcher.nextRunAt(), services.holds.list(), reads.countByStatus()]);
    const holdForm = (action: 'pause' | 'resume', label: string, maTinh?: string) => html`<form class="inline" method="post" action="${CONSOLE_PREFIX}/dispatch/${action}">
  ${csrfField(csrfToken)}${maTinh ? html`<input type="hidden" name="maTinh" value="${maTinh}">` : html`<label>Mã tỉnh<input name="maTinh" size="3" maxlength="2" inputmode="numeric" pattern="[0-9]{2}" required></label>`}
  <button type="submit"${action === 'resume' ? html` class="secondary"` : ''}>${label}</button></form>`;
    return send(reply, request, { title: 'Điều phối gửi BHXH', section: '/dispatch', notice: noticeOf(request.query) }, html`
<div class="cards">
  <div class="card">Lượt gửi tới<strong>${when(nextRunAt)}</strong></div>
  <div class="card">Cầu dao<strong>${BREAKER_NAMES[services.dispatcher.breakerState]}</strong></div>
  ${TRANSFER_STATUSES.filter((status) => counts[status]).map((status) => html`<div class="card">${statusName(status)}<strong>${counts[status]}</strong></div>`)}
</div>
<form class="inline" method="post" action="${CONSOLE_PREFIX}/dispatch/run">${csrfField(csrfToken)}<button type="submit">Gửi ngay</button></form>
<h2>Tạm dừng theo tỉnh</h2>
${holdForm('pause', 'Tạm dừng')}
<table aria-label="Tỉnh đang tạm dừng"><thead><tr><th>Tỉnh đang tạm dừng</th><th></th></tr></thead><tbody>
${paused.length === 0 ? html`<tr><td colspan="2" class="muted">Không tỉnh nào.</td></tr>` : paused.map((maTinh) => html`<tr><td>${maTinh === '*' ? 'Tất cả các tỉnh' : maTinh}</td>
  <td>${(maTinh !== '*' || provinceScope(client) === undefined) && holdForm('resume', `Tiếp tục ${maTinh === '*' ? 'tất cả' : maTinh}`, maTinh === '*' ? undefined : maTinh)}</td></tr>`)}
</tbody></table>`);
  });

  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    app.post<{ Body: Form }>(`${CONSOLE_PREFIX}/dispatch/${action}`, { config: operator }, async (request, reply) => {
      const maTinh = text(request.body.maTinh);
      if (maTinh !== undefined && !PROVINCE.test(maTinh)) throw new GatewayError('VALIDATION_FAILED', 'Mã tỉnh gồm 2 chữ số.');
      await services.holds.set(sessionOf(request).client, maTinh, paused);
      return reply.redirect(`${CONSOLE_PREFIX}/dispatch?notice=${paused ? 'paused' : 'resumed'}`, 303);
    });
  }

  app.post(`${CONSOLE_PREFIX}/dispatch/run`, { config: operator }, async (request, reply) => {
    await services.dispatcher.requestRun(sessionOf(request).client.id);
    return reply.redirect(`${CONSOLE_PREFIX}/dispatch?notice=run`, 303);
  });

  app.get(`${CONSOLE_PREFIX}/backlog`, { config: anyone }, async (request, reply) => {
    const scope = provinceScope(sessionOf(request).client);
    const now = services.now();
    const calendar = services.catalogues.holidays;
    const [report, history] = await Promise.all([reads.backlog(calendar, now, scope), reads.backlogHistory(calendar, now, HISTORY_DAYS, scope)]);
    const waiting = (counts: Record<string, number>) => Object.entries(counts).filter(([status]) => !(FINAL_STATUSES as readonly string[]).includes(status)).reduce((sum, [, count]) => sum + count, 0);
    return send(reply, request, { title: 'Tồn đọng theo tỉnh', section: '/backlog' }, html`
<p>Quá hạn: nhận trước ${when(report.deadline)} mà chưa xong (5 ngày làm việc).</p>
<table><thead><tr><th>Tỉnh</th><th class="num">Đang chờ</th><th class="num">Quá hạn</th><th class="num">Quá hạn, BHXH chưa trả lời</th><th>Cũ nhất</th></tr></thead><tbody>
${report.provinces.length === 0 ? html`<tr><td colspan="5" class="muted">Không có hồ sơ.</td></tr>` : report.provinces.map((province) => html`<tr>
  <td>${province.maTinh}</td><td class="num">${waiting(province.counts)}</td><td class="num">${province.pastDeadline}</td>
  <td class="num">${province.awaitingBhxhPastDeadline}</td><td>${when(province.oldestWaiting)}</td></tr>`)}
</tbody></table>
<h2>Diễn biến ${HISTORY_DAYS} ngày</h2>
<p><span class="legend-waiting">━ đang chờ</span> · <span class="legend-overdue">╌ quá hạn</span></p>
${[...history.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([maTinh, series]) => html`<h3>Tỉnh ${maTinh}</h3>${backlogChart(maTinh, series)}`)}
`);
  });

  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/callbacks`, { config: operator }, async (request, reply) => {
    const { client, csrfToken } = sessionOf(request);
    const { items } = await services.callbacks.list(client, { state: 'failing', limit: 500 });
    const byClient = new Map<string, CallbackView[]>();
    for (const item of items) byClient.set(item.clientId, [...(byClient.get(item.clientId) ?? []), item]);
    return send(reply, request, { title: 'Thông báo trạng thái gửi không được', section: '/callbacks', notice: noticeOf(request.query) }, html`
<p class="muted">Thông báo (callback) mà hệ thống hộ tịch của đơn vị chưa nhận được; tự gửi lại theo lịch, hoặc gửi lại ngay.</p>
<table><thead><tr><th>Đơn vị nhận</th><th class="num">Số thông báo lỗi</th><th>Cũ nhất</th><th>Lỗi gần nhất</th><th>Thử lại lúc</th><th></th></tr></thead><tbody>
${byClient.size === 0 ? html`<tr><td colspan="6" class="muted">Không có thông báo nào bị lỗi.</td></tr>` : [...byClient.entries()].map(([clientId, failing]) => {
  const latest = failing.reduce((a, b) => ((a.lastAttemptAt ?? '') >= (b.lastAttemptAt ?? '') ? a : b));
  return html`<tr><td class="mono">${clientId}</td><td class="num">${failing.length}${failing.length === 500 && '+'}</td><td>${when(failing[0]?.at)}</td>
  <td>${latest.lastError ?? ''}</td><td>${when(latest.nextAttemptAt)}</td>
  <td><form class="inline" method="post" action="${CONSOLE_PREFIX}/callbacks/retry">${csrfField(csrfToken)}<input type="hidden" name="clientId" value="${clientId}"><button type="submit">Thử lại ngay</button></form></td></tr>`;
})}
</tbody></table>`);
  });

  app.post<{ Body: Form }>(`${CONSOLE_PREFIX}/callbacks/retry`, { config: operator }, async (request, reply) => {
    const clientId = text(request.body.clientId);
    if (clientId !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(clientId)) throw new GatewayError('VALIDATION_FAILED', 'Mã đơn vị không hợp lệ.');
    await services.callbacks.retry(sessionOf(request).client, clientId);
    return reply.redirect(`${CONSOLE_PREFIX}/callbacks?notice=retried`, 303);
  });

  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/audit`, { config: anyone }, async (request, reply) => {
    const verdict = request.query.verify === '1' ? await services.auditLog.verify() : null;
    return send(reply, request, { title: 'Nhật ký kiểm toán', section: '/audit' }, html`
<p>Mỗi sự kiện nhật ký nối với sự kiện trước bằng mã băm; kiểm tra tính lại toàn bộ chuỗi.</p>
<form method="get" action="${CONSOLE_PREFIX}/audit"><input type="hidden" name="verify" value="1"><button type="submit">Kiểm tra chuỗi</button></form>
${verdict && (verdict.ok
    ? html`<p class="notice" role="status">Chuỗi nguyên vẹn: ${verdict.events} sự kiện, đầu chuỗi <code>${verdict.head}</code>.</p>`
    : html`<p class="problem" role="alert">Chuỗi bị phá ở sự kiện #${verdict.brokenSeq} (${verdict.reason}); đã kiểm ${verdict.events} sự kiện.</p>`)}`);
  });
}

