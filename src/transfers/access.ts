import { actsForProvince, type ApiClient } from '../auth/clients.js';
import { GatewayError } from '../errors.js';
import type { Transfer } from '../store/transfers.js';

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
