import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';

export const ROLES = ['registry', 'bhxh', 'operator', 'auditor', 'school'] as const;
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
  keySha256: string;
}

const clientsFileSchema = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'keySha256', 'roles', 'units'],
    properties: {
      id: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
      keySha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
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

/**
 * The API clients. Only SHA-256 digests of keys are held; a presented key is hashed and compared
 * with every client's digest in constant time, so neither the match nor its position leaks timing.
 */
export class ClientRegistry {
  private readonly clients: Array<{ client: ApiClient; digest: Buffer }>;

  constructor(stored: StoredClient[]) {
    const ids = new Set<string>();
    this.clients = stored.map(({ keySha256, ...client }) => {
      if (ids.has(client.id)) throw new Error(`client id "${client.id}" appears twice`);
      ids.add(client.id);
      return { client, digest: Buffer.from(keySha256, 'hex') };
    });
  }

  static fromFile(path: string): ClientRegistry {
    const data: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (!validateClientsFile(data)) {
      const first = validateClientsFile.errors?.[0];
      throw new Error(`clients file ${path}: ${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}`);
    }
    return new ClientRegistry(data as StoredClient[]);
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

  authenticate(presentedKey: string): ApiClient | null {
    const digest = hash('sha256', presentedKey, 'buffer');
    let found: ApiClient | null = null;
    for (const entry of this.clients) {
      if (timingSafeEqual(entry.digest, digest)) found = entry.client;
    }
    return found;
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
