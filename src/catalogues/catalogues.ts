import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { FacilityCatalogue } from './facility-catalogue.js';
import { UnitCatalogue } from './unit-catalogue.js';

export interface CatalogueFiles {
  units: string;
  facilities: string;
}

/**
 * The reference lists intake checks against, as data files. `reload()` reads both files and swaps
 * them in only if both are valid, so a half-written or broken file never replaces a good list; it
 * runs when a file changes, on SIGHUP, or at `POST /ops/v1/catalogues/reload` — never a restart.
 */
export class Catalogues {
  private watchers: FSWatcher[] = [];
  private pending: NodeJS.Timeout | undefined;

  constructor(
    public units: UnitCatalogue,
    public facilities: FacilityCatalogue,
    private readonly files?: CatalogueFiles,
  ) {}

  static fromFiles(files: CatalogueFiles): Catalogues {
    return new Catalogues(UnitCatalogue.fromFile(files.units), FacilityCatalogue.fromFile(files.facilities), files);
  }

  reload(): { facilities: number } {
    if (!this.files) throw new Error('these catalogues were not loaded from files');
    const units = UnitCatalogue.fromFile(this.files.units);
    const facilities = FacilityCatalogue.fromFile(this.files.facilities);
    this.units = units;
    this.facilities = facilities;
    return { facilities: facilities.size };
  }

  /** Reloads shortly after either file changes (editors write in several steps). */
  watch(logger: Logger): void {
    if (!this.files) return;
    // The folder, not the file: a refresh replaces the file by renaming a new one over it.
    for (const file of [this.files.units, this.files.facilities]) {
      const watcher = watch(dirname(file), (_event, changed) => {
        if (changed !== null && changed !== basename(file)) return;
        clearTimeout(this.pending);
        this.pending = setTimeout(() => {
          try {
            logger.info(this.reload(), 'catalogues reloaded');
          } catch (error) {
            logger.error({ err: error }, 'catalogue file changed but is not valid: keeping the lists in use');
          }
        }, 200);
        this.pending.unref();
      });
      watcher.unref();
      this.watchers.push(watcher);
    }
  }

  close(): void {
    clearTimeout(this.pending);
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }
}
