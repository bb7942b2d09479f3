import { hash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

/** Editors and `kubectl` write in several steps: one call once they are done. */
const SETTLE_MS = 200;

export interface FollowFilesOptions {
  files: string[];
  /** Called when the files' content differs from what it was at the last call (or at start). */
  changed: () => void;
  logger: Logger;
  /** What the files are, for the log: "clients file", "catalogues". */
  what: string;
  /**
   * `filesDigest` of the files as their owner last read them (taken before reading), so a change
   * between that read and the watch's start is not missed; the files as they are now when absent.
   */
  since?: string;
  /** Tests hand in a `watch` that fails as the kernel may (ENOSPC), without exhausting the machine's watches. */
  watchFolder?: typeof watch;
}

/** One digest of every file's bytes (or of why it cannot be read), so a change to any one shows. */
export function filesDigest(files: string[]): string {
  return hash('sha256', files.map((file) => {
    try {
      return hash('sha256', readFileSync(file), 'hex');
    } catch (error) {
      return `unreadable:${(error as NodeJS.ErrnoException).code ?? 'error'}`;
    }
  }).join(','), 'hex');
}

/**
 * Follows files by their folders, not by their names: a rotation renames a new file over the old
 * one, and a Kubernetes ConfigMap or Secret swaps a hidden `..data` symlink, so the file's own name
 * never shows in the event. Any event in a folder is a reason to look: the files are read shortly
 * after, and `changed` runs only when their content differs, so the folder's other traffic costs a
 * read and nothing more. When the system refuses a watch (ENOSPC: out of inotify watches) or a watch
 * fails later, it says so once and stops watching: SIGHUP still reloads.
 */
export class FollowFiles {
  private readonly watchers: FSWatcher[] = [];
  private pending: NodeJS.Timeout | undefined;
  private digest: string;

  constructor(private readonly options: FollowFilesOptions) {
    this.digest = options.since ?? filesDigest(options.files);
    const start = options.watchFolder ?? watch;
    for (const folder of new Set(options.files.map((file) => dirname(file)))) {
      let watcher: FSWatcher;
      try {
        watcher = start(folder, () => this.settle());
      } catch (error) {
        this.giveUp(error as NodeJS.ErrnoException);
        return;
      }
      watcher.on('error', (error: NodeJS.ErrnoException) => this.giveUp(error));
      watcher.unref();
      this.watchers.push(watcher);
    }
  }

  private settle(): void {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.look(), SETTLE_MS);
    this.pending.unref();
  }

  private look(): void {
    const now = filesDigest(this.options.files);
    if (now === this.digest) return;
    this.digest = now;
    this.options.changed();
  }

  private giveUp(error: NodeJS.ErrnoException): void {
    this.options.logger.warn(
      { code: error.code ?? 'error', what: this.options.what },
      `${this.options.what}: cannot watch for changes any more; send SIGHUP to reload`,
    );
    this.close();
  }

  close(): void {
    clearTimeout(this.pending);
    for (const watcher of this.watchers.splice(0)) watcher.close();
  }
}
