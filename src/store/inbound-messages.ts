import type { Queryable } from './database.js';
import { isUniqueViolation } from './transfers.js';

export interface IntakeAnswer {
  transferId: string;
  messageId: string;
  status: string;
  /** The day it is due (YYYY-MM-DD), where its type has a deadline of its own (a re-issue). */
  hanTra?: string;
}

export interface InboundMessage {
  clientId: string;
  messageId: string;
  messageType: string;
  contentSha256: string;
  transferId: string;
  response: IntakeAnswer;
}

export async function findInboundMessage(db: Queryable, clientId: string, messageId: string): Promise<InboundMessage | null> {
  const { rows } = await db.query<{ message_type: string; content_sha256: string; transfer_id: string; response: IntakeAnswer }>(
    'SELECT message_type, content_sha256, transfer_id, response FROM inbound_messages WHERE client_id = $1 AND message_id = $2',
    [clientId, messageId],
  );
  const row = rows[0];
  return row
    ? { clientId, messageId, messageType: row.message_type, contentSha256: row.content_sha256, transferId: row.transfer_id, response: row.response }
    : null;
}

export class MessageAlreadyRecorded extends Error {}

/** Records the first answer to a message; a concurrent twin loses on the primary key. */
export async function recordInboundMessageInTx(tx: Queryable, message: InboundMessage): Promise<void> {
  try {
    await tx.query(
      `INSERT INTO inbound_messages (client_id, message_id, message_type, content_sha256, transfer_id, response)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
      [message.clientId, message.messageId, message.messageType, message.contentSha256, message.transferId, JSON.stringify(message.response)],
    );
  } catch (error) {
    if (isUniqueViolation(error, 'inbound_messages_pkey')) throw new MessageAlreadyRecorded();
    throw error;
  }
}
