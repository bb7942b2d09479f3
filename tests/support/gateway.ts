import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { buildApp } from '../../src/app.js';
import { ClientRegistry, sha256OfKey, type Role } from '../../src/auth/clients.js';
import { Catalogues } from '../../src/catalogues/catalogues.js';
import { FacilityCatalogue } from '../../src/catalogues/facility-catalogue.js';
import { UnitCatalogue } from '../../src/catalogues/unit-catalogue.js';
import { loadConfig, type GatewayConfig } from '../../src/config.js';
import { deleteQueueKeys } from '../../src/redis.js';

export { deleteQueueKeys };
import { loggerOptions } from '../../src/logger.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { migrate } from '../../src/store/migrate.js';
import { TEST_NOW } from './fixtures.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestClient {
  id: string;
  key: string;
  roles: Role[];
  units: string[];
}

/** The clients every test gateway knows, by a short name. */
export const TEST_CLIENTS = {
  registry08: { id: 'hotich-08', roles: ['registry'], units: ['08'] },
  registry08b: { id: 'motcua-08', roles: ['registry'], units: ['08'] },
  registry01: { id: 'hotich-01', roles: ['registry'], units: ['01'] },
  bhxh08: { id: 'bhxh-08', roles: ['bhxh'], units: ['08'] },
  operator: { id: 'ops-all', roles: ['operator'], units: ['*'] },
  operator01: { id: 'ops-01', roles: ['operator'], units: ['01'] },
  auditor: { id: 'audit', roles: ['auditor'], units: ['*'] },
  // A BHXH office's two least-privilege accounts (docs/DOMAIN.md, "Card re-issue and change").
  reissue08: { id: 'tkcl-08', roles: ['reissue'], units: ['08'] },
  reissue08b: { id: 'tkcl-08-huyen', roles: ['reissue'], units: ['08'] },
  correction08: { id: 'tkhctt-08', roles: ['correction'], units: ['08'] },
  reissue01: { id: 'tkcl-01', roles: ['reissue'], units: ['01'] },
} satisfies Record<string, Omit<TestClient, 'key'>>;

export type ClientName = keyof typeof TEST_CLIENTS;

export function uniqueSchema(prefix = 't'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export interface TestGateway {
  app: FastifyInstance;
  db: Database;
  schema: string;
  config: GatewayConfig;
  keys: Record<ClientName, string>;
  /** Every log line the gateway wrote, for checking what reaches the logs. */
  logLines: string[];
  /** `app.inject` as one of the test clients. */
  request(as: ClientName | null, options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  /** Reuse a schema (a second process on the same database); otherwise a fresh one. */
  schema?: string;
  units?: UnitCatalogue;
  facilities?: FacilityCatalogue;
  /** Catalogues loaded from files (to test reloading); otherwise built from `units` and `facilities`. */
  catalogues?: Catalogues;
  now?: () => Date;
  env?: Record<string, string>;
  /** Keep the schema when closing (another gateway still uses it). */
  keepSchema?: boolean;
  /** Start the dispatcher's schedulers and workers, on a queue prefix of this test's own. */
  startDispatcher?: boolean;
  clients?: Array<{ id: string; keySha256: string; roles: Role[]; units: string[]; callbackUrl?: string; callbackSecret?: string }>;
  /** Instead of the test clients: these (a registry read from a file, to test reloading it). */
  clientRegistry?: ClientRegistry;
}

/** A gateway on the real PostgreSQL (its own schema) and Redis, with known keys. */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const schema = options.schema ?? uniqueSchema();
  const config = loadConfig({
    DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: TEST_REDIS_URL, DATABASE_SCHEMA: schema, QUEUE_PREFIX: `lt-${schema}`,
    // Tests point BHXH_PUSH_URL at a simulator of their own when they want deliveries.
    BHXH_SIMULATOR: 'off',
    ...options.env,
  });
  const db = await openDatabase({ url: config.databaseUrl, schema, dataDir: config.dataDir });
  await migrate(db);
  const redis = new Redis(TEST_REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
  // The app reports Redis's state itself; an unhandled 'error' event would only print noise.
  redis.on('error', () => undefined);
  await redis.connect();
  const keys = Object.fromEntries(
    Object.keys(TEST_CLIENTS).map((name) => [name, `key-${name}-${randomBytes(8).toString('hex')}`]),
  ) as Record<ClientName, string>;
  const clients = options.clientRegistry ?? new ClientRegistry(
    (Object.entries(TEST_CLIENTS) as Array<[ClientName, Omit<TestClient, 'key'>]>).map(([name, client]) => ({
      ...client,
      keySha256: sha256OfKey(keys[name]),
    })).concat(options.clients ?? []),
  );
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const logger = pino(loggerOptions('info'), sink);
  const catalogues = options.catalogues ?? new Catalogues(
    options.units ?? UnitCatalogue.fromFile(config.unitsFile),
    options.facilities ?? FacilityCatalogue.fromFile(config.facilitiesFile),
  );
  const app = await buildApp({
    config, db, redis, redisUrl: TEST_REDIS_URL, startDispatcher: options.startDispatcher, clients, catalogues, logger,
    now: options.now ?? (() => TEST_NOW),
  });
  return {
    app, db, schema, config, keys, logLines,
    request(as, injectOptions) {
      const headers = { ...(injectOptions.headers ?? {}) } as Record<string, string>;
      if (as) headers.authorization = `Bearer ${keys[as]}`;
      return app.inject({ ...injectOptions, headers });
    },
    async close() {
      await app.close();
      if (!options.keepSchema) await deleteQueueKeys(redis, config.queuePrefix);
      redis.disconnect();
      if (!options.keepSchema) await db.exec(`DROP SCHEMA ${schema} CASCADE`);
      await db.close();
    },
  };
}

export async function countRows(db: Database, table: string): Promise<number> {
  const { rows } = await db.query<{ count: string }>(`SELECT count(*) AS count FROM ${table}`);
  return Number(rows[0]?.count ?? 0);
}

