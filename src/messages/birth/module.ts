import type { Catalogues } from '../../catalogues/catalogues.js';
import type { CalendarDate } from '../../domain/calendar-date.js';
import type { KhaiSinh } from '../../domain/documents.js';
import { CORRECTABLE_STATUSES } from '../../domain/transfer-status.js';
import { newId } from '../../domain/ids.js';
import { CAP_THE_TE_MAX_ATTACHMENTS } from '../../intake/bhxh-documents.js';
import { validateDocument } from '../../intake/validator.js';
import { attachmentReferences, type StoredAttachmentReference } from '../../store/attachments.js';
import type { Queryable } from '../../store/database.js';
import type { IntakeAnswer } from '../../store/inbound-messages.js';
import { changeTransferInTx, insertTransferInTx, moveTransfersInTx, type Transfer } from '../../store/transfers.js';
import { supplyBirthFromDossier, type ReadDossier } from '../dossier/merge.js';
import { absorbDossiersInTx, keepWaitingForFilesInTx, linkDossierInTx, lockWaitingDossiersInTx, type WaitingDossier } from '../dossier/waiting.js';
import type { Arrival, DispatchFacts, MessageModule, ModuleDependencies } from '../message-module.js';
import { birthLocks, cardState } from './card.js';
import { BirthWriter } from './group-commit.js';
import { checkKhaiSinh } from './rules.js';
import { asBirthAlreadyHeld, birthDecision, birthStandingInTx, registeredDeathOf } from './standing.js';

/** The birth's rules on a document as it would be stored: at its door, merged with a dossier, corrected. */
export type BirthRules = (doc: KhaiSinh) => void;

export function birthRules(catalogues: Pick<Catalogues, 'units' | 'facilities'>, today: CalendarDate): BirthRules {
  return (doc) => checkKhaiSinh(doc, catalogues, today);
}

/**
 * Births (KhaiSinh): most go through the group commit; one for which a one-stop dossier waits is
 * stored alone, the dossier merged into it.
 */
export function birthModule(deps: ModuleDependencies): MessageModule<KhaiSinh> {
  const writer = new BirthWriter(deps.db);
  return {
    schema: 'KhaiSinh',
    prepare(doc, today) {
      const rules = birthRules(deps.catalogues, today);
      return {
        maTinh: doc.hoTich.noiDangKy.maTinh,
        provincePath: '/hoTich/noiDangKy/maTinh',
        locks: birthLocks(doc),
        check: () => rules(doc),
        store: (tx, arrival) => storeBirthAloneInTx(tx, doc, arrival, rules),
        async storeInGroup(arrival) {
          const transferId = newId();
          const state = cardState(doc, transferId, []);
          return writer.submit({
            client: arrival.client, door: arrival.door, doc, documentJson: arrival.documentJson, contentSha256: arrival.contentSha256,
            transferId, status: state.status, missing: state.missing, bhxhDocument: state.bhxhDocument,
          });
        },
      };
    },
  };
}

/**
 * A birth leaves as BHXH's CAP_THE_TE. A card whose person's death is registered never leaves: the
 * claim's own condition holds it (each statement sees its own snapshot), and one that came back to
 * `queued` after the death (resent, replayed, released, its lease expired) ends `deceased` at this
 * last gate before a batch, once it is among the oldest waiting.
 */
export const birthDispatch: DispatchFacts = {
  transferType: 'KHAI_SINH',
  loai: 'CAP_THE_TE',
  issuesCard: true,
  heldBackWhen: registeredDeathOf('transfers.so_dinh_danh'),
  beforeClaimInTx: retireCardsOfDeceasedInTx,
};

async function retireCardsOfDeceasedInTx(tx: Queryable, { actor, window }: { actor: string; window: number }): Promise<void> {
  const { rows } = await tx.query<{ id: string; death: string }>(
    `SELECT card.id, death.id AS death
       FROM (SELECT id, so_dinh_danh FROM transfers
              WHERE status = 'queued' AND type = 'KHAI_SINH'
              ORDER BY id LIMIT $1
              FOR UPDATE SKIP LOCKED) card
       JOIN transfers death ON death.type = 'KHAI_TU' AND death.so_dinh_danh = card.so_dinh_danh`,
    [window],
  );
  await moveTransfersInTx(tx, rows.map((row) => ({
    id: row.id, fromStatus: 'queued', toStatus: 'deceased', batchId: null,
    event: { actor, action: 'transfer.person-deceased', details: { death: row.death } },
  })));
}

async function storeBirthAloneInTx(tx: Queryable, doc: KhaiSinh, arrival: Arrival, rules: BirthRules): Promise<IntakeAnswer> {
  const soDinhDanh = doc.hoTich.soDinhDanh;
  const standing = await birthStandingInTx(tx, { soDinhDanh, maTinh: doc.hoTich.noiDangKy.maTinh, maHoSo: doc.maHoSoMCDT });
  const decision = birthDecision(standing);
  if (decision instanceof Error) throw decision;
  const transferId = newId();
  const { absorbed: dossiers, leftWaiting, attachments } = await dossiersThatFitInTx(tx, await lockWaitingDossiersInTx(tx, standing.dossierIds));
  let birth = doc;
  const supplied: string[] = [];
  for (const dossier of dossiers) {
    const merge = supplyBirthFromDossier(birth, dossier.read);
    birth = merge.merged;
    supplied.push(...merge.supplied);
  }
  if (dossiers.length > 0) {
    birth = validateDocument<KhaiSinh>('KhaiSinh', birth);
    rules(birth);
  }
  const state = cardState(birth, transferId, attachments);
  const answer: IntakeAnswer = { transferId, messageId: doc.messageId, status: state.status };
  await arrival.record(tx, answer);
  await insertTransferInTx(
    tx,
    {
      id: transferId, type: 'KHAI_SINH', clientId: arrival.client.id, messageId: doc.messageId, status: state.status,
      maTinh: birth.hoTich.noiDangKy.maTinh, maDonVi: birth.maDonVi, soDinhDanh, document: { ...birth },
      missing: state.missing, bhxhDocument: state.bhxhDocument, maHoSo: birth.maHoSoMCDT,
    },
    {
      actor: arrival.client.id, action: 'khai-sinh.accepted', payload: birth,
      details: {
        door: arrival.door, ...(state.missing.length ? { missing: state.missing } : {}),
        ...(dossiers.length ? { dossiers: dossiers.map((dossier) => dossier.transfer.id), supplied } : {}),
        ...(leftWaiting.length ? { dossiersWaiting: leftWaiting.map(({ dossier }) => dossier.transfer.id) } : {}),
      },
    },
  ).catch((error: unknown) => {
    throw asBirthAlreadyHeld(error);
  });
  await absorbDossiersInTx(tx, dossiers, transferId, arrival.client.id);
  await keepWaitingForFilesInTx(tx, leftWaiting, transferId, arrival.client.id);
  return answer;
}

/**
 * The waiting dossiers a birth absorbs: oldest first, each whose files still fit within what BHXH
 * cites (a file the birth already has counting once). The others keep waiting rather than the birth
 * being refused: the registry could not send the birth otherwise but by dropping its dossier code.
 */
async function dossiersThatFitInTx(tx: Queryable, waiting: WaitingDossier[]) {
  const absorbed: WaitingDossier[] = [];
  const leftWaiting: Array<{ dossier: WaitingDossier; files: number }> = [];
  const attachments: StoredAttachmentReference[] = [];
  const held = new Set<string>();
  for (const dossier of waiting) {
    const files = await attachmentReferences(tx, dossier.transfer.id);
    const together = new Set([...held, ...files.map((file) => file.SHA256)]).size;
    if (together > CAP_THE_TE_MAX_ATTACHMENTS) {
      leftWaiting.push({ dossier, files: together });
      continue;
    }
    absorbed.push(dossier);
    attachments.push(...files);
    for (const file of files) held.add(file.SHA256);
  }
  return { absorbed, leftWaiting, attachments };
}

/**
 * A one-stop dossier completes a birth still open to change, which must then pass the birth's rules
 * as a whole; a birth already with BHXH is only linked to it. Both audited.
 */
export async function applyDossierToBirthInTx(tx: Queryable, target: Transfer, read: ReadDossier, actor: string, rules: BirthRules): Promise<Transfer> {
  if (!CORRECTABLE_STATUSES.includes(target.status)) return linkDossierInTx(tx, target, read.maHoSo, actor);
  const stored = validateDocument<KhaiSinh>('KhaiSinh', target.document);
  const { merged, supplied } = supplyBirthFromDossier(stored, read);
  const birth = validateDocument<KhaiSinh>('KhaiSinh', merged);
  rules(birth);
  const state = cardState(birth, target.id, await attachmentReferences(tx, target.id), target.status);
  return changeTransferInTx(
    tx,
    target,
    { status: state.status, document: { ...birth }, missing: state.missing, bhxhDocument: state.bhxhDocument, maHoSo: birth.maHoSoMCDT },
    { actor, action: 'mot-cua.applied', payload: birth, details: { maHoSo: read.maHoSo, supplied, ...(state.filesNotCited ? { filesNotCited: state.filesNotCited } : {}) } },
  );
}
