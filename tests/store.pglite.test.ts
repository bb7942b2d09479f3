import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../src/auth/clients.js';
import { Catalogues } from '../src/catalogues/catalogues.js';
import { loadConfig } from '../src/config.js';
import { IntakeService } from '../src/intake/intake-service.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { migrate } from '../src/store/migrate.js';
import { findTransfer } from '../src/store/transfers.js';
import { khaiSinh, TEST_NOW } from './support/fixtures.js';

const client: ApiClient = { id: 'hotich-08', roles: ['registry'], units: ['08'] };
let dataDir: string;
let db: Database;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'lienthong-pglite-'));
  db = await openDatabase({ dataDir });
});
afterAll(async () => {
  await db?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the embedded PGlite store', () => {
  it('runs the same migrations as PostgreSQL, once', async () => {
    expect(db.kind).toBe('pglite');
    const files = readdirSync(new URL('../src/store/migrations/', import.meta.url)).filter((name) => name.endsWith('.sql')).sort();
    expect(files.length).toBeGreaterThan(0);
    expect(await migrate(db)).toEqual(files);
    expect(await migrate(db)).toEqual([]);
  });

  it('accepts births idempotently, refuses duplicates and keeps a verifiable chain', async () => {
    const config = loadConfig({});
    const intake = new IntakeService({ db, catalogues: Catalogues.fromFiles({ units: config.unitsFile, facilities: config.facilitiesFile }), now: () => TEST_NOW });
    const doc = khaiSinh();
    const first = await intake.accept('KhaiSinh', doc, client, 'rest-json');
    expect(first.statusCode).toBe(202);
    expect(await intake.accept('KhaiSinh', doc, client, 'rest-json')).toEqual({ statusCode: 200, answer: first.answer });
    await expect(intake.accept('KhaiSinh', { ...doc, messageId: 'other' }, client, 'rest-json')).rejects.toMatchObject({ code: 'DUPLICATE_PERSON' });
    await Promise.all(Array.from({ length: 10 }, () => intake.accept('KhaiSinh', khaiSinh(), client, 'rest-json')));
    expect((await findTransfer(db, first.answer.transferId))?.status).toBe('queued');
    expect(await verifyAuditLog(db)).toMatchObject({ ok: true, events: 11 });
    await expect(db.query('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
  });
});
