import type { Logger } from 'pino';
import type { WorkingCalendar } from '../domain/working-days.js';
import { FollowFiles, filesDigest } from '../follow-files.js';
import { packagePath } from '../package-files.js';
import { StartupError } from '../startup-error.js';
import { FacilityCatalogue } from './facility-catalogue.js';
import { holidayCalendarFromFile } from './holiday-catalogue.js';
import { UnitCatalogue } from './unit-catalogue.js';

/** The holidays the gateway ships, where HOLIDAYS_FILE is not set (src/config.ts says the same). */
const SHIPPED_HOLIDAYS = packagePath('catalogues', 'holidays.json');

export interface CatalogueFiles {
  units: string;
  facilities: string;
  /** Vietnam's days off and make-up working days; the shipped file when absent. */
  holidays?: string;
}

/** Reads one file, naming it in the message if it is not valid. */
function load<T>(path: string, read: (path: string) => T): T {
  try {
    return read(path);
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
}

/**
 * The reference lists intake checks against, and the calendar due dates are counted with, as data
 * files. `reload()` reads every file and swaps them in only if all are valid, so a half-written or
 * broken file never replaces a good list; it runs when a file changes, on SIGHUP, or at
 * `POST /ops/v1/catalogues/reload` — never a restart.
 */
export class Catalogues {
  private follower: FollowFiles | undefined;
  /** Of the files as last read, taken before reading: the watch starts from it. */
  private readDigest: string | undefined;

  constructor(
    public units: UnitCatalogue,
    public facilities: FacilityCatalogue,
    public holidays: WorkingCalendar = holidayCalendarFromFile(SHIPPED_HOLIDAYS),
    private readonly files?: Required<CatalogueFiles>,
  ) {}

  /** At start: a file that is not valid stops the gateway with one line naming it. */
  static fromFiles(files: CatalogueFiles): Catalogues {
    const paths = { ...files, holidays: files.holidays ?? SHIPPED_HOLIDAYS };
    try {
      const digest = filesDigest([paths.units, paths.facilities, paths.holidays]);
      const { units, facilities, holidays } = Catalogues.read(paths);
      const catalogues = new Catalogues(units, facilities, holidays, paths);
      catalogues.readDigest = digest;
      return catalogues;
    } catch (error) {
      throw new StartupError((error as Error).message);
    }
  }

  private static read(files: Required<CatalogueFiles>) {
    return {
      units: load(files.units, (path) => UnitCatalogue.fromFile(path)),
      facilities: load(files.facilities, (path) => FacilityCatalogue.fromFile(path)),
      holidays: load(files.holidays, holidayCalendarFromFile),
    };
  }

  reload(): { facilities: number } {
    if (!this.files) throw new Error('these catalogues were not loaded from files');
    const digest = filesDigest(this.watchedFiles());
    const { units, facilities, holidays } = Catalogues.read(this.files);
    this.readDigest = digest;
    this.units = units;
    this.facilities = facilities;
    this.holidays = holidays;
    return { facilities: facilities.size };
  }

  /** Reloads shortly after any file's content changes, however it was replaced (docs/DEPLOYMENT.md). */
  watch(logger: Logger, watchFolder?: ConstructorParameters<typeof FollowFiles>[0]['watchFolder']): void {
    if (!this.files || this.follower) return;
    this.follower = new FollowFiles({
      files: this.watchedFiles(), what: 'catalogues', logger, watchFolder, since: this.readDigest,
      changed: () => {
        try {
          logger.info(this.reload(), 'catalogues reloaded');
        } catch (error) {
          logger.error({ err: error }, 'catalogue file changed but is not valid: keeping the lists in use');
        }
      },
    });
  }

  close(): void {
    this.follower?.close();
    this.follower = undefined;
  }

  private watchedFiles(): string[] {
    return this.files ? [this.files.units, this.files.facilities, this.files.holidays] : [];
  }
}
