import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCatalogue, GatewayError } from '../src/errors.js';
import { sourceFiles } from './support/source-files.js';

const catalogue = Object.entries(errorCatalogue).map(([code, entry]) => [code, entry.status] as const);

/** The rows of docs/API.md's "Error codes" table: code and HTTP status, as clients read them. */
function documentedCodes(): Array<readonly [string, number]> {
  const api = readFileSync('docs/API.md', 'utf8');
  const section = api.slice(api.indexOf('### Error codes'));
  const table = section.slice(0, section.indexOf('\n#', 1));
  return [...table.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((row) => [row[1] as string, Number(row[2])] as const);
}

describe('the error catalogue', () => {
  it('is the table docs/API.md gives clients: every code, each with its status, and nothing else', () => {
    expect(documentedCodes().sort()).toEqual([...catalogue].sort());
  });

  it('holds only codes the gateway answers with: each is raised somewhere in src/ or adapters/', () => {
    const code = sourceFiles('src', 'adapters').map((file) => file.text).join('\n');
    const raised = (name: string) => new RegExp(`GatewayError\\(\\s*'${name}'`).test(code);
    expect(catalogue.map(([name]) => name).filter((name) => !raised(name))).toEqual([]);
  });

  it('renders the contract shape, with details only when there are some', () => {
    expect(new GatewayError('NOT_FOUND').toBody()).toEqual({ error: { code: 'NOT_FOUND', message: 'No such resource' } });
    const detailed = new GatewayError('VALIDATION_FAILED', 'bad', [{ path: '/a', code: 'REQUIRED', message: 'missing' }]);
    expect(detailed.toBody()).toEqual({ error: { code: 'VALIDATION_FAILED', message: 'bad', details: [{ path: '/a', code: 'REQUIRED', message: 'missing' }] } });
    expect(detailed.status).toBe(400);
  });
});
