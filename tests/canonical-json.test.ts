import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/domain/canonical-json.js';
import { validateDocument } from '../src/intake/validator.js';
import { khaiSinhBody } from '../bench/documents.js';

/** The definition, written the slow and obvious way: keys sorted at every level, undefined left out. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort().filter((key) => record[key] !== undefined);
  return `{${keys.map((key) => `${JSON.stringify(key)}:${reference(record[key])}`).join(',')}}`;
}

/** A small deterministic generator, so a failure names a value that can be rebuilt. */
function randomValues(seed: number, count: number): unknown[] {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const keys = ['a', 'b', 'B', 'ä', 'Ánh', '10', '2', 'z', 'hoTich', 'soDinhDanh', '', 'ả', 'a b', '\u{1F600}'];
  const build = (depth: number): unknown => {
    const pick = next();
    if (depth > 3 || pick < 0.35) {
      const scalars = [null, true, false, 0, -1.5, 42, 'x', 'Nguyễn Thị Ánh', '"quoted"\\', undefined];
      return scalars[Math.floor(next() * scalars.length)];
    }
    if (pick < 0.55) return Array.from({ length: Math.floor(next() * 4) }, () => build(depth + 1));
    const chosen = keys.filter(() => next() < 0.4);
    // Half the objects are built in sorted key order, as normaliseDocument builds them, half not.
    if (next() < 0.5) chosen.sort();
    return Object.fromEntries(chosen.map((key) => [key, build(depth + 1)]));
  };
  return Array.from({ length: count }, () => build(0));
}

describe('canonicalJson', () => {
  it('writes keys sorted at every level, whatever order they came in', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: 'ả' } })).toBe('{"a":{"c":"ả","d":[{"x":2,"y":1}]},"b":1}');
    expect(canonicalJson({ a: { c: 'ả', d: [{ x: 2, y: 1 }] }, b: 1 })).toBe('{"a":{"c":"ả","d":[{"x":2,"y":1}]},"b":1}');
  });

  it('gives the definition\'s text for sorted and unsorted objects, integer-like keys, undefined and unicode alike', () => {
    for (const value of randomValues(7, 3_000)) expect(canonicalJson(value)).toBe(reference(value));
  });

  it('gives a validated birth the definition\'s text, whatever order its fields came in', () => {
    const fromJson = validateDocument('KhaiSinh', JSON.parse(khaiSinhBody('json', '001', 1)));
    const shuffled = validateDocument('KhaiSinh', Object.fromEntries(Object.entries(JSON.parse(khaiSinhBody('json', '001', 1)) as object).reverse()));
    expect(canonicalJson(fromJson)).toBe(reference(fromJson));
    expect(canonicalJson(shuffled)).toBe(canonicalJson(fromJson));
  });

  it('does not take a Date or a class instance for a plain object', () => {
    class Point {
      constructor(readonly x: number) {}
    }
    expect(canonicalJson({ at: new Date(0), p: new Point(1) })).toBe(reference({ at: new Date(0), p: new Point(1) }));
  });
});
