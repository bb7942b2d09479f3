import { GatewayError, RETRY_AFTER_SECONDS } from '../../errors.js';
import type { Queryable } from '../../store/database.js';

/** Whole-list jobs held at most, the running one included; the next is answered 503 with Retry-After. */
export const MAX_WAITING_LIST_JOBS = 8;

/** How long one statement of a list job may run: a 30,000-row list's longest takes a second or two. */
const LIST_JOB_STATEMENT_TIMEOUT = '60s';

/**
 * One whole-list job at a time in this process: reading and storing a list, writing its file back,
 * correcting a row (which checks the whole list again), sending its rows on. Each holds a list's
 * rows in memory (about 100 MB for 30,000 rows, most of it garbage by the end), so a process taking
 * lists needs room for one list, not for as many as arrive together; the others wait their turn, a
 * few seconds at most. The wait is bounded: past `most` jobs waiting, a job is refused at once
 * rather than queued behind minutes of others while its client has given up.
 */
export class OneAtATime {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(private readonly most: number) {}

  run<T>(job: () => Promise<T>): Promise<T> {
    if (this.waiting >= this.most) {
      return Promise.reject(new GatewayError('UNAVAILABLE', 'Too many lists are being worked on at once; try again shortly', [
        { path: '', code: 'BUSY', message: `at most ${this.most} list jobs are held at once, running or waiting` },
      ], { 'retry-after': String(RETRY_AFTER_SECONDS) }));
    }
    this.waiting += 1;
    const result = this.tail.then(job, job).finally(() => {
      this.waiting -= 1;
    });
    // The tail waits for the job without holding its result (a whole file, say) until the next one.
    this.tail = result.then(() => undefined, () => undefined);
    return result;
  }
}

/** A list job's transaction gives up on a statement stuck past the timeout, so the jobs behind it move on. */
export async function withListJobTimeout(tx: Queryable): Promise<void> {
  await tx.query(`SET LOCAL statement_timeout = '${LIST_JOB_STATEMENT_TIMEOUT}'`, undefined, { prepared: false });
}
