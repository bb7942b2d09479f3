/**
 * Errors that say the dependency could not be reached or dropped the connection, not that it
 * refused what was asked: node's socket codes, PostgreSQL's connection classes (08xxx), its
 * shutdown and start-up states (57P01–57P03) and connection limit (53300), and the messages pg and
 * ioredis use for a connection that is gone or a command that could not be sent.
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  '57P01', '57P02', '57P03', '53300',
]);
const CONNECTION_MESSAGES = new RegExp([
  'Connection terminated', 'not queryable', 'timeout exceeded when trying to connect',
  'Connection is closed', 'Stream isn\'t writeable', 'max retries per request', 'Command timed out', '^LOADING ',
  'connect ECONNREFUSED',
].join('|'), 'i');

export function isConnectionError(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const { code, message, name } = error as { code?: unknown; message?: unknown; name?: unknown };
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08'))) return true;
  if (name === 'MaxRetriesPerRequestError') return true;
  return typeof message === 'string' && CONNECTION_MESSAGES.test(message);
}

/** A short, personal-data-free description of a connection failure for a log line. */
export function describeFailure(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? (message.split('\n')[0] ?? '').slice(0, 200) : String(error);
  return typeof code === 'string' && !text.includes(code) ? `${code}: ${text}` : text;
}

export type AvailabilityChange =
  | { dependency: string; up: false; error: string }
  | { dependency: string; up: true; downForMs: number };

/**
 * Whether a dependency answers, as the latest call to it found: a call that fails for want of a
 * connection marks it down, any call that succeeds marks it up. Listeners hear only the changes, so
 * an outage is logged twice (down, back) however many requests ran into it.
 */
export class Availability {
  private downSince: number | null = null;
  private readonly listeners = new Set<(change: AvailabilityChange) => void>();

  constructor(readonly dependency: string) {}

  get up(): boolean {
    return this.downSince === null;
  }

  markDown(error: unknown): void {
    if (this.downSince !== null) return;
    this.downSince = Date.now();
    this.emit({ dependency: this.dependency, up: false, error: describeFailure(error) });
  }

  markUp(): void {
    if (this.downSince === null) return;
    const downForMs = Date.now() - this.downSince;
    this.downSince = null;
    this.emit({ dependency: this.dependency, up: true, downForMs });
  }

  /** Returns the unsubscribe. */
  onChange(listener: (change: AvailabilityChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: AvailabilityChange): void {
    for (const listener of this.listeners) listener(change);
  }
}
