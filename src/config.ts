import { resolve } from 'node:path';
import { packagePath } from './package-files.js';

/** Everything the gateway reads from its environment (docs/API.md, "Settings"), checked once at start. */
export interface GatewayConfig {
  port: number;
  host: string;
  databaseUrl?: string;
  /** Schema to create and use in PostgreSQL; tests give each file its own. */
  databaseSchema?: string;
  dataDir: string;
  /** Unset means the contract default, and lets dev mode start a private redis-server. */
  redisUrl?: string;
  queuePrefix: string;
  dispatchIntervalMs: number;
  dispatchBatchSize: number;
  dispatchMaxAttempts: number;
  retryBaseDelayMs: number;
  bhxhPushUrl?: string;
  bhxhPushToken?: string;
  /**
   * Dev mode's stand-in for BHXH: a simulator on loopback becomes the push target, so that what a
   * newcomer sends is dispatched and answered. Never with a clients file.
   */
  bhxhSimulator: boolean;
  /** How long one push to BHXH may take before it counts as a transient failure. */
  bhxhTimeoutMs: number;
  /** How long the breaker stays open before it lets one trial call through. */
  breakerResetMs: number;
  /** Calls in the rolling window before the breaker may open at all. */
  breakerVolumeThreshold: number;
  /** Period of lease expiry and callback delivery. */
  maintenanceIntervalMs: number;
  /** A delivery whose worker stops renewing its lock this long (a crash) is picked up again. */
  deliveryLockMs: number;
  deliveryConcurrency: number;
  callbackTimeoutMs: number;
  /** Registry clients whose callbacks are posted at the same time, so a slow receiver holds only itself. */
  callbackConcurrency: number;
  clientsFile?: string;
  unitsFile: string;
  facilitiesFile: string;
  /** Vietnam's public holidays and make-up working days, for due dates counted in working days. */
  holidaysFile: string;
  /** When set, /metrics answers only a bearer of this token. */
  metricsToken?: string;
  /** How often the transfer-count gauges are read from the database, so a scrape runs no count(*). */
  metricsRefreshMs: number;
  bodyLimit: number;
  motCuaBodyLimit: number;
  /** Bytes of bodies over `bodyLimit` read at once; past it, 503 with Retry-After (src/http/body-budget.ts). */
  largeBodiesInFlight: number;
  /** A one-stop dossier still waiting this many days is listed as stale, unless an operator asks otherwise. */
  staleDossierDays: number;
  /**
   * A dossier no record absorbed (waiting or closed) loses its files' bytes this many days after it
   * arrived; what they were (name, size, hash) is kept.
   */
  dossierAttachmentRetentionDays: number;
  logLevel: string;
  /** Believe X-Forwarded-Proto and -For from the proxy in front (TLS ends there). */
  trustProxy: boolean;
  /** How long a console sign-in lasts at most. */
  consoleSessionMs: number;
  /** Ed25519 private key (PEM) signing the audit checkpoints; dev mode makes one under DATA_DIR. */
  auditSigningKeyFile?: string;
  /** The public key (PEM) checking them; derived from the signing key when unset. */
  auditPublicKeyFile?: string;
  /** Where each checkpoint is also written, one file each, for auditors to copy away. */
  auditCheckpointDir?: string;
  auditCheckpointSeconds: number;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new Error(`${name} must be an integer ≥ ${min}, got "${raw}"`);
  }
  return value;
}

function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

function resolvedOrNothing(path: string | undefined): string | undefined {
  return path === undefined ? undefined : resolve(path);
}

function onOff(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  if (raw !== 'on' && raw !== 'off') throw new Error(`${name} must be on or off, got "${raw}"`);
  return raw === 'on';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const queuePrefix = optional(env, 'QUEUE_PREFIX') ?? 'lienthong';
  const clientsFile = optional(env, 'CLIENTS_FILE');
  const bhxhPushUrl = optional(env, 'BHXH_PUSH_URL');
  const bhxhSimulator = onOff(env, 'BHXH_SIMULATOR') ?? (clientsFile === undefined && bhxhPushUrl === undefined);
  if (bhxhSimulator && clientsFile !== undefined) {
    throw new Error('BHXH_SIMULATOR must be off with a CLIENTS_FILE: the simulator answers with made-up cards, for dev mode only');
  }
  if (bhxhSimulator && bhxhPushUrl !== undefined) {
    throw new Error('BHXH_SIMULATOR must be off when BHXH_PUSH_URL is set: there is one push target');
  }
  const staleDossierDays = integer(env, 'STALE_DOSSIER_DAYS', 30, 1);
  const dossierAttachmentRetentionDays = integer(env, 'DOSSIER_ATTACHMENT_RETENTION_DAYS', 180, 1);
  if (dossierAttachmentRetentionDays < staleDossierDays) {
    // Operators would be shown dossiers as stale, to link or close, after their files were already gone.
    throw new Error(`DOSSIER_ATTACHMENT_RETENTION_DAYS (${dossierAttachmentRetentionDays}) must be at least STALE_DOSSIER_DAYS (${staleDossierDays})`);
  }
  return {
    port: integer(env, 'PORT', 8080),
    host: optional(env, 'HOST') ?? '127.0.0.1',
    databaseUrl: optional(env, 'DATABASE_URL'),
    databaseSchema: optional(env, 'DATABASE_SCHEMA'),
    dataDir: resolve(optional(env, 'DATA_DIR') ?? './data'),
    redisUrl: optional(env, 'REDIS_URL'),
    queuePrefix,
    // With the simulator a newcomer should see a birth issued within seconds, not half an hour.
    dispatchIntervalMs: integer(env, 'DISPATCH_INTERVAL_MS', bhxhSimulator ? 5_000 : 1_800_000, 1),
    dispatchBatchSize: integer(env, 'DISPATCH_BATCH_SIZE', 500, 1),
    dispatchMaxAttempts: integer(env, 'DISPATCH_MAX_ATTEMPTS', 8, 1),
    retryBaseDelayMs: integer(env, 'RETRY_BASE_DELAY_MS', 1000, 1),
    bhxhPushUrl,
    bhxhSimulator,
    bhxhPushToken: optional(env, 'BHXH_PUSH_TOKEN'),
    bhxhTimeoutMs: integer(env, 'BHXH_TIMEOUT_MS', 30_000, 1),
    breakerResetMs: integer(env, 'BREAKER_RESET_MS', 30_000, 1),
    breakerVolumeThreshold: integer(env, 'BREAKER_VOLUME_THRESHOLD', 5, 1),
    maintenanceIntervalMs: integer(env, 'MAINTENANCE_INTERVAL_MS', 5_000, 1),
    deliveryLockMs: integer(env, 'DELIVERY_LOCK_MS', 30_000, 500),
    deliveryConcurrency: integer(env, 'DELIVERY_CONCURRENCY', 4, 1),
    callbackTimeoutMs: integer(env, 'CALLBACK_TIMEOUT_MS', 10_000, 1),
    callbackConcurrency: integer(env, 'CALLBACK_CONCURRENCY', 8, 1),
    clientsFile,
    unitsFile: resolve(optional(env, 'UNITS_FILE') ?? packagePath('catalogues', 'units.json')),
    facilitiesFile: resolve(optional(env, 'FACILITIES_FILE') ?? packagePath('catalogues', 'facilities.json')),
    holidaysFile: resolve(optional(env, 'HOLIDAYS_FILE') ?? packagePath('catalogues', 'holidays.json')),
    metricsToken: optional(env, 'METRICS_TOKEN'),
    metricsRefreshMs: integer(env, 'METRICS_REFRESH_MS', 15_000, 100),
    bodyLimit: integer(env, 'BODY_LIMIT', 1024 * 1024, 1024),
    motCuaBodyLimit: integer(env, 'MOTCUA_BODY_LIMIT', 20 * 1024 * 1024, 1024),
    // About five 18 MB dossiers, each held three or four times over while read and parsed, in a 512 MB heap.
    largeBodiesInFlight: integer(env, 'LARGE_BODIES_IN_FLIGHT', 96 * 1024 * 1024, 1024),
    staleDossierDays,
    dossierAttachmentRetentionDays,
    logLevel: optional(env, 'LOG_LEVEL') ?? 'info',
    trustProxy: onOff(env, 'TRUST_PROXY') ?? false,
    // A working day: an operator signs in once in the morning.
    consoleSessionMs: integer(env, 'CONSOLE_SESSION_HOURS', 10, 1) * 3600_000,
    auditSigningKeyFile: resolvedOrNothing(optional(env, 'AUDIT_SIGNING_KEY_FILE')),
    auditPublicKeyFile: resolvedOrNothing(optional(env, 'AUDIT_PUBLIC_KEY_FILE')),
    auditCheckpointDir: resolvedOrNothing(optional(env, 'AUDIT_CHECKPOINT_DIR')),
    auditCheckpointSeconds: integer(env, 'AUDIT_CHECKPOINT_SECONDS', 60, 1),
  };
}
