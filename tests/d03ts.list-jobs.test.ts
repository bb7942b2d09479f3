import { describe, expect, it } from 'vitest';
import { GatewayError } from '../src/errors.js';
import { MAX_WAITING_LIST_JOBS, OneAtATime } from '../src/messages/pupil-list/one-at-a-time.js';

/** Whole-list jobs run one at a time, and only so many wait: the next is refused at once, 503 with Retry-After. */

describe('whole-list jobs', () => {
  it('run in turn; past the bound the next is refused BUSY, and taken again once one finished', async () => {
    const jobs = new OneAtATime(MAX_WAITING_LIST_JOBS);
    const order: number[] = [];
    let releaseFirst = () => {};
    const first = jobs.run(() => new Promise<number>((resolve) => {
      releaseFirst = () => resolve(0);
    }));
    const rest = Array.from({ length: MAX_WAITING_LIST_JOBS - 1 }, (_, index) => jobs.run(async () => {
      order.push(index + 1);
      return index + 1;
    }));

    const refused = await jobs.run(async () => -1).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({ code: 'UNAVAILABLE', details: [{ code: 'BUSY' }], headers: { 'retry-after': '5' } });

    releaseFirst();
    expect(await Promise.all([first, ...rest])).toEqual(Array.from({ length: MAX_WAITING_LIST_JOBS }, (_, index) => index));
    expect(order).toEqual(Array.from({ length: MAX_WAITING_LIST_JOBS - 1 }, (_, index) => index + 1));
    expect(await jobs.run(async () => 'again')).toBe('again');
  });

  it('a job that fails frees its place', async () => {
    const jobs = new OneAtATime(1);
    await expect(jobs.run(async () => { throw new Error('broken list'); })).rejects.toThrow('broken list');
    expect(await jobs.run(async () => 'next')).toBe('next');
  });
});
