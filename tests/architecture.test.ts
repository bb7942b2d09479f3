import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from './support/source-files.js';

/**
 * Dependencies point inward: doors (adapters/) → application services (src/intake, src/messages,
 * src/transfers, src/dispatch, src/audit) → domain (src/domain, mappings/) and storage (src/store).
 * src/app.ts, the composition root, is the one place that knows the doors and builds everything.
 */
const COMPOSITION_ROOT = 'src/app.ts';

interface Import {
  from: string;
  /** The imported module, relative to the repository root; packages keep their own name. */
  to: string;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)'([^']+)'/g;

/** Every static, side-effect and dynamic import, and every re-export, of the files under the folders. */
function importsOf(...folders: string[]): Import[] {
  return sourceFiles(...folders).flatMap((file) =>
    [...file.text.matchAll(IMPORT)].map((match) => {
      const specifier = match[1] as string;
      const to = specifier.startsWith('.') ? normalize(join(dirname(file.path), specifier)).split('\\').join('/') : specifier;
      return { from: file.path, to };
    }),
  );
}

const under = (...folders: string[]) => (path: string) => folders.some((folder) => path.startsWith(`${folder}/`));
const lines = (imports: Import[]) => imports.map((entry) => `${entry.from} → ${entry.to}`);

describe('layering', () => {
  const all = importsOf('src', 'adapters', 'mappings');

  it('finds the imports it checks', () => {
    expect(all.filter((entry) => entry.from === COMPOSITION_ROOT && entry.to.startsWith('adapters/')).length).toBeGreaterThan(3);
    expect(all.filter((entry) => entry.from.startsWith('src/store/')).length).toBeGreaterThan(5);
  });

  it('no file under src/ but the composition root imports a door', () => {
    const doorImports = all.filter((entry) => entry.from.startsWith('src/') && entry.from !== COMPOSITION_ROOT && under('adapters')(entry.to));
    expect(lines(doorImports)).toEqual([]);
  });

  it('doors reach storage only through application services', () => {
    expect(lines(all.filter((entry) => under('adapters')(entry.from) && under('src/store')(entry.to)))).toEqual([]);
  });

  it('storage holds no rules: it imports no mapping, service or door', () => {
    const upward = under('mappings', 'adapters', 'src/intake', 'src/messages', 'src/transfers', 'src/dispatch', 'src/audit', 'src/http', 'src/codec');
    expect(lines(all.filter((entry) => under('src/store')(entry.from) && upward(entry.to)))).toEqual([]);
  });

  it('storage is told what it needs on each call: it keeps no module-level variable another layer could set', () => {
    const settable = sourceFiles('src/store').filter((file) => /^(?:export\s+)?(?:let|var)\s/m.test(file.text)).map((file) => file.path);
    expect(settable).toEqual([]);
  });

  it('the domain, mappings and codecs import no storage, service or door', () => {
    const outward = under('src/store', 'adapters', 'src/intake', 'src/messages', 'src/transfers', 'src/dispatch', 'src/audit', 'src/http');
    const inner = under('src/domain', 'mappings', 'src/codec');
    expect(lines(all.filter((entry) => inner(entry.from) && outward(entry.to)))).toEqual([]);
  });
});

/** A transfer type as stored and listed: the name of a message type outside its module. */
const TRANSFER_TYPE_NAME = /\b(?:KHAI_SINH|KHAI_TU|HO_SO_MOT_CUA|CAP_LAI_THE|D03_TS)\b/;

describe('message types', () => {
  // Adding a type touches its module and the registry; mappings, schemas, migrations and tests may name them.
  const code = sourceFiles('src', 'adapters');

  it('finds the names it looks for', () => {
    expect(code.filter((file) => file.path.startsWith('src/messages/') && TRANSFER_TYPE_NAME.test(file.text)).length).toBeGreaterThan(3);
  });

  it('nothing outside src/messages/ names a transfer type', () => {
    const naming = code.filter((file) => !file.path.startsWith('src/messages/') && TRANSFER_TYPE_NAME.test(file.text)).map((file) => file.path);
    expect(naming).toEqual([]);
  });
});
