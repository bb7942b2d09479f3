import type { AuditEvent } from '../store/audit-log.js';
import type { DeliveryHistory } from '../store/batches.js';
import type { Transfer } from '../store/transfers.js';

/** A transfer as the registry and operators read it (docs/API.md, "One transfer"): summary for lists. */
export function transferSummary(transfer: Transfer) {
  return {
    transferId: transfer.id,
    messageId: transfer.messageId,
    type: transfer.type,
    status: transfer.status,
    maTinh: transfer.maTinh,
    maDonVi: transfer.maDonVi,
    maHoSo: transfer.maHoSo,
    missing: transfer.missing,
    errors: transfer.status === 'returned' ? transfer.bhxhErrors ?? [] : [],
    ...(transfer.reason !== null ? { reason: transfer.reason } : {}),
    ...(transfer.dueOn !== null ? { hanTra: transfer.dueOn } : {}),
    createdAt: transfer.createdAt,
    updatedAt: transfer.updatedAt,
  };
}

/** The whole transfer: its document, the BHXH document as it will be (or was) sent, card, history. */
export function transferDetail(transfer: Transfer, history: AuditEvent[], deliveries: DeliveryHistory[] = []) {
  return {
    ...transferSummary(transfer),
    document: transfer.document,
    bhxhDocument: transfer.bhxhDocument,
    card: transfer.card,
    deliveries,
    history: history.map((event) => ({
      seq: event.seq,
      at: event.at,
      actor: event.actor,
      action: event.action,
      fromStatus: event.fromStatus,
      toStatus: event.toStatus,
      ...(event.details ? { details: event.details } : {}),
    })),
  };
}
