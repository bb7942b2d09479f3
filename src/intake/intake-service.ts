import { v7 as uuidv7 } from 'uuid';
import { missingForCard, toCapTheTe } from '../../mappings/cap-the-te.js';
import { actsForProvince, type ApiClient } from '../auth/clients.js';
import type { UnitCatalogue } from '../catalogues/unit-catalogue.js';
import { canonicalJson, sha256Hex } from '../domain/canonical-json.js';
import { todayInVietnam } from '../domain/calendar-date.js';
import type { KhaiSinh } from '../domain/documents.js';
import { GatewayError } from '../errors.js';
import type { Database } from '../store/database.js';
import {
  findInboundMessage,
  MessageAlreadyRecorded,
  recordInboundMessageInTx,
  type IntakeAnswer,
} from '../store/inbound-messages.js';
import { insertTransferInTx } from '../store/transfers.js';
import { checkKhaiSinh } from './khai-sinh-rules.js';
import { assertBhxhDocument } from './bhxh-documents.js';
import { validateDocument } from './validator.js';

export type Door = 'rest-json' | 'rest-xml' | 'soap';

export interface IntakeResult {
  /** 202 for a new message, 200 for a repeat of one already accepted. */
  statusCode: 200 | 202;
  answer: IntakeAnswer;
}

export interface IntakeDependencies {
  db: Database;
  units: UnitCatalogue;
  now?: () => Date;
}

/**
 * Where every door hands its document: checked, translated, stored with its audit event in one
 * transaction, and only then answered. Idempotent by (client, messageId).
 */
export class IntakeService {
  private readonly now: () => Date;

  constructor(private readonly deps: IntakeDependencies) {
    this.now = deps.now ?? (() => new Date());
  }

  async acceptKhaiSinh(raw: unknown, client: ApiClient, door: Door): Promise<IntakeResult> {
    const doc = validateDocument<KhaiSinh>('KhaiSinh', raw);
    const maTinh = doc.hoTich.noiDangKy.maTinh;
    if (!actsForProvince(client, maTinh)) {
      throw new GatewayError('FORBIDDEN', `Client ${client.id} may not send records for province ${maTinh}`, [
        { path: '/hoTich/noiDangKy/maTinh', code: 'FORBIDDEN', message: 'outside this client\'s units' },
      ]);
    }
    const contentSha256 = sha256Hex(canonicalJson(doc));
    const repeat = await this.repeatAnswer(client.id, doc.messageId, contentSha256);
    if (repeat) return repeat;

    checkKhaiSinh(doc, this.deps.units, todayInVietnam(this.now()));
    const transferId = uuidv7();
    const missing = missingForCard(doc);
    const status = missing.length === 0 ? 'queued' : 'received';
    const bhxhDocument = status === 'queued' ? assertBhxhDocument('CapTheTe', toCapTheTe(doc, { transferId })) : null;
    const answer: IntakeAnswer = { transferId, messageId: doc.messageId, status };

    try {
      await this.deps.db.transaction(async (tx) => {
        await recordInboundMessageInTx(tx, {
          clientId: client.id, messageId: doc.messageId, messageType: 'KhaiSinh', contentSha256, transferId, response: answer,
        });
        await insertTransferInTx(
          tx,
          {
            id: transferId, type: 'KHAI_SINH', clientId: client.id, messageId: doc.messageId, status, maTinh,
            maDonVi: doc.maDonVi, soDinhDanh: doc.hoTich.soDinhDanh, document: doc as unknown as Record<string, unknown>,
            missing, bhxhDocument: bhxhDocument as Record<string, unknown> | null,
          },
          { actor: client.id, action: 'khai-sinh.accepted', payload: doc, details: { door, ...(missing.length ? { missing } : {}) } },
        );
      });
    } catch (error) {
      if (!(error instanceof MessageAlreadyRecorded)) throw error;
      // A twin of this message was committed while we worked: answer as it was answered.
      const twin = await this.repeatAnswer(client.id, doc.messageId, contentSha256);
      if (twin) return twin;
      throw error;
    }
    return { statusCode: 202, answer };
  }

  private async repeatAnswer(clientId: string, messageId: string, contentSha256: string): Promise<IntakeResult | null> {
    const seen = await findInboundMessage(this.deps.db, clientId, messageId);
    if (!seen) return null;
    if (seen.contentSha256 !== contentSha256) {
      throw new GatewayError('DUPLICATE_MESSAGE', undefined, [
        { path: '/messageId', code: 'DUPLICATE_MESSAGE', message: `messageId ${messageId} was first used for other content` },
      ]);
    }
    return { statusCode: 200, answer: seen.response };
  }
}
