import { baoGiamProblems } from '../../../mappings/bao-giam.js';
import { capTheTeProblems } from '../../../mappings/cap-the-te.js';
import { readXmlText } from '../../codec/xml-document.js';
import { newId } from '../../domain/ids.js';
import { GatewayError } from '../../errors.js';
import { validateDocument } from '../../intake/validator.js';
import { contentSha256, countAttachmentsInTx, insertAttachmentsInTx, type NewAttachment } from '../../store/attachments.js';
import type { Queryable } from '../../store/database.js';
import type { IntakeAnswer } from '../../store/inbound-messages.js';
import { insertTransferInTx, lockTransferInTx, type Transfer } from '../../store/transfers.js';
import { applyDossierToBirthInTx, birthRules } from '../birth/module.js';
import type { MessageModule, ModuleDependencies } from '../message-module.js';
import { checkAttachmentsPerBirth, type HoSoMotCua, type ReadDossier } from './merge.js';
import { linkDossierInTx, waitingBirthDossierIdsInTx } from './waiting.js';

/**
 * One-stop-shop dossiers (HoSoMotCua): each completes its birth or links to its death, or waits as a
 * transfer of its own until that record arrives and absorbs it.
 */
export function dossierModule(deps: ModuleDependencies): MessageModule<HoSoMotCua> {
  return {
    schema: 'HoSoMotCua',
    prepare(doc, today) {
      const read = readDossier(doc);
      return {
        maTinh: read.maTinh,
        provincePath: '/data/noiDangKy/maTinh',
        locks: [`dossier:${doc.maHoSo}`, ...(read.soDinhDanh ? [`person:${read.soDinhDanh}`] : [])],
        check() {
          // The facility it may bring into a birth, refused here rather than when a birth arrives for it.
          const problems = doc.bhyt?.noiDangKyKCB ? deps.catalogues.facilities.check(doc.bhyt.noiDangKyKCB, '/bhyt/noiDangKyKCB') : [];
          if (problems.length > 0) throw new GatewayError('VALIDATION_FAILED', 'The HoSoMotCua document is not valid', problems);
        },
        async store(tx, arrival) {
          const files = decodeFiles(doc);
          const target = await matchingTransfer(tx, doc.module === 'KS' ? 'KHAI_SINH' : 'KHAI_TU', doc.maHoSo, read.soDinhDanh, read.maTinh);
          if (doc.module === 'KS' && files.length > 0) await checkBirthAttachmentsInTx(tx, target, read, files);
          if (!target) {
            const transferId = newId();
            const answer: IntakeAnswer = { transferId, messageId: doc.messageId, status: 'received' };
            await arrival.record(tx, answer);
            const { data: _xml, fileDinhKem: _files, ...kept } = doc;
            await insertTransferInTx(
              tx,
              {
                id: transferId, type: 'HO_SO_MOT_CUA', clientId: arrival.client.id, messageId: doc.messageId, status: 'received',
                maTinh: read.maTinh, maDonVi: doc.maDonVi, soDinhDanh: read.soDinhDanh ?? '',
                document: { ...kept, hoTich: read.hoTich, files: files.map(({ content: _content, ...meta }) => meta) },
                missing: [doc.module === 'KS' ? '/KhaiSinh' : '/KhaiTu'], bhxhDocument: null, maHoSo: doc.maHoSo,
              },
              { actor: arrival.client.id, action: 'mot-cua.waiting', payloadSha256: arrival.contentSha256, details: { door: arrival.door, module: doc.module } },
            );
            await insertAttachmentsInTx(tx, transferId, files);
            return answer;
          }
          await insertAttachmentsInTx(tx, target.id, files);
          const updated = target.type === 'KHAI_SINH'
            ? await applyDossierToBirthInTx(tx, target, read, arrival.client.id, birthRules(deps.catalogues, today))
            : await linkDossierInTx(tx, target, read.maHoSo, arrival.client.id);
          const answer: IntakeAnswer = { transferId: updated.id, messageId: doc.messageId, status: updated.status };
          await arrival.record(tx, answer);
          return answer;
        },
      };
    },
  };
}

/** The record a dossier belongs to: registered in the dossier's province, by dossier code first. */
async function matchingTransfer(tx: Queryable, type: 'KHAI_SINH' | 'KHAI_TU', maHoSo: string, soDinhDanh: string | undefined, maTinh: string): Promise<Transfer | null> {
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

/**
 * Refused before anything is written: files that would take the birth past what BHXH cites, counted
 * with those the birth keeps already, or, while it has not arrived, those of the dossiers waiting
 * for it. A file it has already counts once, so a dossier adding none is never refused, even for a
 * birth kept with more before the limit was enforced.
 */
async function checkBirthAttachmentsInTx(tx: Queryable, birth: Transfer | null, read: ReadDossier, files: NewAttachment[]): Promise<void> {
  const holders = birth ? [birth.id] : await waitingBirthDossierIdsInTx(tx, read.maHoSo, read.soDinhDanh, read.maTinh);
  const { kept, together } = await countAttachmentsInTx(tx, holders, files.map((file) => file.sha256));
  if (together === kept) return;
  checkAttachmentsPerBirth(together, '/fileDinhKem', () => `${birth ? 'the birth already carries' : 'the dossiers waiting for this birth already carry'} ${kept} attachments and this dossier adds ${together - kept}`);
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
  return (doc.fileDinhKem ?? []).map((file) => {
    const content = Buffer.from(file.duLieuTepDinhKem, 'base64');
    return { loai: file.loaiGiayTo, ten: file.tenGiayTo, fileName: file.tenTepDinhKem, content, sha256: contentSha256(content) };
  });
}
