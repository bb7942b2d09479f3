import { missingForCard, toCapTheTe } from '../../../mappings/cap-the-te.js';
import type { KhaiSinh } from '../../domain/documents.js';
import { assertBhxhDocument } from '../../intake/bhxh-documents.js';
import type { StoredAttachmentReference } from '../../store/attachments.js';
import type { TransferStatus } from '../../store/transfers.js';
import { checkAttachmentsPerBirth } from '../dossier/merge.js';

/** The subjects a birth's store works on: its person, and the one-stop dossier it names. */
export function birthLocks(doc: KhaiSinh): string[] {
  return [`person:${doc.hoTich.soDinhDanh}`, ...(doc.maHoSoMCDT ? [`dossier:${doc.maHoSoMCDT}`] : [])];
}

/**
 * The completeness, status and BHXH document of a birth as it now stands, citing each of its files
 * once. A dossier refuses files past BHXH's limit when it arrives, but two dossiers that only the
 * birth shows to belong together (one found by its code, the other by the child) can still bring
 * more: the birth is then refused rather than stored with a document that could never leave.
 */
export function cardState(doc: KhaiSinh, transferId: string, files: StoredAttachmentReference[], current?: TransferStatus) {
  const cited = new Set<string>();
  const attachments = files.filter((file) => !cited.has(file.SHA256) && cited.add(file.SHA256));
  checkAttachmentsPerBirth(attachments.length, doc.maHoSoMCDT !== undefined ? '/maHoSoMCDT' : '/hoTich/soDinhDanh',
    () => `the one-stop dossiers waiting for this birth carry ${attachments.length} attachments`);
  const missing = missingForCard(doc);
  // A returned record stays returned until the officer decides to resend it (step 4).
  const status: TransferStatus = current === 'returned' ? 'returned' : missing.length === 0 ? 'queued' : 'received';
  const bhxhDocument = missing.length === 0 ? assertBhxhDocument('CapTheTe', toCapTheTe(doc, { transferId, attachments })) : null;
  return { missing, status, bhxhDocument: bhxhDocument as Record<string, unknown> | null };
}
