import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sha256OfKey } from '../src/auth/clients.js';
import { khaiSinh } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * The receiver docs/API.md shows under "Verifying the signature", run as it is written, against a
 * gateway: what a registry developer copies must accept the gateway's callbacks and refuse the rest.
 */
const SECRET = 'receiver-snippet-secret-0123456789';
const KEY = 'receiver-snippet-registry-key-0123456789';

function documentedReceiver(): string {
  const api = readFileSync('docs/API.md', 'utf8');
  const section = api.slice(api.indexOf('### Verifying the signature'));
  const start = section.indexOf('```js\n') + '```js\n'.length;
  return section.slice(start, section.indexOf('\n```', start));
}

let dir: string;
let receiver: ChildProcessWithoutNullStreams;
const lines: string[] = [];
let url: string;
let gateway: TestGateway;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lienthong-receiver-'));
  writeFileSync(join(dir, 'receiver.mjs'), documentedReceiver());
  receiver = spawn(process.execPath, [join(dir, 'receiver.mjs')], { env: { ...process.env, CALLBACK_SECRET: SECRET, PORT: '0' } });
  createInterface({ input: receiver.stdout }).on('line', (line) => lines.push(line));
  await vi.waitFor(() => expect(lines[0]).toMatch(/^listening on \d+$/), { timeout: 10_000, interval: 20 });
  url = `http://127.0.0.1:${(lines[0] as string).split(' ')[2]}/lienthong`;
  gateway = await startTestGateway({
    startDispatcher: true,
    env: { MAINTENANCE_INTERVAL_MS: '100', DISPATCH_INTERVAL_MS: '3600000' },
    clients: [{ id: 'hotich-08-snippet', keySha256: sha256OfKey(KEY), roles: ['registry'], units: ['08'], callbackUrl: url, callbackSecret: SECRET }],
  });
});
afterAll(async () => {
  await gateway?.close();
  if (receiver && receiver.exitCode === null) {
    const exited = once(receiver, 'exit');
    receiver.kill();
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

const post = (body: string, signature: string) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': signature }, body });
const sign = (t: number, body: string) =>
  `t=${t},v1=${createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex')},sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;

describe("docs/API.md's callback receiver", () => {
  it("accepts the gateway's callbacks, acts once per eventId, and refuses a forged, altered or stale call", async () => {
    const response = await gateway.app.inject({ method: 'POST', url: '/ngsp/v1/khai-sinh', headers: { authorization: `Bearer ${KEY}` }, payload: khaiSinh() });
    expect(response.statusCode).toBe(202);
    const transferId = response.json().transferId as string;
    await vi.waitFor(() => expect(lines.slice(1)).toEqual([expect.stringMatching(new RegExp(`^\\d+ ${transferId} queued \\S+Z$`))]), { timeout: 10_000, interval: 50 });
    // Delivered: the gateway holds nothing more for this client.
    await vi.waitFor(async () => expect((await gateway.db.query('SELECT 1 FROM callback_outbox')).rowCount).toBe(0), { timeout: 10_000, interval: 50 });

    const [eventId] = (lines[1] as string).split(' ');
    const body = JSON.stringify({ eventId, transferId, messageId: 'm', status: 'queued', at: new Date().toISOString() });
    const now = Math.floor(Date.now() / 1000);
    // A repeat of a handled eventId is acknowledged and not acted on again.
    expect((await post(body, sign(now, body))).status).toBe(204);
    expect((await post(body, sign(now, body).replace(/v1=[0-9a-f]{4}/, 'v1=0000'))).status).toBe(401);
    expect((await post(body.replace('queued', 'issued'), sign(now, body))).status).toBe(401);
    expect((await post(body, sign(now - 3600, body))).status).toBe(401);
    expect((await post(body, `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`)).status).toBe(401);
    expect(lines).toHaveLength(2);
  });
});
