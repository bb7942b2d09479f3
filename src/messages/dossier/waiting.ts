import { CAP_THE_TE_MAX_ATTACHMENTS } from '../../intake/bhxh-documents.js';
import { moveAttachmentsInTx } from '../../store/attachments.js';
import type { Queryable } from '../../store/database.js';
import { changeTransferInTx, lockTransferInTx, type Transfer } from '../../store/transfers.js';
import type { ReadDossier } from './merge.js';

export interface WaitingDossier {
  transfer: Transfer;
  read: ReadDossier;
}

/** A one-stop dossier's stored transfer, with what a merge reads of its document. */
export function dossierOf(transfer: Transfer): WaitingDossier {
  const document = transfer.document as { maHoSo: string; module: 'KS' | 'KT'; hoTich: ReadDossier['hoTich']; bhyt?: ReadDossier['bhyt'] };
  return {
    transfer,
    read: { maHoSo: document.maHoSo, module: document.module, hoTich: document.hoTich, bhyt: document.bhyt, maTinh: transfer.maTinh },
  };
}

/** These dossiers, locked, those still waiting: another record may have absorbed one while we waited for its lock. */
export async function lockWaitingDossiersInTx(tx: Queryable, ids: string[]): Promise<WaitingDossier[]> {
  const found: WaitingDossier[] = [];
  for (const id of ids) {
    const transfer = await lockTransferInTx(tx, id);
    if (transfer?.status === 'received') found.push(dossierOf(transfer));
  }
  return found;
}

/**
 * Birth dossiers of the province waiting under this dossier code or for this child: those a birth
 * would take together with a dossier of this code and child. The dossier's locks (its code, its
 * child) keep the set as it is until its transaction ends.
 */
export async function waitingBirthDossierIdsInTx(tx: Queryable, maHoSo: string, soDinhDanh: string | undefined, maTinh: string): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `SELECT id FROM transfers
      WHERE type = 'HO_SO_MOT_CUA' AND status = 'received' AND document->>'module' = 'KS' AND ma_tinh = $3
        AND (ma_ho_so = $1 OR ($2::text IS NOT NULL AND so_dinh_danh = $2))`,
    [maHoSo, soDinhDanh ?? null, maTinh],
  );
  return rows.map((row) => row.id);
}

/** Dossiers of the same province that arrived first for this death, locked; by code or by person. */
export async function waitingDeathDossiersInTx(tx: Queryable, maHoSo: string | undefined, soDinhDanh: string, maTinh: string): Promise<WaitingDossier[]> {
  const { rows } = await tx.query<{ id: string }>(
    `SELECT id FROM transfers
      WHERE type = 'HO_SO_MOT_CUA' AND status = 'received' AND document->>'module' = $1 AND ma_tinh = $4
        AND (($2::text IS NOT NULL AND ma_ho_so = $2) OR so_dinh_danh = $3)
      ORDER BY id`,
    ['KT', maHoSo ?? null, soDinhDanh, maTinh],
  );
  return lockWaitingDossiersInTx(tx, rows.map((row) => row.id));
}

/**
 * Dossiers that waited for this record now belong to it: their files move, and they end `merged`.
 * An operator's link says why in `details`.
 */
export async function absorbDossiersInTx(
  tx: Queryable, dossiers: WaitingDossier[], intoTransferId: string, actor: string, details: Record<string, unknown> = {},
): Promise<void> {
  for (const { transfer } of dossiers) {
    await moveAttachmentsInTx(tx, transfer.id, intoTransferId);
    await changeTransferInTx(tx, transfer, { status: 'merged' }, { actor, action: 'mot-cua.merged', details: { into: intoTransferId, ...details } });
  }
}

/**
 * Dossiers a birth could not absorb without citing more files than BHXH takes stay `received`,
 * linked to it by code or child; the event on each names the birth and how many files they would
 * have come to, and the birth's own event lists them, so the registry and operators see both sides.
 */
export async function keepWaitingForFilesInTx(
  tx: Queryable, left: Array<{ dossier: WaitingDossier; files: number }>, birthId: string, actor: string,
): Promise<void> {
  for (const { dossier, files } of left) {
    await changeTransferInTx(tx, dossier.transfer, { status: 'received' }, {
      actor, action: 'mot-cua.too-many-files', details: { birth: birthId, files, limit: CAP_THE_TE_MAX_ATTACHMENTS },
    });
  }
}

/** A dossier for a record it may no longer change (with BHXH, or a death) only names it, audited. */
export async function linkDossierInTx(tx: Queryable, target: Transfer, maHoSo: string, actor: string): Promise<Transfer> {
  return changeTransferInTx(tx, target, { status: target.status, maHoSo: target.maHoSo ?? maHoSo }, {
    actor, action: 'mot-cua.linked', details: { maHoSo },
  });
}
