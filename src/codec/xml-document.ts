/**
 * XML text → plain JS value, for documents written by systems we do not control (a door's body, or
 * the XML a one-stop dossier carries in a field).
 *
 * Every check that can be made on the text is made before a parser sees it, so the hostile cases
 * (entity bombs, 100 000-level nesting, floods of elements) are refused by a linear scan without
 * building anything large and without recursion. Every refusal is a `MALFORMED_BODY` whose single
 * detail names what was wrong with a stable code.
 */
import { XMLParser, XMLValidator, type EntityDecoderOptions } from 'fast-xml-parser';
import { GatewayError } from '../errors.js';
import { clip, decodeUtf8, DEFAULT_MAX_DEPTH, DEFAULT_MAX_ELEMENTS, errorMessage, malformed, stripBom, type BodyLimits } from './body-text.js';

// ---------------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------------

export interface XmlDocument {
  /** Local name of the root element (namespace prefix removed): the message type. */
  root: string;
  value: Record<string, unknown>;
}

export function readXml(body: Buffer, limits: BodyLimits = {}): XmlDocument {
  // UTF-16 XML without a BOM is valid UTF-8 byte-wise (ASCII plus NULs), so it would otherwise
  // surface as a baffling "invalid character" rather than as the encoding problem it is.
  if (looksLikeUtf16(body)) {
    throw malformed('XML_ENCODING', 'The document is UTF-16; only UTF-8 is accepted');
  }
  return readXmlText(decodeUtf8(body), limits);
}

function looksLikeUtf16(b: Buffer): boolean {
  if (b.length < 2) return false;
  if ((b[0] === 0xfe && b[1] === 0xff) || (b[0] === 0xff && b[1] === 0xfe)) return true;
  return b.length >= 4 && ((b[0] === 0x3c && b[1] === 0 && b[2] === 0x3f && b[3] === 0) ||
    (b[0] === 0 && b[1] === 0x3c && b[2] === 0 && b[3] === 0x3f));
}

/** Same as {@link readXml} for text that is already decoded (`data` fields). */
export function readXmlText(text: string, limits: BodyLimits = {}): XmlDocument {
  text = stripBom(text);
  screenXmlText(text, limits);
  let parsed: unknown;
  try {
    parsed = parserFor(limits.maxDepth ?? DEFAULT_MAX_DEPTH).parse(text);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw malformed('INVALID_XML', clip(errorMessage(err)));
  }
  return toDocument(parsed);
}

/**
 * Every refusal {@link readXmlText} makes, without building the document: for text that another
 * parser reads next (the soap library parses its envelopes itself; parsing them here as well was a
 * fifth of the SOAP door's time).
 */
export function screenXmlText(text: string, limits: BodyLimits = {}): void {
  text = stripBom(text);
  // Deliberately blunt: wherever it stands (even in a comment or CDATA), a DTD keyword is refused,
  // so no disagreement between this scan and the parser's tokenizer can let a DTD through.
  const dtd = text.includes('<!') ? DTD_KEYWORD.exec(text) : null;
  if (dtd) {
    throw malformed('XML_DTD_FORBIDDEN', `DTDs and entity declarations are not accepted (found "${dtd[0]}")`);
  }
  prescanXml(text, limits.maxDepth ?? DEFAULT_MAX_DEPTH, limits.maxElements ?? DEFAULT_MAX_ELEMENTS);
  checkXmlChars(text);
  const verdict = XMLValidator.validate(text);
  if (verdict !== true) {
    const { msg, line, col } = verdict.err;
    throw malformed('INVALID_XML', `${clip(msg)} (line ${line}${col !== undefined ? `, column ${col}` : ''})`);
  }
}

const DTD_KEYWORD = /<!\s*(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)/i;

// ---------------------------------------------------------------------------------------------
// SOAP envelope
// ---------------------------------------------------------------------------------------------

/**
 * The local name of the one element a SOAP envelope's Body carries: the message, hence the
 * operation called. Read from the markup itself, so a name standing in a Header, a comment or
 * CDATA counts for nothing. Refuses what the soap library would answer for itself (a root other
 * than Envelope, no Body, an empty Body, text or several elements in it, a Fault) with
 * `SOAP_ENVELOPE`. Names are matched by local name, prefixes and namespaces aside, as the library
 * matches them. Meant for text {@link screenXmlText} accepted; on other text it still ends, linearly.
 */
export function soapBodyElement(text: string): string {
  text = stripBom(text);
  let depth = 0;
  // Which child of the Envelope the scan is in, while depth >= 2.
  let part: 'Header' | 'Body' | undefined;
  let headerSeen = false;
  let bodySeen = false;
  let rootClosed = false;
  let message: string | undefined;
  let i = 0;
  for (;;) {
    const lt = text.indexOf('<', i);
    const textEnd = lt === -1 ? text.length : lt;
    if (!soapTextAllowed(depth, part) && !isBlank(text, i, textEnd)) {
      throw soapEnvelope(depth === 2 ? 'The Body holds text; it must hold one message element' : 'The envelope holds text outside its Header and Body');
    }
    if (lt === -1) break;
    const c1 = text.charCodeAt(lt + 1);
    if (c1 === 0x3f /* ? */ || text.startsWith('<!--', lt)) {
      const close = c1 === 0x3f ? '?>' : '-->';
      const end = text.indexOf(close, lt + 2);
      if (end === -1) throw malformed('INVALID_XML', 'A comment or processing instruction is not closed');
      i = end + close.length;
    } else if (text.startsWith('<![CDATA[', lt)) {
      const end = text.indexOf(']]>', lt + 9);
      if (end === -1) throw malformed('INVALID_XML', 'A CDATA section is not closed');
      if (!soapTextAllowed(depth, part) && end > lt + 9) throw soapEnvelope('The envelope holds text outside its message');
      i = end + 3;
    } else if (c1 === 0x21 /* ! */) {
      throw malformed('INVALID_XML', 'Unexpected "<!" markup');
    } else if (c1 === 0x2f /* / */) {
      const end = text.indexOf('>', lt + 2);
      if (end === -1) throw malformed('INVALID_XML', 'A closing tag is not closed');
      depth -= 1;
      if (depth <= 1) part = undefined;
      if (depth === 0) rootClosed = true;
      i = end + 1;
    } else {
      const end = endOfStartTag(text, lt + 1);
      const name = nameAt(text, lt + 1, Math.min(end, lt + 256));
      const local = name.slice(name.lastIndexOf(':') + 1);
      if (depth === 0) {
        if (rootClosed) throw malformed('INVALID_XML', 'The document has more than one root element');
        if (local !== 'Envelope') throw soapEnvelope(`The root element must be a SOAP Envelope, not <${clip(name, 60)}>`);
      } else if (depth === 1) {
        if (local === 'Header' && !headerSeen && !bodySeen) headerSeen = true;
        else if (local === 'Body' && !bodySeen) bodySeen = true;
        else throw soapEnvelope(`The envelope holds one optional Header, then one Body; <${clip(name, 60)}> is not expected there`);
        part = local;
      } else if (depth === 2 && part === 'Body') {
        if (message !== undefined) throw soapEnvelope('The Body holds more than one element; it must hold one message');
        if (local === 'Fault') throw soapEnvelope('A request cannot carry a SOAP Fault');
        message = local;
      }
      if (text.charCodeAt(end - 1) !== 0x2f /* / */) depth += 1;
      else if (depth === 0) rootClosed = true;
      i = end + 1;
    }
  }
  if (!bodySeen) throw soapEnvelope('The envelope has no Body');
  if (message === undefined) throw soapEnvelope('The Body is empty; it must hold one message');
  return message;
}

function soapEnvelope(message: string): GatewayError {
  return malformed('SOAP_ENVELOPE', message);
}

/** Inside a Header entry or inside the message; elsewhere only white space, comments and PIs. */
function soapTextAllowed(depth: number, part: 'Header' | 'Body' | undefined): boolean {
  return depth >= 3 || (depth === 2 && part === 'Header');
}

function isBlank(text: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = text.charCodeAt(k);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}

/**
 * One linear pass over the markup: refuses processing instructions, a non-UTF-8 declaration,
 * excessive depth or element count, several roots, element names that could reach
 * `Object.prototype`, and references in text other than XML's five entities and characters, all
 * before the validator or parser allocates anything per element.
 */
function prescanXml(text: string, maxDepth: number, maxElements: number): void {
  // Where each open element starts; bounded by maxDepth, so it stays tiny.
  const open: number[] = [];
  let elements = 0;
  let rootSeen = false;
  let i = 0;
  for (;;) {
    const lt = text.indexOf('<', i);
    checkReferences(text, i, lt === -1 ? text.length : lt);
    if (lt === -1) break;
    const c1 = text.charCodeAt(lt + 1);

    if (c1 === 0x3f /* ? */) {
      const end = text.indexOf('?>', lt + 2);
      if (end === -1) throw malformed('INVALID_XML', 'A processing instruction is not closed');
      const target = NAME_AT.exec(text.slice(lt + 2, Math.min(end, lt + 64)))?.[0] ?? '';
      if (target.toLowerCase() !== 'xml') {
        throw malformed('XML_PI_FORBIDDEN', `Processing instructions are not accepted (found "<?${clip(target, 40)}")`);
      }
      if (lt !== 0) {
        throw malformed('INVALID_XML', 'The XML declaration is allowed only at the very start of the document');
      }
      checkDeclaredEncoding(text.slice(lt, end));
      i = end + 2;
    } else if (c1 === 0x21 /* ! */) {
      if (text.startsWith('<!--', lt)) {
        const end = text.indexOf('-->', lt + 4);
        if (end === -1) throw malformed('INVALID_XML', 'A comment is not closed');
        i = end + 3;
      } else if (text.startsWith('<![CDATA[', lt)) {
        const end = text.indexOf(']]>', lt + 9);
        if (end === -1) throw malformed('INVALID_XML', 'A CDATA section is not closed');
        i = end + 3;
      } else {
        throw malformed('INVALID_XML', 'Unexpected "<!" markup');
      }
    } else if (c1 === 0x2f /* / */) {
      const end = text.indexOf('>', lt + 2);
      if (end === -1) throw malformed('INVALID_XML', 'A closing tag is not closed');
      open.pop();
      i = end + 1;
    } else {
      const end = endOfStartTag(text, lt + 1);
      const name = nameAt(text, lt + 1, Math.min(end, lt + 256));
      if (++elements > maxElements) {
        throw malformed('TOO_MANY_ELEMENTS', `The document has more than ${maxElements} elements`);
      }
      if (open.length === 0) {
        if (rootSeen) throw malformed('INVALID_XML', 'The document has more than one root element');
        rootSeen = true;
      }
      checkElementName(name);
      if (text.charCodeAt(end - 1) !== 0x2f /* / */) {
        if (open.push(lt) > maxDepth) {
          throw malformed('TOO_DEEP', `The document nests elements deeper than ${maxDepth} levels`);
        }
      }
      i = end + 1;
    }
  }
  // The validator would say so too, but for several open elements only as a list of names at
  // "line 1, column 1".
  const last = open.at(-1);
  if (last !== undefined) {
    const name = NAME_AT.exec(text.slice(last + 1, last + 256))?.[0] ?? '';
    const line = lineAt(text, last);
    throw malformed('INVALID_XML', `The element <${clip(name, 60)}> opened at line ${line} is not closed`);
  }
}

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let k = text.indexOf('\n'); k !== -1 && k < index; k = text.indexOf('\n', k + 1)) line++;
  return line;
}

const NAME_AT = /^[^\s/>?=]+/;

/** The element name starting at `from`: NAME_AT's match, without a slice and a match array per element. */
function nameAt(text: string, from: number, to: number): string {
  let end = from;
  while (end < to) {
    const c = text.charCodeAt(end);
    // Where NAME_AT stops: white space (as \s has it in these ranges), '/', '>', '?', '='.
    if (c === 0x2f || c === 0x3e || c === 0x3f || c === 0x3d || c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c > 0x7f && /\s/.test(text[end] as string))) break;
    end += 1;
  }
  return text.slice(from, end);
}

/** Index of the `>` closing a start tag; attribute values may themselves contain `>`. */
function endOfStartTag(text: string, from: number): number {
  let quote = 0;
  for (let j = from; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === 0x22 || c === 0x27) {
      quote = c;
    } else if (c === 0x3e /* > */) {
      return j;
    } else if (c === 0x3c /* < */) {
      break;
    }
  }
  throw malformed('INVALID_XML', 'A start tag is not closed');
}

function checkDeclaredEncoding(declaration: string): void {
  const m = /\sencoding\s*=\s*(["'])([^"']*)\1/.exec(declaration);
  if (m && !/^utf-?8$/i.test(m[2] ?? '')) {
    throw malformed('XML_ENCODING', `The document declares encoding "${clip(m[2] ?? '', 40)}"; only UTF-8 is accepted`);
  }
}

const FORBIDDEN_NAMES = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

/**
 * Names that are members of `Object.prototype` (plus `prototype`) could reach or shadow the
 * prototype once they become keys. fast-xml-parser throws on three of them and silently renames
 * others (`toString` → `__toString`); refusing them all says plainly what happened.
 */
function isForbiddenName(name: string): boolean {
  return FORBIDDEN_NAMES.has(name);
}

function checkElementName(qname: string): void {
  // Every part, because prefix removal keeps everything after the first colon.
  for (const part of qname.includes(':') ? qname.split(':') : [qname]) {
    if (isForbiddenName(part)) {
      throw malformed('FORBIDDEN_NAME', `The element name "${clip(qname, 60)}" is not accepted`);
    }
  }
}

// Not XML characters (XML 1.0 §2.2). The validator lets them through, and a NUL would only fail
// later, in the database.
const NON_XML_CHAR =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// The same characters but surrogates, which isWellFormed finds natively: the quick test most texts pass.
const NON_XML_CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

function checkXmlChars(text: string): void {
  if (text.isWellFormed() && !NON_XML_CONTROL.test(text)) return;
  const m = NON_XML_CHAR.exec(text);
  if (m) {
    const code = m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    throw malformed('INVALID_XML', `The character U+${code} is not allowed in XML`);
  }
}

/**
 * fast-xml-parser's own decoder only decodes numeric references when HTML entities are switched
 * on too, and leaves unknown references as literal text. This one decodes exactly the five
 * predefined entities and numeric references, in one pass (so `&amp;lt;` is `&lt;`), and refuses
 * anything else, which without a DTD is an undeclared entity. The parser passes it each text once;
 * the screen before it checks references without decoding them (exported so tests can count that).
 */
export const xmlEntityDecoder: EntityDecoderOptions = {
  setExternalEntities() {},
  addInputEntities() {
    // Unreachable while DOCTYPE is refused before parsing; kept so a slip there fails closed.
    throw malformed('XML_DTD_FORBIDDEN', 'Entity declarations are not accepted');
  },
  reset() {},
  setXmlVersion() {},
  decode: decodeReferences,
};

/**
 * The text with each reference replaced by its character. A body may be nothing but references
 * (a megabyte of `&#7897;` is 150,000 of them), so a reference costs a few character reads and an
 * append: no regular expression, match array or callback per reference, which made such a body
 * cost three to four times a plain one of the same size.
 */
function decodeReferences(text: string): string {
  let amp = text.indexOf('&');
  if (amp === -1) return text;
  let decoded = '';
  let from = 0;
  while (amp !== -1) {
    const reference = readReference(text, amp);
    decoded += text.slice(from, amp) + String.fromCodePoint(reference.codePoint);
    from = reference.end;
    amp = text.indexOf('&', from);
  }
  return decoded + text.slice(from);
}

/** Each reference in the text between `from` and `to` is one the decoder accepts (CDATA and comments are skipped by the caller). */
function checkReferences(text: string, from: number, to: number): void {
  for (let amp = text.indexOf('&', from); amp !== -1 && amp < to; amp = text.indexOf('&', amp + 1)) {
    readReference(text, amp);
  }
}

const PREDEFINED_ENTITIES: ReadonlyArray<readonly [name: string, codePoint: number]> = [['amp', 0x26], ['lt', 0x3c], ['gt', 0x3e], ['quot', 0x22], ['apos', 0x27]];
// Bounds on a reference's digits and name, so a run of them is not read to the end of the body.
const MAX_DECIMAL_DIGITS = 10;
const MAX_HEX_DIGITS = 8;
const MAX_NAME_LENGTH = 41;

/**
 * The reference whose `&` is at `amp`: the character it stands for and where it ends. Refused: a
 * numeric reference to a code point XML forbids, a named one other than XML's five (without a DTD
 * nothing else is declared), and an `&` that starts no reference.
 */
function readReference(text: string, amp: number): { codePoint: number; end: number } {
  let i = amp + 1;
  if (text.charCodeAt(i) === 0x23 /* # */) {
    const hex = text.charCodeAt(i + 1) === 0x78 /* x */;
    i += hex ? 2 : 1;
    const digitsFrom = i;
    const maxDigits = hex ? MAX_HEX_DIGITS : MAX_DECIMAL_DIGITS;
    let codePoint = 0;
    for (let digit = digitValue(text.charCodeAt(i), hex); digit !== -1 && i - digitsFrom < maxDigits; digit = digitValue(text.charCodeAt(i), hex)) {
      codePoint = codePoint * (hex ? 16 : 10) + digit;
      i += 1;
    }
    if (i === digitsFrom || text.charCodeAt(i) !== 0x3b /* ; */) throw notAReference();
    if (!isXmlCodePoint(codePoint)) {
      throw malformed('INVALID_XML', `The reference ${clip(text.slice(amp, i + 1), 20)} is not an XML character`);
    }
    return { codePoint, end: i + 1 };
  }
  if (!isNameStart(text.charCodeAt(i))) throw notAReference();
  const nameFrom = i;
  i += 1;
  while (i - nameFrom < MAX_NAME_LENGTH && isNameChar(text.charCodeAt(i))) i += 1;
  if (text.charCodeAt(i) !== 0x3b /* ; */) throw notAReference();
  for (const [name, codePoint] of PREDEFINED_ENTITIES) {
    if (i - nameFrom === name.length && text.startsWith(name, nameFrom)) return { codePoint, end: i + 1 };
  }
  throw malformed('INVALID_XML', `The entity reference ${clip(text.slice(amp, i + 1), 40)} is not defined`);
}

function notAReference(): GatewayError {
  return malformed('INVALID_XML', 'A "&" does not start a character or entity reference; write it as &amp;');
}

function digitValue(c: number, hex: boolean): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (!hex) return -1;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** `[A-Za-z_]`: what may start an entity name here. */
function isNameStart(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
}

/** `[A-Za-z0-9_.-]`: what may follow in it. */
function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d;
}

function isXmlCodePoint(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

const parsers = new Map<number, XMLParser>();

function parserFor(maxDepth: number): XMLParser {
  let parser = parsers.get(maxDepth);
  if (!parser) {
    parser = new XMLParser({
      ignoreAttributes: true,
      removeNSPrefix: true,
      parseTagValue: false,
      parseAttributeValue: false,
      trimValues: true,
      processEntities: true,
      htmlEntities: false,
      entityDecoder: xmlEntityDecoder,
      ignoreDeclaration: true,
      ignorePiTags: true,
      // No callback here reads element paths, so none is built as a string for every text node.
      jPath: false,
      // The prescan already bounds depth; this only keeps the parser's own cap out of the way.
      maxNestedTags: Math.max(100, maxDepth + 1),
    });
    parsers.set(maxDepth, parser);
  }
  return parser;
}

const TEXT = '#text';
const ABSENT = Symbol('absent');

function toDocument(parsed: unknown): XmlDocument {
  if (!isRecord(parsed)) throw malformed('INVALID_XML', 'The document has no root element');
  const keys = Object.keys(parsed);
  if (keys.length !== 1 || keys[0] === undefined) {
    throw malformed('INVALID_XML', 'The document must have exactly one root element');
  }
  const root = keys[0];
  const content = parsed[root];
  if (Array.isArray(content)) throw malformed('INVALID_XML', 'The document has more than one root element');
  if (content === '') return { root, value: {} };
  if (!isRecord(content)) {
    throw malformed('INVALID_XML', `The root element <${clip(root, 60)}> holds text; it must hold one element per field`);
  }
  return { root, value: cleanObject(content, [root]) };
}

/** Where in the document, for an error message; `keys` is the path so far, built into text only then. */
const where = (keys: string[]) => `/${keys.join('/')}`;

/** Recursion is bounded by the prescan's depth limit. */
function cleanObject(node: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  if (Object.prototype.hasOwnProperty.call(node, TEXT)) {
    throw malformed('XML_MIXED_CONTENT', `The element at ${clip(where(keys), 120)} mixes text and child elements`);
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(node)) {
    if (isForbiddenName(key)) throw malformed('FORBIDDEN_NAME', `The element name "${clip(key, 60)}" is not accepted`);
    keys.push(key);
    const v = clean(node[key], keys);
    keys.pop();
    if (v !== ABSENT) out[key] = v;
  }
  return out;
}

function clean(v: unknown, keys: string[]): unknown {
  if (typeof v === 'string') return v === '' ? ABSENT : v;
  if (Array.isArray(v)) {
    const items = v.map((item) => clean(item, keys)).filter((item) => item !== ABSENT);
    return items.length === 0 ? ABSENT : items;
  }
  if (isRecord(v)) return cleanObject(v, keys);
  // Only strings and objects come out with parseTagValue off; anything else is a parser surprise.
  throw malformed('INVALID_XML', `Unexpected content at ${clip(where(keys), 120)}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
