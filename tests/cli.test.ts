import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hoSoMotCua } from './support/death-fixtures.js';
import { khaiSinh } from './support/fixtures.js';
import { startDispatchHarness, type DispatchHarness } from './support/dispatch-harness.js';

/**
 * `npx lienthong …` (docs/API.md, "Command line") as an operator runs it: the bin launcher spawned as
 * its own process against a listening test gateway whose BHXH refuses every batch, so there are
 * failed transfers to list and replay.
 */

let h: DispatchHarness;
let url: string;
let failed: string[];
const WAIT = { timeout: 15_000, interval: 50 };

interface Run { code: number; stdout: string; stderr: string }

function lienthong(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/lienthong.js', ...args], {
      env: { PATH: process.env.PATH, LIENTHONG_URL: url, LIENTHONG_KEY: h.gateway.keys.operator, ...env },
    }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

async function statusOf(id: string): Promise<string> {
  return (await h.gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${id}` })).json().status;
}

beforeAll(async () => {
  h = await startDispatchHarness({ script: [{ kind: 'status', status: 400 }] });
  await h.gateway.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(h.gateway.app.server.address() as AddressInfo).port}`;
  failed = [];
  for (let i = 0; i < 3; i++) {
    const response = await h.gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
    expect(response.statusCode, response.body).toBe(202);
    failed.push(response.json().transferId);
  }
  await h.runs.run();
  await vi.waitFor(async () => expect(await Promise.all(failed.map(statusOf))).toEqual(['failed', 'failed', 'failed']), WAIT);
});
afterAll(async () => {
  await h?.close();
});

describe('usage', () => {
  it('--help prints the commands and exits 0', async () => {
    const run = await lienthong(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/verify-audit/);
  });

  it.each([
    ['an unknown command', ['frobnicate']],
    ['an unknown option', ['status', '--frob']],
    ['a replay without a reason', ['replay', 'some-id']],
    ['a pause without a province', ['pause']],
    ['a province that is not one', ['pause', 'Hà Nội']],
    ['two provinces to pause (the second would be dropped)', ['pause', '08', '09']],
    ['an argument a command does not take', ['status', 'now']],
    ['a timeout that is not a number', ['status', '--timeout', 'soon']],
  ])('%s exits 2', async (_name, args) => {
    const run = await lienthong(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^lienthong: /);
  });

  it('without a key exits 2 and says where to put one', async () => {
    const run = await lienthong(['status'], { LIENTHONG_KEY: '' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/LIENTHONG_KEY/);
  });
});

/**
 * A stand-in for the gateway where the real one cannot misbehave on demand: answers with `handle`,
 * records the paths asked for.
 */
async function stub(handle: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ url: string; paths: string[]; server: Server }> {
  const paths: string[] = [];
  const server = createServer((request, response) => {
    paths.push(`${request.method} ${request.url}`);
    request.resume();
    request.on('end', () => handle(request, response));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths, server };
}

const json = (response: ServerResponse, status: number, body: unknown) =>
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

describe('a gateway that misbehaves, or sits behind a proxy', () => {
  const stubs: Server[] = [];
  afterAll(() => {
    for (const server of stubs) server.closeAllConnections?.();
    for (const server of stubs) server.close();
  });
  const started = async (handle: Parameters<typeof stub>[0]) => {
    const server = await stub(handle);
    stubs.push(server.server);
    return server;
  };

  it('an answer that does not come within --timeout: exit 1, TIMEOUT', async () => {
    const silent = await started(() => {});
    const run = await lienthong(['status', '--timeout', '200'], { LIENTHONG_URL: silent.url });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^lienthong: TIMEOUT: no answer from .* within 200 ms/);
    const fromEnv = await lienthong(['status'], { LIENTHONG_URL: silent.url, LIENTHONG_TIMEOUT_MS: '200' });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toMatch(/TIMEOUT/);
  });

  it('keeps the path of LIENTHONG_URL: a gateway under a proxy prefix is asked at that prefix', async () => {
    const proxied = await started((request, response) => {
      if (request.url === '/lienthong/ops/v1/dispatch') {
        return json(response, 200, { nextRunAt: null, intervalMs: 60_000, breaker: { state: 'closed' }, paused: [], counts: {} });
      }
      json(response, 404, { error: { code: 'NOT_FOUND', message: 'no such route' } });
    });
    const run = await lienthong(['status'], { LIENTHONG_URL: `${proxied.url}/lienthong/` });
    expect(run.code, run.stderr).toBe(0);
    expect(proxied.paths).toEqual(['GET /lienthong/ops/v1/dispatch']);
  });

  it('a bulk replay whose progress cannot be read a few times in a row: says the job goes on and how to follow it', async () => {
    const flaky = await started((request, response) => {
      if (request.method === 'POST') return json(response, 202, { jobId: 'job-17', matched: 2 });
      json(response, 503, { error: { code: 'UNAVAILABLE', message: 'restarting' } });
    });
    const run = await lienthong(['replay', '--status', 'failed', '--reason', 'after the fix', '--poll-ms', '10'], { LIENTHONG_URL: flaky.url });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^lienthong: FOLLOW_LOST: job job-17 goes on .*lienthong replay-job job-17/);
    expect(flaky.paths.filter((path) => path === 'GET /ops/v1/replay/job-17')).toHaveLength(4);
  });

  it('a poll that fails once is tried again, and the job is followed to its end', async () => {
    let polls = 0;
    const blip = await started((request, response) => {
      if (request.method === 'POST') return json(response, 202, { jobId: 'job-18', matched: 1 });
      polls += 1;
      if (polls === 1) return json(response, 502, { error: { code: 'BAD_GATEWAY', message: 'proxy' } });
      json(response, 200, { status: 'done', matched: 1, replayed: 1, skipped: 0 });
    });
    const run = await lienthong(['replay', '--status', 'failed', '--reason', 'after the fix', '--poll-ms', '10'], { LIENTHONG_URL: blip.url });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n').at(-1)).toBe('done: 1 of 1 replayed, 0 skipped');
  });

  it('an answer not shaped as the API says: one line with CLI_ERROR, exit 1, no stack', async () => {
    const odd = await started((_request, response) => json(response, 200, {}));
    const run = await lienthong(['status'], { LIENTHONG_URL: odd.url });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^lienthong: CLI_ERROR: /);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('the gateway refuses', () => {
  it('a wrong key: exit 1 with the error code', async () => {
    const run = await lienthong(['status', '--key', 'not-a-key']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/UNAUTHORIZED/);
  });

  it('a key of another role: exit 1, FORBIDDEN', async () => {
    const run = await lienthong(['backlog'], { LIENTHONG_KEY: h.gateway.keys.registry08 });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/FORBIDDEN/);
  });

  it('a transfer that is not there: exit 1, NOT_FOUND; --json prints the error body', async () => {
    const run = await lienthong(['replay', 'no-such-transfer', '--reason', 'checking', '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).error.code).toBe('NOT_FOUND');
  });

  it('a gateway that is not there: exit 1', async () => {
    const run = await lienthong(['status', '--url', 'http://127.0.0.1:1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/UNREACHABLE/);
  });
});

describe('commands', () => {
  it('transfers --status failed lists them; --json gives the page', async () => {
    const run = await lienthong(['transfers', '--status', 'failed']);
    expect(run.code).toBe(0);
    for (const id of failed) expect(run.stdout).toContain(id);
    const json = await lienthong(['transfers', '--status', 'failed', '--json']);
    expect(JSON.parse(json.stdout).items.map((item: { transferId: string }) => item.transferId).sort()).toEqual([...failed].sort());
  });

  it('status shows the dispatch state', async () => {
    const run = await lienthong(['status']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/breaker\s+closed/);
    expect(run.stdout).toMatch(/failed 3/);
  });

  it('backlog shows province 08', async () => {
    const run = await lienthong(['backlog', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).provinces.map((row: { maTinh: string }) => row.maTinh)).toContain('08');
  });

  it('verify-audit says the chain holds', async () => {
    const run = await lienthong(['verify-audit']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/audit chain holds/);
  });

  it('pause 08 holds it and resume releases it', async () => {
    const paused = await lienthong(['pause', '08']);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(/held: 08/);
    expect((await h.gateway.request('operator', { method: 'GET', url: '/ops/v1/dispatch' })).json().paused).toEqual(['08']);
    const resumed = await lienthong(['resume', '08']);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/held: none/);
  });

  it('run queues a dispatch run', async () => {
    const run = await lienthong(['run', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).jobId).toEqual(expect.any(String));
  });

  it('replay of one transfer queues it, with the reason audited', async () => {
    const [first] = failed as [string];
    const run = await lienthong(['replay', first, '--reason', 'BHXH fixed their schema']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${first}: queued`);
    const history = (await h.gateway.request('operator', { method: 'GET', url: `/ngsp/v1/transfers/${first}` })).json().history;
    expect(history.at(-1)).toMatchObject({ toStatus: 'queued', details: expect.objectContaining({ reason: 'BHXH fixed their schema' }) });
  });

  it('bulk replay: a dry run changes nothing, a real one is followed until done', async () => {
    const rest = failed.slice(1);
    const dry = await lienthong(['replay', '--status', 'failed', '--unit', '08', '--reason', 'after the fix', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^2 transfer\(s\) would be replayed/);
    expect(await Promise.all(rest.map(statusOf))).toEqual(['failed', 'failed']);

    const real = await lienthong(['replay', '--status', 'failed', '--unit', '08', '--reason', 'after the fix', '--poll-ms', '50']);
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout).toMatch(/2 transfer\(s\) to replay/);
    expect(real.stdout.trim().split('\n').at(-1)).toBe('done: 2 of 2 replayed, 0 skipped');
    expect(await Promise.all(rest.map(statusOf))).toEqual(['queued', 'queued']);
  });

  describe('one-stop dossiers', () => {
    async function waitingDossier(): Promise<string> {
      const response = await h.gateway.request('registry08b', { method: 'POST', url: '/ngsp/v1/mot-cua', payload: hoSoMotCua() as object });
      expect(response.statusCode, response.body).toBe(202);
      const id = response.json().transferId;
      // Arrived long before the test clock's today, so it counts as stale.
      await h.gateway.db.query("UPDATE transfers SET created_at = '2025-01-02T03:00:00Z' WHERE id = $1", [id]);
      return id;
    }

    it('stale-dossiers lists one waiting long; close-dossier closes it', async () => {
      const id = await waitingDossier();
      const listed = await lienthong(['stale-dossiers']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(id);
      const closed = await lienthong(['close-dossier', id, '--reason', 'the birth was registered abroad']);
      expect(closed.code, closed.stderr).toBe(0);
      expect(closed.stdout.trim()).toBe(`${id}: closed`);
      expect((await lienthong(['stale-dossiers'])).stdout).not.toContain(id);
      const again = await lienthong(['close-dossier', id, '--reason', 'twice']);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/INVALID_STATE/);
    });

    it('stale-dossiers pages with --limit and --cursor, and says when there are more', async () => {
      const ids = [await waitingDossier(), await waitingDossier()];
      const seen: string[] = [];
      let args = ['stale-dossiers', '--limit', '1'];
      for (let page = 0; page < 20; page++) {
        const run = await lienthong(args);
        expect(run.code, run.stderr).toBe(0);
        const rows = run.stdout.split('\n').filter((line) => /^[0-9a-f-]{20,}/i.test(line));
        expect(rows.length).toBeLessThanOrEqual(1);
        seen.push(...rows.map((line) => line.split(/\s+/)[0] as string));
        const more = /more: --cursor (\S+)/.exec(run.stdout)?.[1];
        if (!more) break;
        args = ['stale-dossiers', '--limit', '1', '--cursor', more];
      }
      for (const id of ids) expect(seen).toContain(id);
      expect(new Set(seen).size).toBe(seen.length);
    });

    it('link-dossier merges one into a birth', async () => {
      const id = await waitingDossier();
      const birth = await h.gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh() });
      expect(birth.statusCode, birth.body).toBe(202);
      const birthId = birth.json().transferId;
      expect((await lienthong(['link-dossier', id, '--reason', 'same child'])).code).toBe(2);
      const linked = await lienthong(['link-dossier', id, '--birth', birthId, '--reason', 'same child, checked with the family']);
      expect(linked.code, linked.stderr).toBe(0);
      expect(linked.stdout).toContain(`${id} merged into ${birthId}`);
      const { rows } = await h.gateway.db.query<{ status: string }>('SELECT status FROM transfers WHERE id = $1', [id]);
      expect(rows[0]?.status).toBe('merged');
    });
  });
});
