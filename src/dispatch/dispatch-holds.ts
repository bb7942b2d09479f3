import { actsForProvince, provinceScope, type ApiClient } from '../auth/clients.js';
import { GatewayError } from '../errors.js';
import type { Database } from '../store/database.js';
import { listPaused, setPaused } from '../store/dispatch-pauses.js';

/** Provinces whose records wait `queued` while an operator holds them (docs/API.md, "Operators"). */
export class DispatchHolds {
  constructor(private readonly db: Database) {}

  /**
   * Holds or releases one province, or every one without `maTinh` ('*'), which only an operator of
   * every province may do. Answers the provinces held afterwards.
   */
  async set(client: ApiClient, maTinh: string | undefined, paused: boolean): Promise<string[]> {
    const province = maTinh ?? '*';
    const allowed = province === '*' ? provinceScope(client) === undefined : actsForProvince(client, province);
    if (!allowed) throw new GatewayError('FORBIDDEN', `Province ${province} is outside this operator's units`);
    return setPaused(this.db, province, paused, client.id);
  }

  list(): Promise<string[]> {
    return listPaused(this.db);
  }
}
