import { createHash } from 'node:crypto';
import type { Queryable } from './database.js';

export interface NewAttachment {
  loai: string;
  ten: string;
  fileName: string;
  content: Buffer;
  /** What identifies a kept file: {@link contentSha256} of its content. */
  sha256: string;
}

/** A file's identity among those kept, and how BHXH documents cite it: the SHA-256 of its bytes, in hex. */
export function contentSha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Keeps dossier files once per content; BHXH documents cite them by SHA-256. */
export async function insertAttachmentsInTx(tx: Queryable, transferId: string, files: NewAttachment[]): Promise<void> {
  for (const file of files) {
    await tx.query(
      `INSERT INTO attachments (transfer_id, sha256, loai, ten, file_name, size_bytes, content)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (transfer_id, sha256) DO NOTHING`,
      [transferId, file.sha256, file.loai, file.ten, file.fileName, file.content.length, file.content],
    );
  }
}

/**
 * How many distinct files these transfers keep between them (`kept`), and how many they would
 * keep with files of these hashes added (`together`): a file kept already counts once.
 */
export async function countAttachmentsInTx(tx: Queryable, transferIds: string[], sha256s: string[]): Promise<{ kept: number; together: number }> {
  const { rows } = await tx.query<{ kept: number; together: number }>(
    `SELECT (SELECT count(DISTINCT sha256) FROM attachments WHERE transfer_id = ANY($1::text[]))::int AS kept,
            (SELECT count(*) FROM (SELECT sha256 FROM attachments WHERE transfer_id = ANY($1::text[])
                                   UNION SELECT unnest($2::text[])) files)::int AS together`,
    [transferIds, sha256s],
  );
  return rows[0] ?? { kept: 0, together: 0 };
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
