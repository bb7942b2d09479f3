import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync, type FSWatcher, type watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClientRegistry, sha256OfKey } from '../src/auth/clients.js';
import { FollowFiles } from '../src/follow-files.js';

/**
 * The watcher behind the clients file and the catalogues (src/follow-files.ts), with a stand-in for
 * `fs.watch` so that the kernel's refusals can be played and events given by hand; the timers are
 * fake, so "shortly after" is a step of the clock, not a wait.
 */

class FakeWatcher extends EventEmitter {
  closed = false;
  close() {
    this.closed = true;
  }
  unref() {
    return this;
  }
}

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lienthong-follow-'));
  file = join(dir, 'clients.json');
  writeFileSync(file, '[]');
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

function logger() {
  const warnings: unknown[][] = [];
  return { warnings, logger: { warn: (...args: unknown[]) => warnings.push(args) } as unknown as Logger };
}

function fakeWatch() {
  const watchers: FakeWatcher[] = [];
  let listener: (() => void) | undefined;
  const start = ((_folder: string, onEvent: () => void) => {
    listener = onEvent;
    const watcher = new FakeWatcher();
    watchers.push(watcher);
    return watcher as unknown as FSWatcher;
  }) as unknown as typeof watch;
  return { start, watchers, event: () => listener?.() };
}

describe('following files by their folder', () => {
  it('calls back once the content changed, and not for an event that left it as it was', () => {
    const changed = vi.fn();
    const fake = fakeWatch();
    const follower = new FollowFiles({ files: [file], changed, what: 'clients file', logger: logger().logger, watchFolder: fake.start });
    fake.event();
    vi.advanceTimersByTime(250);
    expect(changed).not.toHaveBeenCalled();

    writeFileSync(file, '[ ]');
    fake.event();
    fake.event();
    vi.advanceTimersByTime(250);
    expect(changed).toHaveBeenCalledTimes(1);
    fake.event();
    vi.advanceTimersByTime(250);
    expect(changed).toHaveBeenCalledTimes(1);
    follower.close();
    expect(fake.watchers[0]?.closed).toBe(true);
  });

  it('a watch the system refuses at start (ENOSPC) is logged, not thrown', () => {
    const { logger: log, warnings } = logger();
    const refusing = (() => {
      throw Object.assign(new Error('inotify watch limit reached'), { code: 'ENOSPC' });
    }) as unknown as typeof watch;
    expect(() => new FollowFiles({ files: [file], changed: vi.fn(), what: 'clients file', logger: log, watchFolder: refusing })).not.toThrow();
    expect(warnings).toEqual([[{ code: 'ENOSPC', what: 'clients file' }, expect.stringMatching(/SIGHUP/)]]);
  });

  it('a watch that fails later is logged and closed, and calls back no more', () => {
    const { logger: log, warnings } = logger();
    const changed = vi.fn();
    const fake = fakeWatch();
    new FollowFiles({ files: [file], changed, what: 'catalogues', logger: log, watchFolder: fake.start });
    fake.watchers[0]?.emit('error', Object.assign(new Error('gone'), { code: 'ENOSPC' }));
    expect(warnings).toEqual([[{ code: 'ENOSPC', what: 'catalogues' }, expect.stringMatching(/SIGHUP/)]]);
    expect(fake.watchers[0]?.closed).toBe(true);
  });
});

describe('the clients file, changed before its watch started', () => {
  it('is reloaded at the first event, since the watch starts from the file as it was read', () => {
    const operator = (key: string) => ({ id: 'ops-early', keySha256: sha256OfKey(key), roles: ['operator'], units: ['*'] });
    writeFileSync(file, JSON.stringify([operator('early-key-0000000000')]));
    const registry = ClientRegistry.fromFile(file);
    writeFileSync(file, JSON.stringify([operator('later-key-1111111111')]));
    const fake = fakeWatch();
    registry.watch({ info: () => {}, error: () => {}, warn: () => {} } as unknown as Logger, fake.start);
    try {
      fake.event();
      vi.advanceTimersByTime(250);
      expect(registry.authenticate('later-key-1111111111')?.id).toBe('ops-early');
    } finally {
      registry.close();
    }
  });
});
