import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import type { Logger } from 'pino';
import { FollowFiles, filesDigest } from '../follow-files.js';

/**
 * `reissue` and `correction` are a BHXH office's least-privilege accounts (docs/DOMAIN.md, "Card
 * re-issue and change"): each sends and reads only its own kind of card request, in its provinces.
 */
export const ROLES = ['registry', 'bhxh', 'operator', 'auditor', 'school', 'reissue', 'correction'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiClient {
  id: string;
  roles: Role[];
  /** Province codes this client may act for; `*` is every province. */
  units: string[];
  callbackUrl?: string;
  callbackSecret?: string;
  /**
   * `sha256`: the callback's `X-Signature` is only the earlier `sha256=<hex>`, for a receiver that
   * compares the whole header with it. Otherwise it carries a timestamped signature as well.
   */
  callbackSignature?: 'sha256';
  /**
   * A school's BHXH unit code (`school` role): the lists it sends are stored under it, and it sees
   * only the lists stored under it.
   */
  maDonVi?: string;
}

interface StoredClient extends ApiClient {
  /** Several while a key is rotated: the new key is added, clients switch, the old one is removed. */
  keySha256: string | string[];
}

const clientsFileSchema = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'keySha256', 'roles', 'units'],
    properties: {
      id: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
      keySha256: {
        anyOf: [
          { type: 'string', pattern: '^[0-9a-f]{64}$' },
          { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
        ],
      },
      roles: { type: 'array', minItems: 1, items: { enum: [...ROLES] } },
      units: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^(\\*|[0-9]{2})$' } },
      callbackUrl: { type: 'string', pattern: '^https?://' },
      callbackSecret: { type: 'string', minLength: 16 },
      callbackSignature: { enum: ['sha256'] },
      maDonVi: { type: 'string', pattern: '^[A-Z0-9]{3,16}$' },
    },
    // One without the other would silently send nothing (or nowhere): refused at start instead.
    dependencies: { callbackUrl: ['callbackSecret'], callbackSecret: ['callbackUrl'], callbackSignature: ['callbackUrl'] },
    // A school's lists belong to its unit and to the one province that unit is in: both must be known.
    if: { properties: { roles: { type: 'array', contains: { const: 'school' } } } },
    then: { required: ['maDonVi'], properties: { units: { type: 'array', maxItems: 1, items: { type: 'string', pattern: '^[0-9]{2}$' } } } },
  },
} as const;

const validateClientsFile = new Ajv({ allErrors: true }).compile(clientsFileSchema);

export const sha256OfKey = (key: string) => hash('sha256', key, 'hex');

type ClientEntry = { client: ApiClient; digests: Buffer[] };

function entriesOf(stored: StoredClient[]): ClientEntry[] {
  const ids = new Set<string>();
  const keys = new Set<string>();
  return stored.map(({ keySha256, ...client }) => {
    if (ids.has(client.id)) throw new Error(`client id "${client.id}" appears twice`);
    ids.add(client.id);
    const digests = typeof keySha256 === 'string' ? [keySha256] : keySha256;
    // One key for two clients would make who it signs in as depend on the file's order.
    for (const digest of digests) {
      if (keys.has(digest)) throw new Error(`client "${client.id}" has a key another client has`);
      keys.add(digest);
    }
    return { client, digests: digests.map((digest) => Buffer.from(digest, 'hex')) };
  });
}

function readClientsFile(path: string): ClientEntry[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    // V8 quotes the text around a syntax error, which here may be a callback secret: say only where.
    const at = /position (\d+)/.exec((error as Error).message)?.[1];
    if (error instanceof SyntaxError) throw new Error(`clients file ${path}: not valid JSON${at ? ` (at character ${at})` : ''}`);
    throw new Error(`clients file ${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!validateClientsFile(data)) {
    const first = validateClientsFile.errors?.[0];
    throw new Error(`clients file ${path}: ${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}`);
  }
  return entriesOf(data as StoredClient[]);
}

/**
 * The API clients. Only SHA-256 digests of keys are held (one or more per client: a rotation's
 * overlap); a presented key is hashed and compared with every digest in constant time, so neither the match nor its position leaks timing.
 *
 * Loaded from a file, it follows the file: `reload()` reads it again and swaps the clients in only if
 * the whole file is valid, so keys are added and withdrawn without a restart and a half-written file
 * never locks everyone out. It runs when the file changes and on SIGHUP, as the catalogues do. Code
 * that holds on to a client (a console session, callback delivery) asks again with `authenticate` or
 * `byId`, or listens with `onReload`.
 */
export class ClientRegistry {
  private clients: ClientEntry[];
  private readonly listeners: Array<() => void> = [];
  private follower: FollowFiles | undefined;
  /** Of the file as last read, taken before reading: the watch starts from it. */
  private readDigest: string | undefined;

  constructor(stored: StoredClient[], private readonly file?: string) {
    this.clients = entriesOf(stored);
  }

  static fromFile(path: string): ClientRegistry {
    const registry = new ClientRegistry([], path);
    registry.readDigest = filesDigest([path]);
    registry.clients = readClientsFile(path);
    return registry;
  }

  /** Dev mode: one fresh key per role, all provinces. Returns the keys so start-up can print them. */
  static forDevelopment(): { registry: ClientRegistry; keys: Record<Role, string> } {
    const keys = Object.fromEntries(ROLES.map((role) => [role, `dev-${role}-${randomBytes(12).toString('hex')}`])) as Record<Role, string>;
    const registry = new ClientRegistry(
      ROLES.map((role) => ({
        id: `dev-${role}`, keySha256: sha256OfKey(keys[role]), roles: [role],
        // A school acts for one unit of one province; the dev school is one of Tuyên Quang's (08).
        ...(role === 'school' ? { units: ['08'], maDonVi: 'TZ0801A' } : { units: ['*'] }),
      })),
    );
    return { registry, keys };
  }

  /** Reads the file again; throws (keeping the clients in use) when it is not valid. */
  reload(): { clients: number } {
    if (!this.file) throw new Error('these clients were not loaded from a file');
    const digest = filesDigest([this.file]);
    this.clients = readClientsFile(this.file);
    this.readDigest = digest;
    for (const listener of [...this.listeners]) listener();
    return { clients: this.clients.length };
  }

  /** Like `reload`, but logs the outcome: for the file watcher and SIGHUP. Never logs key digests. */
  reloadAndLog(logger: Logger, cause: string): void {
    try {
      logger.info({ ...this.reload(), cause }, 'clients file reloaded');
    } catch (error) {
      logger.error({ error: (error as Error).message, cause }, 'clients file is not valid: keeping the clients in use');
    }
  }

  /** Called after every successful reload, until the function it answers is called. */
  onReload(listener: () => void): () => void {
    this.listeners.push(listener);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
    };
  }

  /** Reloads shortly after the file's content changes, however it was replaced (docs/DEPLOYMENT.md). */
  watch(logger: Logger, watchFolder?: ConstructorParameters<typeof FollowFiles>[0]['watchFolder']): void {
    if (!this.file || this.follower) return;
    this.follower = new FollowFiles({
      files: [this.file], what: 'clients file', logger, watchFolder, since: this.readDigest, changed: () => this.reloadAndLog(logger, 'file changed'),
    });
  }

  close(): void {
    this.follower?.close();
    this.follower = undefined;
  }

  /** The client this key belongs to now, or null: a key withdrawn from the file is refused at once. */
  authenticate(presentedKey: string): ApiClient | null {
    const digest = hash('sha256', presentedKey, 'buffer');
    let found: ApiClient | null = null;
    for (const entry of this.clients) {
      for (const held of entry.digests) if (timingSafeEqual(held, digest)) found = entry.client;
    }
    return found;
  }

  /**
   * For a session that kept only the digest of the key it signed in with: the client as the file
   * says now, or null once that key is no longer this client's (removed, rotated, or the client gone).
   */
  stillHolding(clientId: string, keySha256: string): ApiClient | null {
    const entry = this.clients.find((candidate) => candidate.client.id === clientId);
    const digest = Buffer.from(keySha256, 'hex');
    if (!entry || digest.length !== 32) return null;
    let holds = false;
    for (const held of entry.digests) if (timingSafeEqual(held, digest)) holds = true;
    return holds ? entry.client : null;
  }

  /** The client of this id as the file says now, or null when it was removed. */
  byId(id: string): ApiClient | null {
    return this.clients.find((entry) => entry.client.id === id)?.client ?? null;
  }

  ids(): string[] {
    return this.clients.map((entry) => entry.client.id);
  }

  /** Registry clients that asked to be told of every status change of their transfers. */
  withCallbacks(): ApiClient[] {
    return this.clients.map((entry) => entry.client).filter((client) => client.callbackUrl && client.callbackSecret);
  }
}

export function actsForProvince(client: ApiClient, maTinh: string): boolean {
  return client.units.includes('*') || client.units.includes(maTinh);
}

/** The provinces a client is limited to, or undefined when it has all. */
export function provinceScope(client: ApiClient): string[] | undefined {
  return client.units.includes('*') ? undefined : client.units;
}
