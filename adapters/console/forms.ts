import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleSession } from '../../src/auth/console-sessions.js';
import type { TransferStatus } from '../../src/domain/transfer-status.js';
import { GatewayError, type ErrorCode } from '../../src/errors.js';
import { TRANSFER_TYPES } from '../../src/messages/registry.js';
import { html, type Html } from './html.js';
import { CONSOLE_PREFIX, csrfField, page, statusName, type PageOptions } from './layout.js';

/** What the console's pages share: reading their forms and filters, answering with a page. */

/** Who may open a page. */
export const ANYONE = { consoleRoles: ['operator', 'auditor'] as const };
export const OPERATOR = { consoleRoles: ['operator'] as const };

/** As fastify parses them: a repeated parameter arrives as an array, so a value is read with `text()`. */
export type Query = Record<string, string | string[] | undefined>;
export type Form = Record<string, string | string[] | undefined>;

export const PAGE_SIZE = 50;
const DAY_MS = 24 * 3600_000;
const REASON_MIN = 3;
const REASON_MAX = 1000;

const CONSOLE_WORDS = new WeakSet<GatewayError>();

/** A refusal a page words itself, in Vietnamese, shown as it is (others are shown by their code). */
export function refusal(code: ErrorCode, vietnamese: string): GatewayError {
  const error = new GatewayError(code, vietnamese);
  CONSOLE_WORDS.add(error);
  return error;
}

export const saidByConsole = (error: unknown) => error instanceof GatewayError && CONSOLE_WORDS.has(error);

export const sessionOf = (request: FastifyRequest) => request.consoleSession as ConsoleSession;

export function send(reply: FastifyReply, request: FastifyRequest, options: PageOptions, body: Html, status = 200) {
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
  linked: 'Đã gắn hồ sơ một cửa vào khai sinh này.',
  dossierClosed: 'Đã đóng hồ sơ một cửa.',
};

export const noticeOf = (query: Query) => {
  const notice = text(query.notice);
  return notice && Object.hasOwn(NOTICES, notice) ? NOTICES[notice] : undefined;
};

/** A parameter's text, or undefined when it is missing, blank or not one string (`?status=a&status=b`). */
export const text = (value: unknown) => {
  const trimmed = typeof value === 'string' ? value.trim() : undefined;
  return trimmed ? trimmed : undefined;
};

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
export const PROVINCE = /^\d{2}$/;

/** Years a registration's date can have; year 1's first hour is year 0 in UTC, which PostgreSQL refuses. */
const FIRST_YEAR = 1900;

/**
 * A calendar date that exists: Date.parse rolls 2024-02-31 over to 2 March and takes year 0, which
 * then fails in PostgreSQL, so the parts are rebuilt and compared.
 */
export function isCalendarDate(value: string): boolean {
  const parts = DATE.exec(value);
  if (!parts) return false;
  const [year, month, day] = parts.slice(1).map(Number) as [number, number, number];
  if (year < FIRST_YEAR) return false;
  const date = new Date(Date.UTC(year, month - 1, day));
  date.setUTCFullYear(year);
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** The start of a Vietnamese calendar day, or of the day after (an inclusive "to"). */
export function dayStart(date: string, dayAfter = false): string {
  return new Date(Date.parse(`${date}T00:00:00+07:00`) + (dayAfter ? DAY_MS : 0)).toISOString();
}

export interface TransferFilterForm {
  status?: TransferStatus;
  unit?: string;
  type?: (typeof TRANSFER_TYPES)[number];
  from?: string;
  to?: string;
  errorCode?: string;
}

/** The list's filter as typed, kept only where it is well formed; what is not is named back. */
export function readFilter(query: Query, statuses: readonly string[]): { filter: TransferFilterForm; problems: string[] } {
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
    if (date) isCalendarDate(date) ? (filter[field] = date) : problems.push('Ngày không hợp lệ.');
  }
  const errorCode = text(query.errorCode);
  if (errorCode) errorCode.length <= 64 ? (filter.errorCode = errorCode) : problems.push('Mã lỗi quá dài.');
  return { filter, problems };
}

export function filterQuery(filter: TransferFilterForm, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries({ ...filter, ...extra })) if (value) params.set(name, value);
  const query = params.toString();
  return query ? `?${query}` : '';
}

const option = (value: string, label: string, selected: string | undefined) =>
  html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;

export function filterFields(filter: TransferFilterForm, statuses: readonly string[], dateLabel: string, anyStatus: boolean): Html {
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

export const transferLink = (transferId: string) => html`<a href="${CONSOLE_PREFIX}/transfers/${encodeURIComponent(transferId)}">${transferId}</a>`;

export function errorCodes(errors: unknown[]): string {
  return errors.map((error) => String((error as { MA_LOI?: unknown }).MA_LOI ?? '')).filter(Boolean).join(', ');
}

export const json = (value: unknown) => html`<pre>${JSON.stringify(value, null, 2)}</pre>`;

export function readReason(form: Form): { reason?: string; problem?: string } {
  const reason = text(form.reason);
  if (!reason || reason.length < REASON_MIN) return { problem: `Cần ghi lý do (ít nhất ${REASON_MIN} ký tự).` };
  if (reason.length > REASON_MAX) return { problem: `Lý do dài quá ${REASON_MAX} ký tự.` };
  return { reason };
}

export const reasonForm = (action: string, csrfToken: string, hidden: Html, problem?: string, reason?: string) => html`
<form class="stack" method="post" action="${action}">
  ${csrfField(csrfToken)}${hidden}
  ${problem && html`<p class="problem" role="alert">${problem}</p>`}
  <label>Lý do<textarea name="reason" required minlength="${REASON_MIN}" maxlength="${REASON_MAX}">${reason ?? ''}</textarea></label>
  <button type="submit">Xác nhận</button>
</form>`;


/** Batch statuses and breaker states in officers' words. */
export const BATCH_STATUS_NAMES: Record<string, string> = {
  open: 'đang mở', delivered: 'đã giao', closed: 'đã xong', failed: 'không gửi được', expired: 'hết hạn nhận', released: 'trả lại hàng chờ',
};
export const BREAKER_NAMES: Record<string, string> = { closed: 'đóng (gửi bình thường)', halfOpen: 'nửa mở (đang thử lại)', open: 'mở (tạm ngừng gửi)', disabled: 'không dùng' };
