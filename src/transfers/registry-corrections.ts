import { actsForProvince, type ApiClient } from '../auth/clients.js';
import type { Catalogues } from '../catalogues/catalogues.js';
import { todayInVietnam } from '../domain/calendar-date.js';
import type { BhytPart, KhaiSinh, KhaiSinhHoTich } from '../domain/documents.js';
import { GatewayError, personDeceased } from '../errors.js';
import { cardState } from '../intake/intake-service.js';
import { attachmentReferences } from '../store/attachments.js';
import { checkKhaiSinh } from '../intake/khai-sinh-rules.js';
import { validateDocument } from '../intake/validator.js';
import type { Database } from '../store/database.js';
import { changeTransferInTx, isRegisteredDead, lockTransferInTx, type Transfer, type TransferStatus } from '../store/transfers.js';

export interface KhaiSinhCorrection {
  bhyt?: BhytPart;
  hoTich?: Partial<KhaiSinhHoTich>;
}

/**
 * Only a record that has not left for BHXH, or came back from it, may change (docs/DOMAIN.md,
 * "The birth → card procedure", step 3).
 */
const CORRECTABLE: TransferStatus[] = ['received', 'queued', 'returned'];

/**
 * Who may touch a transfer: the registry client that sent it; operators within their provinces.
 * Others are told it does not exist, so ids of other units' records reveal nothing.
 */
export function assertMayTouch(transfer: Transfer | null, client: ApiClient): Transfer {
  const visible =
    transfer !== null &&
    (client.roles.includes('registry') && transfer.clientId === client.id
      ? true
      : (client.roles.includes('operator') || client.roles.includes('auditor')) && actsForProvince(client, transfer.maTinh));
  if (!visible || transfer === null) throw new GatewayError('NOT_FOUND', 'No such transfer');
  return transfer;
}

export class RegistryCorrections {
  constructor(private readonly deps: { db: Database; catalogues: Catalogues; now?: () => Date }) {}

  /**
   * Completes or corrects a birth. The merged document passes the same schema and rules as at intake,
   * so a correction can never store what intake would have refused; error paths point into it.
   */
  async correctKhaiSinh(transferId: string, correction: KhaiSinhCorrection, client: ApiClient): Promise<Transfer> {
    return this.deps.db.transaction(async (tx) => {
      const current = assertMayTouch(await lockTransferInTx(tx, transferId), client);
      if (current.type !== 'KHAI_SINH') throw new GatewayError('NOT_FOUND', 'No such birth transfer');
      if (!CORRECTABLE.includes(current.status)) {
        throw new GatewayError('INVALID_STATE', `A ${current.status} transfer can no longer be corrected`);
      }
      const before = current.document as unknown as KhaiSinh;
      const merged = validateDocument<KhaiSinh>('KhaiSinh', {
        ...before,
        ...(before.bhyt || correction.bhyt ? { bhyt: { ...before.bhyt, ...correction.bhyt } } : {}),
        hoTich: { ...before.hoTich, ...correction.hoTich },
      });
      if (!actsForProvince(client, merged.hoTich.noiDangKy.maTinh)) {
        throw new GatewayError('FORBIDDEN', 'The corrected province is outside this client\'s units');
      }
      checkKhaiSinh(merged, this.deps.catalogues, todayInVietnam(this.deps.now?.() ?? new Date()));
      if (await isRegisteredDead(tx, merged.hoTich.soDinhDanh)) throw personDeceased();
      const { missing, status, bhxhDocument } = cardState(merged, transferId, await attachmentReferences(tx, transferId), current.status);
      return changeTransferInTx(
        tx,
        current,
        {
          status,
          document: merged as unknown as Record<string, unknown>,
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
          details: { fields: correctedFields(correction), ...(missing.length ? { missing } : {}) },
        },
      );
    });
  }

  /** After BHXH returned a record and the officer checked it: send it again (→ queued). */
  async resend(transferId: string, client: ApiClient): Promise<Transfer> {
    return this.deps.db.transaction(async (tx) => {
      const current = assertMayTouch(await lockTransferInTx(tx, transferId), client);
      if (current.status !== 'returned') {
        throw new GatewayError('INVALID_STATE', `Only a returned transfer can be resent; this one is ${current.status}`);
      }
      if (current.missing.length > 0 || current.bhxhDocument === null) {
        throw new GatewayError('INVALID_STATE', 'The transfer is incomplete; correct it first',
          current.missing.map((path) => ({ path, code: 'MISSING', message: 'needed for the BHXH document' })));
      }
      return changeTransferInTx(tx, current, { status: 'queued' }, { actor: client.id, action: 'transfer.resend' });
    });
  }
}

function correctedFields(correction: KhaiSinhCorrection): string[] {
  return [
    ...Object.keys(correction.bhyt ?? {}).map((key) => `/bhyt/${key}`),
    ...Object.keys(correction.hoTich ?? {}).map((key) => `/hoTich/${key}`),
  ];
}
