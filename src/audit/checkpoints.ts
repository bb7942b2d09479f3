import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { canonicalJson, sha256Hex } from '../domain/canonical-json.js';
import { GENESIS_HASH, type ChainHead } from '../store/audit-log.js';
import type { Database, Queryable } from '../store/database.js';

/**
 * Signed checkpoints of the audit log (docs/RELIABILITY.md, "Audit log"): every chain's head at one
 * moment, linked to the checkpoint before, signed with a key the database never sees, and copied to
 * a directory outside it. Whoever can rewrite the database can cut the newest events and set the
 * heads back, but cannot sign a checkpoint saying so, nor take back the files already copied.
 */

export interface AuditKeys {
  /** Only where checkpoints are written. */
  signing?: KeyObject;
  /**
   * Checks the checkpoints, each with the key its body's `keyId` names: the keys of
   * AUDIT_PUBLIC_KEY_FILE (all that were ever used, so a rotation keeps the older checkpoints
   * checkable), else the signing key's own. Empty: signatures are not checked.
   */
  verifying: KeyObject[];
}

function ed25519(key: KeyObject, file: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file} holds a ${key.asymmetricKeyType} key; the audit log's is Ed25519`);
  return key;
}

const PUBLIC_KEY_PEM = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g;

/** The public keys of a file (one PEM block after another) or of a directory's `.pem` files. */
function readPublicKeys(path: string): KeyObject[] {
  const files = statSync(path).isDirectory()
    ? readdirSync(path).filter((name) => name.endsWith('.pem')).sort().map((name) => join(path, name))
    : [path];
  const keys = files.flatMap((file) => (readFileSync(file, 'utf8').match(PUBLIC_KEY_PEM) ?? []).map((pem) => ed25519(createPublicKey(pem), file)));
  if (keys.length === 0) throw new Error(`${path} holds no public key (PEM, "BEGIN PUBLIC KEY")`);
  return keys;
}

export function loadAuditKeys(files: { signingKeyFile?: string; publicKeyFile?: string }): AuditKeys {
  const signing = files.signingKeyFile ? ed25519(createPrivateKey(readFileSync(files.signingKeyFile)), files.signingKeyFile) : undefined;
  if (!files.publicKeyFile) return { signing, verifying: signing ? [createPublicKey(signing)] : [] };
  const verifying = readPublicKeys(files.publicKeyFile);
  // Checkpoints signed with a key the verifiers do not have would all be found bad: refused at start.
  if (signing && !verifying.some((key) => keyIdOf(key) === keyIdOf(createPublicKey(signing)))) {
    throw new Error(`${files.publicKeyFile} does not hold the public key of ${files.signingKeyFile} (key id ${keyIdOf(createPublicKey(signing))})`);
  }
  return { signing, verifying };
}

/** The public key as an auditor keeps it (PEM, SPKI). */
export function publicKeyPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** Names the key a checkpoint was signed with, so a rotation is visible in the log. */
export function keyIdOf(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/**
 * Dev mode's signing key, made once under DATA_DIR: a gateway without one would write no
 * checkpoints. Returns whether it was made now. Several processes may start together: the key is
 * written aside and linked into place, so the first link wins and no process reads a file another
 * is still writing.
 */
export function ensureSigningKey(file: string): boolean {
  const { privateKey } = generateKeyPairSync('ed25519');
  mkdirSync(dirname(file), { recursive: true });
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(aside, privateKey.export({ type: 'pkcs8', format: 'pem' }), { flag: 'wx', mode: 0o600 });
  try {
    linkSync(aside, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(aside);
  }
}

/**
 * Dev mode's checkpoint directory: a folder per audit log (migration 020 names each), so a database
 * made afresh does not meet the checkpoints of the one before it.
 */
export async function devCheckpointDir(db: Queryable, parent: string): Promise<string> {
  const { rows: [instance] } = await db.query<{ id: string }>('SELECT id FROM audit_log_instance');
  if (!instance) throw new Error('audit_log_instance is empty: the database was not migrated');
  return join(parent, instance.id);
}

/** A leaf per chain head, in chain order; a pair's node is the hash of both; an odd one goes up as it is. */
export function merkleRoot(heads: ChainHead[]): string {
  let level = [...heads]
    .sort((a, b) => a.chain - b.chain)
    .map((head) => sha256Hex(`leaf\n${head.chain}:${head.seq}:${head.hash}`));
  if (level.length === 0) return GENESIS_HASH;
  while (level.length > 1) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? sha256Hex(`node\n${level[i]}${level[i + 1]}`) : level[i]!);
    level = next;
  }
  return level[0]!;
}

/** What a checkpoint signs (its canonical JSON is the signed text). */
export interface CheckpointBody {
  number: number;
  at: string;
  /** SHA-256 of the previous checkpoint's body text; 64 zeros for the first. */
  previous: string;
  chains: ChainHead[];
  /** Every event the heads cover. */
  events: number;
  root: string;
  keyId: string;
}

export interface SignedCheckpoint {
  number: number;
  /** The exact text signed. */
  body: string;
  /** Ed25519 over the body's UTF-8 bytes, base64. */
  signature: string;
}

export function signatureHolds(checkpoint: SignedCheckpoint, key: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(checkpoint.body, 'utf8'), key, Buffer.from(checkpoint.signature, 'base64'));
  } catch {
    return false;
  }
}

/** The database's checkpoints after number `after`, at most `limit`, in order. */
export async function readStoredCheckpoints(db: Queryable, after: number, limit: number): Promise<SignedCheckpoint[]> {
  const { rows } = await db.query<{ number: string | number; body: string; signature: string }>(
    'SELECT number, body, signature FROM audit_checkpoints WHERE number > $1 ORDER BY number LIMIT $2', [after, limit],
  );
  return rows.map((row) => ({ number: Number(row.number), body: row.body, signature: row.signature }));
}

const CHECKPOINT_FILE = /^(\d{12})\.json$/;
const fileName = (number: number) => `${String(number).padStart(12, '0')}.json`;

/** The numbers of the checkpoints copied to a directory, in order; a file that is not one is left out. */
export async function listFiledCheckpoints(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names.filter((name) => CHECKPOINT_FILE.test(name)).map((name) => Number(CHECKPOINT_FILE.exec(name)![1])).sort((a, b) => a - b);
}

/** One copied checkpoint; a file that cannot be read as one has an empty body. */
export async function readFiledCheckpoint(dir: string, number: number): Promise<SignedCheckpoint> {
  try {
    const { body, signature } = JSON.parse(await readFile(join(dir, fileName(number)), 'utf8')) as SignedCheckpoint;
    return { number, body: String(body), signature: String(signature) };
  } catch {
    // Not what was copied: verification names it, as a checkpoint whose copy differs.
    return { number, body: '', signature: '' };
  }
}

/** The newest checkpoint in the directory, read from its file: a listing, so once per process. */
export function readNewestFiled(dir: string): SignedCheckpoint | undefined {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => CHECKPOINT_FILE.test(name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const newest = names.sort().at(-1);
  if (!newest) return undefined;
  const number = Number(CHECKPOINT_FILE.exec(newest)![1]);
  try {
    const { body, signature } = JSON.parse(readFileSync(join(dir, newest), 'utf8')) as SignedCheckpoint;
    return { number, body: String(body), signature: String(signature) };
  } catch {
    return { number, body: '', signature: '' };
  }
}

/**
 * Copies to the directory every checkpoint after `after` (the newest this process knows is there):
 * each in a file of its own, created once and never rewritten ('wx'), so the directory only grows
 * and an auditor can copy it away with any tool. A process that died between its commit and its copy
 * is made good by the next. Answers the newest checkpoint now in the directory, if it copied any.
 */
export async function copyCheckpointsOut(db: Queryable, dir: string, after = readNewestFiled(dir)?.number ?? 0): Promise<SignedCheckpoint | undefined> {
  mkdirSync(dir, { recursive: true });
  const { rows } = await db.query<{ number: string | number; body: string; signature: string }>(
    'SELECT number, body, signature FROM audit_checkpoints WHERE number > $1 ORDER BY number', [after],
  );
  for (const row of rows) {
    // Written aside and linked into place: a reader never sees half a file, and a file once there is
    // never replaced (link fails on an existing name, where rename would overwrite it).
    const aside = join(dir, `.${fileName(Number(row.number))}.${process.pid}.${randomBytes(4).toString('hex')}`);
    writeFileSync(aside, `${JSON.stringify({ body: row.body, signature: row.signature })}\n`, { flag: 'wx' });
    try {
      linkSync(aside, join(dir, fileName(Number(row.number))));
    } catch (error) {
      // Another process on this host copied it a moment ago.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(aside);
    }
  }
  const newest = rows.at(-1);
  return newest && { number: Number(newest.number), body: newest.body, signature: newest.signature };
}

/** One checkpoint writer at a time across processes; 7411 is migrations', 7413 subjects'. */
const CHECKPOINT_LOCK = 7414;

/**
 * The database does not agree with what was signed before: signing its heads now would vouch for a
 * rewritten log. Nothing is signed until someone looks.
 */
export class CheckpointRefused extends Error {}

export interface WriteCheckpointOptions {
  /** No checkpoint when the last one is younger (every process ticks; one a period is enough). */
  minAgeMs?: number;
  /** The public keys the previous checkpoint may be signed with, besides the signing key's own. */
  verifying?: KeyObject[];
  /** The newest checkpoint in this process's checkpoint directory: the database must still hold it. */
  filed?: SignedCheckpoint;
}

/**
 * Checks that the database still holds what the previous checkpoint signed before anything is
 * signed over it: its row is the directory's, its signature holds, and every chain's head is at or
 * past the place it signed, where the event still has the hash it signed (one index probe a chain).
 */
async function checkPrevious(
  tx: Queryable, last: { number: number; body: string; signature: string } | undefined, heads: ChainHead[],
  keys: KeyObject[], filed: SignedCheckpoint | undefined,
): Promise<void> {
  if (filed && (!last || filed.number > last.number)) {
    throw new CheckpointRefused(`the checkpoint directory holds checkpoint ${filed.number}, the database ${last ? `only up to ${last.number}` : 'none'}: checkpoints were removed`);
  }
  if (filed && last && filed.number === last.number && (filed.body !== last.body || filed.signature !== last.signature)) {
    throw new CheckpointRefused(`checkpoint ${last.number} in the database differs from its copy in the checkpoint directory`);
  }
  if (!last) return;
  let previous: CheckpointBody;
  try {
    previous = JSON.parse(last.body) as CheckpointBody;
  } catch {
    throw new CheckpointRefused(`checkpoint ${last.number} in the database is not JSON`);
  }
  const key = keys.find((candidate) => keyIdOf(candidate) === previous.keyId);
  if (!key || !signatureHolds(last, key)) {
    throw new CheckpointRefused(`checkpoint ${last.number}'s signature does not hold with ${key ? `key ${previous.keyId}` : `any audit key (it names ${String(previous.keyId)})`}`);
  }
  const signed = previous.chains.filter((head) => head.seq > 0);
  const { rows } = await tx.query<{ chain: number; hash: string | null }>(
    `SELECT p.chain, e.hash FROM unnest($1::int[], $2::bigint[]) AS p(chain, place)
       LEFT JOIN audit_events e ON e.chain_id = p.chain AND COALESCE(e.chain_seq, e.seq) = p.place`,
    [signed.map((head) => head.chain), signed.map((head) => head.seq)],
  );
  const found = new Map(rows.map((row) => [row.chain, row.hash]));
  for (const before of signed) {
    const now = heads.find((head) => head.chain === before.chain);
    if (!now || now.seq < before.seq) {
      throw new CheckpointRefused(`chain ${before.chain}'s head is ${now ? `at ${now.seq}, behind ${before.seq}` : 'gone'}, where checkpoint ${last.number} signed it`);
    }
    if (found.get(before.chain) !== before.hash) {
      throw new CheckpointRefused(`chain ${before.chain}'s event at place ${before.seq} is not the one checkpoint ${last.number} signed`);
    }
  }
}

/**
 * Signs the chains' heads as one snapshot sees them, if any moved since the last checkpoint, and
 * stores the checkpoint. Undefined when nothing moved, another process is writing one right now, or
 * the last one is younger than `minAgeMs`. Throws CheckpointRefused when the database no longer
 * holds what the last checkpoint signed.
 */
export async function writeCheckpoint(db: Database, signing: KeyObject, options: WriteCheckpointOptions = {}): Promise<SignedCheckpoint | undefined> {
  const { minAgeMs = 0, verifying = [], filed } = options;
  return db.transaction(async (tx) => {
    const { rows: [turn] } = await tx.query<{ locked: boolean }>(
      `SELECT pg_try_advisory_xact_lock(${CHECKPOINT_LOCK}, hashtext(current_schema())) AS locked`,
    );
    if (!turn?.locked) return undefined;
    const { rows: [lastRow] } = await tx.query<{ number: string | number; body: string; signature: string; recent: boolean }>(
      `SELECT number, body, signature, at > clock_timestamp() - make_interval(secs => $1::float8) AS recent
         FROM audit_checkpoints ORDER BY number DESC LIMIT 1`,
      [minAgeMs / 1000],
    );
    if (lastRow?.recent) return undefined;
    const last = lastRow && { number: Number(lastRow.number), body: lastRow.body, signature: lastRow.signature };
    const { rows } = await tx.query<{ chain_id: number; head_seq: string | number; head_hash: string; at: string }>(
      `SELECT chain_id, head_seq, head_hash, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
         FROM audit_chains ORDER BY chain_id`,
    );
    const chains = rows.map((row) => ({ chain: row.chain_id, seq: Number(row.head_seq), hash: row.head_hash }));
    const signingPublic = createPublicKey(signing);
    await checkPrevious(tx, last, chains, [signingPublic, ...verifying], filed);
    if (last && canonicalJson((JSON.parse(last.body) as CheckpointBody).chains) === canonicalJson(chains)) return undefined;
    const body: CheckpointBody = {
      // The row's number, which the table's key keeps unique, not what its body claims.
      number: last ? last.number + 1 : 1,
      at: rows[0]?.at ?? new Date().toISOString(),
      previous: last ? sha256Hex(last.body) : GENESIS_HASH,
      chains,
      events: chains.reduce((sum, head) => sum + head.seq, 0),
      root: merkleRoot(chains),
      keyId: keyIdOf(signingPublic),
    };
    const text = canonicalJson(body);
    const checkpoint = { number: body.number, body: text, signature: sign(null, Buffer.from(text, 'utf8'), signing).toString('base64') };
    await tx.query('INSERT INTO audit_checkpoints (number, at, body, signature) VALUES ($1, $2, $3, $4)',
      [checkpoint.number, body.at, checkpoint.body, checkpoint.signature]);
    return checkpoint;
  });
}

export interface CheckpointScheduleOptions {
  db: Database;
  signing: KeyObject;
  /** The audit public keys (a rotation's older ones): the previous checkpoint's signature is checked. */
  verifying?: KeyObject[];
  /** Without one, checkpoints are only in the database. */
  dir?: string;
  intervalMs: number;
  logger: Logger;
}

/**
 * The periodic checkpoint: every process ticks, the advisory lock lets one write at a time, and each
 * copies what its directory lacks. No Redis: like the callbacks, it needs only PostgreSQL. The newest
 * checkpoint in the directory is kept in memory: the directory is listed once, not every tick.
 */
export class CheckpointSchedule {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private newestFiled?: SignedCheckpoint;
  private listed = false;

  constructor(private readonly options: CheckpointScheduleOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
  }

  tick(): Promise<void> {
    this.running ??= (async () => {
      const { db, signing, verifying, dir, intervalMs, logger } = this.options;
      try {
        if (dir && !this.listed) {
          this.newestFiled = readNewestFiled(dir);
          this.listed = true;
        }
        // Timers of different processes drift: a checkpoint a little younger than the period is the period's.
        const written = await writeCheckpoint(db, signing, { minAgeMs: intervalMs * 0.9, verifying, filed: this.newestFiled });
        if (dir) this.newestFiled = (await copyCheckpointsOut(db, dir, this.newestFiled?.number ?? 0)) ?? this.newestFiled;
        if (written) logger.debug({ checkpoint: written.number }, 'audit checkpoint signed');
      } catch (error) {
        if (error instanceof CheckpointRefused) {
          logger.error({ alarm: 'audit-log-tampered' }, `AUDIT ALARM: no checkpoint signed: ${error.message}; run the audit verification`);
        } else {
          logger.error({ err: error }, 'audit checkpoint failed: the next tick tries again');
        }
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
