import type { FastifyInstance } from 'fastify';
import type { AuditLog } from '../../src/audit/audit-log.js';
import type { Catalogues } from '../../src/catalogues/catalogues.js';
import type { BatchOverview } from '../../src/dispatch/batch-overview.js';
import type { CallbackFailures } from '../../src/dispatch/callback-failures.js';
import type { CallbackOperations } from '../../src/dispatch/callbacks.js';
import type { DispatchHolds } from '../../src/dispatch/dispatch-holds.js';
import type { Dispatcher } from '../../src/dispatch/dispatcher.js';
import type { StaleDossiers } from '../../src/messages/dossier/stale.js';
import type { ListOverview } from '../../src/messages/pupil-list/list-overview.js';
import type { PupilLists } from '../../src/messages/pupil-list/list-service.js';
import type { Replays } from '../../src/transfers/replays.js';
import type { TransferReads } from '../../src/transfers/transfer-reads.js';
import { dossierPages } from './dossier-pages.js';
import { listPages } from './list-pages.js';
import { operationPages } from './operation-pages.js';
import { bulkReplayPages } from './replay-pages.js';
import { reissuePages } from './reissue-pages.js';
import { reportPages } from './report-pages.js';
import { transferPages } from './transfer-pages.js';

/** The services behind the operator API, which the console's pages call directly (no HTTP to itself). */
export interface SectionServices {
  reads: TransferReads;
  auditLog: AuditLog;
  replays: Replays;
  holds: DispatchHolds;
  dispatcher: Dispatcher;
  batches: BatchOverview;
  callbacks: CallbackOperations;
  callbackFailures: CallbackFailures;
  catalogues: Catalogues;
  dossiers: StaleDossiers;
  /** How long a one-stop dossier waits before the console lists it, unless the operator asks otherwise (STALE_DOSSIER_DAYS). */
  staleAfterDays: number;
  lists: PupilLists;
  listOverview: ListOverview;
  now: () => Date;
}

/** The console's sections (layout.ts SECTIONS lists them for the menu); a new one is a module here. */
export function consoleSections(app: FastifyInstance, services: SectionServices): void {
  transferPages(app, services);
  bulkReplayPages(app, services);
  operationPages(app, services);
  reportPages(app, services);
  dossierPages(app, services);
  reissuePages(app, services);
  listPages(app, services);
}
