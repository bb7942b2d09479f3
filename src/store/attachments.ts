import { createHash } from 'node:crypto';
import type { Queryable } from './database.js';

export interface NewAttachment {
  loai: string;
  ten: string;
  fileName: string;
  content: Buffer;
}

/** Keeps dossier files once per content; BHXH documents cite them by SHA-256. */
export async function insertAttachmentsInTx(tx: Queryable, transferId: string, files: NewAttachment[]): Promise<void> {
  for (const file of files) {
    const sha256 = createHash('sha256').update(file.content).digest('hex');
    await tx.query(
      `INSERT INTO attachments (transfer_id, sha256, loai, ten, file_name, size_bytes, content)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (transfer_id, sha256) DO NOTHING`,
      [transferId, sha256, file.loai, file.ten, file.fileName, file.content.length, file.content],
    );
  }
}

/** A waiting dossier's files go with it into the birth it completes. */
export async function moveAttachmentsInTx(tx: Queryable, fromTransferId: string, toTransferId: string): Promise<void> {
  await tx.query(
    `UPDATE attachments a SET transfer_id = $2
      WHERE transfer_id = $1
        AND NOT EXISTS (SELECT 1 FROM attachments b WHERE b.transfer_id = $2 AND b.sha256 = a.sha256)`,
    [fromTransferId, toTransferId],
  );
}

/** A kept file as a BHXH document cites it: by its hash, under BHXH's field names. */
export interface StoredAttachmentReference {
  LOAI: string;
  TEN: string;
  SHA256: string;
}

/** The transfer's files in the order they were kept. */
export async function attachmentReferences(db: Queryable, transferId: string): Promise<StoredAttachmentReference[]> {
  const { rows } = await db.query<{ loai: string; ten: string; sha256: string }>(
    'SELECT loai, ten, sha256 FROM attachments WHERE transfer_id = $1 ORDER BY created_at, sha256',
    [transferId],
  );
  return rows.map((row) => ({ LOAI: row.loai, TEN: row.ten, SHA256: row.sha256 }));
}
