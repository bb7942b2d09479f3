/**
 * The load generator, run as its own process so it does not share the gateway's CPU time slices:
 *   tsx bench/load.ts '<json options>'  → prints one JSON line of results.
 * Every request carries a fresh messageId and, unless `persons` names stored ones, a fresh personal
 * number, so the gateway stores each one (or refuses each as DUPLICATE_PERSON).
 */
import autocannon from 'autocannon';
import { khaiSinhBody, type BodyKind } from './documents.js';

interface LoadOptions {
  url: string;
  /** More gateways to load from this same process, the connections split evenly among them all. */
  moreUrls?: string[];
  path: string;
  kind: BodyKind;
  connections: number;
  seconds: number;
  key?: string;
  /** 3-digit prefix of the personal numbers of this run, so runs never collide. */
  prefix: string;
  /** Another run's prefix of personal numbers: births of persons already stored, under new message ids. */
  persons?: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
let serial = 0;
const headers: Record<string, string> = {
  'content-type': options.kind === 'json' ? 'application/json' : 'text/xml; charset=utf-8',
  ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
  ...(options.kind === 'soap' ? { soapaction: 'urn:lienthong:ngsp:v1#GuiKhaiSinh' } : {}),
};

const urls = [options.url, ...(options.moreUrls ?? [])];
// One process for every target: a second load generator would take CPU from the gateways it measures.
const results = await Promise.all(urls.map((url, index) => autocannon({
  url,
  connections: Math.floor(options.connections / urls.length) + (index < options.connections % urls.length ? 1 : 0),
  duration: options.seconds,
  requests: [{
    method: 'POST',
    path: options.path,
    headers,
    setupRequest: (request) => {
      serial += 1;
      return { ...request, body: khaiSinhBody(options.kind, options.prefix, serial, options.persons) };
    },
  }],
})));
const sum = (value: (result: autocannon.Result) => number) => results.reduce((total, result) => total + value(result), 0);
// Over several targets a percentile is the worst target's: an upper bound, not the merged figure.
const worst = (value: (result: autocannon.Result) => number) => Math.max(...results.map(value));

process.stdout.write(`${JSON.stringify({
  requestsPerSecond: sum((result) => result.requests.average),
  total: sum((result) => result.requests.total),
  p50: worst((result) => result.latency.p50),
  p99: worst((result) => result.latency.p99),
  errors: sum((result) => result.errors + result.timeouts),
  non2xx: sum((result) => result.non2xx),
  conflicts: sum((result) => result.statusCodeStats?.['409']?.count ?? 0),
  sent: serial,
})}\n`);
