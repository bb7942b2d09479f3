import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { apiDocsPlugin } from '../adapters/api-docs.js';
import { auditApiPlugin } from '../adapters/audit-api.js';
import { healthPlugin } from '../adapters/health.js';
import { ngspRestPlugin } from '../adapters/ngsp-rest.js';
import { ngspSoapPlugin } from '../adapters/ngsp-soap.js';
import { bhxhPullPlugin } from '../adapters/bhxh-pull.js';
import { consolePlugin } from '../adapters/console/console-plugin.js';
import { BhxhPushClient } from '../adapters/bhxh-push-client.js';
import { readJsonOrNothing } from '../adapters/content-types.js';
import { opsApiPlugin } from '../adapters/ops-api.js';
import { opsCallbacksPlugin } from '../adapters/ops-callbacks.js';
import { opsDossiersPlugin } from '../adapters/ops-dossiers.js';
import { tsListsPlugin } from '../adapters/ts-lists.js';
import { AuditLog } from './audit/audit-log.js';
import { ConsoleSessions } from './auth/console-sessions.js';
import { BatchOverview } from './dispatch/batch-overview.js';
import { CheckpointSchedule, loadAuditKeys } from './audit/checkpoints.js';
import { CallbackFailures } from './dispatch/callback-failures.js';
import { CallbackDelivery, CallbackOperations } from './dispatch/callbacks.js';
import { DispatchHolds } from './dispatch/dispatch-holds.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { PullBatches } from './dispatch/pull-batches.js';
import { Replays } from './transfers/replays.js';
import type { ClientRegistry } from './auth/clients.js';
import type { Catalogues } from './catalogues/catalogues.js';
import type { GatewayConfig } from './config.js';
import { authPlugin } from './http/auth-plugin.js';
import { bodyBudgetPlugin } from './http/body-budget.js';
import { errorHandlerPlugin } from './http/error-handler.js';
import { IntakeService } from './intake/intake-service.js';
import { BirthCorrections } from './messages/birth/corrections.js';
import { StaleDossiers } from './messages/dossier/stale.js';
import { ListOverview } from './messages/pupil-list/list-overview.js';
import { PupilLists } from './messages/pupil-list/list-service.js';
import { ReissueCorrections } from './messages/reissue/corrections.js';
import { ReissueWithdrawals } from './messages/reissue/withdrawals.js';
import { createMetrics, type GatewayMetrics } from './metrics.js';
import { Readiness } from './readiness.js';
import type { Database } from './store/database.js';
import { Resends } from './transfers/resends.js';
import { TransferReads } from './transfers/transfer-reads.js';

declare module 'fastify' {
  interface FastifyInstance {
    dispatcher: Dispatcher;
    metrics: GatewayMetrics;
  }
}

export interface GatewayDependencies {
  config: GatewayConfig;
  db: Database;
  redis: Redis;
  /** Where BullMQ connects; the dispatcher opens and closes its own connection. */
  redisUrl: string;
  /** Start this process's schedulers and workers (a gateway process does; most tests do not). */
  startDispatcher?: boolean;
  clients: ClientRegistry;
  catalogues: Catalogues;
  logger: Logger;
  now?: () => Date;
}

/**
 * The HTTP face of the gateway: one plugin per door and concern, and the dispatcher behind them. It
 * closes what it opened (the dispatcher); the database and Redis belong to the caller.
 */
export async function buildApp(deps: GatewayDependencies): Promise<FastifyInstance> {
  const { config, db } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimit,
    // Success is counted in /metrics; refusals and failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    // Unknown fields are an error the sender should hear about, not something to drop silently.
    ajv: { customOptions: { removeAdditional: false, allErrors: true } },
    return503OnClosing: true,
    // Node's own 300 s for a whole request, which fastify turns off by default: a client that announces
    // a large body and stalls would otherwise hold its share of LARGE_BODIES_IN_FLIGHT for ever.
    requestTimeout: 300_000,
    // Behind a TLS-terminating proxy: X-Forwarded-Proto says https, and the console's cookie is Secure.
    trustProxy: config.trustProxy,
  });
  const now = deps.now ?? (() => new Date());
  const metrics = createMetrics(db);
  const intake = new IntakeService({ db, catalogues: deps.catalogues, now });
  const birthCorrections = new BirthCorrections({ db, catalogues: deps.catalogues, now });
  const reads = new TransferReads(db);
  // The two refer to each other: a bulk replay is queued by the dispatcher and run by the replays.
  const replays: Replays = new Replays({ db, enqueue: (jobId) => dispatcher.enqueueReplay(jobId) });
  const staleDossiers = new StaleDossiers({ db, catalogues: deps.catalogues, now, retentionDays: config.dossierAttachmentRetentionDays });
  const dispatcher: Dispatcher = new Dispatcher({
    config, db, redisUrl: deps.redisUrl, clients: deps.clients, logger: deps.logger, metrics,
    bhxh: config.bhxhPushUrl
      ? new BhxhPushClient({ baseUrl: config.bhxhPushUrl, token: config.bhxhPushToken, timeoutMs: config.bhxhTimeoutMs })
      : undefined,
    maintenanceTasks: [async () => {
      const purged = await staleDossiers.purgeIfDue();
      if (purged?.dossiers) deps.logger.info(purged, 'files of stale one-stop dossiers purged after the retention period');
    }],
    replayProcessor: async (job) => {
      try {
        await replays.processBulk(job.data.replayJobId);
      } catch (error) {
        // Out of attempts: the progress view must say so rather than show `running` forever.
        if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) await replays.markFailed(job.data.replayJobId);
        throw error;
      }
    },
  });
  app.decorate('dispatcher', dispatcher);
  app.addHook('onClose', () => dispatcher.close());
  app.decorate('metrics', metrics);
  app.addHook('onClose', () => metrics.transferCounts.stop());
  // Callbacks need no Redis: PostgreSQL's outbox and leases share them among processes.
  const callbacks = new CallbackDelivery({
    db, logger: deps.logger, metrics, clients: deps.clients.withCallbacks(), knownClientIds: deps.clients.ids(), timeoutMs: config.callbackTimeoutMs,
    baseDelayMs: config.retryBaseDelayMs, concurrency: config.callbackConcurrency, intervalMs: config.maintenanceIntervalMs,
  });
  await callbacks.subscribe();
  // A rotated clients file may add, change or withdraw a callback address: delivery follows it.
  const stopFollowing = deps.clients.onReload(() => {
    void callbacks.follow(deps.clients.withCallbacks(), deps.clients.ids()).catch((error: Error) => {
      deps.logger.warn({ error: error.message }, 'callbacks: subscriptions not updated after the clients file changed');
    });
  });
  // The registry outlives this app in tests and may be handed to the next: it must not call a closed one.
  app.addHook('onClose', () => {
    stopFollowing();
    return callbacks.close();
  });

  // Operator and BHXH bodies are JSON only; the registry doors register their own readers.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, readJsonOrNothing(body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(errorHandlerPlugin);
  await app.register(authPlugin, { clients: deps.clients });
  await app.register(bodyBudgetPlugin, { bytes: config.largeBodiesInFlight, largeBody: config.bodyLimit, unknownLength: config.motCuaBodyLimit });
  await app.register(apiDocsPlugin);
  await app.register(healthPlugin, { readiness: new Readiness({ db, redis: deps.redis }), metrics, metricsToken: config.metricsToken });
  await app.register(ngspRestPlugin, {
    reads, intake, birthCorrections, reissueCorrections: new ReissueCorrections({ db, catalogues: deps.catalogues, now }),
    reissueWithdrawals: new ReissueWithdrawals(db),
    resends: new Resends(db), bodyLimit: config.bodyLimit, attachmentBodyLimit: config.motCuaBodyLimit,
  });
  await app.register(ngspSoapPlugin, { intake, bodyLimit: config.bodyLimit, attachmentBodyLimit: config.motCuaBodyLimit });
  const auditKeys = loadAuditKeys({ signingKeyFile: config.auditSigningKeyFile, publicKeyFile: config.auditPublicKeyFile });
  const auditLog = new AuditLog(db, {
    keys: auditKeys, checkpointDir: config.auditCheckpointDir, databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema,
  });
  const holds = new DispatchHolds(db);
  const callbackOperations = new CallbackOperations(db);
  await app.register(auditApiPlugin, { auditLog });
  app.addHook('onClose', () => auditLog.close());
  const checkpoints = auditKeys.signing && new CheckpointSchedule({
    db, signing: auditKeys.signing, verifying: auditKeys.verifying, dir: config.auditCheckpointDir, intervalMs: config.auditCheckpointSeconds * 1000, logger: deps.logger,
  });
  if (checkpoints) app.addHook('onClose', () => checkpoints.close());
  await app.register(opsApiPlugin, {
    reads, dispatcher, holds, replays, catalogues: deps.catalogues, intervalMs: config.dispatchIntervalMs, now,
  });
  await app.register(opsCallbacksPlugin, { callbacks: callbackOperations });
  const pupilLists = new PupilLists({ db, catalogues: deps.catalogues, now });
  await app.register(consolePlugin, {
    sessions: new ConsoleSessions({ db, clients: deps.clients, lifetimeMs: config.consoleSessionMs }),
    reads, auditLog, replays, holds, dispatcher, batches: new BatchOverview(db), callbacks: callbackOperations,
    callbackFailures: new CallbackFailures(db), dossiers: staleDossiers, staleAfterDays: config.staleDossierDays,
    lists: pupilLists, listOverview: new ListOverview(db),
    catalogues: deps.catalogues, now,
  });
  await app.register(opsDossiersPlugin, { dossiers: staleDossiers, reads, staleAfterDays: config.staleDossierDays });
  await app.register(tsListsPlugin, { lists: pupilLists, bodyLimit: config.motCuaBodyLimit });
  const pull = new PullBatches({
    db, metrics, maxBatchSize: config.dispatchBatchSize, countResults: (applied) => dispatcher.countResults(applied),
  });
  await app.register(bhxhPullPlugin, { pull, maxBatchSize: config.dispatchBatchSize });
  await app.ready();
  metrics.transferCounts.start(config.metricsRefreshMs, deps.logger);
  if (deps.startDispatcher) {
    await dispatcher.start();
    callbacks.start();
    checkpoints?.start();
  }
  return app;
}
