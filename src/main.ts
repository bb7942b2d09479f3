import { join } from 'node:path';
import { pino } from 'pino';
import { buildApp } from './app.js';
import { devCheckpointDir, ensureSigningKey, loadAuditKeys, publicKeyPem } from './audit/checkpoints.js';
import { ClientRegistry, ROLES } from './auth/clients.js';
import { Catalogues } from './catalogues/catalogues.js';
import { loadConfig } from './config.js';
import { loggerOptions } from './logger.js';
import { BhxhSimulator } from './dev/bhxh-simulator.js';
import { createRedisClient, ensureRedis, StartupError } from './redis.js';
import { openDatabase } from './store/database.js';
import { migrate } from './store/migrate.js';

/** Starts one gateway process: Redis found, database migrated, HTTP listening; stops cleanly on a signal. */
async function main() {
  const config = loadConfig();
  const logger = pino(loggerOptions(config.logLevel));
  const redisTarget = await ensureRedis(config.redisUrl, config.dataDir, logger);
  const db = await openDatabase({ url: config.databaseUrl, schema: config.databaseSchema, dataDir: join(config.dataDir, 'pglite') });
  const applied = await migrate(db);
  if (applied.length > 0) logger.info({ applied }, 'database migrated');
  const redis = createRedisClient(redisTarget.url);

  let clients: ClientRegistry;
  if (config.clientsFile) {
    clients = ClientRegistry.fromFile(config.clientsFile);
  } else {
    const dev = ClientRegistry.forDevelopment();
    clients = dev.registry;
    // Dev mode only: keys are fresh each start and grant every province, so printing them is the point.
    process.stdout.write(
      `lienthong dev mode (no CLIENTS_FILE): one key per role, valid until this process stops\n${ROLES.map((role) => `  ${role.padEnd(10)} Authorization: Bearer ${dev.keys[role]}`).join('\n')}\n`,
    );
  }

  let auditFiles = { auditSigningKeyFile: config.auditSigningKeyFile, auditCheckpointDir: config.auditCheckpointDir };
  if (!config.clientsFile) {
    // Dev mode signs its checkpoints too, with a key of its own that stays across restarts.
    const signingKeyFile = auditFiles.auditSigningKeyFile ?? join(config.dataDir, 'audit', 'signing-key.pem');
    const made = !config.auditSigningKeyFile && ensureSigningKey(signingKeyFile);
    auditFiles = { auditSigningKeyFile: signingKeyFile, auditCheckpointDir: auditFiles.auditCheckpointDir ?? await devCheckpointDir(db, join(config.dataDir, 'audit', 'checkpoints')) };
    const { verifying } = loadAuditKeys({ signingKeyFile });
    logger.info({ file: signingKeyFile, made, publicKey: verifying[0] && publicKeyPem(verifying[0]) }, 'dev mode: audit checkpoints signed with this key');
  } else if (!config.auditSigningKeyFile) {
    logger.warn('AUDIT_SIGNING_KEY_FILE is not set: no signed audit checkpoints, so the audit log holds only against whoever cannot write the database');
  } else if (!config.auditCheckpointDir) {
    logger.warn('AUDIT_CHECKPOINT_DIR is not set: signed audit checkpoints are kept only in the database, so whoever can write it can remove the newest of them and cut what they signed');
  }

  const catalogues = Catalogues.fromFiles({ units: config.unitsFile, facilities: config.facilitiesFile, holidays: config.holidaysFile });
  catalogues.watch(logger);
  // Keys are rotated by editing the clients file: no restart, and a broken file keeps the keys in use.
  clients.watch(logger);
  process.on('SIGHUP', () => {
    try {
      logger.info(catalogues.reload(), 'catalogues reloaded (SIGHUP)');
    } catch (error) {
      logger.error({ err: error }, 'catalogue reload failed: keeping the lists in use');
    }
    if (config.clientsFile) clients.reloadAndLog(logger, 'SIGHUP');
  });
  const simulator = config.bhxhSimulator ? new BhxhSimulator({ keepHistory: false }) : undefined;
  const bhxhPushUrl = simulator ? await simulator.start() : config.bhxhPushUrl;
  if (simulator) {
    // Loud on purpose: a gateway answering with made-up cards must never pass for a real one.
    process.stdout.write(
      `lienthong: *** BHXH SIMULATOR RUNNING at ${bhxhPushUrl}: every record sent is answered with a made-up card ***\n`
      + `lienthong: dev mode only; set CLIENTS_FILE and BHXH_PUSH_URL (or BHXH_SIMULATOR=off) for real use. Dispatch every ${config.dispatchIntervalMs / 1000} s.\n`,
    );
    logger.warn({ bhxhPushUrl }, 'BHXH simulator running: dev mode only');
  }
  const app = await buildApp({
    config: { ...config, ...auditFiles, bhxhPushUrl }, db, redis, redisUrl: redisTarget.url, startDispatcher: true, clients, catalogues, logger,
  });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    stopping ??= (async () => {
      logger.info({ signal }, 'stopping');
      catalogues.close();
      clients.close();
      await app.close().catch((error) => logger.error({ err: error }, 'closing HTTP failed'));
      redis.disconnect();
      await db.close().catch((error) => logger.error({ err: error }, 'closing the database failed'));
      await simulator?.close();
      await redisTarget.stop();
    })().finally(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await app.listen({ port: config.port, host: config.host });
  logger.info({
    database: db.kind, redis: redisTarget.url, bhxh: simulator ? 'simulator' : bhxhPushUrl ?? 'pull only',
    console: `http://${config.host}:${config.port}/console/`,
  }, 'lienthong ready');
}

main().catch((error: unknown) => {
  const message = error instanceof StartupError || (error instanceof Error && /must be|clients file/.test(error.message))
    ? error.message
    : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`lienthong: ${message}\n`);
  process.exit(1);
});
