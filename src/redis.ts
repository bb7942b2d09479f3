import { mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { accessSync, constants } from 'node:fs';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { DEFAULT_REDIS_URL } from './config.js';
import { PrivateRedis } from './dev/private-redis.js';
import { StartupError } from './startup-error.js';

export { StartupError };

async function answersPing(url: string): Promise<string | null> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return null;
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    probe.disconnect();
  }
}

function onPath(binary: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export interface RedisTarget {
  url: string;
  /** Stops the private redis-server, when dev mode started one. */
  stop(): Promise<void>;
}

/**
 * Finds a Redis that answers. With REDIS_URL unset and nothing on the default port, dev mode starts
 * a private, non-persistent redis-server if one is on the PATH; otherwise start-up fails with one
 * line saying how to get one, rather than hanging in ioredis' reconnect loop.
 */
export async function ensureRedis(configuredUrl: string | undefined, dataDir: string, log: Logger): Promise<RedisTarget> {
  const url = configuredUrl ?? DEFAULT_REDIS_URL;
  const failure = await answersPing(url);
  if (failure === null) return { url, stop: async () => {} };
  const binary = configuredUrl === undefined ? onPath('redis-server') : null;
  if (!binary) {
    throw new StartupError(
      `cannot reach Redis at ${url} (${failure}); start one with "redis-server --daemonize yes --port 6379 --save ''" or set REDIS_URL`,
    );
  }
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  try {
    const server = await PrivateRedis.start({ binary, dir });
    log.warn({ url: server.url }, 'no Redis at the default address: started a private, non-persistent redis-server for dev mode');
    return { url: server.url, stop: () => server.stop() };
  } catch {
    throw new StartupError(`cannot reach Redis at ${url} (${failure}), and the private redis-server did not start`);
  }
}

/** The gateway's own client: commands fail at once while Redis is away, so /readyz says so. */
export function createRedisClient(url: string): Redis {
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  return redis;
}

/** Removes every BullMQ key under a prefix whose queues no one will use again (a test's, the demo's). */
export async function deleteQueueKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}
