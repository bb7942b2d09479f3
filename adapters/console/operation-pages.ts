import type { FastifyInstance } from 'fastify';
import { actsForProvince, provinceScope } from '../../src/auth/clients.js';
import type { BatchStatus } from '../../src/dispatch/batch-overview.js';
import { TRANSFER_STATUSES } from '../../src/domain/transfer-status.js';
import { OPERATOR, BATCH_STATUS_NAMES, BREAKER_NAMES, type Form, type Query, PROVINCE, noticeOf, refusal, send, sessionOf, text } from './forms.js';
import { html } from './html.js';
import { CONSOLE_PREFIX, csrfField, statusName, when } from './layout.js';
import type { SectionServices } from './sections.js';

/** What operators steer: batches, dispatch (run, hold, release) and failing callbacks. */
export function operationPages(app: FastifyInstance, services: SectionServices): void {
  const { reads } = services;
  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/batches`, { config: OPERATOR }, async (request, reply) => {
    const wanted = text(request.query.status);
    const status = wanted && wanted in BATCH_STATUS_NAMES ? (wanted as BatchStatus) : undefined;
    const list = await services.batches.recent(sessionOf(request).client, { status, limit: 100 });
    return send(reply, request, { title: 'Lô gửi BHXH', section: '/batches' }, html`
<p>Cầu dao (circuit breaker): <strong>${BREAKER_NAMES[services.dispatcher.breakerState]}</strong></p>
<form class="filters" method="get" action="${CONSOLE_PREFIX}/batches">
  <label>Trạng thái lô<select name="status"><option value="">Tất cả</option>
    ${Object.entries(BATCH_STATUS_NAMES).map(([value, label]) => html`<option value="${value}"${value === status ? html` selected` : ''}>${label}</option>`)}
  </select></label>
  <button type="submit">Lọc</button>
</form>
<p class="muted">100 lô mới nhất.</p>
<table><thead><tr><th>Lô</th><th>Tỉnh</th><th>Loại</th><th>Cách</th><th>Trạng thái</th><th class="num">Số hồ sơ</th><th class="num">Lần thử</th><th>Lỗi gần nhất</th><th>Lập lúc</th><th>Giao lúc</th></tr></thead><tbody>
${list.length === 0 ? html`<tr><td colspan="10" class="muted">Chưa có lô nào.</td></tr>` : list.map((batch) => html`<tr>
  <td class="mono">${batch.id}</td><td>${batch.maTinh}</td><td>${batch.loai}</td><td>${batch.mode}</td><td>${BATCH_STATUS_NAMES[batch.status] ?? batch.status}</td>
  <td class="num">${batch.recordCount}</td><td class="num">${batch.attempts}</td><td>${batch.lastError ?? ''}</td><td>${when(batch.createdAt)}</td><td>${when(batch.deliveredAt)}</td></tr>`)}
</tbody></table>`);
  });

  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/dispatch`, { config: OPERATOR }, async (request, reply) => {
    const { client, csrfToken } = sessionOf(request);
    const scope = provinceScope(client);
    const [nextRunAt, held, counts] = await Promise.all([services.dispatcher.nextRunAt(), services.holds.list(), reads.countByStatus(scope)]);
    // An operator of some provinces sees the holds that stop them: their own and the one on every province.
    const paused = held.filter((maTinh) => maTinh === '*' || actsForProvince(client, maTinh));
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
    app.post<{ Body: Form }>(`${CONSOLE_PREFIX}/dispatch/${action}`, { config: OPERATOR }, async (request, reply) => {
      const maTinh = text(request.body.maTinh);
      if (maTinh !== undefined && !PROVINCE.test(maTinh)) throw refusal('VALIDATION_FAILED', 'Mã tỉnh gồm 2 chữ số.');
      await services.holds.set(sessionOf(request).client, maTinh, paused);
      return reply.redirect(`${CONSOLE_PREFIX}/dispatch?notice=${paused ? 'paused' : 'resumed'}`, 303);
    });
  }

  app.post(`${CONSOLE_PREFIX}/dispatch/run`, { config: OPERATOR }, async (request, reply) => {
    await services.dispatcher.requestRun(sessionOf(request).client.id);
    return reply.redirect(`${CONSOLE_PREFIX}/dispatch?notice=run`, 303);
  });

  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/callbacks`, { config: OPERATOR }, async (request, reply) => {
    const { client, csrfToken } = sessionOf(request);
    const failing = await services.callbackFailures.byClient(client);
    return send(reply, request, { title: 'Thông báo trạng thái gửi không được', section: '/callbacks', notice: noticeOf(request.query) }, html`
<p class="muted">Thông báo (callback) mà hệ thống hộ tịch của đơn vị chưa nhận được; tự gửi lại theo lịch, hoặc gửi lại ngay.</p>
<table><thead><tr><th>Đơn vị nhận</th><th class="num">Số thông báo lỗi</th><th>Cũ nhất</th><th>Lỗi gần nhất</th><th>Thử lại lúc</th><th></th></tr></thead><tbody>
${failing.length === 0 ? html`<tr><td colspan="6" class="muted">Không có thông báo nào bị lỗi.</td></tr>` : failing.map((line) => html`<tr>
  <td class="mono">${line.clientId}</td><td class="num">${line.failing}</td><td>${when(line.oldestAt)}</td>
  <td>${line.latestError ?? ''}</td><td>${when(line.nextAttemptAt)}</td>
  <td><form class="inline" method="post" action="${CONSOLE_PREFIX}/callbacks/retry">${csrfField(csrfToken)}<input type="hidden" name="clientId" value="${line.clientId}"><button type="submit">Thử lại ngay</button></form></td></tr>`)}
</tbody></table>`);
  });

  app.post<{ Body: Form }>(`${CONSOLE_PREFIX}/callbacks/retry`, { config: OPERATOR }, async (request, reply) => {
    const clientId = text(request.body.clientId);
    if (clientId !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(clientId)) throw refusal('VALIDATION_FAILED', 'Mã đơn vị không hợp lệ.');
    await services.callbacks.retry(sessionOf(request).client, clientId);
    return reply.redirect(`${CONSOLE_PREFIX}/callbacks?notice=retried`, 303);
  });
}
