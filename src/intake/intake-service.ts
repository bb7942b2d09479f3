import { actsForProvince, type ApiClient } from '../auth/clients.js';
import type { Catalogues } from '../catalogues/catalogues.js';
import { canonicalJson, sha256Hex } from '../domain/canonical-json.js';
import { todayInVietnam } from '../domain/calendar-date.js';
import { GatewayError } from '../errors.js';
import type { Arrival, Door, PreparedMessage } from '../messages/message-module.js';
import { messageModules, sendersOf, type MessageType, type PluggedModule } from '../messages/registry.js';
import type { Database } from '../store/database.js';
import {
  findInboundMessage,
  MessageAlreadyRecorded,
  recordInboundMessageInTx,
  type IntakeAnswer,
} from '../store/inbound-messages.js';
import { mayTouch } from '../transfers/access.js';

export type { Door, MessageType };

export interface IntakeResult {
  /** 202 for a new message, 200 for a repeat of one already accepted. */
  statusCode: 200 | 202;
  answer: IntakeAnswer;
}

export interface IntakeDependencies {
  db: Database;
  catalogues: Catalogues;
  now?: () => Date;
}

/**
 * Where every door hands its document, whatever its type: checked by its module's schema and rules,
 * stored by its module with its audit event in one transaction, and only then answered. Idempotent
 * by (client, messageId). A message's store holds its module's locks (the persons and dossier it
 * names), so a birth, a death and a dossier for the same child arriving together are applied one
 * after another, whichever comes first.
 */
export class IntakeService {
  private readonly now: () => Date;
  private readonly modules: Record<MessageType, PluggedModule>;

  constructor(private readonly deps: IntakeDependencies) {
    this.now = deps.now ?? (() => new Date());
    this.modules = messageModules({ db: deps.db, catalogues: deps.catalogues });
  }

  async accept(messageType: MessageType, raw: unknown, client: ApiClient, door: Door): Promise<IntakeResult> {
    // The REST doors admit only the type's senders already; the SOAP door knows the type only now.
    if (!sendersOf(messageType).some((role) => client.roles.includes(role))) {
      throw new GatewayError('FORBIDDEN', `A ${messageType} needs one of the roles: ${sendersOf(messageType).join(', ')}`);
    }
    const receivedAt = this.now();
    const { document, prepare } = this.modules[messageType].read(raw);
    const prepared = prepare(todayInVietnam(receivedAt));
    const senders = prepared.senders;
    if (senders && !senders.roles.some((role) => client.roles.includes(role))) {
      throw new GatewayError('FORBIDDEN', `Client ${client.id} may not send this kind of ${messageType}`, [
        { path: senders.path, code: 'FORBIDDEN', message: `this kind needs one of the roles: ${senders.roles.join(', ')}` },
      ]);
    }
    if (!actsForProvince(client, prepared.maTinh)) {
      throw new GatewayError('FORBIDDEN', `Client ${client.id} may not send records for province ${prepared.maTinh}`, [
        { path: prepared.provincePath, code: 'FORBIDDEN', message: 'outside this client\'s units' },
      ]);
    }
    const { messageId } = document;
    const documentJson = canonicalJson(document);
    const contentSha256 = sha256Hex(documentJson);
    const arrival: Arrival = {
      client, door, messageId, receivedAt, documentJson, contentSha256,
      mayRead: (transfer) => mayTouch(transfer, client),
      record: (tx, answer) => recordInboundMessageInTx(tx, {
        clientId: client.id, messageId, messageType, contentSha256, transferId: answer.transferId, response: answer,
      }),
    };
    const earlier = await this.checkOrRepeat(prepared, arrival);
    if (earlier) return earlier;
    if (prepared.storeInGroup) {
      const outcome = await prepared.storeInGroup(arrival);
      if (outcome.kind === 'stored') return { statusCode: 202, answer: outcome.answer };
      if (outcome.kind === 'repeat') {
        const repeat = await this.repeatAnswer(arrival);
        if (repeat) return repeat;
      }
    } else {
      const repeat = await this.repeatAnswer(arrival);
      if (repeat) return repeat;
    }

    try {
      const locks = [...prepared.locks, ...(await prepared.lockedAlso?.(this.deps.db) ?? [])];
      const answer = await this.deps.db.transaction((tx) => prepared.store(tx, arrival), { locks });
      return { statusCode: 202, answer };
    } catch (error) {
      // A twin of this message committed while we waited for its locks: answer as it was answered.
      // The twin's commit may have changed what this copy's store saw (the person's birth now held),
      // so a refusal is checked against it too, not only a clash of the idempotency record.
      if (!(error instanceof MessageAlreadyRecorded || (error instanceof GatewayError && error.status < 500))) throw error;
      const twin = await this.repeatAnswer(arrival);
      if (twin) return twin;
      throw error;
    }
  }

  /** A rule that fails for a message already accepted (the lists changed since) still gets the first answer. */
  private async checkOrRepeat(prepared: PreparedMessage, arrival: Arrival): Promise<IntakeResult | null> {
    try {
      prepared.check();
      return null;
    } catch (error) {
      const repeat = await this.repeatAnswer(arrival);
      if (repeat) return repeat;
      throw error;
    }
  }

  private async repeatAnswer({ client, messageId, contentSha256 }: Arrival): Promise<IntakeResult | null> {
    const seen = await findInboundMessage(this.deps.db, client.id, messageId);
    if (!seen) return null;
    if (seen.contentSha256 !== contentSha256) {
      throw new GatewayError('DUPLICATE_MESSAGE', undefined, [
        { path: '/messageId', code: 'DUPLICATE_MESSAGE', message: `messageId ${messageId} was first used for other content` },
      ]);
    }
    return { statusCode: 200, answer: seen.response };
  }
}
