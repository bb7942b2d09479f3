import { actsForProvince, type ApiClient } from '../../auth/clients.js';
import type { Catalogues } from '../../catalogues/catalogues.js';
import { todayInVietnam } from '../../domain/calendar-date.js';
import type { BhytPart, KhaiSinh, KhaiSinhHoTich } from '../../domain/documents.js';
import { GatewayError } from '../../errors.js';
import { normaliseText, validateDocument } from '../../intake/validator.js';
import { attachmentReferences } from '../../store/attachments.js';
import type { Database, Queryable } from '../../store/database.js';
import { changeTransferInTx, findTransfer, lockTransferInTx, type Transfer } from '../../store/transfers.js';
import { assertMayTouch, assertStatusAllows } from '../../transfers/access.js';
import { cardState } from './card.js';
import { birthRules } from './module.js';
import { asBirthAlreadyHeld, birthOfDeceased, isRegisteredDeadInTx } from './standing.js';

/** The parts of a birth a registry completes or corrects (PATCH /ngsp/v1/khai-sinh/{transferId}). */
export interface BirthCorrection {
  bhyt?: BhytPart;
  hoTich?: Partial<KhaiSinhHoTich>;
}

export class BirthCorrections {
  constructor(private readonly deps: { db: Database; catalogues: Catalogues; now?: () => Date }) {}

  /**
   * Completes or corrects a birth. The merged document passes the same schema and rules as at intake,
   * so a correction can never store what intake would have refused; error paths point into it. It
   * holds the locks of the person it was about and of the person it is about now, as a birth or a
   * death of either would, so none of them can interleave with it.
   */
  async correct(transferId: string, correction: BirthCorrection, client: ApiClient): Promise<Transfer> {
    // The persons are known only from the row; read first, and again under the locks in case it changed.
    let locks = personLocks(await findTransfer(this.deps.db, transferId), correction);
    for (;;) {
      const outcome = await this.deps.db.transaction((tx) => this.correctInTx(tx, transferId, correction, client, locks), { locks });
      if (outcome.corrected) return outcome.corrected;
      locks = outcome.needs;
    }
  }

  private async correctInTx(
    tx: Queryable, transferId: string, correction: BirthCorrection, client: ApiClient, held: string[],
  ): Promise<{ corrected: Transfer; needs?: undefined } | { corrected?: undefined; needs: string[] }> {
    const current = assertMayTouch(await lockTransferInTx(tx, transferId), client);
    if (current.type !== 'KHAI_SINH') throw new GatewayError('NOT_FOUND', 'No such birth transfer');
    assertStatusAllows(current, 'correct');
    const before = validateDocument<KhaiSinh>('KhaiSinh', current.document);
    const merged = validateDocument<KhaiSinh>('KhaiSinh', {
      ...before,
      ...(before.bhyt || correction.bhyt ? { bhyt: { ...before.bhyt, ...correction.bhyt } } : {}),
      hoTich: { ...before.hoTich, ...correction.hoTich },
    });
    const needs = [...new Set([`person:${current.soDinhDanh}`, `person:${merged.hoTich.soDinhDanh}`])];
    if (needs.some((lock) => !held.includes(lock))) return { needs };
    if (!actsForProvince(client, merged.hoTich.noiDangKy.maTinh)) {
      throw new GatewayError('FORBIDDEN', 'The corrected province is outside this client\'s units');
    }
    birthRules(this.deps.catalogues, todayInVietnam(this.deps.now?.() ?? new Date()))(merged);
    if (await isRegisteredDeadInTx(tx, merged.hoTich.soDinhDanh)) throw birthOfDeceased();
    const { missing, status, bhxhDocument, filesNotCited } = cardState(merged, transferId, await attachmentReferences(tx, transferId), current.status);
    const corrected = await changeTransferInTx(
      tx,
      current,
      {
        status,
        document: { ...merged },
        missing,
        soDinhDanh: merged.hoTich.soDinhDanh,
        maTinh: merged.hoTich.noiDangKy.maTinh,
        maDonVi: merged.maDonVi,
        bhxhDocument,
      },
      {
        actor: client.id,
        action: 'khai-sinh.corrected',
        payload: merged,
        details: { fields: correctedFields(correction), ...(missing.length ? { missing } : {}), ...(filesNotCited ? { filesNotCited } : {}) },
      },
    ).catch((error: unknown) => {
      throw asBirthAlreadyHeld(error);
    });
    return { corrected };
  }
}

/** The locks a correction of this birth would need, as far as can be told before its row is locked. */
function personLocks(transfer: Transfer | null, correction: BirthCorrection): string[] {
  if (!transfer) return [];
  const next = correction.hoTich?.soDinhDanh;
  return [...new Set([`person:${transfer.soDinhDanh}`, `person:${typeof next === 'string' ? normaliseText(next) : transfer.soDinhDanh}`])];
}

function correctedFields(correction: BirthCorrection): string[] {
  return [
    ...Object.keys(correction.bhyt ?? {}).map((key) => `/bhyt/${key}`),
    ...Object.keys(correction.hoTich ?? {}).map((key) => `/hoTich/${key}`),
  ];
}
