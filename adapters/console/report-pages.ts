import type { FastifyInstance } from 'fastify';
import { provinceScope } from '../../src/auth/clients.js';
import type { BacklogDay } from '../../src/transfers/backlog-report.js';
import { FINAL_STATUSES } from '../../src/domain/transfer-status.js';
import { ANYONE, OPERATOR, type Query, send, sessionOf, text } from './forms.js';
import { html, type Html } from './html.js';
import { CONSOLE_PREFIX, when } from './layout.js';
import type { SectionServices } from './sections.js';

const HISTORY_DAYS = 14;

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

/** Reports: the backlog over time (operators, as the backlog report) and the audit chain's verification (both roles). */
export function reportPages(app: FastifyInstance, services: SectionServices): void {
  const { reads } = services;
  app.get(`${CONSOLE_PREFIX}/backlog`, { config: OPERATOR }, async (request, reply) => {
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

  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/audit`, { config: ANYONE }, async (request, reply) => {
    const verdict = text(request.query.verify) === '1' ? await services.auditLog.verify() : null;
    return send(reply, request, { title: 'Nhật ký kiểm toán', section: '/audit' }, html`
<p>Mỗi sự kiện nhật ký nối với sự kiện trước bằng mã băm; kiểm tra tính lại toàn bộ chuỗi.</p>
<form method="get" action="${CONSOLE_PREFIX}/audit"><input type="hidden" name="verify" value="1"><button type="submit">Kiểm tra chuỗi</button></form>
${verdict && (verdict.ok
    ? html`<p class="notice" role="status">Chuỗi nguyên vẹn: ${verdict.events} sự kiện, đầu chuỗi <code>${verdict.head}</code>.</p>`
    : html`<p class="problem" role="alert">Chuỗi bị phá${verdict.brokenSeq !== undefined && html` ở sự kiện #${verdict.brokenSeq}`} (${verdict.reason}); đã kiểm ${verdict.events} sự kiện.</p>`)}`);
  });
}
