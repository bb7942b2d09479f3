import type { FastifyInstance } from 'fastify';
import { provinceScope } from '../../src/auth/clients.js';
import { toIsoDate, todayInVietnam } from '../../src/domain/calendar-date.js';
import type { LyDoCapLai } from '../../src/domain/documents.js';
import { OPERATOR, sessionOf, send, transferLink } from './forms.js';
import { html } from './html.js';
import { CONSOLE_PREFIX, statusBadge, when } from './layout.js';
import type { SectionServices } from './sections.js';

const SHOWN = 200;
const REASON_NAMES: Record<LyDoCapLai, string> = { mat: 'mất thẻ', hong: 'hỏng thẻ', thay_doi_thong_tin: 'thay đổi thông tin' };

/** YYYY-MM-DD as officers write a day. */
const day = (iso: string) => `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)}`;

/** Card re-issues and changes still open, by their due date (hanTra); those past it stand out. */
export function reissuePages(app: FastifyInstance, services: SectionServices): void {
  app.get(`${CONSOLE_PREFIX}/reissues`, { config: OPERATOR }, async (request, reply) => {
    const requests = await services.reads.openDue(provinceScope(sessionOf(request).client), SHOWN);
    const today = toIsoDate(todayInVietnam(services.now()));
    const overdue = requests.filter((transfer) => (transfer.dueOn as string) < today).length;
    return send(reply, request, { title: 'Cấp lại, đổi thẻ BHYT', section: '/reissues' }, html`
<p>Yêu cầu cấp lại hoặc đổi thẻ chưa xong, hạn trả (hanTra) sớm nhất trước${requests.length === SHOWN && html` (${SHOWN} yêu cầu đầu)`}. Hôm nay ${day(today)}:
  <strong>${overdue}</strong> yêu cầu quá hạn trả.</p>
<table aria-label="Yêu cầu cấp lại, đổi thẻ"><thead><tr><th>Hồ sơ</th><th>Tỉnh</th><th>Lý do</th><th>Trạng thái</th><th>Hạn trả</th><th>Nhận lúc</th></tr></thead><tbody>
${requests.length === 0 ? html`<tr><td colspan="6" class="muted">Không có yêu cầu nào đang chờ.</td></tr>` : requests.map((transfer) => {
  const late = (transfer.dueOn as string) < today;
  return html`<tr${late ? html` class="overdue"` : ''}>
  <td class="mono">${transferLink(transfer.id)}</td><td>${transfer.maTinh}</td><td>${REASON_NAMES[transfer.reason as LyDoCapLai] ?? transfer.reason ?? ''}</td>
  <td>${statusBadge(transfer.status)}</td><td>${day(transfer.dueOn as string)}${late && html` <strong class="late">quá hạn</strong>`}${transfer.dueOn === today && html` <span class="muted">hôm nay</span>`}</td>
  <td>${when(transfer.createdAt)}</td></tr>`;
})}
</tbody></table>`);
  });
}
