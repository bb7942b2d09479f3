import { missingForCard, toCapTheTe } from '../../../mappings/cap-the-te.js';
import type { KhaiSinh } from '../../domain/documents.js';
import { assertBhxhDocument } from '../../intake/bhxh-documents.js';
import type { attachmentReferences } from '../../store/attachments.js';
import type { TransferStatus } from '../../store/transfers.js';

/** The subjects a birth's store works on: its person, and the one-stop dossier it names. */
export function birthLocks(doc: KhaiSinh): string[] {
  return [`person:${doc.hoTich.soDinhDanh}`, ...(doc.maHoSoMCDT ? [`dossier:${doc.maHoSoMCDT}`] : [])];
}

/** The completeness, status and BHXH document of a birth as it now stands. */
export function cardState(doc: KhaiSinh, transferId: string, attachments: Awaited<ReturnType<typeof attachmentReferences>>, current?: TransferStatus) {
  const missing = missingForCard(doc);
  // A returned record stays returned until the officer decides to resend it (step 4).
  const status: TransferStatus = current === 'returned' ? 'returned' : missing.length === 0 ? 'queued' : 'received';
  const bhxhDocument = missing.length === 0 ? assertBhxhDocument('CapTheTe', toCapTheTe(doc, { transferId, attachments })) : null;
  return { missing, status, bhxhDocument: bhxhDocument as Record<string, unknown> | null };
}
