import type { ApiClient } from '../../auth/clients.js';
import { GatewayError } from '../../errors.js';
import type { Database } from '../../store/database.js';
import { changeTransferInTx, lockTransferInTx, type Transfer } from '../../store/transfers.js';
import { assertMayTouch, assertStatusAllows } from '../../transfers/access.js';

/**
 * An office gives up a card request BHXH returned or that could not be delivered (POST
 * /ngsp/v1/cap-lai-the/{transferId}/withdraw): `closed`, with its reason audited. An open request
 * blocks another for the person (docs/DOMAIN.md, "Card re-issue and change"); this is the way out
 * when it is not to be sent again. Who may: an account of its kind and province, or an operator of it.
 */
export class ReissueWithdrawals {
  constructor(private readonly db: Database) {}

  async withdraw(transferId: string, reason: string, client: ApiClient): Promise<Transfer> {
    return this.db.transaction(async (tx) => {
      const current = assertMayTouch(await lockTransferInTx(tx, transferId), client);
      if (current.type !== 'CAP_LAI_THE') throw new GatewayError('NOT_FOUND', 'No such card request');
      assertStatusAllows(current, 'withdraw');
      return changeTransferInTx(tx, current, { status: 'closed' }, { actor: client.id, action: 'cap-lai-the.withdrawn', details: { reason } });
    });
  }
}
