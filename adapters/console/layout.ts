import type { ApiClient, Role } from '../../src/auth/clients.js';
import { TRANSFER_STATES, type TransferStatus } from '../../src/domain/transfer-status.js';
import { html, type Html } from './html.js';

export const CONSOLE_PREFIX = '/console';

/**
 * The console's sections, in menu order, and who sees each. A new section (lists, re-issues) is an
 * entry here and its routes.
 */
export const SECTIONS: ReadonlyArray<{ path: string; label: string; roles: readonly Role[] }> = [
  { path: '/transfers', label: 'Hồ sơ', roles: ['operator', 'auditor'] },
  { path: '/replay', label: 'Gửi lại hàng loạt', roles: ['operator'] },
  { path: '/batches', label: 'Lô gửi', roles: ['operator'] },
  { path: '/dispatch', label: 'Điều phối', roles: ['operator'] },
  { path: '/backlog', label: 'Tồn đọng', roles: ['operator'] },
  { path: '/callbacks', label: 'Thông báo lỗi', roles: ['operator'] },
  { path: '/dossiers', label: 'Một cửa chờ', roles: ['operator'] },
  { path: '/reissues', label: 'Cấp lại thẻ', roles: ['operator'] },
  { path: '/lists', label: 'Danh sách D03', roles: ['operator'] },
  { path: '/audit', label: 'Nhật ký', roles: ['operator', 'auditor'] },
];

export const mayUse = (client: ApiClient, roles: readonly Role[]) => roles.some((role) => client.roles.includes(role));

export interface PageOptions {
  title: string;
  /** The section to mark as current. */
  section?: string;
  client?: ApiClient;
  csrfToken?: string;
  notice?: string;
  problem?: string;
  /** Reload every this many seconds (a bulk replay's progress), with no script. */
  refreshSeconds?: number;
}

export function page(options: PageOptions, body: Html): string {
  const { client, csrfToken } = options;
  return `<!doctype html>${html`<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${options.refreshSeconds ? html`<meta http-equiv="refresh" content="${options.refreshSeconds}">` : ''}
<title>${options.title} · Liên thông</title>
<link rel="stylesheet" href="${CONSOLE_PREFIX}/assets/console.css">
</head>
<body>
<header>
  <span class="brand">Liên thông hộ tịch – BHXH</span>
  ${client && html`<nav aria-label="Mục">
    ${SECTIONS.filter((section) => mayUse(client, section.roles)).map((section) => html`<a href="${CONSOLE_PREFIX}${section.path}"${section.path === options.section ? html` aria-current="page"` : ''}>${section.label}</a>`)}
  </nav>
  <span class="who">${client.id} (${client.roles.join(', ')})</span>
  <form method="post" action="${CONSOLE_PREFIX}/logout">${csrfField(csrfToken ?? '')}<button type="submit">Đăng xuất</button></form>`}
</header>
<main>
<h1>${options.title}</h1>
${options.notice && html`<p class="notice" role="status">${options.notice}</p>`}
${options.problem && html`<p class="problem" role="alert">${options.problem}</p>`}
${body}
</main>
</body>
</html>`}`;
}

export const csrfField = (token: string) => html`<input type="hidden" name="_csrf" value="${token}">`;

export const statusName = (status: string) => TRANSFER_STATES[status as TransferStatus]?.vietnamese ?? status;

export const statusBadge = (status: string) => html`<span class="status status-${status}">${statusName(status)}</span>`;

const VIETNAM_OFFSET_MS = 7 * 3600_000;

/** A time as officers read it: Vietnam's clock, to the second. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const local = new Date(new Date(iso).getTime() + VIETNAM_OFFSET_MS).toISOString();
  return `${local.slice(8, 10)}/${local.slice(5, 7)}/${local.slice(0, 4)} ${local.slice(11, 19)}`;
}
