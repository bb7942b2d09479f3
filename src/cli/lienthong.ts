import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * `npx lienthong …`: the operators' tasks from a terminal, through the HTTP API with an operator's key
 * (docs/API.md, "Command line"). It knows the gateway only by its API, so it runs anywhere the gateway
 * can be reached. Exit codes: 0 done, 1 the gateway refused or failed (its error code and message are
 * printed; `CLI_ERROR` when the command itself failed), 2 the command line is wrong.
 */

const USAGE = `Usage: lienthong [--url URL] [--key KEY] [--json] <command> [options]

Commands:
  replay <transferId> --reason TEXT       replay one failed or returned transfer
  replay --status failed|returned --reason TEXT [--unit 08] [--type TYPE]
         [--error-code CODE] [--from ISO] [--to ISO] [--dry-run] [--no-follow]
                                          bulk replay by filter, then follow the job
  replay-job <jobId> [--no-follow]        a bulk replay job's progress, followed until it ends
  verify-audit                            check the signed checkpoints and recompute every audit chain
  backlog                                 per province: waiting, overdue, unanswered by BHXH
  pause <maTinh> | pause --all            hold a province's deliveries (or all)
  resume [<maTinh>]                       release one province, or every hold
  run                                     start a dispatch run now
  status                                  next run, breaker, holds, counts by status
  transfers [--status S] [--unit 08] [--type TYPE] [--from ISO] [--to ISO]
            [--limit N] [--cursor C]      list transfers
  stale-dossiers [--older-than-days N] [--limit N] [--cursor C]
                                          one-stop dossiers still waiting for their birth
  link-dossier <dossierId> --birth <transferId> --reason TEXT
                                          merge a waiting dossier into its birth
  close-dossier <dossierId> --reason TEXT close a dossier whose record will never come

Options:
  --url URL    the gateway (default: $LIENTHONG_URL, else http://127.0.0.1:8080)
  --key KEY    an operator's API key (default: $LIENTHONG_KEY)
  --json       print the gateway's JSON answer instead of text
  --poll-ms N  how often a followed replay job is asked about, in ms (default 1000)
  --timeout N  how long to wait for each answer, in ms (default: $LIENTHONG_TIMEOUT_MS, else 30000)
  -h, --help   this help
`;

const OPTIONS = {
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  reason: { type: 'string' },
  status: { type: 'string' },
  unit: { type: 'string' },
  type: { type: 'string' },
  'error-code': { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  'no-follow': { type: 'boolean', default: false },
  all: { type: 'boolean', default: false },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  'older-than-days': { type: 'string' },
  birth: { type: 'string' },
  'poll-ms': { type: 'string' },
  timeout: { type: 'string' },
} satisfies ParseArgsConfig['options'];

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  env: Record<string, string | undefined>;
}

class UsageError extends Error {}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

type Json = Record<string, any>;

class Gateway {
  constructor(
    private readonly url: string,
    private readonly key: string,
    private readonly timeoutMs: number,
  ) {}

  async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Json> {
    let response: Response;
    let text: string;
    // Appended, not resolved: `new URL('/ops/…', base)` would drop a path prefix such as a proxy's /lienthong.
    const target = `${this.url.replace(/\/+$/, '')}${path}`;
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      response = await fetch(target, {
        method,
        headers: { authorization: `Bearer ${this.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
      text = await response.text();
    } catch (error) {
      if (signal.aborted) throw new ApiError(0, 'TIMEOUT', `no answer from ${this.url} within ${this.timeoutMs} ms (--timeout)`, null);
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new ApiError(0, 'UNREACHABLE', `cannot reach ${this.url} (${cause})`, null);
    }
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new ApiError(response.status, 'NOT_JSON', `the gateway answered ${response.status} with something that is not JSON`, text);
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } }).error;
      throw new ApiError(response.status, error?.code ?? `HTTP_${response.status}`, error?.message ?? `answered ${response.status}`, parsed);
    }
    return parsed as Json;
  }
}

const query = (params: Record<string, string | undefined>) => {
  const entries = Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return entries.length ? `?${new URLSearchParams(entries)}` : '';
};

const province = (value: string | undefined, what: string): string => {
  if (!value || !/^[0-9]{2}$/.test(value)) throw new UsageError(`${what}: a two-digit province code (maTinh), e.g. 08`);
  return value;
};

function requireReason(values: Values, command = 'replay'): string {
  if (!values.reason) throw new UsageError(`${command} needs --reason "why" (it is recorded in the audit log)`);
  return values.reason;
}

function noMoreThan(positionals: string[], count: number, usage: string): void {
  if (positionals.length > count) throw new UsageError(`${usage} (unexpected: ${positionals.slice(count).join(' ')})`);
}

const whole = (value: string | undefined, option: string, fallback: number): number => {
  const parsed = Number(value ?? fallback);
  if (!Number.isSafeInteger(parsed) || parsed < 1) throw new UsageError(`${option}: a whole number of milliseconds, at least 1`);
  return parsed;
};

/** A poll that fails is tried again this many times before the CLI lets go of a job that goes on without it. */
const POLL_ATTEMPTS = 4;

/**
 * Follows a bulk replay job until it ends. The job runs on the gateway whatever happens here, so a
 * poll that fails is tried again; after several the CLI stops and says how to pick the job up again.
 */
async function followJob(gateway: Gateway, jobId: string, pollMs: number, values: Values, io: Io): Promise<{ json: unknown; text: string; exitCode?: number }> {
  let shown = '';
  let failures = 0;
  for (;;) {
    let job: Json;
    try {
      job = await gateway.call('GET', `/ops/v1/replay/${encodeURIComponent(jobId)}`);
      failures = 0;
    } catch (error) {
      if (!(error instanceof ApiError) || (error.status >= 400 && error.status < 500)) throw error;
      failures += 1;
      if (failures >= POLL_ATTEMPTS) {
        throw new ApiError(error.status, 'FOLLOW_LOST', `job ${jobId} goes on on the gateway, but its progress cannot be read (${error.code}: ${error.message}); follow it with: lienthong replay-job ${jobId}`, null);
      }
      await sleep(pollMs);
      continue;
    }
    const progress = `${job.status}: ${job.replayed} of ${job.matched} replayed, ${job.skipped} skipped`;
    if (job.status !== 'running') return { json: job, text: progress, exitCode: job.status === 'done' ? 0 : 1 };
    if (!values.json && progress !== shown) io.out(progress);
    shown = progress;
    await sleep(pollMs);
  }
}

function oneId(positionals: string[], command: string): string {
  const [id, extra] = positionals;
  if (!id || extra !== undefined) throw new UsageError(`${command} takes one dossier's transfer id`);
  return id;
}

/** Aligned `name  value` lines. */
function pairs(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n');
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

const counts = (byStatus: Json) => Object.entries(byStatus).filter(([, count]) => count > 0).map(([status, count]) => `${status} ${count}`).join(', ') || 'none';

type Command = (gateway: Gateway, values: Values, positionals: string[], io: Io) => Promise<{ json: unknown; text: string; exitCode?: number }>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const COMMANDS: Record<string, Command> = {
  async replay(gateway, values, positionals, io) {
    const reason = requireReason(values);
    const [transferId, extra] = positionals;
    if (extra !== undefined) throw new UsageError('replay takes one transfer id, or a filter');
    if (transferId) {
      if (values.status || values.unit || values.type || values['error-code'] || values.from || values.to || values['dry-run']) {
        throw new UsageError('replay <transferId> takes no filter: give either a transfer id or --status/--unit/…');
      }
      const transfer = await gateway.call('POST', `/ops/v1/transfers/${encodeURIComponent(transferId)}/replay`, { reason });
      return { json: transfer, text: `${transfer.transferId}: ${transfer.status}` };
    }
    if (!values.status) throw new UsageError('replay needs a transfer id, or --status failed|returned to replay by filter');
    const pollMs = whole(values['poll-ms'], '--poll-ms', 1000);
    const filter = {
      status: values.status,
      ...(values.unit ? { unit: province(values.unit, '--unit') } : {}),
      ...(values.type ? { type: values.type } : {}),
      ...(values['error-code'] ? { errorCode: values['error-code'] } : {}),
      ...(values.from ? { from: values.from } : {}),
      ...(values.to ? { to: values.to } : {}),
    };
    if (values['dry-run']) {
      const preview = await gateway.call('POST', '/ops/v1/replay', { ...filter, reason, dryRun: true });
      const sample = preview.sample.length ? `\nfor example:\n  ${preview.sample.join('\n  ')}` : '';
      return { json: preview, text: `${preview.matched} transfer(s) would be replayed (dry run: nothing changed)${sample}` };
    }
    const started = await gateway.call('POST', '/ops/v1/replay', { ...filter, reason });
    if (values['no-follow']) return { json: started, text: `job ${started.jobId}: ${started.matched} transfer(s) to replay` };
    if (!values.json) io.out(`job ${started.jobId}: ${started.matched} transfer(s) to replay`);
    return followJob(gateway, started.jobId, pollMs, values, io);
  },

  async 'replay-job'(gateway, values, positionals, io) {
    const [jobId] = positionals;
    if (!jobId) throw new UsageError('replay-job takes the job id a bulk replay printed');
    noMoreThan(positionals, 1, 'replay-job takes one job id');
    const pollMs = whole(values['poll-ms'], '--poll-ms', 1000);
    if (values['no-follow']) {
      const job = await gateway.call('GET', `/ops/v1/replay/${encodeURIComponent(jobId)}`);
      return { json: job, text: `${job.status}: ${job.replayed} of ${job.matched} replayed, ${job.skipped} skipped` };
    }
    return followJob(gateway, jobId, pollMs, values, io);
  },

  async 'verify-audit'(gateway, _values, positionals) {
    noMoreThan(positionals, 0, 'verify-audit takes no argument');
    const verdict = await gateway.call('GET', '/audit/v1/verify');
    const checkpoints = verdict.checkpoints as Json | undefined;
    const signed = checkpoints
      ? `; ${checkpoints.count} signed checkpoint(s)${checkpoints.checked ? '' : ' (signatures not checked: the gateway has no public key)'}, ${checkpoints.unsignedEvents} event(s) since the last`
      : '';
    const text = verdict.ok
      ? `audit chain holds: ${verdict.events} event(s), head ${verdict.head ?? '-'}${signed}`
      : [`audit chain BROKEN: ${verdict.reason} (${verdict.events} event(s) verified)`,
        ...((verdict.problems as Json[] | undefined) ?? []).map((problem) => `  ${problem.kind}: ${problem.detail}`),
        ...(Number(verdict.moreProblems) > 0 ? [`  … and ${Number(verdict.moreProblems)} more`] : [])].join('\n');
    return { json: verdict, text, exitCode: verdict.ok ? 0 : 1 };
  },

  async backlog(gateway, _values, positionals) {
    noMoreThan(positionals, 0, 'backlog takes no argument');
    const report = await gateway.call('GET', '/ops/v1/reports/backlog');
    const rows = (report.provinces as Json[]).map((row) => [
      row.maTinh, counts(row.counts), row.oldestWaiting ?? '-', String(row.pastDeadline), String(row.awaitingBhxhPastDeadline),
    ]);
    const text = `past the 5-working-day limit: registered before ${report.deadline}\n`
      + (rows.length ? table(['maTinh', 'counts', 'oldest waiting', 'overdue', 'overdue at BHXH'], rows) : 'no transfers');
    return { json: report, text };
  },

  async pause(gateway, values, positionals) {
    const [maTinh] = positionals;
    if (!maTinh && !values.all) throw new UsageError('pause <maTinh>, or pause --all to hold every province');
    if (maTinh && values.all) throw new UsageError('pause takes a province or --all, not both');
    noMoreThan(positionals, 1, 'pause takes one province; pause each, or --all');
    const answer = await gateway.call('POST', '/ops/v1/dispatch/pause', maTinh ? { maTinh: province(maTinh, 'pause') } : {});
    return { json: answer, text: `held: ${answer.paused.join(', ') || 'none'}` };
  },

  async resume(gateway, _values, positionals) {
    const [maTinh] = positionals;
    noMoreThan(positionals, 1, 'resume takes one province, or none to release every hold');
    const answer = await gateway.call('POST', '/ops/v1/dispatch/resume', maTinh ? { maTinh: province(maTinh, 'resume') } : {});
    return { json: answer, text: `held: ${answer.paused.join(', ') || 'none'}` };
  },

  async run(gateway, _values, positionals) {
    noMoreThan(positionals, 0, 'run takes no argument');
    const answer = await gateway.call('POST', '/ops/v1/dispatch/run');
    return { json: answer, text: `dispatch run queued: job ${answer.jobId}` };
  },

  async status(gateway, _values, positionals) {
    noMoreThan(positionals, 0, 'status takes no argument');
    const state = await gateway.call('GET', '/ops/v1/dispatch');
    const text = pairs([
      ['next run', state.nextRunAt ?? '-'],
      ['every', `${Math.round(state.intervalMs / 1000)} s`],
      ['breaker', state.breaker.state],
      ['held', state.paused.join(', ') || 'none'],
      ['transfers', counts(state.counts)],
    ]);
    return { json: state, text };
  },

  async transfers(gateway, values, positionals) {
    noMoreThan(positionals, 0, 'transfers takes options only, e.g. --status failed');
    const page = await gateway.call('GET', `/ops/v1/transfers${query({
      status: values.status, unit: values.unit, type: values.type, from: values.from, to: values.to, limit: values.limit, cursor: values.cursor,
    })}`);
    const rows = (page.items as Json[]).map((item) => [
      item.transferId, item.type, item.status, item.maTinh, item.updatedAt, (item.errors as Json[]).map((error) => error.MA_LOI).join(' '),
    ]);
    const text = (rows.length ? table(['transferId', 'type', 'status', 'maTinh', 'changed', 'BHXH errors'], rows) : 'no transfers')
      + (page.nextCursor && page.items.length ? `\nmore: --cursor ${page.nextCursor}` : '');
    return { json: page, text };
  },

  async 'stale-dossiers'(gateway, values, positionals) {
    noMoreThan(positionals, 0, 'stale-dossiers takes options only');
    const page = await gateway.call('GET', `/ops/v1/dossiers/stale${query({
      olderThanDays: values['older-than-days'], limit: values.limit, after: values.cursor,
    })}`);
    const rows = (page.items as Json[]).map((item) => [
      item.transferId, item.module, item.maTinh, item.maHoSo ?? '-', item.createdAt,
      `${(item.files as Json[]).length}${(item.files as Json[]).some((file) => file.purgedAt) ? ' (purged)' : ''}`,
    ]);
    return {
      json: page,
      text: (rows.length
        ? table(['transferId', 'module', 'maTinh', 'maHoSo', 'received', 'files'], rows)
        : `no dossier waiting more than ${page.olderThanDays} days`)
        + (page.nextCursor && page.items.length ? `\nmore: --cursor ${page.nextCursor}` : ''),
    };
  },

  async 'link-dossier'(gateway, values, positionals) {
    const dossierId = oneId(positionals, 'link-dossier');
    if (!values.birth) throw new UsageError('link-dossier needs --birth <the birth\'s transfer id>');
    const reason = requireReason(values, 'link-dossier');
    const birth = await gateway.call('POST', `/ops/v1/dossiers/${encodeURIComponent(dossierId)}/link`, { birthTransferId: values.birth, reason });
    return { json: birth, text: `${dossierId} merged into ${birth.transferId}, now ${birth.status}` };
  },

  async 'close-dossier'(gateway, values, positionals) {
    const dossierId = oneId(positionals, 'close-dossier');
    const reason = requireReason(values, 'close-dossier');
    const dossier = await gateway.call('POST', `/ops/v1/dossiers/${encodeURIComponent(dossierId)}/close`, { reason });
    return { json: dossier, text: `${dossier.transferId}: ${dossier.status}` };
  },
};

/** Runs one command line; answers the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    io.err(`lienthong: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (values.help || name === 'help') {
    io.out(USAGE);
    return 0;
  }
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    io.err(`lienthong: ${name ? `unknown command "${name}"` : 'no command'}\n\n${USAGE}`);
    return 2;
  }
  const key = values.key ?? io.env.LIENTHONG_KEY;
  if (!key) {
    io.err('lienthong: no API key: set LIENTHONG_KEY or pass --key\n');
    return 2;
  }
  const url = values.url ?? io.env.LIENTHONG_URL ?? 'http://127.0.0.1:8080';
  try {
    new URL(url);
  } catch {
    io.err(`lienthong: --url "${url}" is not a URL\n`);
    return 2;
  }
  try {
    const timeoutMs = whole(values.timeout ?? (io.env.LIENTHONG_TIMEOUT_MS || undefined), '--timeout', 30_000);
    const result = await command(new Gateway(url, key, timeoutMs), values, rest, io);
    io.out(values.json ? JSON.stringify(result.json, null, 2) : result.text);
    return result.exitCode ?? 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`lienthong: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ApiError) {
      if (values.json && error.body) io.out(JSON.stringify(error.body, null, 2));
      else io.err(`lienthong: ${error.code}: ${error.message}${detailsOf(error.body)}\n`);
      return 1;
    }
    // A bug here, or an answer not shaped as the API says: one line, not a stack, and a code of its own
    // so a script can tell it from the gateway's refusals.
    io.err(`lienthong: CLI_ERROR: ${(error as Error).message ?? String(error)} (a fault of this command, not the gateway's refusal)\n`);
    return 1;
  }
}

function detailsOf(body: unknown): string {
  const details = (body as { error?: { details?: Array<{ path?: string; message?: string }> } } | null)?.error?.details;
  return details?.length ? `\n${details.map((detail) => `  ${detail.path ?? ''} ${detail.message ?? ''}`.trimEnd()).join('\n')}` : '';
}
