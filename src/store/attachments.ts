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

/** What the gateway keeps of a file, without its bytes: what a record says was there once they are purged. */
export interface KeptFile {
  loai: string;
  ten: string;
  fileName: string;
  sizeBytes: number;
  sha256: string;
  /** When the retention period took its bytes; null while they are kept. */
  purgedAt: string | null;
}

interface KeptFileRow {
  transfer_id: string;
  loai: string;
  ten: string;
  file_name: string;
  size_bytes: number;
  sha256: string;
  purged_at: Date | string | null;
}

const keptFile = (row: KeptFileRow): KeptFile => ({
  loai: row.loai, ten: row.ten, fileName: row.file_name, sizeBytes: row.size_bytes, sha256: row.sha256,
  purgedAt: row.purged_at === null ? null : new Date(row.purged_at).toISOString(),
});

/** These transfers' files, each transfer's in the order they were kept. */
export async function keptFilesOf(db: Queryable, transferIds: string[]): Promise<Map<string, KeptFile[]>> {
  const { rows } = await db.query<KeptFileRow>(
    `SELECT transfer_id, loai, ten, file_name, size_bytes, sha256, purged_at FROM attachments
      WHERE transfer_id = ANY($1::text[]) ORDER BY transfer_id, created_at, sha256`,
    [transferIds],
  );
  const files = new Map<string, KeptFile[]>();
  for (const row of rows) files.set(row.transfer_id, [...(files.get(row.transfer_id) ?? []), keptFile(row)]);
  return files;
}

/** Drops the bytes of the transfer's files still kept, keeping the rest of each row; answers those it purged. */
export async function purgeAttachmentsInTx(tx: Queryable, transferId: string): Promise<KeptFile[]> {
  const { rows } = await tx.query<KeptFileRow>(
    `UPDATE attachments SET content = NULL, purged_at = now()
      WHERE transfer_id = $1 AND purged_at IS NULL
      RETURNING transfer_id, loai, ten, file_name, size_bytes, sha256, purged_at`,
    [transferId],
  );
  return rows.map(keptFile).sort((a, b) => a.sha256.localeCompare(b.sha256));
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
