import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding package.json. Schemas, migrations and reference lists are read from there, so
 * the same files serve the TypeScript sources (tests, tsx) and the compiled JavaScript in dist/.
 */
export const packageRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the gateway\'s code');
    dir = parent;
  }
  return dir;
})();

export function packagePath(...parts: string[]): string {
  return join(packageRoot, ...parts);
}

export function readSchema<T = Record<string, unknown>>(file: string): T {
  return JSON.parse(readFileSync(packagePath('schemas', file), 'utf8')) as T;
}
