import { hash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level, so the same document hashes the same whichever door
 * it came through and in whatever key order its sender wrote it.
 */
export function canonicalJson(value: unknown): string {
  // A document whose keys already stand in canonical order (normaliseDocument builds them so) is
  // canonical as JSON.stringify writes it: natively, and as one flat string, cheaper to hash.
  return inCanonicalOrder(value) ? JSON.stringify(value) : sortedJson(value);
}

/** Only plain JSON values with every object's keys in ascending order: JSON.stringify's output is then canonical. */
function inCanonicalOrder(value: unknown): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'number':
      return true;
    case 'object':
      break;
    default:
      return false;
  }
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    for (const item of value) if (item === undefined || !inCanonicalOrder(item)) return false;
    return true;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  const record = value as Record<string, unknown>;
  let previous: string | undefined;
  for (const key of Object.keys(record)) {
    if (previous !== undefined && !(previous < key)) return false;
    previous = key;
    const item = record[key];
    if (item !== undefined && !inCanonicalOrder(item)) return false;
  }
  return true;
}

function sortedJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  // Loops and string appends rather than entries/filter/map/join: every document and audit event
  // passes through here, and the intermediate arrays were a visible share of the hot path's time.
  if (Array.isArray(value)) {
    let text = '[';
    for (let index = 0; index < value.length; index += 1) text += (index === 0 ? '' : ',') + sortedJson(value[index]);
    return `${text}]`;
  }
  const record = value as Record<string, unknown>;
  // The default sort compares UTF-16 code units, the same order as comparing the strings with <.
  const keys = Object.keys(record).sort();
  let text = '{';
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue;
    text += (text.length === 1 ? '' : ',') + JSON.stringify(key) + ':' + sortedJson(item);
  }
  return `${text}}`;
}

export function sha256Hex(text: string): string {
  // One-shot: no Hash object per call (a few of these run for every message).
  return hash('sha256', text, 'hex');
}
