import { toCapLaiThe } from '../../../mappings/cap-lai-the.js';
import type { Role } from '../../auth/clients.js';
import type { Catalogues } from '../../catalogues/catalogues.js';
import { toIsoDate, type CalendarDate } from '../../domain/calendar-date.js';
import type { CapLaiThe, LyDoCapLai } from '../../domain/documents.js';
import { newId } from '../../domain/ids.js';
import { assertBhxhDocument } from '../../intake/bhxh-documents.js';
import type { IntakeAnswer } from '../../store/inbound-messages.js';
import type { Queryable } from '../../store/database.js';
import { insertTransferInTx, moveTransfersInTx, type ReadableKind } from '../../store/transfers.js';
import type { DispatchFacts, MessageModule, ModuleDependencies } from '../message-module.js';
import { hanTraOf } from './due-date.js';
import { checkCapLaiThe } from './rules.js';
import {
  asDuplicateRequest, deathOfRequestPerson, knownPersonInTx, namedPerson, personPath, reissueLocks, reissueRefusalInTx,
} from './standing.js';

/**
 * Each BHXH office's two kinds of account (seed 004, point 2): one re-issues lost and damaged cards
 * (TKCL), the other handles changes of information (TKHCTT). Each sends and reads only its own
 * reasons, for any person of its provinces.
 */
export const REASONS_BY_ROLE = {
  reissue: ['mat', 'hong'],
  correction: ['thay_doi_thong_tin'],
} as const satisfies Partial<Record<Role, readonly LyDoCapLai[]>>;

const rolesSending = (reason: LyDoCapLai): Role[] =>
  (Object.entries(REASONS_BY_ROLE) as Array<[Role, readonly LyDoCapLai[]]>).filter(([, reasons]) => reasons.includes(reason)).map(([role]) => role);

/** What each of those roles may read: re-issues of its reasons. */
export const REISSUE_READERS: Partial<Record<Role, ReadableKind[]>> = Object.fromEntries(
  Object.entries(REASONS_BY_ROLE).map(([role, reasons]) => [role, [{ type: 'CAP_LAI_THE', reasons: [...reasons] }]]),
);

/**
 * A re-issue leaves as BHXH's CAP_LAI_THE; BHXH's OK carries the new card. As a birth's card, a
 * request whose person's death is registered (by personal number, or a death giving the request's
 * BHXH number) never leaves: the claim holds it, and one that came back to `queued` after the death
 * (resent, replayed, released, its lease expired) ends `deceased` at the last gate before a batch.
 */
export const reissueDispatch: DispatchFacts = {
  transferType: 'CAP_LAI_THE',
  loai: 'CAP_LAI_THE',
  issuesCard: true,
  heldBackWhen: deathOfRequestPerson('transfers'),
  beforeClaimInTx: retireRequestsOfDeceasedInTx,
};

async function retireRequestsOfDeceasedInTx(tx: Queryable, { actor, window }: { actor: string; window: number }): Promise<void> {
  const { rows } = await tx.query<{ id: string; death: string }>(
    `SELECT DISTINCT ON (request.id) request.id, death.id AS death
       FROM (SELECT id, so_dinh_danh, ma_so_bhxh FROM transfers
              WHERE status = 'queued' AND type = 'CAP_LAI_THE'
              ORDER BY id LIMIT $1
              FOR UPDATE SKIP LOCKED) request
       JOIN transfers death ON death.type = 'KHAI_TU'
        AND (death.so_dinh_danh = request.so_dinh_danh OR death.document->'hoTich'->>'nktMaSoBHXH' = request.ma_so_bhxh)
      ORDER BY request.id, death.id`,
    [window],
  );
  await moveTransfersInTx(tx, rows.map((row) => ({
    id: row.id, fromStatus: 'queued', toStatus: 'deceased', batchId: null,
    event: { actor, action: 'transfer.person-deceased', details: { death: row.death } },
  })));
}

/** The due date and BHXH record of a request, as stored and as sent. */
export function reissueRecord(doc: CapLaiThe, transferId: string, hanTra: CalendarDate) {
  return { ...assertBhxhDocument('CapLaiThe', toCapLaiThe(doc, { transferId, hanTra })) } as Record<string, unknown>;
}

export function reissueRules(catalogues: Pick<Catalogues, 'units' | 'facilities'>, today: CalendarDate) {
  return (doc: CapLaiThe) => checkCapLaiThe(doc, catalogues, today);
}

/** Card re-issues and changes (CapLaiThe): complete at intake, queued at once, due by hanTra. */
export function reissueModule(deps: ModuleDependencies): MessageModule<CapLaiThe> {
  return {
    schema: 'CapLaiThe',
    prepare(doc, today) {
      return {
        maTinh: doc.maTinh,
        provincePath: '/maTinh',
        senders: { roles: rolesSending(doc.lyDo), path: '/lyDo' },
        locks: reissueLocks(namedPerson(doc)),
        // The number the request lacks, where the gateway knows it, is locked too: read before the
        // transaction, and again in it (a unique index settles a link made in between).
        lockedAlso: async (db) => reissueLocks(await knownPersonInTx(db, namedPerson(doc))),
        check: () => reissueRules(deps.catalogues, today)(doc),
        async store(tx, arrival) {
          const person = await knownPersonInTx(tx, namedPerson(doc));
          const refusal = await reissueRefusalInTx(tx, { nguoi: doc.nguoi, person, lyDo: doc.lyDo }, arrival.mayRead);
          if (refusal) throw refusal;
          const transferId = newId();
          const hanTra = hanTraOf(deps.catalogues.holidays, arrival.receivedAt, doc.lyDo);
          const answer: IntakeAnswer = { transferId, messageId: doc.messageId, status: 'queued', hanTra: toIsoDate(hanTra) };
          await arrival.record(tx, answer);
          await insertTransferInTx(
            tx,
            {
              id: transferId, type: 'CAP_LAI_THE', clientId: arrival.client.id, messageId: doc.messageId, status: 'queued',
              maTinh: doc.maTinh, maDonVi: doc.maCoQuan, soDinhDanh: person.soDinhDanh ?? '', maSoBhxh: person.maSoBhxh,
              document: { ...doc }, missing: [], bhxhDocument: reissueRecord(doc, transferId, hanTra), reason: doc.lyDo, dueOn: toIsoDate(hanTra),
            },
            {
              actor: arrival.client.id, action: 'cap-lai-the.accepted', payloadSha256: arrival.contentSha256,
              details: { door: arrival.door, lyDo: doc.lyDo, hanTra: answer.hanTra },
            },
          ).catch((error: unknown) => {
            throw asDuplicateRequest(error, personPath(doc.nguoi));
          });
          return answer;
        },
      };
    },
  };
}
