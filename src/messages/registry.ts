import type { ApiClient, Role } from '../auth/clients.js';
import type { CalendarDate } from '../domain/calendar-date.js';
import { validateDocument } from '../intake/validator.js';
import type { Loai } from '../store/batches.js';
import type { ReadableKind } from '../store/transfers.js';
import { birthDispatch, birthModule } from './birth/module.js';
import { deathDispatch, deathModule } from './death/module.js';
import { dossierModule } from './dossier/module.js';
import { PUPIL_LIST_TRANSFER_TYPE, pupilListDispatch } from './pupil-list/bhxh-dispatch.js';
import type { DispatchFacts, MessageModule, ModuleDependencies, PreparedMessage } from './message-module.js';
import { REISSUE_READERS, reissueDispatch, reissueModule } from './reissue/module.js';

/**
 * Every message type the registry doors take, by the name a route or SOAP operation gives it (its
 * document's root element): the type its transfers are stored under, and whether it may carry
 * attachments, which earns its doors the larger body limit, and the roles that may send it (a
 * module may narrow them per document: PreparedMessage.senders). A new type is a module of its own,
 * an entry here and a line in messageModules.
 */
export const MESSAGE_TYPES = {
  KhaiSinh: { transferType: 'KHAI_SINH', carriesAttachments: false, senders: ['registry'] },
  KhaiTu: { transferType: 'KHAI_TU', carriesAttachments: false, senders: ['registry'] },
  HoSoMotCua: { transferType: 'HO_SO_MOT_CUA', carriesAttachments: true, senders: ['registry'] },
  CapLaiThe: { transferType: 'CAP_LAI_THE', carriesAttachments: false, senders: ['reissue', 'correction'] },
} as const satisfies Record<string, { transferType: string; carriesAttachments: boolean; senders: readonly Role[] }>;

export type MessageType = keyof typeof MESSAGE_TYPES;

/**
 * The types above are the only ones transfers are stored under: storage's TransferType is made of
 * them, so a module storing, reading or claiming any other type does not compile.
 */
declare module '../store/transfers.js' {
  interface StoredTransferTypes extends Record<(typeof MESSAGE_TYPES)[MessageType]['transferType'] | typeof PUPIL_LIST_TRANSFER_TYPE, true> {}
}

/** Every BHXH document type records leave as, one per type that goes to BHXH (DISPATCH_FACTS). */
export const BHXH_DOCUMENT_TYPES = ['CAP_THE_TE', 'BAO_GIAM', 'CAP_LAI_THE', PUPIL_LIST_TRANSFER_TYPE] as const;

/** Storage's Loai is made of them, as its TransferType is of the message types. */
declare module '../store/batches.js' {
  interface BhxhDocumentTypes extends Record<(typeof BHXH_DOCUMENT_TYPES)[number], true> {}
}

/** The two sizes a registry door takes a message up to (BODY_LIMIT, MOTCUA_BODY_LIMIT). */
export interface BodyLimits {
  bodyLimit: number;
  attachmentBodyLimit: number;
}

/** The most a door reads of a message of this type: the same at every door, REST or SOAP. */
export function bodyLimitOf(type: MessageType, limits: BodyLimits): number {
  return MESSAGE_TYPES[type].carriesAttachments ? limits.attachmentBodyLimit : limits.bodyLimit;
}

/**
 * The types whose records leave for BHXH, each with its dispatch facts; a dossier never does (it
 * completes a birth or links to a death). Every claim, pushed or leased, is given these.
 */
export const DISPATCH_FACTS: readonly DispatchFacts[] = [birthDispatch, deathDispatch, reissueDispatch, pupilListDispatch];

/** The roles that may send this type at all: a door admits these before it reads the body. */
export function sendersOf(type: MessageType): readonly Role[] {
  return MESSAGE_TYPES[type].senders;
}

/** Every role that may send some message type: the SOAP door, which learns the type from the body, admits these. */
export const SENDER_ROLES: Role[] = [...new Set(Object.values(MESSAGE_TYPES).flatMap(({ senders }) => senders))];

/**
 * Roles that read only some kinds of transfer, whoever sent them, within their provinces (a BHXH
 * office's re-issue accounts), and those kinds. Registries read what they sent; operators and
 * auditors everything of their provinces.
 */
const READERS_BY_ROLE: Partial<Record<Role, ReadableKind[]>> = { ...REISSUE_READERS };

/** The kinds of transfer a client reads by its kind-limited roles (none when it has no such role). */
export function readableKindsOf(client: ApiClient): ReadableKind[] {
  return client.roles.flatMap((role) => READERS_BY_ROLE[role] ?? []);
}

/** The roles that read by kind: the transfer reads admit them too. */
export const KIND_READER_ROLES = Object.keys(READERS_BY_ROLE) as Role[];

/** The dispatch facts of the type whose records leave as `loai`. */
export function dispatchFactsOf(loai: Loai): DispatchFacts {
  const facts = DISPATCH_FACTS.find((candidate) => candidate.loai === loai);
  if (!facts) throw new Error(`no message type leaves as ${loai}`);
  return facts;
}

/** The types transfers are stored under, one per message type and one for schools' list rows: what a listing may filter by. */
export const TRANSFER_TYPES = [...Object.values(MESSAGE_TYPES).map(({ transferType }) => transferType), PUPIL_LIST_TRANSFER_TYPE];

export function messageModules(deps: ModuleDependencies): Record<MessageType, PluggedModule> {
  return {
    KhaiSinh: plug(birthModule(deps)),
    KhaiTu: plug(deathModule(deps)),
    HoSoMotCua: plug(dossierModule(deps)),
    CapLaiThe: plug(reissueModule(deps)),
  };
}

/** A message after its schema, its type no longer needed by the intake. */
export interface ReadMessage {
  document: { messageId: string };
  prepare(today: CalendarDate): PreparedMessage;
}

/** A module as the intake holds it: one document type each, read through that module's own schema. */
export interface PluggedModule {
  read(raw: unknown): ReadMessage;
}

function plug<Doc extends { messageId: string }>(module: MessageModule<Doc>): PluggedModule {
  return {
    read(raw) {
      const document = validateDocument<Doc>(module.schema, raw);
      return { document, prepare: (today) => module.prepare(document, today) };
    },
  };
}
