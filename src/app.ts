import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { apiDocsPlugin } from '../adapters/api-docs.js';
import { auditApiPlugin } from '../adapters/audit-api.js';
import { healthPlugin } from '../adapters/health.js';
import { ngspRestPlugin } from '../adapters/ngsp-rest.js';
import { ngspSoapPlugin } from '../adapters/ngsp-soap.js';
import type { ClientRegistry } from './auth/clients.js';
import type { UnitCatalogue } from './catalogues/unit-catalogue.js';
import type { GatewayConfig } from './config.js';
import { authPlugin } from './http/auth-plugin.js';
import { errorHandlerPlugin } from './http/error-handler.js';
import { IntakeService } from './intake/intake-service.js';
import { createMetrics } from './metrics.js';
import type { Database } from './store/database.js';
import { RegistryCorrections } from './transfers/registry-corrections.js';

export interface GatewayDependencies {
  config: GatewayConfig;
  db: Database;
  redis: Redis;
  clients: ClientRegistry;
  units: UnitCatalogue;
  logger: Logger;
  now?: () => Date;
}

/**
 * The HTTP face of the gateway: one plugin per door and concern. It closes nothing it did not open:
 * the database and Redis belong to the caller (src/main.ts, or a test).
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
  });
  const metrics = createMetrics(db);
  const intake = new IntakeService({ db, units: deps.units, now: deps.now });
  const corrections = new RegistryCorrections({ db, units: deps.units, now: deps.now });

  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(errorHandlerPlugin);
  await app.register(authPlugin, { clients: deps.clients });
  await app.register(apiDocsPlugin);
  await app.register(healthPlugin, { db, redis: deps.redis, metrics });
  await app.register(ngspRestPlugin, { db, intake, corrections, bodyLimit: config.bodyLimit });
  await app.register(ngspSoapPlugin, { intake, bodyLimit: config.bodyLimit });
  await app.register(auditApiPlugin, { db });
  await app.ready();
  return app;
}
