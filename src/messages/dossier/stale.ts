import { actsForProvince, provinceScope, type ApiClient } from '../../auth/clients.js';
import { todayInVietnam } from '../../domain/calendar-date.js';
import { GatewayError } from '../../errors.js';
import type { Catalogues } from '../../catalogues/catalogues.js';
import { countAttachmentsInTx, keptFilesOf, purgeAttachmentsInTx, type KeptFile } from '../../store/attachments.js';
import { appendAuditEventInTx } from '../../store/audit-log.js';
import type { Database, Queryable } from '../../store/database.js';
import { changeTransferInTx, findTransfer, lockTransferInTx, type Transfer } from '../../store/transfers.js';
import { applyDossierToBirthInTx, birthRules } from '../birth/module.js';
import { checkAttachmentsPerBirth } from './merge.js';
import { absorbDossiersInTx, lockWaitingDossiersInTx } from './waiting.js';

const DAY_MS = 86_400_000;
/** Dossiers purged per transaction, so one sweep never holds many rows' locks for long. */
const PURGE_CHUNK = 50;
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

  /** For the maintenance tick: a sweep when the last is an hour old (by the real clock, not `now`). */
  async purgeIfDue(): Promise<{ dossiers: number; files: number } | null> {
    if (Date.now() < this.nextSweepAt) return null;
    const purged = await this.purgeDue();
    this.nextSweepAt = Date.now() + PURGE_EVERY_MS;
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
   * `merged`; a birth already with BHXH is only linked. Refused, with nothing written, when the two
   * are not of one province and one child, or the files would take the birth past what BHXH cites.
   */
  async link(operator: ApiClient, dossierId: string, birthId: string, reason: string): Promise<Transfer> {
    const [dossierRow, birthRow] = await Promise.all([this.visible(this.deps.db, dossierId, operator), this.visible(this.deps.db, birthId, operator)]);
    const locks = [
      ...(dossierRow?.maHoSo ? [`dossier:${dossierRow.maHoSo}`] : []),
      ...(dossierRow?.soDinhDanh ? [`person:${dossierRow.soDinhDanh}`] : []),
      ...(birthRow ? [`person:${birthRow.soDinhDanh}`, ...(birthRow.maHoSo ? [`dossier:${birthRow.maHoSo}`] : [])] : []),
    ];
    return this.deps.db.transaction(async (tx) => {
      const dossier = await this.waitingDossierInTx(tx, dossierId, operator);
      const birth = await this.visible(tx, birthId, operator, true);
      if (!birth || birth.type !== 'KHAI_SINH') throw new GatewayError('NOT_FOUND', 'No such birth', [{ path: '/birthTransferId', code: 'NOT_FOUND', message: 'no birth with this transfer id' }]);
      const [waiting] = await lockWaitingDossiersInTx(tx, [dossier.id]);
      if (!waiting || waiting.read.module !== 'KS') {
        throw new GatewayError('INVALID_STATE', 'Only a birth dossier (module KS) can be linked to a birth; close this one instead');
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
      return applyDossierToBirthInTx(tx, birth, waiting.read, operator.id, rules);
    }, { locks });
  }

  /** The dossier will never find its record: `closed`, with the operator's reason; its files stay until the retention period ends. */
  async close(operator: ApiClient, dossierId: string, reason: string): Promise<Transfer> {
    return this.deps.db.transaction(async (tx) => {
      const dossier = await this.waitingDossierInTx(tx, dossierId, operator);
      return changeTransferInTx(tx, dossier, { status: 'closed' }, { actor: operator.id, action: 'mot-cua.closed', details: { reason } });
    });
  }

  /**
   * Purges the bytes of the files of every waiting or closed dossier that arrived more than the
   * retention period ago; each dossier's purge, with the files it names, is one audited transaction.
   * Several processes may sweep at once: each skips the dossiers another holds.
   */
  async purgeDue(): Promise<{ dossiers: number; files: number }> {
    const before = new Date(this.deps.now().getTime() - this.deps.retentionDays * DAY_MS);
    const total = { dossiers: 0, files: 0 };
    for (;;) {
      const swept = await this.deps.db.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: string; status: string }>(
          `SELECT t.id, t.status FROM transfers t
            WHERE t.type = 'HO_SO_MOT_CUA' AND t.status IN ('received', 'closed') AND t.created_at < $1
              AND EXISTS (SELECT 1 FROM attachments a WHERE a.transfer_id = t.id AND a.purged_at IS NULL)
            ORDER BY t.created_at
            LIMIT $2
            FOR UPDATE OF t SKIP LOCKED`,
          [before, PURGE_CHUNK],
        );
        let files = 0;
        for (const row of rows) {
          const purged = await purgeAttachmentsInTx(tx, row.id);
          files += purged.length;
          // File names may name people, and the log is forever: the event cites each file by its
          // document type, size and hash; the name stays on the file's row.
          appendAuditEventInTx(tx, {
            actor: PURGE_ACTOR, action: 'mot-cua.attachments-purged', transferId: row.id, fromStatus: null, toStatus: null,
            details: { retentionDays: this.deps.retentionDays, files: purged.map(({ loai, sizeBytes, sha256 }) => ({ loai, sizeBytes, sha256 })) },
          });
        }
        return { dossiers: rows.length, files };
      });
      total.dossiers += swept.dossiers;
      total.files += swept.files;
      if (swept.dossiers < PURGE_CHUNK) return total;
    }
  }

  /** A transfer the operator may see, or null: another province's looks as absent as a missing one. */
  private async visible(db: Queryable, id: string, operator: ApiClient, lock = false): Promise<Transfer | null> {
    const transfer = lock ? await lockTransferInTx(db, id) : await findTransfer(db, id);
    return transfer && actsForProvince(operator, transfer.maTinh) ? transfer : null;
  }

  private async waitingDossierInTx(tx: Queryable, id: string, operator: ApiClient): Promise<Transfer> {
    const dossier = await this.visible(tx, id, operator, true);
    if (!dossier || dossier.type !== 'HO_SO_MOT_CUA') throw new GatewayError('NOT_FOUND', 'No such one-stop dossier');
    if (dossier.status !== 'received') {
      throw new GatewayError('INVALID_STATE', `The dossier is ${dossier.status}: only a dossier still waiting for its record can be linked or closed`);
    }
    return dossier;
  }
}
