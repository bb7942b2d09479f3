import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../src/errors.js';
import { MESSAGE_TYPES } from '../../src/messages/registry.js';
import { OPERATOR, type Form, type Query, noticeOf, readReason, refusal, send, sessionOf, text, transferLink } from './forms.js';
import { html } from './html.js';
import { CONSOLE_PREFIX, csrfField, statusBadge, when } from './layout.js';
import type { SectionServices } from './sections.js';

const PAGE = 50;
const MAX_DAYS = 3650;
const MODULES: Record<string, string> = { KS: 'khai sinh (KS)', KT: 'khai tử (KT)' };

/** Why a link was refused, in officers' words, by the detail the service names (docs/API.md, "Stale one-stop dossiers"). */
const LINK_REFUSALS: Record<string, string> = {
  PROVINCE_MISMATCH: 'Hồ sơ khai sinh và hồ sơ một cửa thuộc hai tỉnh khác nhau.',
  PERSON_MISMATCH: 'Hồ sơ một cửa ghi số định danh của một trẻ khác.',
  MAXITEMS: 'Gộp vào thì khai sinh có quá số tệp đính kèm BHXH nhận.',
  NOT_FOUND: 'Không có hồ sơ khai sinh với mã này trong các tỉnh của khóa.',
};
const STATE_REFUSAL = 'Chỉ gắn được hồ sơ một cửa khai sinh (KS) đang chờ; hồ sơ này không còn chờ hoặc là hồ sơ khai tử.';
const RULE_REFUSAL = 'Khai sinh sau khi gộp không đạt điều kiện (tuổi, đơn vị hoặc dữ liệu); không có gì thay đổi.';

/** One-stop dossiers that never found their record: operators see them, link one to its birth or close it, with a reason. */
export function dossierPages(app: FastifyInstance, services: SectionServices): void {
  const { dossiers, reads } = services;

  app.get<{ Querystring: Query }>(`${CONSOLE_PREFIX}/dossiers`, { config: OPERATOR }, async (request, reply) => {
    const { client } = sessionOf(request);
    const typed = text(request.query.olderThanDays);
    const days = typed === undefined ? services.staleAfterDays : /^\d{1,4}$/.test(typed) && Number(typed) <= MAX_DAYS ? Number(typed) : null;
    const after = text(request.query.after);
    const page = await dossiers.list(client, { olderThanDays: days ?? services.staleAfterDays, limit: PAGE, after: after && after.length <= 64 ? after : undefined });
    const olderThan = (value: number, extra = '') => `${CONSOLE_PREFIX}/dossiers?olderThanDays=${value}${extra}`;
    return send(reply, request, {
      title: 'Hồ sơ một cửa chờ lâu', section: '/dossiers', notice: noticeOf(request.query),
      problem: days === null ? `Số ngày là số nguyên từ 0 đến ${MAX_DAYS}.` : undefined,
    }, html`
<p class="muted">Hồ sơ một cửa đến trước hồ sơ hộ tịch của nó và vẫn đang chờ: gắn vào khai sinh của trẻ, hoặc đóng nếu hồ sơ hộ tịch sẽ không đến. Tệp đính kèm bị xóa sau thời hạn lưu giữ.</p>
<form class="filters" method="get" action="${CONSOLE_PREFIX}/dossiers">
  <label>Chờ quá (ngày)<input name="olderThanDays" value="${days ?? typed ?? ''}" size="5" inputmode="numeric" pattern="[0-9]{1,4}"></label>
  <button type="submit">Lọc</button>
</form>
<table aria-label="Hồ sơ một cửa chờ lâu"><thead><tr><th>Hồ sơ</th><th>Mã hồ sơ một cửa</th><th>Loại</th><th>Tỉnh / đơn vị</th><th>Gửi từ</th><th>Nhận lúc</th><th class="num">Tệp</th><th></th></tr></thead><tbody>
${page.items.length === 0 ? html`<tr><td colspan="8" class="muted">Không có hồ sơ nào chờ quá ${page.olderThanDays} ngày.</td></tr>` : page.items.map((dossier) => html`<tr>
  <td class="mono">${transferLink(dossier.transferId)}</td><td class="mono">${dossier.maHoSo ?? '—'}</td><td>${MODULES[dossier.module] ?? dossier.module}</td>
  <td>${dossier.maTinh} / ${dossier.maDonVi}</td><td class="mono">${dossier.clientId}</td><td>${when(dossier.createdAt)}</td>
  <td class="num">${dossier.files.length}${dossier.files.some((file) => file.purgedAt) && ' (đã xóa nội dung)'}</td>
  <td><a href="${CONSOLE_PREFIX}/dossiers/${encodeURIComponent(dossier.transferId)}">Gắn hoặc đóng</a></td></tr>`)}
</tbody></table>
<nav class="pager" aria-label="Trang">
  ${after && html`<a href="${olderThan(page.olderThanDays)}">Trang đầu</a>`}
  ${page.nextCursor && html`<a href="${olderThan(page.olderThanDays, `&after=${encodeURIComponent(page.nextCursor)}`)}">Trang sau</a>`}
</nav>`);
  });

  const settlePage = async (
    request: FastifyRequest<{ Params: { transferId: string } }>, reply: FastifyReply,
    problem?: { link?: string; close?: string }, typed: Form = {}, status = 400,
  ) => {
    const { client, csrfToken } = sessionOf(request);
    const dossier = await reads.detail(request.params.transferId, client);
    if (dossier.type !== MESSAGE_TYPES.HoSoMotCua.transferType) throw refusal('NOT_FOUND', 'Không có hồ sơ một cửa với mã này.');
    const path = `${CONSOLE_PREFIX}/dossiers/${encodeURIComponent(dossier.transferId)}`;
    const waiting = dossier.status === 'received';
    // Only a birth dossier (module KS) has a record an operator can name; a death's waits for its death.
    const linkable = waiting && (dossier.document as { module?: unknown } | null)?.module === 'KS';
    const reasonField = (value: unknown) => html`<label>Lý do<textarea name="reason" required minlength="3" maxlength="1000">${text(value) ?? ''}</textarea></label>`;
    return send(reply, request, { title: `Hồ sơ một cửa ${dossier.transferId}`, section: '/dossiers' }, html`
<p>Hồ sơ ${transferLink(dossier.transferId)}${dossier.maHoSo && html` (mã một cửa <span class="mono">${dossier.maHoSo}</span>)`}, tỉnh ${dossier.maTinh}, đang ${statusBadge(dossier.status)}, nhận lúc ${when(dossier.createdAt)}.</p>
${!waiting && html`<p class="muted">Hồ sơ không còn chờ: không gắn hay đóng được nữa.</p>`}
${linkable && html`<h2>Gắn vào khai sinh</h2>
<p class="muted">Như khi khai sinh đến sau hồ sơ: tệp chuyển sang khai sinh, hồ sơ bổ sung những gì khai sinh còn thiếu, rồi hồ sơ một cửa thành "đã gộp".</p>
<form class="stack" method="post" action="${path}/link" aria-label="Gắn vào khai sinh">
  ${csrfField(csrfToken)}
  ${problem?.link && html`<p class="problem" role="alert">${problem.link}</p>`}
  <label>Mã hồ sơ khai sinh (transferId)<input name="birthTransferId" value="${text(typed.birthTransferId) ?? ''}" required maxlength="64" class="mono"></label>
  ${reasonField(problem?.link ? typed.reason : undefined)}
  <button type="submit">Gắn</button>
</form>`}
${waiting && html`<h2>Đóng hồ sơ</h2>
<p class="muted">Hồ sơ hộ tịch sẽ không đến (đăng ký nơi khác, sai mã hồ sơ…): hồ sơ thành "đã đóng"; tệp giữ đến hết thời hạn lưu giữ.</p>
<form class="stack" method="post" action="${path}/close" aria-label="Đóng hồ sơ">
  ${csrfField(csrfToken)}
  ${problem?.close && html`<p class="problem" role="alert">${problem.close}</p>`}
  ${reasonField(problem?.close ? typed.reason : undefined)}
  <button type="submit" class="secondary">Đóng</button>
</form>`}`, problem ? status : 200);
  };

  app.get<{ Params: { transferId: string } }>(`${CONSOLE_PREFIX}/dossiers/:transferId`, { config: OPERATOR }, async (request, reply) => settlePage(request, reply));

  app.post<{ Params: { transferId: string }; Body: Form }>(`${CONSOLE_PREFIX}/dossiers/:transferId/link`, { config: OPERATOR }, async (request, reply) => {
    const { reason, problem } = readReason(request.body);
    const birthId = text(request.body.birthTransferId);
    if (!reason || !birthId || birthId.length > 64) return settlePage(request, reply, { link: problem ?? 'Cần mã hồ sơ khai sinh.' }, request.body);
    const refused = await dossiers.link(sessionOf(request).client, request.params.transferId, birthId, reason).then(() => null, (error: unknown) => {
      if (!(error instanceof GatewayError)) throw error;
      const detail = error.details.find((entry) => entry.path === '/birthTransferId');
      if (detail) return { text: LINK_REFUSALS[detail.code] ?? RULE_REFUSAL, status: error.status };
      if (error.code === 'INVALID_STATE') return { text: STATE_REFUSAL, status: 409 };
      if (error.code === 'NOT_FOUND') throw error;
      return { text: RULE_REFUSAL, status: error.status };
    });
    if (refused) return settlePage(request, reply, { link: refused.text }, request.body, refused.status);
    return reply.redirect(`${CONSOLE_PREFIX}/transfers/${encodeURIComponent(birthId)}?notice=linked`, 303);
  });

  app.post<{ Params: { transferId: string }; Body: Form }>(`${CONSOLE_PREFIX}/dossiers/:transferId/close`, { config: OPERATOR }, async (request, reply) => {
    const { reason, problem } = readReason(request.body);
    if (!reason) return settlePage(request, reply, { close: problem }, request.body);
    const closed = await dossiers.close(sessionOf(request).client, request.params.transferId, reason).then(() => true, (error: unknown) => {
      if (error instanceof GatewayError && error.code === 'INVALID_STATE') return false;
      throw error;
    });
    if (!closed) return settlePage(request, reply, { close: 'Hồ sơ không còn chờ: không đóng được.' }, request.body, 409);
    return reply.redirect(`${CONSOLE_PREFIX}/dossiers?notice=dossierClosed`, 303);
  });
}
