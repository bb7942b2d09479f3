import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SourceFile {
  /** Relative to the repository root, with forward slashes: `src/store/transfers.ts`. */
  path: string;
  text: string;
}

/** Every TypeScript file under the given top-level folders, declaration files aside. */
export function sourceFiles(...folders: string[]): SourceFile[] {
  return folders.flatMap((folder) =>
    readdirSync(folder, { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
      .map((name) => {
        const path = join(folder, name).split('\\').join('/');
        return { path, text: readFileSync(path, 'utf8') };
      }),
  );
}
