import { actsForProvince, type ApiClient } from '../auth/clients.js';
import {
  CORRECTABLE_STATUSES, FINAL_STATUSES, RESENDABLE_STATUSES, TRANSFER_STATES, WITHDRAWABLE_STATUSES, type TransferStatus,
} from '../domain/transfer-status.js';
import { GatewayError } from '../errors.js';
import { readableKindsOf } from '../messages/registry.js';
import type { Transfer } from '../store/transfers.js';

/**
 * Who may touch a transfer: the registry client that sent it; operators within their provinces; a
 * kind-limited role (a BHXH office's re-issue accounts) the transfers of its kinds within its
 * provinces, whichever office of them sent it. Others are told it does not exist, so ids of other
 * units' records reveal nothing.
 */
export function assertMayTouch(transfer: Transfer | null, client: ApiClient): Transfer {
  if (transfer === null || !mayTouch(transfer, client)) throw new GatewayError('NOT_FOUND', 'No such transfer');
  return transfer;
}

/** Whether the client may see the transfer at all: what assertMayTouch decides, for a refusal that may name it or not. */
export function mayTouch(transfer: Transfer, client: ApiClient): boolean {
  const ofItsKinds = readableKindsOf(client).some((kind) => kind.type === transfer.type && transfer.reason !== null && kind.reasons.includes(transfer.reason));
  return client.roles.includes('registry') && transfer.clientId === client.id
    ? true
    : (client.roles.includes('operator') || client.roles.includes('auditor') || ofItsKinds) && actsForProvince(client, transfer.maTinh);
}

/** What a registry (or an operator) asks of a transfer it may touch; the state table says in which statuses. */
export type RegistryAction = 'correct' | 'resend' | 'withdraw';

const ALLOWED_IN: Record<RegistryAction, readonly TransferStatus[]> = {
  correct: CORRECTABLE_STATUSES, resend: RESENDABLE_STATUSES, withdraw: WITHDRAWABLE_STATUSES,
};
const DONE: Record<RegistryAction, string> = { correct: 'corrected', resend: 'resent', withdraw: 'withdrawn' };

/**
 * Where a record that left the gateway is while BHXH has not answered it. Neither the registry nor an
 * operator may change it then: what BHXH works on must be what it was sent; only BHXH's answer
 * (a return) gives it back.
 */
const WITH_BHXH: Partial<Record<TransferStatus, string>> = {
  sending: 'it is in a batch on its way to BHXH, not yet acknowledged',
  sent: 'BHXH has it and has not answered yet',
};

/** Refuses, with 409 INVALID_STATE and a message the officer can act on, what the transfer's status does not allow. */
export function assertStatusAllows(transfer: Transfer, action: RegistryAction): void {
  if (ALLOWED_IN[action].includes(transfer.status)) return;
  throw new GatewayError('INVALID_STATE', refusalFor(transfer.status, action));
}

const nameOf = (status: TransferStatus) => `${status} (${TRANSFER_STATES[status].vietnamese})`;
const eitherOf = new Intl.ListFormat('en-GB', { type: 'disjunction' });

function refusalFor(status: TransferStatus, action: RegistryAction): string {
  const named = nameOf(status);
  const withBhxh = WITH_BHXH[status];
  if (withBhxh) return `The transfer is ${named}: ${withBhxh}; it can be ${DONE[action]} only if BHXH returns it`;
  if (FINAL_STATUSES.includes(status)) return `The transfer is ${named}, a final status: it can no longer be ${DONE[action]}`;
  return `The transfer is ${named}: only a ${eitherOf.format(ALLOWED_IN[action].map(nameOf))} transfer can be ${DONE[action]}`;
}
