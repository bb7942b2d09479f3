import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KhaiSinh } from '../src/domain/documents.js';
import { StaleDossiers } from '../src/messages/dossier/stale.js';
import { attachment, clean, DOSSIER_ADDRESS, hoSoMotCua, khaiTu } from './support/death-fixtures.js';
import { khaiSinh, khaiSinhHaNoi, TEST_NOW } from './support/fixtures.js';
import { startTestGateway, TEST_CLIENTS, type ClientName, type TestGateway } from './support/gateway.js';

/**
 * One-stop dossiers that never find their record (docs/API.md, "Stale one-stop dossiers"): listed
 * after STALE_DOSSIER_DAYS, linked by an operator to their birth (the merge a birth does at intake)
 * or closed with a reason, their files' bytes purged after DOSSIER_ATTACHMENT_RETENTION_DAYS, each
 * step audited. The clock is moved, not waited for: the gateway's (and the sweep's) `now` is a
 * variable these tests set.
 */

// An operator of Tuyên Quang (08) alone, to see province scoping from both sides.
Object.assign(TEST_CLIENTS, { operator08: { id: 'ops-08-stale', roles: ['operator'], units: ['08'] } });
const OPERATOR_08 = 'operator08' as ClientName;

const DAY_MS = 86_400_000;
let clock = TEST_NOW;

/** Runs with the gateway's clock at `at`, and puts it back whatever happens. */
async function atClock<T>(at: Date, run: () => Promise<T>): Promise<T> {
  clock = at;
  try {
    return await run();
  } finally {
    clock = TEST_NOW;
  }
}
let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway({ now: () => clock, env: { STALE_DOSSIER_DAYS: '30', DOSSIER_ATTACHMENT_RETENTION_DAYS: '90' } });
});
afterAll(async () => {
  await gateway?.close();
});

/** Days after the rows' real arrival time (created_at is the database's clock). */
const daysFromNow = (days: number) => new Date(Date.now() + days * DAY_MS);

async function postDossier(overrides: Parameters<typeof hoSoMotCua>[0] = {}): Promise<string> {
  const response = await gateway.request('registry08b', { method: 'POST', url: '/ngsp/v1/mot-cua', payload: hoSoMotCua(overrides) as object });
  expect(response.statusCode, response.body).toBe(202);
  expect(response.json().status).toBe('received');
  return response.json().transferId;
}

async function postBirth(doc: KhaiSinh, as: ClientName = 'registry08'): Promise<string> {
  const response = await gateway.request(as, { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc as object });
  expect(response.statusCode, response.body).toBe(202);
  return response.json().transferId;
}

async function listStale(as: ClientName | null = 'operator', query = '') {
  return gateway.request(as, { method: 'GET', url: `/ops/v1/dossiers/stale${query}` });
}

async function staleIds(as: ClientName = 'operator', query = ''): Promise<string[]> {
  const response = await listStale(as, query);
  expect(response.statusCode, response.body).toBe(200);
  return response.json().items.map((item: { transferId: string }) => item.transferId);
}

async function statusOf(id: string): Promise<string> {
  const { rows } = await gateway.db.query<{ status: string }>('SELECT status FROM transfers WHERE id = $1', [id]);
  return rows[0]?.status as string;
}

async function eventsOf(id: string): Promise<Array<{ actor: string; action: string; fromStatus: string | null; toStatus: string | null; details: Record<string, any> | null }>> {
  const response = await gateway.request('auditor', { method: 'GET', url: `/audit/v1/events?transferId=${id}` });
  expect(response.statusCode).toBe(200);
  return response.json().events;
}

const post = (as: ClientName | null, url: string, payload: object) => gateway.request(as, { method: 'POST', url, payload });

/** A birth whose card goes to the declarant, who has no address: it waits for a dossier to supply one. */
const birthWaitingForAddress = () => clean(khaiSinh({
  bhyt: { noiDangKyKCB: '08001', nguoiGiamHoTheo: 'nguoi_di_khai', hinhThucNhanThe: 'buu_chinh' },
  hoTich: { nycSoDienThoai: undefined, nycNoiCuTru: undefined },
}));

describe('listing', () => {
  it('shows waiting dossiers older than the setting (or the days asked), with their files, to operators of their province', async () => {
    const file = attachment();
    const id = await postDossier({ fileDinhKem: [file.file] });
    expect(await staleIds()).not.toContain(id);

    await atClock(daysFromNow(31), async () => {
      const listed = (await listStale()).json();
      expect(listed.olderThanDays).toBe(30);
      expect(listed.items.find((item: { transferId: string }) => item.transferId === id)).toMatchObject({
        module: 'KS', maTinh: '08', clientId: 'motcua-08',
        files: [{ fileName: 'giay-khai-sinh.pdf', sha256: file.sha256, sizeBytes: expect.any(Number), purgedAt: null }],
      });
      expect(await staleIds('operator', '?olderThanDays=40')).not.toContain(id);
      expect(await staleIds(OPERATOR_08)).toContain(id);
      expect(await staleIds('operator01')).not.toContain(id);
      expect((await listStale('registry08')).statusCode).toBe(403);
      expect((await listStale('auditor')).statusCode).toBe(403);
      expect((await listStale(null)).statusCode).toBe(401);
      expect((await listStale('operator', '?olderThanDays=-1')).statusCode).toBe(400);
    });
  });
});

describe('closing', () => {
  it('a waiting dossier ends closed with the reason audited, and leaves the list', async () => {
    const id = await postDossier();
    const missingReason = await post('operator', `/ops/v1/dossiers/${id}/close`, {});
    expect(missingReason.statusCode).toBe(400);
    expect(await statusOf(id)).toBe('received');
    expect((await post('operator01', `/ops/v1/dossiers/${id}/close`, { reason: 'no birth will come' })).statusCode).toBe(404);
    expect((await post('registry08b', `/ops/v1/dossiers/${id}/close`, { reason: 'no birth will come' })).statusCode).toBe(403);

    const closed = await post('operator', `/ops/v1/dossiers/${id}/close`, { reason: 'the family registered the birth abroad' });
    expect(closed.statusCode, closed.body).toBe(200);
    expect(closed.json()).toMatchObject({ transferId: id, status: 'closed' });
    expect((await eventsOf(id)).at(-1)).toMatchObject({
      actor: 'ops-all', action: 'mot-cua.closed', fromStatus: 'received', toStatus: 'closed', details: { reason: 'the family registered the birth abroad' },
    });
    await atClock(daysFromNow(31), async () => expect(await staleIds()).not.toContain(id));

    const again = await post('operator', `/ops/v1/dossiers/${id}/close`, { reason: 'twice' });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('INVALID_STATE');
  });

  it('a birth cannot be closed as a dossier', async () => {
    const birthId = await postBirth(birthWaitingForAddress());
    expect((await post('operator', `/ops/v1/dossiers/${birthId}/close`, { reason: 'not a dossier' })).statusCode).toBe(404);
    expect(await statusOf(birthId)).toBe('received');
  });
});

describe('linking to a birth', () => {
  it('merges the dossier into the birth as at intake: address supplied, files moved, birth queued, both audited', async () => {
    const file = attachment();
    // No child's number and another dossier code: intake could not match the two.
    const dossierId = await postDossier({ fileDinhKem: [file.file] });
    const birthId = await postBirth(birthWaitingForAddress());
    expect(await statusOf(birthId)).toBe('received');

    const linked = await post('operator', `/ops/v1/dossiers/${dossierId}/link`, { birthTransferId: birthId, reason: 'same family, checked by phone' });
    expect(linked.statusCode, linked.body).toBe(200);
    const birth = linked.json();
    expect(birth).toMatchObject({ transferId: birthId, status: 'queued', missing: [] });
    expect(birth.document.hoTich.nycNoiCuTru).toEqual(DOSSIER_ADDRESS);
    expect(birth.bhxhDocument.TEP_DINH_KEM).toEqual([expect.objectContaining({ SHA256: file.sha256 })]);
    expect(await statusOf(dossierId)).toBe('merged');
    const { rows } = await gateway.db.query<{ transfer_id: string }>('SELECT transfer_id FROM attachments WHERE sha256 = $1', [file.sha256]);
    expect(rows).toEqual([{ transfer_id: birthId }]);
    expect((await eventsOf(dossierId)).at(-1)).toMatchObject({
      actor: 'ops-all', action: 'mot-cua.merged', toStatus: 'merged', details: { into: birthId, reason: 'same family, checked by phone' },
    });
    expect((await eventsOf(birthId)).at(-1)).toMatchObject({ actor: 'ops-all', action: 'mot-cua.applied', fromStatus: 'received', toStatus: 'queued' });

    const again = await post('operator', `/ops/v1/dossiers/${dossierId}/link`, { birthTransferId: birthId, reason: 'twice' });
    expect(again.statusCode).toBe(409);
  });

  it('takes its locks again when the birth\'s person changed while it waited for them', async () => {
    const dossierId = await postDossier();
    const birthId = await postBirth(birthWaitingForAddress());
    const { rows: [birthRow] } = await gateway.db.query<{ so_dinh_danh: string }>('SELECT so_dinh_danh FROM transfers WHERE id = $1', [birthId]);
    const before = `person:${birthRow?.so_dinh_danh}`;
    const after = `person:${birthRow?.so_dinh_danh.slice(0, -3)}999`;
    const waitingFor = (lock: string) => vi.waitFor(async () => {
      const { rows } = await gateway.db.query(
        `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND objid::bigint = (hashtext($1)::bigint & 4294967295)`,
        [lock],
      );
      expect(rows).toHaveLength(1);
    }, { timeout: 10_000, interval: 20 });
    // Another transaction holds the person the birth will be about; a third holds the one it is about
    // when the link reads it, and, once the link waits for that one, moves the birth to the other
    // person (as a correction of its personal number would).
    let releaseAfter = () => {};
    const holdingAfter = gateway.db.transaction(() => new Promise<void>((resolve) => {
      releaseAfter = resolve;
    }), { locks: [after] });
    let linking: Promise<unknown> | undefined;
    await gateway.db.transaction(async (tx) => {
      linking = post('operator', `/ops/v1/dossiers/${dossierId}/link`, { birthTransferId: birthId, reason: 'same family' });
      await waitingFor(before);
      await tx.query('UPDATE transfers SET so_dinh_danh = $2 WHERE id = $1', [birthId, after.slice('person:'.length)]);
    }, { locks: [before] });
    // Under its first locks the link finds the birth about another person: it must wait for that one's lock.
    await waitingFor(after);
    releaseAfter();
    await holdingAfter;
    const linked = (await linking) as Awaited<ReturnType<typeof post>>;
    expect(linked.statusCode, linked.body).toBe(200);
    expect(await statusOf(dossierId)).toBe('merged');
  });

  it('refuses, writing nothing, a birth of another province, a death, an unknown id, a death dossier, another operator\'s province', async () => {
    const dossierId = await postDossier();
    const haNoi = await postBirth(khaiSinhHaNoi(), 'registry01');
    const deathResponse = await gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-tu', payload: khaiTu() as object });
    expect(deathResponse.statusCode, deathResponse.body).toBe(202);
    const birthId = await postBirth(birthWaitingForAddress());
    const auditBefore = (await eventsOf(dossierId)).length;

    const otherProvince = await post('operator', `/ops/v1/dossiers/${dossierId}/link`, { birthTransferId: haNoi, reason: 'wrong one' });
    expect(otherProvince.statusCode).toBe(400);
    expect(otherProvince.json().error.details[0]).toMatchObject({ path: '/birthTransferId', code: 'PROVINCE_MISMATCH' });
    const death = await post('operator', `/ops/v1/dossiers/${dossierId}/link`, { birthTransferId: deathResponse.json().transferId, reason: 'wrong one' });
    expect(death.statusCode).toBe(404);
    expect((await post('operator', `/ops/v1/dossiers/${dossierId}/link`, { birthTransferId: 'no-such-transfer', reason: 'wrong one' })).statusCode).toBe(404);
    expect((await post('operator01', `/ops/v1/dossiers/${dossierId}/link`, { birthTransferId: birthId, reason: 'not mine' })).statusCode).toBe(404);
    expect((await post('operator', `/ops/v1/dossiers/${dossierId}/link`, { birthTransferId: birthId })).statusCode).toBe(400);

    const deathDossier = await postDossier({ module: 'KT', fileDinhKem: [] });
    const kt = await post('operator', `/ops/v1/dossiers/${deathDossier}/link`, { birthTransferId: birthId, reason: 'a death dossier' });
    expect(kt.statusCode).toBe(409);
    expect(kt.json().error.message).toMatch(/module KS/);

    expect(await statusOf(dossierId)).toBe('received');
    expect(await statusOf(birthId)).toBe('received');
    expect(await eventsOf(dossierId)).toHaveLength(auditBefore);
  });
});

/** A sweep of its own, at `at`, with the test gateway's database. */
const sweeper = (at: Date, sizes: { purgeChunkSize?: number; purgeChunksPerSweep?: number } = {}) =>
  new StaleDossiers({ db: gateway.db, catalogues: { units: undefined as never, facilities: undefined as never }, now: () => at, retentionDays: 90, ...sizes });

const purgeEvents = async (id: string) => (await eventsOf(id)).filter((event) => event.action === 'mot-cua.attachments-purged');

describe('purging after the retention period', () => {
  it('takes the bytes of waiting and closed dossiers\' files, keeps what they were, audits each; merged files and younger dossiers stay', async () => {
    const waitingFile = attachment();
    const closedFile = attachment();
    const mergedFile = attachment();
    const waitingId = await postDossier({ fileDinhKem: [waitingFile.file] });
    const closedId = await postDossier({ fileDinhKem: [closedFile.file] });
    expect((await post('operator', `/ops/v1/dossiers/${closedId}/close`, { reason: 'never coming' })).statusCode).toBe(200);
    const mergedId = await postDossier({ fileDinhKem: [mergedFile.file] });
    const birthId = await postBirth(birthWaitingForAddress());
    expect((await post('operator', `/ops/v1/dossiers/${mergedId}/link`, { birthTransferId: birthId, reason: 'found it' })).statusCode).toBe(200);

    const sweep = (at: Date) => sweeper(at).purgeDue();
    expect(await sweep(daysFromNow(89))).toEqual({ dossiers: 0, files: 0, more: false });

    const swept = await sweep(daysFromNow(91));
    expect(swept.dossiers).toBeGreaterThanOrEqual(2);
    const bytes = async (sha256: string) => (await gateway.db.query<{ transfer_id: string; content: Buffer | null; purged_at: Date | null; file_name: string; size_bytes: number }>(
      'SELECT transfer_id, content, purged_at, file_name, size_bytes FROM attachments WHERE sha256 = $1', [sha256],
    )).rows[0];
    for (const [file, id] of [[waitingFile, waitingId], [closedFile, closedId]] as const) {
      const row = await bytes(file.sha256);
      expect(row).toMatchObject({ transfer_id: id, content: null, file_name: 'giay-khai-sinh.pdf', purged_at: expect.any(Date) });
      expect(row?.size_bytes).toBeGreaterThan(0);
      const purge = (await eventsOf(id)).at(-1);
      expect(purge).toMatchObject({
        actor: 'retention', action: 'mot-cua.attachments-purged', fromStatus: null, toStatus: null,
        details: { retentionDays: 90, files: [{ loai: 'GKS', sha256: file.sha256, sizeBytes: row?.size_bytes }] },
      });
      expect(JSON.stringify(purge)).not.toContain('giay-khai-sinh.pdf');
    }
    expect((await bytes(mergedFile.sha256))?.content).toBeInstanceOf(Buffer);
    // The waiting one is closed with its purge, so nothing can merge a dossier whose files are gone.
    expect(await statusOf(waitingId)).toBe('closed');
    expect((await eventsOf(waitingId)).at(-2)).toMatchObject({
      actor: 'retention', action: 'mot-cua.closed', fromStatus: 'received', toStatus: 'closed', details: { reason: 'retention', retentionDays: 90 },
    });
    expect(await statusOf(closedId)).toBe('closed');
    expect(await atClock(daysFromNow(91), () => staleIds())).not.toContain(waitingId);

    const eventsBefore = (await eventsOf(waitingId)).length;
    expect(await sweep(daysFromNow(200))).toEqual({ dossiers: 0, files: 0, more: false });
    expect(await eventsOf(waitingId)).toHaveLength(eventsBefore);
    const verdict = await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' });
    expect(verdict.json().ok).toBe(true);
  });

  it('a dossier whose files were purged cannot be linked; one an operator closed, files kept, can', async () => {
    await sweeper(daysFromNow(91)).purgeDue(1000);
    const purgedId = await postDossier({ fileDinhKem: [attachment().file] });
    await sweeper(daysFromNow(91)).purgeDue(1000);
    expect(await statusOf(purgedId)).toBe('closed');
    const birthId = await postBirth(birthWaitingForAddress());
    const refused = await post('operator', `/ops/v1/dossiers/${purgedId}/link`, { birthTransferId: birthId, reason: 'found it at last' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'INVALID_STATE', message: expect.stringMatching(/purged/) });
    expect(await statusOf(purgedId)).toBe('closed');
    expect(await statusOf(birthId)).toBe('received');

    const file = attachment();
    const closedId = await postDossier({ fileDinhKem: [file.file] });
    expect((await post('operator', `/ops/v1/dossiers/${closedId}/close`, { reason: 'closed by mistake' })).statusCode).toBe(200);
    const linked = await post('operator', `/ops/v1/dossiers/${closedId}/link`, { birthTransferId: birthId, reason: 'the birth came after all' });
    expect(linked.statusCode, linked.body).toBe(200);
    expect(linked.json()).toMatchObject({ transferId: birthId, status: 'queued' });
    expect(await statusOf(closedId)).toBe('merged');
    expect((await eventsOf(closedId)).at(-1)).toMatchObject({ action: 'mot-cua.merged', fromStatus: 'closed', toStatus: 'merged', details: { into: birthId } });
  });

  it('closes a dossier an earlier version purged but left waiting, without purging again', async () => {
    await sweeper(daysFromNow(91)).purgeDue(1000);
    const id = await postDossier({ fileDinhKem: [attachment().file] });
    // As the sweep before migration 017 left it: bytes gone, dossier still waiting, not marked.
    await gateway.db.query('UPDATE attachments SET content = NULL, purged_at = now() WHERE transfer_id = $1', [id]);
    expect(await sweeper(daysFromNow(91)).purgeDue(1000)).toEqual({ dossiers: 0, files: 0, more: false });
    expect(await statusOf(id)).toBe('closed');
    expect((await eventsOf(id)).at(-1)).toMatchObject({ actor: 'retention', action: 'mot-cua.closed', details: { reason: 'retention' } });
    expect(await purgeEvents(id)).toEqual([]);
  });

  it('one sweep purges at most its cap of chunks, and the next maintenance tick goes on at once', async () => {
    expect((await sweeper(daysFromNow(91)).purgeDue(1000)).more).toBe(false);
    const ids = [await postDossier({ fileDinhKem: [attachment().file] }), await postDossier({ fileDinhKem: [attachment().file] }), await postDossier({ fileDinhKem: [attachment().file] })];
    const capped = sweeper(daysFromNow(91), { purgeChunkSize: 1, purgeChunksPerSweep: 2 });
    expect(await capped.purgeIfDue()).toEqual({ dossiers: 2, files: 2, more: true });
    expect((await Promise.all(ids.map(statusOf))).filter((status) => status === 'closed')).toHaveLength(2);
    expect(await capped.purgeIfDue()).toEqual({ dossiers: 1, files: 1, more: false });
    expect(await Promise.all(ids.map(statusOf))).toEqual(['closed', 'closed', 'closed']);
    // Done: the next sweep waits its hour.
    expect(await capped.purgeIfDue()).toBeNull();
  });

  it('two sweepers at once purge each dossier once', async () => {
    await sweeper(daysFromNow(91)).purgeDue(1000);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await postDossier({ fileDinhKem: [attachment().file] }));
    const [one, two] = await Promise.all([
      sweeper(daysFromNow(91), { purgeChunkSize: 1 }).purgeDue(1000),
      sweeper(daysFromNow(91), { purgeChunkSize: 1 }).purgeDue(1000),
    ]);
    expect((one?.dossiers ?? 0) + (two?.dossiers ?? 0)).toBe(4);
    for (const id of ids) expect(await purgeEvents(id)).toHaveLength(1);
    const verdict = await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' });
    expect(verdict.json().ok).toBe(true);
  });
});

describe('the maintenance tick', () => {
  it('runs the retention sweep with the gateway\'s clock', async () => {
    const file = attachment();
    const id = await postDossier({ fileDinhKem: [file.file] });
    await atClock(daysFromNow(91), () => gateway.app.dispatcher.maintain());
    const { rows } = await gateway.db.query<{ content: Buffer | null }>('SELECT content FROM attachments WHERE sha256 = $1', [file.sha256]);
    expect(rows).toEqual([{ content: null }]);
    expect((await eventsOf(id)).at(-1)).toMatchObject({ action: 'mot-cua.attachments-purged' });
  });
});
