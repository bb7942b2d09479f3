import { newId } from '../domain/ids.js';
import { baoGiamProblems, toBaoGiam } from '../../mappings/bao-giam.js';
import { capTheTeProblems, missingForCard, toCapTheTe } from '../../mappings/cap-the-te.js';
import { readXmlText } from '../codec/xml-document.js';
import { actsForProvince, type ApiClient } from '../auth/clients.js';
import type { Catalogues } from '../catalogues/catalogues.js';
import { canonicalJson, sha256Hex } from '../domain/canonical-json.js';
import { todayInVietnam } from '../domain/calendar-date.js';
import type { KhaiSinh, KhaiTu } from '../domain/documents.js';
import { GatewayError, personDeceased } from '../errors.js';
import { attachmentReferences, insertAttachmentsInTx, moveAttachmentsInTx, type NewAttachment } from '../store/attachments.js';
import type { Database, Queryable } from '../store/database.js';
import {
  findInboundMessage,
  MessageAlreadyRecorded,
  recordInboundMessageInTx,
  type IntakeAnswer,
} from '../store/inbound-messages.js';
import {
  changeTransferInTx,
  insertTransferInTx,
  isRegisteredDead,
  lockTransferInTx,
  moveTransfersInTx,
  type Transfer,
  type TransferStatus,
} from '../store/transfers.js';
import { assertBhxhDocument } from './bhxh-documents.js';
import { checkKhaiSinh } from './khai-sinh-rules.js';
import { checkKhaiTu } from './khai-tu-rules.js';
import { supplyBirthFromDossier, type HoSoMotCua, type ReadDossier } from './one-stop-dossier.js';
import { validateDocument } from './validator.js';
import { BirthWriter } from './birth-writer.js';

export type Door = 'rest-json' | 'rest-xml' | 'soap';
export type MessageType = 'KhaiSinh' | 'KhaiTu' | 'HoSoMotCua';

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

/** Statuses in which a birth's document may still change (docs/DOMAIN.md, procedure step 3). */
const CORRECTABLE: TransferStatus[] = ['received', 'queued', 'returned'];
/** A card that has not reached BHXH yet, and so must not once the person is known to have died. */
const CARD_NOT_YET_SENT: TransferStatus[] = ['received', 'queued', 'returned', 'failed'];

/** What a prepared message is about: its province (for unit scopes) and the people and dossier it names. */
interface Prepared {
  maTinh: string;
  locks: string[];
  store: (tx: Queryable, context: StoreContext) => Promise<IntakeAnswer>;
}

interface StoreContext {
  client: ApiClient;
  door: Door;
  messageId: string;
  /** The received document's hash, made once: the idempotency record's and its audit event's payload hash. */
  contentSha256: string;
  messageType: MessageType;
}

/** The completeness, status and BHXH document of a birth as it now stands. */
export function cardState(doc: KhaiSinh, transferId: string, attachments: Awaited<ReturnType<typeof attachmentReferences>>, current?: TransferStatus) {
  const missing = missingForCard(doc);
  // The rules refuse such names at intake and on correction; a one-stop dossier completing a birth
  // stored before they did reaches the mapping without them, and must be a 400, not a failed mapping.
  const unmappable = missing.length === 0 ? capTheTeProblems(doc.hoTich) : [];
  if (unmappable.length > 0) throw new GatewayError('VALIDATION_FAILED', 'The KhaiSinh document is not valid', unmappable);
  // A returned record stays returned until the officer decides to resend it (step 4).
  const status: TransferStatus = current === 'returned' ? 'returned' : missing.length === 0 ? 'queued' : 'received';
  const bhxhDocument = missing.length === 0 ? assertBhxhDocument('CapTheTe', toCapTheTe(doc, { transferId, attachments })) : null;
  return { missing, status, bhxhDocument: bhxhDocument as Record<string, unknown> | null };
}

/**
 * Where every door hands its document: checked, translated, stored with its audit event in one
 * transaction, and only then answered. Idempotent by (client, messageId). Messages about one person
 * (or one dossier) take an advisory lock on it, so a birth, a death and a dossier for the same child
 * arriving together are applied one after another, whichever comes first.
 */
export class IntakeService {
  private readonly now: () => Date;
  private readonly births: BirthWriter;

  constructor(private readonly deps: IntakeDependencies) {
    this.now = deps.now ?? (() => new Date());
    this.births = new BirthWriter(deps.db);
  }

  async accept(messageType: MessageType, raw: unknown, client: ApiClient, door: Door): Promise<IntakeResult> {
    const doc = validateDocument<{ messageId: string }>(messageType, raw);
    const today = todayInVietnam(this.now());
    const prepared =
      messageType === 'KhaiSinh' ? this.prepareBirth(doc as unknown as KhaiSinh)
      : messageType === 'KhaiTu' ? this.prepareDeath(doc as unknown as KhaiTu)
      : this.prepareDossier(doc as unknown as HoSoMotCua);
    if (!actsForProvince(client, prepared.maTinh)) {
      throw new GatewayError('FORBIDDEN', `Client ${client.id} may not send records for province ${prepared.maTinh}`, [
        { path: messageType === 'HoSoMotCua' ? '/data/noiDangKy/maTinh' : '/hoTich/noiDangKy/maTinh', code: 'FORBIDDEN', message: 'outside this client\'s units' },
      ]);
    }
    const canonicalText = canonicalJson(doc);
    const contentSha256 = sha256Hex(canonicalText);
    if (messageType === 'KhaiSinh') {
      const birth = doc as unknown as KhaiSinh;
      await this.checkOrRepeat(() => checkKhaiSinh(birth, this.deps.catalogues, today), client.id, doc.messageId, contentSha256);
      const answered = await this.acceptBirthInBatch(birth, canonicalText, client, door, contentSha256);
      if (answered) return answered;
    } else {
      const repeat = await this.repeatAnswer(client.id, doc.messageId, contentSha256);
      if (repeat) return repeat;
      if (messageType === 'KhaiTu') checkKhaiTu(doc as unknown as KhaiTu, this.deps.catalogues, today);
    }

    try {
      const answer = await this.deps.db.transaction(
        (tx) => prepared.store(tx, { client, door, messageId: doc.messageId, contentSha256, messageType }),
        { locks: prepared.locks },
      );
      return { statusCode: 202, answer };
    } catch (error) {
      if (!(error instanceof MessageAlreadyRecorded)) throw error;
      // A twin of this message was committed while we worked: answer as it was answered.
      const twin = await this.repeatAnswer(client.id, doc.messageId, contentSha256);
      if (twin) return twin;
      throw error;
    }
  }

  /** A rule that fails for a message already accepted (the lists changed since) still gets the first answer. */
  private async checkOrRepeat(check: () => void, clientId: string, messageId: string, contentSha256: string): Promise<void> {
    try {
      check();
    } catch (error) {
      if (await this.repeatAnswer(clientId, messageId, contentSha256)) return;
      throw error;
    }
  }

  /**
   * The hot path: most births go through the group-commit writer. Null when this one must be stored
   * on its own instead (a dossier waits for it, or its twin in the same batch was refused).
   */
  private async acceptBirthInBatch(doc: KhaiSinh, documentJson: string, client: ApiClient, door: Door, contentSha256: string): Promise<IntakeResult | null> {
    const transferId = newId();
    const state = cardState(doc, transferId, []);
    const outcome = await this.births.submit({
      client, door, doc, documentJson, contentSha256, transferId, status: state.status, missing: state.missing, bhxhDocument: state.bhxhDocument,
    });
    if (outcome.kind === 'stored') return { statusCode: 202, answer: outcome.answer };
    if (outcome.kind === 'repeat') return this.repeatAnswer(client.id, doc.messageId, contentSha256);
    return null;
  }

  private async record(tx: Queryable, context: StoreContext, answer: IntakeAnswer): Promise<void> {
    await recordInboundMessageInTx(tx, {
      clientId: context.client.id, messageId: context.messageId, messageType: context.messageType,
      contentSha256: context.contentSha256, transferId: answer.transferId, response: answer,
    });
  }

  private prepareBirth(doc: KhaiSinh): Prepared {
    const soDinhDanh = doc.hoTich.soDinhDanh;
    return {
      maTinh: doc.hoTich.noiDangKy.maTinh,
      locks: [`person:${soDinhDanh}`, ...(doc.maHoSoMCDT ? [`dossier:${doc.maHoSoMCDT}`] : [])],
      store: async (tx, context) => {
        if (await isRegisteredDead(tx, soDinhDanh)) throw personDeceased();
        const transferId = newId();
        // Every dossier that arrived first for this child (by its code or by the child's number).
        const dossiers = await this.waitingDossiers(tx, 'KS', doc.maHoSoMCDT, soDinhDanh, doc.hoTich.noiDangKy.maTinh);
        let birth = doc;
        const supplied: string[] = [];
        const attachments = [];
        for (const dossier of dossiers) {
          const merge = supplyBirthFromDossier(birth, dossier.read);
          birth = merge.merged;
          supplied.push(...merge.supplied);
          attachments.push(...(await attachmentReferences(tx, dossier.transfer.id)));
        }
        if (dossiers.length > 0) birth = validateDocument<KhaiSinh>('KhaiSinh', birth);
        const state = cardState(birth, transferId, attachments);
        const answer: IntakeAnswer = { transferId, messageId: doc.messageId, status: state.status };
        await this.record(tx, context, answer);
        await insertTransferInTx(
          tx,
          {
            id: transferId, type: 'KHAI_SINH', clientId: context.client.id, messageId: doc.messageId, status: state.status,
            maTinh: birth.hoTich.noiDangKy.maTinh, maDonVi: birth.maDonVi, soDinhDanh, document: birth as unknown as Record<string, unknown>,
            missing: state.missing, bhxhDocument: state.bhxhDocument, maHoSo: birth.maHoSoMCDT,
          },
          {
            actor: context.client.id, action: 'khai-sinh.accepted', payload: birth,
            details: {
              door: context.door, ...(state.missing.length ? { missing: state.missing } : {}),
              ...(dossiers.length ? { dossiers: dossiers.map((dossier) => dossier.transfer.id), supplied } : {}),
            },
          },
        );
        await this.absorbDossiersInTx(tx, dossiers.map((dossier) => dossier.transfer), transferId, context.client.id);
        return answer;
      },
    };
  }

  private prepareDeath(doc: KhaiTu): Prepared {
    const soDinhDanh = doc.hoTich.nktSoDDCN;
    return {
      maTinh: doc.hoTich.noiDangKy.maTinh,
      locks: [`person:${soDinhDanh}`],
      store: async (tx, context) => {
        // Every row this death will change is locked first; the audit chain's lock (taken by the
        // first audit append) comes last, as everywhere, so a death can never deadlock a claim or a PATCH.
        // A card not yet sent for this person must never be issued now (docs/DOMAIN.md, "Deaths"). One in flight
        // is left to finish: the dispatcher holds this death back until BHXH has answered it.
        const cards = await tx.query<{ id: string; status: TransferStatus }>(
          'SELECT id, status FROM transfers WHERE type = $1 AND so_dinh_danh = $2 AND status = ANY($3::text[]) FOR UPDATE',
          ['KHAI_SINH', soDinhDanh, CARD_NOT_YET_SENT],
        );
        const dossiers = await this.waitingDossiers(tx, 'KT', doc.maHoSoMCDT, soDinhDanh, doc.hoTich.noiDangKy.maTinh);
        const transferId = newId();
        const maHoSo = doc.maHoSoMCDT ?? dossiers[0]?.read.maHoSo;
        const bhxhDocument = assertBhxhDocument('BaoGiam', toBaoGiam(doc, { transferId }));
        const answer: IntakeAnswer = { transferId, messageId: doc.messageId, status: 'queued' };
        await this.record(tx, context, answer);
        await insertTransferInTx(
          tx,
          {
            id: transferId, type: 'KHAI_TU', clientId: context.client.id, messageId: doc.messageId, status: 'queued',
            maTinh: doc.hoTich.noiDangKy.maTinh, maDonVi: doc.maDonVi, soDinhDanh, document: doc as unknown as Record<string, unknown>,
            missing: [], bhxhDocument: bhxhDocument as unknown as Record<string, unknown>, maHoSo,
          },
          {
            actor: context.client.id, action: 'khai-tu.accepted', payloadSha256: context.contentSha256,
            details: { door: context.door, ...(dossiers.length ? { dossiers: dossiers.map((dossier) => dossier.transfer.id) } : {}) },
          },
        );
        await this.absorbDossiersInTx(tx, dossiers.map((dossier) => dossier.transfer), transferId, context.client.id);
        await moveTransfersInTx(tx, cards.rows.map((card) => ({
          id: card.id, fromStatus: card.status, toStatus: 'deceased', batchId: null,
          event: { actor: context.client.id, action: 'transfer.person-deceased', details: { death: transferId } },
        })));
        return answer;
      },
    };
  }

  private prepareDossier(doc: HoSoMotCua): Prepared {
    const read = readDossier(doc);
    return {
      maTinh: read.maTinh,
      locks: [`dossier:${doc.maHoSo}`, ...(read.soDinhDanh ? [`person:${read.soDinhDanh}`] : [])],
      store: async (tx, context) => {
        const files = decodeFiles(doc);
        const targetType = doc.module === 'KS' ? 'KHAI_SINH' : 'KHAI_TU';
        const target = await this.matchingTransfer(tx, targetType, doc.maHoSo, read.soDinhDanh, read.maTinh);
        if (!target) {
          const transferId = newId();
          const answer: IntakeAnswer = { transferId, messageId: doc.messageId, status: 'received' };
          await this.record(tx, context, answer);
          const { data: _xml, fileDinhKem: _files, ...kept } = doc;
          await insertTransferInTx(
            tx,
            {
              id: transferId, type: 'HO_SO_MOT_CUA', clientId: context.client.id, messageId: doc.messageId, status: 'received',
              maTinh: read.maTinh, maDonVi: doc.maDonVi, soDinhDanh: read.soDinhDanh ?? '',
              document: { ...kept, hoTich: read.hoTich, files: files.map(({ content: _content, ...meta }) => meta) },
              missing: [doc.module === 'KS' ? '/KhaiSinh' : '/KhaiTu'], bhxhDocument: null, maHoSo: doc.maHoSo,
            },
            { actor: context.client.id, action: 'mot-cua.waiting', payloadSha256: context.contentSha256, details: { door: context.door, module: doc.module } },
          );
          await insertAttachmentsInTx(tx, transferId, files);
          return answer;
        }
        await insertAttachmentsInTx(tx, target.id, files);
        const updated = await this.applyDossier(tx, target, read, context);
        const answer: IntakeAnswer = { transferId: updated.id, messageId: doc.messageId, status: updated.status };
        await this.record(tx, context, answer);
        return answer;
      },
    };
  }

  /** Completes a birth still open to change; otherwise only links the dossier, audited. */
  private async applyDossier(tx: Queryable, target: Transfer, read: ReadDossier, context: StoreContext): Promise<Transfer> {
    if (target.type === 'KHAI_SINH' && CORRECTABLE.includes(target.status)) {
      const { merged, supplied } = supplyBirthFromDossier(target.document as unknown as KhaiSinh, read);
      const birth = validateDocument<KhaiSinh>('KhaiSinh', merged);
      const state = cardState(birth, target.id, await attachmentReferences(tx, target.id), target.status);
      return changeTransferInTx(
        tx,
        target,
        { status: state.status, document: birth as unknown as Record<string, unknown>, missing: state.missing, bhxhDocument: state.bhxhDocument, maHoSo: birth.maHoSoMCDT },
        { actor: context.client.id, action: 'mot-cua.applied', payload: birth, details: { maHoSo: read.maHoSo, supplied } },
      );
    }
    return changeTransferInTx(tx, target, { status: target.status, maHoSo: target.maHoSo ?? read.maHoSo }, {
      actor: context.client.id, action: 'mot-cua.linked', details: { maHoSo: read.maHoSo },
    });
  }

  /** The record a dossier belongs to: registered in the dossier's province, by dossier code first. */
  private async matchingTransfer(tx: Queryable, type: 'KHAI_SINH' | 'KHAI_TU', maHoSo: string, soDinhDanh: string | undefined, maTinh: string): Promise<Transfer | null> {
    const { rows } = await tx.query<{ id: string }>(
      `SELECT id FROM transfers
        WHERE type = $1 AND ma_tinh = $4 AND (ma_ho_so = $2 OR ($3::text IS NOT NULL AND so_dinh_danh = $3))
        ORDER BY (ma_ho_so = $2) IS TRUE DESC, id
        LIMIT 1`,
      [type, maHoSo, soDinhDanh ?? null, maTinh],
    );
    if (!rows[0]) return null;
    return lockTransferInTx(tx, rows[0].id);
  }

  /** Dossiers of the same province that arrived first for this record, locked; by code or by person. */
  private async waitingDossiers(tx: Queryable, module: 'KS' | 'KT', maHoSo: string | undefined, soDinhDanh: string, maTinh: string) {
    const { rows } = await tx.query<{ id: string }>(
      `SELECT id FROM transfers
        WHERE type = 'HO_SO_MOT_CUA' AND status = 'received' AND document->>'module' = $1 AND ma_tinh = $4
          AND (($2::text IS NOT NULL AND ma_ho_so = $2) OR so_dinh_danh = $3)
        ORDER BY id`,
      [module, maHoSo ?? null, soDinhDanh, maTinh],
    );
    const found = [];
    for (const { id } of rows) {
      const transfer = await lockTransferInTx(tx, id);
      // Another record may have absorbed it while we waited for its lock.
      if (!transfer || transfer.status !== 'received') continue;
      const document = transfer.document as { maHoSo: string; module: 'KS' | 'KT'; hoTich: ReadDossier['hoTich']; bhyt?: ReadDossier['bhyt'] };
      found.push({
        transfer,
        read: { maHoSo: document.maHoSo, module: document.module, hoTich: document.hoTich, bhyt: document.bhyt, maTinh: transfer.maTinh } satisfies ReadDossier,
      });
    }
    return found;
  }

  /** Dossiers that waited for this record now belong to it: their files move, and they end `merged`. */
  private async absorbDossiersInTx(tx: Queryable, dossiers: Transfer[], intoTransferId: string, actor: string): Promise<void> {
    for (const dossier of dossiers) {
      await moveAttachmentsInTx(tx, dossier.id, intoTransferId);
      await changeTransferInTx(tx, dossier, { status: 'merged' }, { actor, action: 'mot-cua.merged', details: { into: intoTransferId } });
    }
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

/** The dossier's embedded record is hostile XML like any body; it must name the registering province. */
function readDossier(doc: HoSoMotCua): ReadDossier {
  const xml = readXmlText(doc.data);
  if (xml.root !== 'hoTich') {
    throw new GatewayError('VALIDATION_FAILED', 'The dossier data must be a <hoTich> record', [
      { path: '/data', code: 'XML_ROOT', message: `expected <hoTich>, got <${xml.root}>` },
    ]);
  }
  const hoTich = validateDocument<Record<string, unknown>>(doc.module === 'KS' ? 'KhaiSinhHoTich' : 'KhaiTuHoTich', xml.value, '/data');
  const noiDangKy = hoTich.noiDangKy as { maTinh?: string } | undefined;
  if (!noiDangKy?.maTinh) {
    throw new GatewayError('VALIDATION_FAILED', 'The dossier data must say where it was registered', [
      { path: '/data/noiDangKy', code: 'REQUIRED', message: 'must have noiDangKy with maTinh' },
    ]);
  }
  // The record names the same people as the birth or death it belongs to, which BHXH must be able to take.
  const unmappable = doc.module === 'KS' ? capTheTeProblems(hoTich, '/data') : baoGiamProblems(hoTich, '/data');
  if (unmappable.length > 0) throw new GatewayError('VALIDATION_FAILED', 'The dossier data is not valid', unmappable);
  const soDinhDanh = (doc.module === 'KS' ? hoTich.soDinhDanh : hoTich.nktSoDDCN) as string | undefined;
  return { maHoSo: doc.maHoSo, module: doc.module, hoTich, bhyt: doc.bhyt, soDinhDanh, maTinh: noiDangKy.maTinh };
}

function decodeFiles(doc: HoSoMotCua): NewAttachment[] {
  return (doc.fileDinhKem ?? []).map((file) => ({
    loai: file.loaiGiayTo,
    ten: file.tenGiayTo,
    fileName: file.tenTepDinhKem,
    content: Buffer.from(file.duLieuTepDinhKem, 'base64'),
  }));
}
