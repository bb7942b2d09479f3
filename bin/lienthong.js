#!/usr/bin/env node
// The `lienthong` command (package.json "bin"). From a clone after `npm ci` it runs the TypeScript
// source through tsx, so no build is needed; an installed gateway without dev dependencies (the
// Docker image) runs the compiled file instead.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/lienthong.ts', import.meta.url);
const compiled = new URL('../dist/src/cli/lienthong.js', import.meta.url);

async function load() {
  if (existsSync(source)) {
    try {
      const { tsImport } = await import('tsx/esm/api');
      return await tsImport(source.href, import.meta.url);
    } catch (error) {
      if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !existsSync(compiled)) throw error;
    }
  }
  if (existsSync(compiled)) return import(compiled.href);
  process.stderr.write('lienthong: neither the source with tsx (npm ci) nor the compiled CLI (npm run build) is here\n');
  process.exit(2);
}

const { main } = await load();
const line = (stream) => (text) => stream.write(text.endsWith('\n') ? text : `${text}\n`);
process.exitCode = await main(process.argv.slice(2), { out: line(process.stdout), err: line(process.stderr), env: process.env });
