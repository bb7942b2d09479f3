import type { ApiClient } from '../auth/clients.js';
import { GatewayError } from '../errors.js';
import type { Database } from '../store/database.js';
import { changeTransferInTx, lockTransferInTx, type Transfer } from '../store/transfers.js';
import { assertMayTouch, assertStatusAllows } from './access.js';

/** The registry's (or an operator's) "send it again", the same for every message type. */
export class Resends {
  constructor(private readonly db: Database) {}

  /** After BHXH returned a record and the officer checked it: send it again (→ queued). */
  async resend(transferId: string, client: ApiClient): Promise<Transfer> {
    return this.db.transaction(async (tx) => {
      const current = assertMayTouch(await lockTransferInTx(tx, transferId), client);
      assertStatusAllows(current, 'resend');
      if (current.missing.length > 0 || current.bhxhDocument === null) {
        throw new GatewayError('INVALID_STATE', 'The transfer is incomplete; correct it first',
          current.missing.map((path) => ({ path, code: 'MISSING', message: 'needed for the BHXH document' })));
      }
      return changeTransferInTx(tx, current, { status: 'queued' }, { actor: client.id, action: 'transfer.resend' });
    });
  }
}
