import type { ApiClient } from '../../auth/clients.js';
import type { Catalogues } from '../../catalogues/catalogues.js';
import { mustParseCalendarDate, todayInVietnam } from '../../domain/calendar-date.js';
import type { CapLaiThe } from '../../domain/documents.js';
import { GatewayError } from '../../errors.js';
import { normaliseDocument, validateDocument } from '../../intake/validator.js';
import type { Database, Queryable } from '../../store/database.js';
import { changeTransferInTx, findTransfer, lockTransferInTx, type Transfer } from '../../store/transfers.js';
import { assertMayTouch, assertStatusAllows, mayTouch } from '../../transfers/access.js';
import { reissueRecord, reissueRules } from './module.js';
import {
  asDuplicateRequest, knownPersonInTx, namedPerson, personPath, reissueLocks, reissueRefusalInTx,
} from './standing.js';

/**
 * What an office corrects in a request BHXH returned, or one not yet sent (PATCH
 * /ngsp/v1/cap-lai-the/{transferId}). Neither the reason nor the province: they decide who may see
 * the request, so a different one is a new request.
 */
export type ReissueCorrection = Partial<Pick<CapLaiThe, 'maCoQuan' | 'nguoi' | 'maThe' | 'thayDoi' | 'hinhThucNhanThe' | 'diaChiNhanThe'>>;

export class ReissueCorrections {
  constructor(private readonly deps: { db: Database; catalogues: Catalogues; now?: () => Date }) {}

  /**
   * The merged request passes the same schema and rules as at intake, and is checked again against
   * the person's registered death and other open requests, so a correction can never store what
   * intake would have refused. Its due date stays the one first given (it counts from receipt). It
   * holds the locks of the person it named and names now, as intake does.
   */
  async correct(transferId: string, correction: ReissueCorrection, client: ApiClient): Promise<Transfer> {
    const found = await findTransfer(this.deps.db, transferId);
    let locks = found?.type === 'CAP_LAI_THE' ? locksFor(found, correction) : [];
    for (;;) {
      const outcome = await this.deps.db.transaction((tx) => this.correctInTx(tx, transferId, correction, client, locks), { locks });
      if (outcome.corrected) return outcome.corrected;
      locks = outcome.needs;
    }
  }

  private async correctInTx(
    tx: Queryable, transferId: string, correction: ReissueCorrection, client: ApiClient, held: string[],
  ): Promise<{ corrected: Transfer; needs?: undefined } | { corrected?: undefined; needs: string[] }> {
    const current = assertMayTouch(await lockTransferInTx(tx, transferId), client);
    if (current.type !== 'CAP_LAI_THE' || current.dueOn === null) throw new GatewayError('NOT_FOUND', 'No such card request');
    assertStatusAllows(current, 'correct');
    const needs = locksFor(current, correction);
    if (needs.some((lock) => !held.includes(lock))) return { needs };
    const merged = mergedRequest(current, correction);
    const today = todayInVietnam(this.deps.now?.() ?? new Date());
    reissueRules(this.deps.catalogues, today)(merged);
    const person = await knownPersonInTx(tx, namedPerson(merged));
    const refusal = await reissueRefusalInTx(tx, { nguoi: merged.nguoi, person, lyDo: merged.lyDo }, (transfer) => mayTouch(transfer, client), current.id);
    if (refusal) throw refusal;
    const corrected = await changeTransferInTx(
      tx,
      current,
      {
        status: current.status,
        document: { ...merged },
        soDinhDanh: person.soDinhDanh ?? '',
        maSoBhxh: person.maSoBhxh ?? null,
        maDonVi: merged.maCoQuan,
        bhxhDocument: reissueRecord(merged, current.id, mustParseCalendarDate(current.dueOn)),
      },
      { actor: client.id, action: 'cap-lai-the.corrected', payload: merged, details: { fields: Object.keys(correction).map((key) => `/${key}`) } },
    ).catch((error: unknown) => {
      throw asDuplicateRequest(error, personPath(merged.nguoi));
    });
    return { corrected };
  }
}

/** The stored request with the correction over it: `nguoi` and `thayDoi` field by field, the rest whole. */
function mergedRequest(current: Transfer, correction: ReissueCorrection): CapLaiThe {
  const before = validateDocument<CapLaiThe>('CapLaiThe', current.document);
  const { nguoi, thayDoi, ...rest } = correction;
  return validateDocument<CapLaiThe>('CapLaiThe', {
    ...before,
    ...rest,
    nguoi: { ...before.nguoi, ...nguoi },
    ...(before.thayDoi || thayDoi ? { thayDoi: { ...before.thayDoi, ...thayDoi } } : {}),
  });
}

/**
 * The person locks of the request as stored (by the numbers the gateway keeps for it) and as
 * corrected, as far as can be told before validation.
 */
function locksFor(transfer: Transfer, correction: ReissueCorrection): string[] {
  const stored = transfer.document as unknown as CapLaiThe;
  const nguoi = normaliseDocument({ ...stored.nguoi, ...correction.nguoi }, 0, '/nguoi') as CapLaiThe['nguoi'];
  const kept = { ...(transfer.soDinhDanh ? { soDinhDanh: transfer.soDinhDanh } : {}), ...(transfer.maSoBhxh ? { maSoBhxh: transfer.maSoBhxh } : {}) };
  const next = namedPerson({ nguoi, maThe: typeof correction.maThe === 'string' ? correction.maThe : stored.maThe });
  return [...new Set([...reissueLocks(kept), ...reissueLocks(namedPerson(stored)), ...reissueLocks(next)])];
}
