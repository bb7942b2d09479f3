import type { CalendarDate } from '../domain/calendar-date.js';
import { validateDocument } from '../intake/validator.js';
import { birthModule } from './birth/module.js';
import { deathModule } from './death/module.js';
import { dossierModule } from './dossier/module.js';
import type { MessageModule, ModuleDependencies, PreparedMessage } from './message-module.js';

/**
 * Every message type the registry doors take, by the name a route or SOAP operation gives it. A
 * new type is a module of its own and a line here.
 */
export function messageModules(deps: ModuleDependencies) {
  return {
    KhaiSinh: plug(birthModule(deps)),
    KhaiTu: plug(deathModule(deps)),
    HoSoMotCua: plug(dossierModule(deps)),
  };
}

export type MessageType = keyof ReturnType<typeof messageModules>;

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
