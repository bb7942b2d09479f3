import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Role } from '../../src/auth/clients.js';
import { sameToken, type ConsoleSession, type ConsoleSessions } from '../../src/auth/console-sessions.js';
import type { ErrorCode } from '../../src/errors.js';
import { toGatewayError } from '../../src/http/error-handler.js';
import { ANYONE, saidByConsole } from './forms.js';
import { html } from './html.js';
import { CONSOLE_PREFIX, SECTIONS, mayUse, page } from './layout.js';
import { consoleSections, type SectionServices } from './sections.js';
import { CONSOLE_CSS } from './style.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Console pages: who may open it. Every console route says this or `consolePublic`. */
    consoleRoles?: readonly Role[];
    /** A console route open without a session: sign-in, the stylesheet, the page for a missing path. */
    consolePublic?: true;
  }
  interface FastifyRequest {
    consoleSession: ConsoleSession | null;
  }
}

export interface ConsoleOptions extends SectionServices {
  sessions: ConsoleSessions;
}

const SESSION_COOKIE = 'lienthong_console';
/** Double-submit token of the sign-in form, which has no session yet to tie a token to. */
const SIGN_IN_COOKIE = 'lienthong_console_signin';
const FORM_LIMIT = 64 * 1024;

/**
 * Nothing but the gateway itself: no script runs at all (the pages need none), no style is inline,
 * no other site may frame the console or receive its forms.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const pair of header.split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return undefined;
}

/** HttpOnly and SameSite=Strict always; Secure when the request came over TLS (TRUST_PROXY reads X-Forwarded-Proto). */
function cookie(request: FastifyRequest, name: string, value: string, maxAgeSeconds?: number): string {
  return [
    `${name}=${value}`, `Path=${CONSOLE_PREFIX}/`, 'HttpOnly', 'SameSite=Strict',
    ...(request.protocol === 'https' ? ['Secure'] : []),
    ...(maxAgeSeconds !== undefined ? [`Max-Age=${maxAgeSeconds}`] : []),
  ].join('; ');
}

/** Open without a session. */
const PUBLIC = { consolePublic: true } as const;

/**
 * Fails closed: a console route that says neither who may open it nor that anyone may is refused when
 * it is registered, so a page added without thought cannot be served to someone who has not signed in.
 */
export function requireAccessMarked(route: { url: string; config?: { consoleRoles?: readonly Role[]; consolePublic?: true } }): void {
  if (!route.config?.consoleRoles && !route.config?.consolePublic) {
    throw new Error(`Console route ${route.url} must name its roles (consoleRoles) or be marked consolePublic`);
  }
}

/** Only GET and HEAD are taken to change nothing; any other method must carry the session's CSRF token. */
export const mayChangeState = (method: string) => method !== 'GET' && method !== 'HEAD';

/** Why the console refused, in officers' words, by the error's stable code (src/errors.ts). */
const REFUSALS: Partial<Record<ErrorCode, string>> & { INTERNAL: string } = {
  UNAUTHORIZED: 'Cần đăng nhập.',
  FORBIDDEN: 'Khóa này không được làm việc này, hoặc hồ sơ không thuộc các tỉnh của khóa này.',
  NOT_FOUND: 'Không tìm thấy.',
  MALFORMED_BODY: 'Không đọc được biểu mẫu.',
  VALIDATION_FAILED: 'Dữ liệu nhập không hợp lệ.',
  UNSUPPORTED_MEDIA_TYPE: 'Biểu mẫu không đúng định dạng.',
  PAYLOAD_TOO_LARGE: 'Biểu mẫu quá lớn.',
  INVALID_STATE: 'Trạng thái hiện tại của hồ sơ không cho phép việc này.',
  METHOD_NOT_ALLOWED: 'Không dùng được cách gửi này.',
  UNAVAILABLE: 'Hệ thống tạm thời không phục vụ được; vui lòng thử lại sau.',
  INTERNAL: 'Có lỗi trong hệ thống; vui lòng thử lại sau.',
};

const MESSAGES = {
  signedOut: 'Đã đăng xuất.',
  ended: 'Phiên làm việc đã kết thúc. Vui lòng đăng nhập lại.',
  badKey: 'Khóa truy cập không đúng, hoặc không dành cho cán bộ vận hành hay kiểm toán.',
  badForm: 'Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại.',
} as const;

function signInPage(request: FastifyRequest, reply: FastifyReply, status: number, message?: { notice?: string; problem?: string }) {
  const token = randomBytes(24).toString('base64url');
  return reply.code(status).header('set-cookie', cookie(request, SIGN_IN_COOKIE, token)).type('text/html; charset=utf-8').send(page(
    { title: 'Đăng nhập', ...message },
    html`<form class="stack" method="post" action="${CONSOLE_PREFIX}/login">
  <input type="hidden" name="_csrf" value="${token}">
  <label>Khóa truy cập (API key)<input type="password" name="key" autocomplete="current-password" required></label>
  <button type="submit">Đăng nhập</button>
</form>
<p class="muted">Dành cho cán bộ vận hành (operator) và kiểm toán (auditor).</p>`,
  ));
}

/** The operators' and auditors' web console at /console/ (docs/API.md, "Console"). */
async function consoleRoutes(app: FastifyInstance, options: ConsoleOptions) {
  const { sessions } = options;
  app.decorateRequest('consoleSession', null);
  // Pages for people, not operations of the API: /docs leaves them out.
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true };
    requireAccessMarked(route);
  });

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    // Pages are never stored (they show personal data); the stylesheet says it may be.
    reply.headers({ ...SECURITY_HEADERS, ...(reply.hasHeader('cache-control') ? { 'cache-control': reply.getHeader('cache-control') } : {}) });
    return payload;
  });

  const problemPage = (reply: FastifyReply, status: number, title: string, problem: string, session?: ConsoleSession | null) =>
    reply.code(status).type('text/html; charset=utf-8').send(page({ title, problem, client: session?.client, csrfToken: session?.csrfToken }, html``));

  app.addHook('onRequest', async (request, reply) => {
    const roles = request.routeOptions.config.consoleRoles;
    if (!roles) return;
    const token = readCookie(request, SESSION_COOKIE);
    const session = token ? await sessions.resolve(token) : null;
    if (!session) {
      const to = token ? `${CONSOLE_PREFIX}/login?notice=ended` : `${CONSOLE_PREFIX}/login`;
      return reply.code(303).header('set-cookie', cookie(request, SESSION_COOKIE, '', 0)).redirect(to, 303);
    }
    request.consoleSession = session;
    if (!mayUse(session.client, roles)) {
      return problemPage(reply, 403, 'Không được phép', 'Vai trò của khóa này không được làm việc này.', session);
    }
  });

  // Every request that may change something carries the session's token: a form posted from elsewhere has none.
  app.addHook('preHandler', async (request, reply) => {
    const session = request.consoleSession;
    if (!session || !mayChangeState(request.method)) return;
    if (!sameToken(session.csrfToken, (request.body as Record<string, unknown> | undefined)?._csrf)) {
      return problemPage(reply, 403, 'Không được phép', MESSAGES.badForm, session);
    }
  });

  app.setErrorHandler(async (error, request, reply) => {
    const refusal = toGatewayError(error);
    if (refusal.status >= 500) request.log.error({ err: error }, 'console request failed');
    const titles: Record<number, string> = { 403: 'Không được phép', 404: 'Không tìm thấy', 409: 'Không thực hiện được' };
    // The services speak English to the API's clients; an officer reads the code's meaning, or what a page said itself.
    const said = saidByConsole(error) ? refusal.message : (REFUSALS[refusal.code as ErrorCode] ?? REFUSALS.INTERNAL);
    return problemPage(reply, refusal.status, titles[refusal.status] ?? 'Có lỗi xảy ra', said, request.consoleSession);
  });

  // A console path that names no page: the console's own 404, under its headers, not the API's JSON.
  app.all(`${CONSOLE_PREFIX}/*`, { config: PUBLIC }, async (_request, reply) => problemPage(reply, 404, 'Không tìm thấy', 'Không có trang này.'));

  app.get(`${CONSOLE_PREFIX}/assets/console.css`, { config: PUBLIC }, async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(CONSOLE_CSS));

  app.get(CONSOLE_PREFIX, { config: PUBLIC }, async (_request, reply) => reply.redirect(`${CONSOLE_PREFIX}/`, 308));
  app.get(`${CONSOLE_PREFIX}/`, { config: ANYONE }, async (request, reply) => {
    const client = (request.consoleSession as ConsoleSession).client;
    const first = SECTIONS.find((section) => mayUse(client, section.roles));
    return reply.redirect(`${CONSOLE_PREFIX}${first?.path ?? '/transfers'}`, 303);
  });

  app.get<{ Querystring: { notice?: unknown } }>(`${CONSOLE_PREFIX}/login`, { config: PUBLIC }, async (request, reply) => {
    const notice = request.query.notice === 'ended' ? MESSAGES.ended : request.query.notice === 'signedOut' ? MESSAGES.signedOut : undefined;
    return signInPage(request, reply, 200, { notice });
  });

  app.post<{ Body: Record<string, string> }>(`${CONSOLE_PREFIX}/login`, { config: PUBLIC }, async (request, reply) => {
    const expected = readCookie(request, SIGN_IN_COOKIE);
    if (!expected || !sameToken(expected, request.body?._csrf)) return signInPage(request, reply, 403, { problem: MESSAGES.badForm });
    const token = typeof request.body.key === 'string' ? await sessions.signIn(request.body.key.trim()) : null;
    if (!token) {
      // Never the key itself: only that a sign-in was refused, and from where.
      request.log.warn({ ip: request.ip }, 'console sign-in refused');
      return signInPage(request, reply, 401, { problem: MESSAGES.badKey });
    }
    // A session this browser had before ends here rather than linger until it expires.
    const earlier = readCookie(request, SESSION_COOKIE);
    if (earlier) await sessions.signOut(earlier);
    return reply
      .header('set-cookie', [cookie(request, SESSION_COOKIE, token), cookie(request, SIGN_IN_COOKIE, '', 0)])
      .redirect(`${CONSOLE_PREFIX}/`, 303);
  });

  app.post(`${CONSOLE_PREFIX}/logout`, { config: ANYONE }, async (request, reply) => {
    const token = readCookie(request, SESSION_COOKIE);
    if (token) await sessions.signOut(token);
    return reply.header('set-cookie', cookie(request, SESSION_COOKIE, '', 0)).redirect(`${CONSOLE_PREFIX}/login?notice=signedOut`, 303);
  });

  consoleSections(app, options);
}

export const consolePlugin = fp(consoleRoutes, { name: 'lienthong-console', fastify: '5.x', encapsulate: true });
