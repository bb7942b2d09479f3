import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The gateway's heap limit is a default an operator can raise (docs/DEPLOYMENT.md): set by
 * NODE_OPTIONS, never by a command-line flag, which would win over NODE_OPTIONS.
 */

const startScript = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } }).scripts.start;

/** The heap limit, in MB, of the process `npm start` starts, with the given NODE_OPTIONS (or none). */
function startedHeapLimitMb(nodeOptions: string | undefined): number {
  const launch = startScript.split('&&').at(-1) ?? '';
  expect(launch).toContain('dist/src/main.js');
  const probe = launch.replace('dist/src/main.js', `-e "process.stdout.write(String(require('v8').getHeapStatistics().heap_size_limit / 1048576))"`);
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  if (nodeOptions !== undefined) env.NODE_OPTIONS = nodeOptions;
  return Number(execFileSync('sh', ['-c', probe], { env, encoding: 'utf8' }));
}

describe('the heap limit', () => {
  it('npm start: 512 MB unless NODE_OPTIONS names another, which then holds', () => {
    const byDefault = startedHeapLimitMb(undefined);
    // V8 adds its young generation to the old space's limit.
    expect(byDefault).toBeGreaterThanOrEqual(512);
    expect(byDefault).toBeLessThan(1024);
    expect(startedHeapLimitMb('--max-old-space-size=1536')).toBeGreaterThanOrEqual(1536);
  });

  it('the image: 512 MB in NODE_OPTIONS, none on the command line', () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    expect(dockerfile).toMatch(/^ENV NODE_OPTIONS=--max-old-space-size=512$/m);
    const command = dockerfile.split('\n').filter((line) => line.startsWith('CMD '));
    expect(command).toEqual(['CMD ["node", "dist/src/main.js"]']);
  });
});
