import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { Availability, describeFailure, isConnectionError } from '../availability.js';
import { StartupError } from '../startup-error.js';

export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

/** What both a pool and an open transaction can do; store functions take this. */
export interface QueryOptions {
  /**
   * false: plan this statement afresh each time, with its parameters in hand. A prepared statement
   * soon runs on PostgreSQL's generic plan, and the birth batch's, made while the tables were small,
   * checked each birth with a hashed subplan over a sequential scan: slower as the tables grew
   * (docs/PERFORMANCE.md).
   */
  prepared?: boolean;
}

export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<Row>>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Inside a transaction only: work to run as the last thing before COMMIT, once each, in the order
   * registered (the audit log seals its events there). Undefined outside a transaction.
   */
  readonly beforeCommit?: (task: () => Promise<void>) => void;
}

export interface TransactionOptions {
  /**
   * Subjects (a person, a dossier) this transaction works on, locked before anything else and held
   * to its end, so messages about one child are applied one after another. They are taken in one
   * sorted order, the same everywhere, so two transactions never wait for each other crosswise.
   * With PostgreSQL they go with the BEGIN in one round trip: under load each round trip is a wait
   * for a turn on a busy event loop (docs/PERFORMANCE.md).
   */
  locks?: Iterable<string>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Whether the database answered the latest call (PGlite, in this process, always does). */
  readonly availability: Availability;
  transaction<T>(work: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** PostgreSQL URL; without it the embedded PGlite in `dataDir` is used. */
  url?: string;
  /** A schema to create and put first on the search path (tests isolate themselves this way). */
  schema?: string;
  dataDir: string;
  poolSize?: number;
  /**
   * How long a caller waits for a connection (a new one, or its turn in a full pool) before the
   * call fails and the request is answered 503, rather than hanging while PostgreSQL is unreachable.
   */
  connectTimeoutMs?: number;
}

/** The advisory-lock space of the subject locks; 7411 is migrations'. */
const SUBJECT_LOCKS = 7413;

function sortedLocks(options: TransactionOptions | undefined): string[] {
  return [...new Set(options?.locks ?? [])].sort();
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new Error(`database schema name "${options.schema}" must match ${SCHEMA_NAME}`);
  }
  return options.url ? openPostgres(options.url, options) : openPglite(options);
}

/**
 * Almost every parameterised statement the gateway runs is one of a fixed set of texts, so each is
 * prepared once per connection and only executed after that: PostgreSQL skips parsing and planning
 * the audit inserts and status moves (unnest over arrays) on every batch. The birth batch is the
 * exception (`prepared: false`). Not a statement with `*` in its result: a
 * migration by a newer process adding a column would make its cached plan fail ("cached plan must
 * not change result type").
 */
const statementNames = new Map<string, string | undefined>();
function statementName(sql: string): string | undefined {
  if (statementNames.has(sql)) return statementNames.get(sql);
  let name: string | undefined;
  if (!/\*/.test(sql.replace(/count\(\*\)/g, ''))) name = `lt_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
  statementNames.set(sql, name);
  return name;
}

function inTransaction(queryable: Queryable): { tx: Queryable; finish: () => Promise<void> } {
  const tasks: Array<() => Promise<void>> = [];
  return {
    tx: { ...queryable, beforeCommit: (task) => tasks.push(task) },
    async finish() {
      for (const task of tasks) await task();
    },
  };
}

async function openPostgres(url: string, options: DatabaseOptions): Promise<Database> {
  if (options.schema) {
    const setup = new pg.Client({ connectionString: url });
    // Its server may go away between two statements, when nothing else would hear of it.
    setup.on('error', () => {});
    await setup.connect();
    try {
      await setup.query(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`);
    } finally {
      await setup.end();
    }
  }
  const availability = new Availability('database');
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    // A server gone without closing the socket (failover, a cut network) is found by TCP keepalive
    // probes after 10 s of quiet instead of the system's default two hours.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  let closed = false;
  const noteFailure = (error: unknown) => {
    if (isConnectionError(error)) availability.markDown(error);
  };
  // The pool drops an idle client whose backend ended (a DBA, a restart); one query tells whether
  // the database is gone or only that connection was.
  pool.on('error', () => {
    if (!closed) void pool.query('SELECT 1').then(() => availability.markUp(), noteFailure);
  });
  const asQueryable = (client: pg.Pool | pg.PoolClient): Queryable => ({
    async query<Row>(sql: string, params?: unknown[], options?: QueryOptions) {
      const name = params === undefined || options?.prepared === false ? undefined : statementName(sql);
      let result: pg.QueryResult;
      try {
        result = name === undefined ? await client.query(sql, params) : await client.query({ name, text: sql, values: params });
      } catch (error) {
        noteFailure(error);
        throw error;
      }
      availability.markUp();
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
    async exec(sql: string) {
      try {
        await client.query(sql);
      } catch (error) {
        noteFailure(error);
        throw error;
      }
      availability.markUp();
    },
  });
  return {
    kind: 'postgres',
    availability,
    ...asQueryable(pool),
    async transaction(work, options) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        noteFailure(error);
        throw error;
      }
      // A checked-out client is no longer heard by the pool: without a listener of its own, a backend
      // ended under it (a DBA, a failover, a cut network) raises an unhandled 'error' that ends the
      // process. The statement in flight fails with it; a later one fails as not queryable.
      let broken: Error | undefined;
      const onError = (error: Error) => {
        broken ??= error;
        noteFailure(error);
      };
      client.on('error', onError);
      try {
        const locks = sortedLocks(options);
        // Without parameters a query goes as one simple-protocol message, several statements and all.
        await client.query(locks.length === 0 ? 'BEGIN' : `BEGIN; SELECT pg_advisory_xact_lock(${SUBJECT_LOCKS}, hashtext(k)) FROM unnest(ARRAY[${locks.map((key) => client.escapeLiteral(key)).join(',')}]) AS k`);
        const { tx, finish } = inTransaction(asQueryable(client));
        const result = await work(tx);
        await finish();
        await client.query('COMMIT');
        availability.markUp();
        return result;
      } catch (error) {
        noteFailure(error);
        if (!broken) {
          await client.query('ROLLBACK').catch((rollbackError: Error) => {
            broken = rollbackError;
          });
        }
        throw error;
      } finally {
        client.removeListener('error', onError);
        // A client whose connection failed is closed rather than handed to the next caller.
        client.release(broken);
      }
    },
    close: () => {
      closed = true;
      return pool.end();
    },
  };
}

/**
 * PGlite runs initdb in any data directory without PG_VERSION, so a damaged or foreign one would
 * open as a new, empty database and the gateway would carry on without its data. Such a directory,
 * one that cannot be read, and one PGlite cannot start on each stop the start with one line.
 */
function checkPgliteDataDir(dataDir: string): void {
  let entries: string[];
  try {
    mkdirSync(dataDir, { recursive: true });
    if (!statSync(dataDir).isDirectory()) throw new Error('not a directory');
    entries = readdirSync(dataDir);
  } catch (error) {
    throw new StartupError(`cannot use ${dataDir} for the embedded database (${describeFailure(error)}); check DATA_DIR and its permissions`);
  }
  if (entries.length > 0 && !entries.includes('PG_VERSION')) {
    throw new StartupError(
      `${dataDir} holds files but no PG_VERSION: it is not an embedded database, or a damaged one, and opening it would start an empty database; `
      + 'restore it from a backup, or move it away to start empty',
    );
  }
}

async function openPglite(options: DatabaseOptions): Promise<Database> {
  checkPgliteDataDir(options.dataDir);
  let db: PGlite;
  try {
    db = await PGlite.create(options.dataDir);
  } catch (error) {
    throw new StartupError(
      `the embedded database in ${options.dataDir} cannot be opened (${describeFailure(error)}): its files may be damaged; `
      + 'restore them from a backup, or move the directory away to start empty',
    );
  }
  if (options.schema) {
    await db.exec(`CREATE SCHEMA IF NOT EXISTS ${options.schema}; SET search_path TO ${options.schema}`);
  }
  type PgliteLike = Pick<PGlite, 'query' | 'exec'>;
  const asQueryable = (target: PgliteLike): Queryable => ({
    async query<Row>(sql: string, params?: unknown[]) {
      const result = await target.query<Row>(sql, params);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
    async exec(sql: string) {
      await target.exec(sql);
    },
  });
  return {
    kind: 'pglite',
    availability: new Availability('database'),
    ...asQueryable(db),
    transaction: (work, options) =>
      db.transaction(async (pgliteTx) => {
        for (const key of sortedLocks(options)) await pgliteTx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SUBJECT_LOCKS, key]);
        const { tx, finish } = inTransaction(asQueryable(pgliteTx));
        const result = await work(tx);
        await finish();
        return result;
      }),
    close: () => db.close(),
  };
}
