import { actsForProvince, provinceScope, type ApiClient } from '../../auth/clients.js';
import { todayInVietnam } from '../../domain/calendar-date.js';
import type { TransferStatus } from '../../domain/transfer-status.js';
import { GatewayError } from '../../errors.js';
import type { Catalogues } from '../../catalogues/catalogues.js';
import { countAttachmentsInTx, keptFilesOf, purgeAttachmentsInTx, type KeptFile } from '../../store/attachments.js';
import { appendAuditEventInTx } from '../../store/audit-log.js';
import type { Database, Queryable } from '../../store/database.js';
import { changeTransferInTx, findTransfer, lockTransferInTx, type Transfer } from '../../store/transfers.js';
import { applyDossierToBirthInTx, birthRules } from '../birth/module.js';
import { checkAttachmentsPerBirth } from './merge.js';
import { absorbDossiersInTx, dossierOf } from './waiting.js';

const DAY_MS = 86_400_000;
/** Dossiers purged per transaction, so one sweep never holds many rows' locks for long. */
const PURGE_CHUNK = 50;
/**
 * Chunks per sweep: the sweep runs inside the maintenance tick, which also expires leases and must
 * end within its interval, so a first sweep over years of dossiers is spread over ticks (each up to
 * 20 MiB of bytes dropped per dossier) instead of holding one tick for all of them.
 */
const PURGE_CHUNKS_PER_SWEEP = 10;
const PURGE_ACTOR = 'retention';
/** The sweep rides on the maintenance tick but need not run that often: files expire by the day. */
const PURGE_EVERY_MS = 3_600_000;

export interface StaleDossier {
  transferId: string;
  maHoSo: string | null;
  module: 'KS' | 'KT';
  maTinh: string;
  maDonVi: string;
  clientId: string;
  createdAt: string;
  files: KeptFile[];
}

export interface StaleDossierPage {
  olderThanDays: number;
  items: StaleDossier[];
  nextCursor: string | null;
}

export interface StaleDossierDependencies {
  db: Database;
  catalogues: Pick<Catalogues, 'units' | 'facilities'>;
  now: () => Date;
  /** A waiting or closed dossier's files are purged this many days after it arrived. */
  retentionDays: number;
  /** Dossiers per purge transaction, and such chunks per sweep; tests make them small to see the cap at work. */
  purgeChunkSize?: number;
  purgeChunksPerSweep?: number;
}

/**
 * One-stop dossiers that never found their record (docs/DOMAIN.md, "One-stop dossiers"): operators
 * list them, link one to its birth (the same merge as when the birth arrives) or close it with a
 * reason; the bytes of their files are purged after the retention period, what they were kept.
 * Every change is audited in its own transaction.
 */
export class StaleDossiers {
  private nextSweepAt = 0;

  constructor(private readonly deps: StaleDossierDependencies) {}

  /**
   * For the maintenance tick: a sweep when the last is an hour old (by the real clock, not `now`),
   * or at once when the last stopped at its cap with dossiers still due.
   */
  async purgeIfDue(): Promise<{ dossiers: number; files: number; more: boolean } | null> {
    if (Date.now() < this.nextSweepAt) return null;
    const purged = await this.purgeDue();
    this.nextSweepAt = purged.more ? 0 : Date.now() + PURGE_EVERY_MS;
    return purged;
  }

  /** Dossiers still waiting that arrived more than `olderThanDays` ago, oldest first, in the operator's provinces. */
  async list(operator: ApiClient, query: { olderThanDays: number; limit: number; after?: string }): Promise<StaleDossierPage> {
    const before = new Date(this.deps.now().getTime() - query.olderThanDays * DAY_MS);
    const { rows } = await this.deps.db.query<{
      id: string; ma_ho_so: string | null; module: 'KS' | 'KT'; ma_tinh: string; ma_don_vi: string; client_id: string; created_at: Date | string;
    }>(
      `SELECT id, ma_ho_so, document->>'module' AS module, ma_tinh, ma_don_vi, client_id, created_at
         FROM transfers
        WHERE type = 'HO_SO_MOT_CUA' AND status = 'received' AND created_at < $1
          AND ($2::text[] IS NULL OR ma_tinh = ANY($2))
          AND ($3::text IS NULL OR id > $3)
        ORDER BY id
        LIMIT $4`,
      [before, provinceScope(operator) ?? null, query.after ?? null, query.limit],
    );
    const files = await keptFilesOf(this.deps.db, rows.map((row) => row.id));
    const items = rows.map((row) => ({
      transferId: row.id, maHoSo: row.ma_ho_so, module: row.module, maTinh: row.ma_tinh, maDonVi: row.ma_don_vi,
      clientId: row.client_id, createdAt: new Date(row.created_at).toISOString(), files: files.get(row.id) ?? [],
    }));
    const last = items.at(-1);
    return { olderThanDays: query.olderThanDays, items, nextCursor: items.length === query.limit && last ? last.transferId : null };
  }

  /**
   * The dossier completes this birth as if the birth had found it at intake: its files move to the
   * birth, it fills what the birth lacks (checked by the birth's rules as a whole), and it ends
   * `merged`; a birth already with BHXH is only linked. A closed dossier may be linked too while its
   * files are kept (an operator's mistake is undone), not once the retention sweep took them. Refused,
   * with nothing written, when the two are not of one province and one child, or the files would take
   * the birth past what BHXH cites.
   */
  async link(operator: ApiClient, dossierId: string, birthId: string, reason: string): Promise<Transfer> {
    // The locks are named by the rows: read first, and again under the locks in case either changed.
    let locks = linkLocks(await findTransfer(this.deps.db, dossierId), await findTransfer(this.deps.db, birthId));
    for (;;) {
      const outcome = await this.deps.db.transaction((tx) => this.linkInTx(tx, operator, dossierId, birthId, reason, locks), { locks });
      if (outcome.linked) return outcome.linked;
      locks = outcome.needs;
    }
  }

  private async linkInTx(
    tx: Queryable, operator: ApiClient, dossierId: string, birthId: string, reason: string, held: string[],
  ): Promise<{ linked: Transfer; needs?: undefined } | { linked?: undefined; needs: string[] }> {
    const dossier = await this.dossierInTx(tx, dossierId, operator, ['received', 'closed']);
    const birth = await this.visible(tx, birthId, operator, true);
    if (!birth || birth.type !== 'KHAI_SINH') throw new GatewayError('NOT_FOUND', 'No such birth', [{ path: '/birthTransferId', code: 'NOT_FOUND', message: 'no birth with this transfer id' }]);
    const needs = linkLocks(dossier, birth);
    if (needs.some((lock) => !held.includes(lock))) return { needs };
    const waiting = dossierOf(dossier);
    if (waiting.read.module !== 'KS') {
      throw new GatewayError('INVALID_STATE', 'Only a birth dossier (module KS) can be linked to a birth; close this one instead');
    }
    if (dossier.status === 'closed' && (await keptFilesOf(tx, [dossier.id])).get(dossier.id)?.some((file) => file.purgedAt !== null)) {
      throw new GatewayError('INVALID_STATE', 'The dossier\'s files were purged after the retention period: it can no longer be linked; the registry must send it again');
    }
    if (birth.maTinh !== dossier.maTinh) {
      throw new GatewayError('VALIDATION_FAILED', 'The dossier and the birth were registered in different provinces', [
        { path: '/birthTransferId', code: 'PROVINCE_MISMATCH', message: `the birth is of province ${birth.maTinh}, the dossier of ${dossier.maTinh}` },
      ]);
    }
    if (dossier.soDinhDanh && dossier.soDinhDanh !== birth.soDinhDanh) {
      throw new GatewayError('VALIDATION_FAILED', 'The dossier names another child than the birth', [
        { path: '/birthTransferId', code: 'PERSON_MISMATCH', message: 'the personal number in the dossier is not the birth\'s' },
      ]);
    }
    // As at intake: a file the birth has counts once, and a dossier adding none is never refused.
    const together = (await countAttachmentsInTx(tx, [birth.id, dossier.id], [])).kept;
    const alone = (await countAttachmentsInTx(tx, [birth.id], [])).kept;
    if (together > alone) {
      checkAttachmentsPerBirth(together, '/birthTransferId', () => `the birth carries ${alone} attachments and this dossier would add ${together - alone}`);
    }
    await absorbDossiersInTx(tx, [waiting], birth.id, operator.id, { reason, linkedBy: operator.id });
    const rules = birthRules(this.deps.catalogues, todayInVietnam(this.deps.now()));
    return { linked: await applyDossierToBirthInTx(tx, birth, waiting.read, operator.id, rules) };
  }

  /** The dossier will never find its record: `closed`, with the operator's reason; its files stay until the retention period ends. */
  async close(operator: ApiClient, dossierId: string, reason: string): Promise<Transfer> {
    return this.deps.db.transaction(async (tx) => {
      const dossier = await this.dossierInTx(tx, dossierId, operator, ['received']);
      return changeTransferInTx(tx, dossier, { status: 'closed' }, { actor: operator.id, action: 'mot-cua.closed', details: { reason } });
    });
  }

  /**
   * Purges the bytes of the files of every waiting or closed dossier that arrived more than the
   * retention period ago; a waiting one is closed in the same transaction (reason `retention`), so
   * no link or birth can merge a dossier whose files are gone. Each dossier's purge, with the files
   * it names, is one audited transaction; every dossier swept is marked, so the next sweep starts
   * past it. At most `chunks` chunks: `more` says whether others are due. Several processes may sweep
   * at once: each skips the dossiers another holds.
   */
  async purgeDue(chunks = this.deps.purgeChunksPerSweep ?? PURGE_CHUNKS_PER_SWEEP): Promise<{ dossiers: number; files: number; more: boolean }> {
    const before = new Date(this.deps.now().getTime() - this.deps.retentionDays * DAY_MS);
    const chunkSize = this.deps.purgeChunkSize ?? PURGE_CHUNK;
    const total = { dossiers: 0, files: 0 };
    for (let chunk = 0; chunk < chunks; chunk++) {
      const swept = await this.deps.db.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: string }>(
          `SELECT t.id FROM transfers t
            WHERE t.type = 'HO_SO_MOT_CUA' AND t.status IN ('received', 'closed') AND t.files_swept_at IS NULL AND t.created_at < $1
            ORDER BY t.created_at
            LIMIT $2
            FOR UPDATE OF t SKIP LOCKED`,
          [before, chunkSize],
        );
        let dossiers = 0;
        let files = 0;
        for (const row of rows) {
          // Locked above; the whole row, for the move to closed.
          const dossier = await lockTransferInTx(tx, row.id);
          await tx.query('UPDATE transfers SET files_swept_at = now() WHERE id = $1', [row.id]);
          const purged = await purgeAttachmentsInTx(tx, row.id);
          // A dossier purged by a version that did not close it yet has nothing left to purge, but must close too.
          const purgedBefore = purged.length === 0 && dossier?.status === 'received'
            && (await keptFilesOf(tx, [row.id])).get(row.id)?.some((file) => file.purgedAt !== null);
          if (!dossier || (purged.length === 0 && !purgedBefore)) continue;
          if (purged.length > 0) dossiers += 1;
          files += purged.length;
          if (dossier.status === 'received') {
            await changeTransferInTx(tx, dossier, { status: 'closed' }, {
              actor: PURGE_ACTOR, action: 'mot-cua.closed', details: { reason: 'retention', retentionDays: this.deps.retentionDays },
            });
          }
          if (purged.length === 0) continue;
          // File names may name people, and the log is forever: the event cites each file by its
          // document type, size and hash; the name stays on the file's row.
          appendAuditEventInTx(tx, {
            actor: PURGE_ACTOR, action: 'mot-cua.attachments-purged', transferId: row.id, fromStatus: null, toStatus: null,
            details: { retentionDays: this.deps.retentionDays, files: purged.map(({ loai, sizeBytes, sha256 }) => ({ loai, sizeBytes, sha256 })) },
          });
        }
        return { swept: rows.length, dossiers, files };
      });
      total.dossiers += swept.dossiers;
      total.files += swept.files;
      if (swept.swept < chunkSize) return { ...total, more: false };
    }
    return { ...total, more: true };
  }

  /** A transfer the operator may see, or null: another province's looks as absent as a missing one. */
  private async visible(db: Queryable, id: string, operator: ApiClient, lock = false): Promise<Transfer | null> {
    const transfer = lock ? await lockTransferInTx(db, id) : await findTransfer(db, id);
    return transfer && actsForProvince(operator, transfer.maTinh) ? transfer : null;
  }

  private async dossierInTx(tx: Queryable, id: string, operator: ApiClient, statuses: TransferStatus[]): Promise<Transfer> {
    const dossier = await this.visible(tx, id, operator, true);
    if (!dossier || dossier.type !== 'HO_SO_MOT_CUA') throw new GatewayError('NOT_FOUND', 'No such one-stop dossier');
    if (!statuses.includes(dossier.status)) {
      const which = statuses.includes('closed') ? 'still waiting for its record, or closed with its files kept, can be linked' : 'still waiting for its record can be closed';
      throw new GatewayError('INVALID_STATE', `The dossier is ${dossier.status}: only a dossier ${which}`);
    }
    return dossier;
  }
}

/** What a link holds: the dossier's code and child, the birth's child and code, so no intake interleaves. */
function linkLocks(dossier: Transfer | null, birth: Transfer | null): string[] {
  return [...new Set([
    ...(dossier?.maHoSo ? [`dossier:${dossier.maHoSo}`] : []),
    ...(dossier?.soDinhDanh ? [`person:${dossier.soDinhDanh}`] : []),
    ...(birth ? [`person:${birth.soDinhDanh}`, ...(birth.maHoSo ? [`dossier:${birth.maHoSo}`] : [])] : []),
  ])];
}
