/**
 * What every reader of a body written by a system we do not control shares: the limits, UTF-8
 * decoding, and the one refusal they all make, a `MALFORMED_BODY` whose single detail names what
 * was wrong with a stable code.
 */
import { GatewayError } from '../errors.js';

export interface BodyLimits {
  /** Deepest nesting accepted: JSON arrays/objects, or XML elements counting the root as 1. */
  maxDepth?: number;
  /** Most XML elements accepted in one document, the root included. */
  maxElements?: number;
}

export const DEFAULT_MAX_DEPTH = 32;
export const DEFAULT_MAX_ELEMENTS = 20_000;

/** Detail codes carried by the `MALFORMED_BODY` errors of the body readers. */
type BodyErrorCode =
  | 'INVALID_UTF8'
  | 'INVALID_JSON'
  | 'TOO_DEEP'
  | 'FORBIDDEN_NAME'
  | 'INVALID_XML'
  | 'XML_DTD_FORBIDDEN'
  | 'XML_PI_FORBIDDEN'
  | 'XML_ENCODING'
  | 'TOO_MANY_ELEMENTS'
  | 'XML_MIXED_CONTENT'
  | 'SOAP_ENVELOPE';

export function malformed(code: BodyErrorCode, message: string): GatewayError {
  return new GatewayError('MALFORMED_BODY', undefined, [{ path: '', code, message }]);
}

/**
 * Whether JSON text nests arrays/objects deeper than `maxDepth`. Bracket depth outside strings is the
 * nesting depth of any JSON that parses, so this bounds the parser's work before it starts, in one
 * loop with no recursion; broken JSON is left for the parser to describe.
 */
export function jsonNestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}

/** Text PostgreSQL can store and a person could have typed: no NUL, no lone UTF-16 surrogate. */
export function isStorableText(text: string): boolean {
  return text.isWellFormed() && !text.includes('\u0000');
}

// Error texts from parsers may quote the hostile input; keep what we echo back short.
export function clip(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

// ---------------------------------------------------------------------------------------------
// UTF-8
// ---------------------------------------------------------------------------------------------

// ignoreBOM is false by default, so the decoder itself consumes a leading BOM.
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(body: Buffer): string {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw malformed('INVALID_UTF8', 'The body is not valid UTF-8');
  }
  return stripBom(text);
}

export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
