import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parseCalendarDate } from '../domain/calendar-date.js';
import { GatewayError, type ErrorDetail } from '../errors.js';
import { readSchema } from '../package-files.js';
import { isStorableText } from '../codec/body-text.js';

const loadSchema = (file: string) => readSchema(file);

export const messageSchemas = {
  KhaiSinh: loadSchema('khai-sinh.schema.json'),
  KhaiTu: loadSchema('khai-tu.schema.json'),
  HoSoMotCua: loadSchema('ho-so-mot-cua.schema.json'),
  CapLaiThe: loadSchema('cap-lai-the.schema.json'),
} as const;

/**
 * The hộ tịch record a one-stop dossier carries in `data`: the same fields as the birth's or death's,
 * none required (the dossier supplies what it has). Derived, so it cannot drift from the message schema.
 */
function partialHoTich(id: string, message: Record<string, unknown>): Record<string, unknown> {
  const hoTich = (message.properties as Record<string, Record<string, unknown>>).hoTich as Record<string, unknown>;
  const { required: _required, dependentRequired: _dependent, ...partial } = hoTich;
  return { $id: id, ...partial };
}

const dossierRecordSchemas = {
  KhaiSinhHoTich: partialHoTich('KhaiSinhHoTich', messageSchemas.KhaiSinh),
  KhaiTuHoTich: partialHoTich('KhaiTuHoTich', messageSchemas.KhaiTu),
};

export type SchemaName = keyof typeof messageSchemas | keyof typeof dossierRecordSchemas;

/**
 * One ajv instance, every schema compiled once at start, shared by the REST, XML and SOAP doors.
 * `coerceTypes: 'array'` is what lets the three agree: XML and SOAP carry only text, so "1" becomes
 * the integer 1 where the schema says integer, and a single repeated element becomes a list.
 */
const ajv = new Ajv2020({ allErrors: true, strict: true, coerceTypes: 'array', useDefaults: false });
addFormats.default(ajv, ['email']);
ajv.addFormat('hotich-date', { type: 'string', validate: (text: string) => parseCalendarDate(text) !== null });
ajv.addSchema(loadSchema('common.schema.json'));

const validators = new Map<SchemaName, ValidateFunction>(
  Object.entries({ ...messageSchemas, ...dossierRecordSchemas }).map(([name, schema]) => [name as SchemaName, ajv.compile(schema)]),
);

/**
 * Fields that are lists in some message. XML has no lists, only repeated elements, so a list of one
 * arrives as a single object; ajv's array coercion wraps only plain values, so objects are wrapped here.
 */
const LIST_FIELDS = new Set<string>();
function collectListFields(schema: unknown): void {
  if (schema === null || typeof schema !== 'object') return;
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  for (const [name, property] of Object.entries(properties)) {
    if (property.type === 'array') LIST_FIELDS.add(name);
  }
  for (const value of Object.values(schema)) collectListFields(value);
}
collectListFields(messageSchemas);

const MAX_DEPTH = 16;
const MAX_DETAILS = 100;

// White space other than a single space between words: only text holding it pays for the rewrite.
const UNTIDY_SPACE = /[^\S ]| {2}/u;

/**
 * Unicode NFC, trimmed, inner runs of white space collapsed: input in NFD or with stray spaces is the
 * same person (docs/DOMAIN.md, "Dates, names and formats"). Empty strings become absent, as an XML
 * `<x/>` does.
 */
export function normaliseText(text: string): string {
  const trimmed = text.normalize('NFC').trim();
  return UNTIDY_SPACE.test(trimmed) ? trimmed.replace(/\s+/gu, ' ') : trimmed;
}


/** Thrown from deep inside a document; each level it passes adds its key, so a path is built only for an error. */
class UnstorableText {
  readonly keys: string[] = [];
}

export function normaliseDocument(value: unknown, depth = 0, path = ''): unknown {
  try {
    return normaliseValue(value, depth);
  } catch (error) {
    if (!(error instanceof UnstorableText)) throw error;
    throw new GatewayError('VALIDATION_FAILED', 'The document holds text that is not valid Unicode', [
      { path: path + error.keys.reverse().map((key) => `/${key}`).join(''), code: 'INVALID_TEXT', message: 'contains a NUL or an unpaired surrogate' },
    ]);
  }
}

function normaliseValue(value: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) {
    throw new GatewayError('MALFORMED_BODY', 'The document is nested too deeply', [
      { path: '', code: 'TOO_DEEP', message: `more than ${MAX_DEPTH} levels` },
    ]);
  }
  if (typeof value === 'string') {
    if (!isStorableText(value)) throw new UnstorableText();
    return normaliseText(value);
  }
  if (Array.isArray(value)) {
    const result: unknown[] = new Array(value.length);
    for (let index = 0; index < value.length; index += 1) result[index] = normaliseChild(value[index], depth, String(index));
    return result;
  }
  if (value !== null && typeof value === 'object') {
    const result: Record<string, unknown> = {};
    // Keys in canonical order, so the document's canonical JSON is JSON.stringify's (canonicalJson).
    for (const key of Object.keys(value).sort()) {
      const raw = (value as Record<string, unknown>)[key];
      const item = LIST_FIELDS.has(key) && raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? [raw] : raw;
      const normalised = normaliseChild(item, depth, key);
      if (normalised !== '' && normalised !== undefined) result[key] = normalised;
    }
    return result;
  }
  return value;
}

function normaliseChild(value: unknown, depth: number, key: string): unknown {
  try {
    return normaliseValue(value, depth + 1);
  } catch (error) {
    if (error instanceof UnstorableText) error.keys.push(key);
    throw error;
  }
}

function toDetail(error: ErrorObject): ErrorDetail {
  const params = error.params as Record<string, unknown>;
  let path = error.instancePath;
  if (error.keyword === 'required' || error.keyword === 'dependentRequired') path += `/${String(params.missingProperty)}`;
  if (error.keyword === 'additionalProperties') path += `/${String(params.additionalProperty)}`;
  const message =
    error.keyword === 'additionalProperties' ? 'is not a field of this message'
    : error.keyword === 'format' && params.format === 'hotich-date' ? 'must be a real date as dd.MM.yyyy or YYYY-MM-DD'
    : error.message ?? 'is invalid';
  return { path, code: error.keyword.toUpperCase(), message };
}

/** Normalises, coerces and checks a document; returns it or throws VALIDATION_FAILED with every path. */
export function validateDocument<T>(name: SchemaName, raw: unknown, basePath = ''): T {
  const document = normaliseDocument(raw, 0, basePath);
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new GatewayError('VALIDATION_FAILED', `A ${name} document must be an object`, [
      { path: '', code: 'TYPE', message: 'must be object' },
    ]);
  }
  const validate = validators.get(name) as ValidateFunction;
  if (!validate(document)) {
    const errors = validate.errors ?? [];
    // A body of a thousand unknown keys must not buy a reply many times its size.
    const details = errors.slice(0, MAX_DETAILS).map(toDetail).map((detail) => ({ ...detail, path: basePath + detail.path }));
    if (errors.length > MAX_DETAILS) {
      details.push({ path: '', code: 'TRUNCATED', message: `${errors.length - MAX_DETAILS} more problems not listed` });
    }
    throw new GatewayError('VALIDATION_FAILED', `The ${name} document is not valid`, details);
  }
  // ajv lets Infinity through a number without a maximum (JSON's 1e400, or the text "1e400" it
  // coerces), and no BHXH format can carry it.
  const infinite = pathOfNonFiniteNumber(document, basePath);
  if (infinite !== undefined) {
    throw new GatewayError('VALIDATION_FAILED', `The ${name} document is not valid`, [
      { path: infinite, code: 'TYPE', message: 'must be a finite number' },
    ]);
  }
  return document as T;
}

function pathOfNonFiniteNumber(value: unknown, path: string): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const found = pathOfNonFiniteNumber(inner, `${path}/${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}
