import { toBaoGiam } from '../../../mappings/bao-giam.js';
import type { KhaiTu } from '../../domain/documents.js';
import { newId } from '../../domain/ids.js';
import { assertBhxhDocument } from '../../intake/bhxh-documents.js';
import type { IntakeAnswer } from '../../store/inbound-messages.js';
import { CARD_NOT_YET_SENT, WITH_BHXH_STATUSES, type TransferStatus } from '../../domain/transfer-status.js';
import { duplicatePerson } from '../../errors.js';
import { insertTransferInTx, isUniqueViolation, moveTransfersInTx } from '../../store/transfers.js';
import { absorbDossiersInTx, waitingDeathDossiersInTx } from '../dossier/waiting.js';
import type { DispatchFacts, MessageModule, ModuleDependencies } from '../message-module.js';
import { bhxhNumberLock, requestWithBhxhOf, unsentRequestsOfInTx } from '../reissue/standing.js';
import { checkKhaiTu } from './rules.js';

/**
 * A death leaves as BHXH's BAO_GIAM. One person, in order: it waits while that person's card is with
 * BHXH (being sent or sent), a birth's or one asked for again (by personal number, or by the BHXH
 * number the death gives), so BHXH never hears of the death before the card it ends.
 */
export const deathDispatch: DispatchFacts = {
  transferType: 'KHAI_TU',
  loai: 'BAO_GIAM',
  issuesCard: false,
  heldBackWhen: `EXISTS (SELECT 1 FROM transfers card
                          WHERE card.type = 'KHAI_SINH' AND card.so_dinh_danh = transfers.so_dinh_danh
                            AND card.status IN (${WITH_BHXH_STATUSES.map((status) => `'${status}'`).join(', ')}))
                 OR ${requestWithBhxhOf('transfers.so_dinh_danh', "(transfers.document->'hoTich'->>'nktMaSoBHXH')")}`,
};

/** Deaths (KhaiTu): complete at intake, queued at once; they stop the person's cards not yet sent. */
export function deathModule(deps: ModuleDependencies): MessageModule<KhaiTu> {
  return {
    schema: 'KhaiTu',
    prepare(doc, today) {
      const soDinhDanh = doc.hoTich.nktSoDDCN;
      return {
        maTinh: doc.hoTich.noiDangKy.maTinh,
        provincePath: '/hoTich/noiDangKy/maTinh',
        locks: [`person:${soDinhDanh}`, ...(doc.hoTich.nktMaSoBHXH ? [bhxhNumberLock(doc.hoTich.nktMaSoBHXH)] : [])],
        check: () => checkKhaiTu(doc, deps.catalogues, today),
        async store(tx, arrival) {
          // Every row this death will change is locked first; the audit chain's lock (taken by the
          // first audit append) comes last, as everywhere, so a death can never deadlock a claim or a PATCH.
          // A card not yet sent for this person, a birth's or one asked for again, must never be issued
          // now (docs/DOMAIN.md, "Deaths"). One in flight is left to finish: the dispatcher holds this
          // death back until BHXH has answered it.
          const cards = await tx.query<{ id: string; status: TransferStatus }>(
            'SELECT id, status FROM transfers WHERE type = $1 AND so_dinh_danh = $2 AND status = ANY($3::text[]) FOR UPDATE',
            ['KHAI_SINH', soDinhDanh, CARD_NOT_YET_SENT],
          );
          const requests = await unsentRequestsOfInTx(tx, { soDinhDanh, maSoBhxh: doc.hoTich.nktMaSoBHXH });
          const dossiers = await waitingDeathDossiersInTx(tx, doc.maHoSoMCDT, soDinhDanh, doc.hoTich.noiDangKy.maTinh);
          const transferId = newId();
          const maHoSo = doc.maHoSoMCDT ?? dossiers[0]?.read.maHoSo;
          const bhxhDocument = assertBhxhDocument('BaoGiam', toBaoGiam(doc, { transferId }));
          const answer: IntakeAnswer = { transferId, messageId: doc.messageId, status: 'queued' };
          await arrival.record(tx, answer);
          await insertTransferInTx(
            tx,
            {
              id: transferId, type: 'KHAI_TU', clientId: arrival.client.id, messageId: doc.messageId, status: 'queued',
              maTinh: doc.hoTich.noiDangKy.maTinh, maDonVi: doc.maDonVi, soDinhDanh, document: { ...doc },
              missing: [], bhxhDocument: { ...bhxhDocument }, maHoSo,
            },
            {
              actor: arrival.client.id, action: 'khai-tu.accepted', payloadSha256: arrival.contentSha256,
              details: { door: arrival.door, ...(dossiers.length ? { dossiers: dossiers.map((dossier) => dossier.transfer.id) } : {}) },
            },
          ).catch((error: unknown) => {
            // One death per person (its unique index): a second is refused as the contract says.
            throw isUniqueViolation(error, 'transfers_one_death_per_person') ? duplicatePerson('death', '/hoTich/nktSoDDCN') : error;
          });
          await absorbDossiersInTx(tx, dossiers, transferId, arrival.client.id);
          await moveTransfersInTx(tx, [...cards.rows, ...requests].map((card) => ({
            id: card.id, fromStatus: card.status, toStatus: 'deceased', batchId: null,
            event: { actor: arrival.client.id, action: 'transfer.person-deceased', details: { death: transferId } },
          })));
          return answer;
        },
      };
    },
  };
}
