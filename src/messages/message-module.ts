import type { ApiClient, Role } from '../auth/clients.js';
import type { Catalogues } from '../catalogues/catalogues.js';
import type { CalendarDate } from '../domain/calendar-date.js';
import type { SchemaName } from '../intake/validator.js';
import type { ClaimKind } from '../store/batches.js';
import type { Database, Queryable } from '../store/database.js';
import type { IntakeAnswer } from '../store/inbound-messages.js';
import type { Transfer } from '../store/transfers.js';

export type Door = 'rest-json' | 'rest-xml' | 'soap';

/** What a message module is built with, once, when the gateway starts. */
export interface ModuleDependencies {
  db: Database;
  catalogues: Catalogues;
}

/** A message that passed its schema and the province check, as its store sees it. */
export interface Arrival {
  client: ApiClient;
  door: Door;
  messageId: string;
  /** When the door received it: what a deadline counts from. */
  receivedAt: Date;
  /** The document as canonical JSON: what contentSha256 hashes, the idempotency record's and audit event's payload hash. */
  documentJson: string;
  contentSha256: string;
  /** Records the first answer to the message (idempotency), in the store's transaction. */
  record(tx: Queryable, answer: IntakeAnswer): Promise<void>;
  /** Whether the sender may read this transfer: a refusal names another record only then. */
  mayRead(transfer: Transfer): boolean;
}

/**
 * How a message handed to a group commit ended: stored, a repeat of a message already stored (the
 * intake answers as first answered), or one the group cannot take that is stored alone instead.
 */
export type GroupOutcome = { kind: 'stored'; answer: IntakeAnswer } | { kind: 'repeat' } | { kind: 'alone' };

/** One message, read and ready: what the intake needs to decide it without knowing its type. */
export interface PreparedMessage {
  /** The province that receives the record, and so which registry clients may send it. */
  maTinh: string;
  /** Where the document says so, for the FORBIDDEN answer. */
  provincePath: string;
  /**
   * Where this document's kind narrows who may send it (a re-issue's reason): the roles that may,
   * and the field that decides it. Otherwise any role its type admits (MESSAGE_TYPES' senders).
   */
  senders?: { roles: readonly Role[]; path: string };
  /** The subjects (persons, dossiers) its store works on: see TransactionOptions.locks. */
  locks: string[];
  /** More subjects that only the database can name (a person's other number), read before the store's transaction. */
  lockedAlso?(db: Queryable): Promise<string[]>;
  /** The rules a schema cannot say; throws the refusal. */
  check(): void;
  /** Stores it alone, in a transaction holding `locks`, and returns the answer to record and send. */
  store(tx: Queryable, arrival: Arrival): Promise<IntakeAnswer>;
  /** Stores it with others that arrived meanwhile in one transaction, when the type has such a path. */
  storeInGroup?(arrival: Arrival): Promise<GroupOutcome>;
}

/**
 * A message type: its schema, and what it does with a document that passed it. Everything that
 * differs between births, deaths and dossiers lives behind this; the intake does the rest alike.
 */
export interface MessageModule<Doc extends { messageId: string }> {
  schema: SchemaName;
  prepare(doc: Doc, today: CalendarDate): PreparedMessage;
}

/**
 * What a message type whose records go to BHXH hands the dispatcher's generic claim
 * (src/store/batches.ts): the type its records are stored under, the BHXH document they become, an
 * SQL condition that holds one of its queued records back for now, and a step the claim runs first.
 * The registry lists them (DISPATCH_FACTS) and the dispatcher and the pull hand them to every claim,
 * which itself knows no message type.
 */
export interface DispatchFacts extends ClaimKind {
  /**
   * Why BHXH's OK cannot be applied to such a record (the card it must carry), or null, when the type
   * has a rule of its own; otherwise an issued card needs MA_SO_BHXH, MA_THE ending with it, and its dates.
   */
  cardProblem?(result: OkResult): string | null;
  /** Fields heading a batch of one group (ClaimKind.groupKey) beside its province and type. */
  batchHead?(db: Queryable, groupKey: string): Promise<Record<string, unknown>>;
}

/** The card fields of BHXH's OK result (schemas/bhxh-result.schema.json). */
export interface OkResult {
  MA_SO_BHXH?: string;
  MA_THE?: string;
  GT_THE_TU?: string;
  GT_THE_DEN?: string;
}
