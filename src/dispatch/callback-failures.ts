import { provinceScope, type ApiClient } from '../auth/clients.js';
import { failingCallbacksByClient, type ClientCallbackFailures } from '../store/callback-failures.js';
import type { Queryable } from '../store/database.js';

export type { ClientCallbackFailures };

/** The console's view of callbacks that do not get through: one line per receiving client. */
export class CallbackFailures {
  constructor(private readonly db: Queryable) {}

  /** Per client, within the operator's provinces. */
  byClient(operator: ApiClient): Promise<ClientCallbackFailures[]> {
    return failingCallbacksByClient(this.db, provinceScope(operator));
  }
}
