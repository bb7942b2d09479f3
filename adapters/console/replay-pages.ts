import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ReplayFilter } from '../../src/transfers/replays.js';
import { REPLAYABLE_STATUSES } from '../../src/domain/transfer-status.js';
import { OPERATOR, type Form, type Query, type TransferFilterForm, dayStart, filterFields, readFilter, readReason, reasonForm, refusal, send, sessionOf, text, transferLink } from './forms.js';
import { html } from './html.js';
import { CONSOLE_PREFIX, when } from './layout.js';
import type { SectionServices } from './sections.js';

/** Bulk replay: a filter, its dry run, the confirmation with a reason, and the job's progress. */
export function bulkReplayPages(app: FastifyInstance, services: SectionServices): void {
  const { replays } = services;
  const bulkFilter = (filter: TransferFilterForm): ReplayFilter => ({
    status: filter.status as ReplayFilter['status'], unit: filter.unit, type: filter.type, errorCode: filter.errorCode,
    from: filter.from && dayStart(filter.from), to: filter.to && dayStart(filter.to, true),
  });

  const bulkPage = async (request: FastifyRequest, reply: FastifyReply, query: Query, problem?: string) => {
    const { client, csrfToken } = sessionOf(request);
    const { filter, problems } = readFilter({ status: 'failed', ...query }, REPLAYABLE_STATUSES);
    if (filter.unit && !client.units.includes('*') && !client.units.includes(filter.unit)) problems.push(`Tỉnh ${filter.unit} không thuộc phạm vi của khóa này.`);
    const preview = text(query.preview) === '1' && problems.length === 0 ? await replays.preview(bulkFilter(filter), client) : null;
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
  ${preview.matched > 0 && reasonForm(`${CONSOLE_PREFIX}/replay`, csrfToken, hidden, undefined, text(query.reason))}
</section>`}`, problem ? 400 : 200);
  };

  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/replay`, { config: OPERATOR }, async (request, reply) => bulkPage(request, reply, request.query));

  app.post<{ Body: Form }>(`${CONSOLE_PREFIX}/replay`, { config: OPERATOR }, async (request, reply) => {
    const { client } = sessionOf(request);
    const { filter, problems } = readFilter({ status: 'failed', ...request.body }, REPLAYABLE_STATUSES);
    const { reason, problem } = readReason(request.body);
    if (!reason || problems.length > 0) return bulkPage(request, reply, { ...request.body, preview: '1' }, [problem, ...problems].filter(Boolean).join(' '));
    if (filter.unit && !client.units.includes('*') && !client.units.includes(filter.unit)) throw refusal('FORBIDDEN', `Tỉnh ${filter.unit} không thuộc phạm vi của khóa này.`);
    const { jobId } = await replays.startBulk(bulkFilter(filter), reason, client);
    return reply.redirect(`${CONSOLE_PREFIX}/replay/${encodeURIComponent(jobId)}`, 303);
  });

  app.get<{ Params: { jobId: string } }>(`${CONSOLE_PREFIX}/replay/:jobId`, { config: OPERATOR }, async (request, reply) => {
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
}
