import { missingForCard, toCapTheTe } from '../../../mappings/cap-the-te.js';
import type { KhaiSinh } from '../../domain/documents.js';
import { assertBhxhDocument, CAP_THE_TE_MAX_ATTACHMENTS } from '../../intake/bhxh-documents.js';
import type { StoredAttachmentReference } from '../../store/attachments.js';
import type { TransferStatus } from '../../store/transfers.js';

/** The subjects a birth's store works on: its person, and the one-stop dossier it names. */
export function birthLocks(doc: KhaiSinh): string[] {
  return [`person:${doc.hoTich.soDinhDanh}`, ...(doc.maHoSoMCDT ? [`dossier:${doc.maHoSoMCDT}`] : [])];
}

/**
 * The completeness, status and BHXH document of a birth as it now stands, citing each of its files
 * once and at most BHXH's {@link CAP_THE_TE_MAX_ATTACHMENTS}, in the order they were kept. A birth
 * never gathers more today (it leaves waiting the dossiers whose files do not fit, and a dossier
 * adding files past the limit is refused), but one kept before the limit was enforced may hold
 * more: it still leaves, citing its first files, and `filesNotCited` says how many it leaves out.
 */
export function cardState(doc: KhaiSinh, transferId: string, files: StoredAttachmentReference[], current?: TransferStatus) {
  const distinct = distinctFiles(files);
  const attachments = distinct.slice(0, CAP_THE_TE_MAX_ATTACHMENTS);
  const missing = missingForCard(doc);
  // A returned record stays returned until the officer decides to resend it (step 4).
  const status: TransferStatus = current === 'returned' ? 'returned' : missing.length === 0 ? 'queued' : 'received';
  const bhxhDocument = missing.length === 0 ? assertBhxhDocument('CapTheTe', toCapTheTe(doc, { transferId, attachments })) : null;
  return { missing, status, bhxhDocument: bhxhDocument as Record<string, unknown> | null, filesNotCited: distinct.length - attachments.length };
}

/** Each file once, by content, where it first appears. */
function distinctFiles(files: StoredAttachmentReference[]): StoredAttachmentReference[] {
  const seen = new Set<string>();
  return files.filter((file) => !seen.has(file.SHA256) && seen.add(file.SHA256));
}
