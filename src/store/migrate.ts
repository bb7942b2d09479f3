import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packagePath } from '../package-files.js';
import type { Database } from './database.js';

const migrationsDir = packagePath('src', 'store', 'migrations');

/**
 * Applies the numbered SQL files in `migrations/` that this database has not seen, all in one
 * transaction under an advisory lock, so several gateway processes starting together on one
 * PostgreSQL apply each file exactly once. PGlite runs the very same files.
 */
export async function migrate(db: Database): Promise<string[]> {
  const files = readdirSync(migrationsDir)
    .filter((name) => /^\d{3}_[a-z0-9_]+\.sql$/.test(name))
    .sort();
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(7411, hashtext(current_schema()))');
    await tx.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await tx.query<{ version: string }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((row) => row.version));
    const pending = files.filter((file) => !applied.has(file));
    for (const file of pending) {
      await tx.exec(readFileSync(join(migrationsDir, file), 'utf8'));
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [file]);
    }
    return pending;
  });
}
