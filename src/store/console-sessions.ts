import type { Queryable } from './database.js';

export interface StoredConsoleSession {
  clientId: string;
  keySha256: string;
  csrfToken: string;
  expiresAt: string;
}

export async function insertConsoleSession(db: Queryable, tokenSha256: string, session: StoredConsoleSession): Promise<void> {
  await db.query(
    'INSERT INTO console_sessions (token_sha256, client_id, key_sha256, csrf_token, expires_at) VALUES ($1, $2, $3, $4, $5)',
    [tokenSha256, session.clientId, session.keySha256, session.csrfToken, session.expiresAt],
  );
}

/** The session if it has not expired; expired ones are deleted on the way, a few at a time. */
export async function findConsoleSession(db: Queryable, tokenSha256: string): Promise<StoredConsoleSession | null> {
  await db.query('DELETE FROM console_sessions WHERE token_sha256 IN (SELECT token_sha256 FROM console_sessions WHERE expires_at <= now() LIMIT 100)');
  const { rows } = await db.query<{ client_id: string; key_sha256: string; csrf_token: string; expires_at: Date | string }>(
    'SELECT client_id, key_sha256, csrf_token, expires_at FROM console_sessions WHERE token_sha256 = $1 AND expires_at > now()',
    [tokenSha256],
  );
  const row = rows[0];
  return row ? { clientId: row.client_id, keySha256: row.key_sha256, csrfToken: row.csrf_token, expiresAt: new Date(row.expires_at).toISOString() } : null;
}

export async function deleteConsoleSession(db: Queryable, tokenSha256: string): Promise<void> {
  await db.query('DELETE FROM console_sessions WHERE token_sha256 = $1', [tokenSha256]);
}
