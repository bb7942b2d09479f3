import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { deleteConsoleSession, findConsoleSession, insertConsoleSession } from '../store/console-sessions.js';
import type { Database } from '../store/database.js';
import { sha256OfKey, type ApiClient, type ClientRegistry, type Role } from './clients.js';

/** The roles the console signs in; the others have their own doors and no use for it. */
export const CONSOLE_ROLES: readonly Role[] = ['operator', 'auditor'];

export interface ConsoleSession {
  client: ApiClient;
  /** Every state-changing form carries it; tied to this session, so a form from elsewhere is refused. */
  csrfToken: string;
}

const digestOf = (token: string) => hash('sha256', token, 'hex');

/**
 * Console sign-in with an operator's or auditor's API key. The key is checked once and never kept;
 * the session holds its digest, and every request asks the clients as they are now whether the
 * client still holds that key, so a key taken out of the clients file (or rotated) ends its sessions
 * on their next request.
 */
export class ConsoleSessions {
  constructor(private readonly deps: { db: Database; clients: ClientRegistry; lifetimeMs: number }) {}

  /** A new session token for this key, or null when the key is unknown or not an operator's or auditor's. */
  async signIn(key: string): Promise<string | null> {
    const client = this.deps.clients.authenticate(key);
    if (!client || !client.roles.some((role) => CONSOLE_ROLES.includes(role))) return null;
    const token = randomBytes(32).toString('base64url');
    await insertConsoleSession(this.deps.db, digestOf(token), {
      clientId: client.id, keySha256: sha256OfKey(key), csrfToken: randomBytes(24).toString('base64url'),
      expiresAt: new Date(Date.now() + this.deps.lifetimeMs).toISOString(),
    });
    return token;
  }

  async resolve(token: string): Promise<ConsoleSession | null> {
    const stored = await findConsoleSession(this.deps.db, digestOf(token));
    if (!stored) return null;
    const client = this.deps.clients.stillHolding(stored.clientId, stored.keySha256);
    if (!client || !client.roles.some((role) => CONSOLE_ROLES.includes(role))) {
      await deleteConsoleSession(this.deps.db, digestOf(token));
      return null;
    }
    return { client, csrfToken: stored.csrfToken };
  }

  async signOut(token: string): Promise<void> {
    await deleteConsoleSession(this.deps.db, digestOf(token));
  }
}

/** Compares a submitted CSRF token with the session's without leaking where they differ. */
export function sameToken(expected: string, submitted: unknown): boolean {
  if (typeof submitted !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(submitted);
  return a.length === b.length && timingSafeEqual(a, b);
}
