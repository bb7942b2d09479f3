import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { expect, vi } from 'vitest';
import { QUEUES } from '../../src/dispatch/dispatcher.js';
import { TEST_REDIS_URL, type TestGateway } from './gateway.js';

const WAIT = { timeout: 15_000, interval: 50 };

/**
 * Explicit dispatch runs of a test gateway, each awaited until its BullMQ job has completed (the run,
 * not its deliveries), through a read-only view of the gateway's runs queue.
 */
export class DispatchRuns {
  private constructor(
    private readonly gateway: TestGateway,
    private readonly connection: Redis,
    private readonly queue: Queue,
  ) {}

  static watch(gateway: TestGateway): DispatchRuns {
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    return new DispatchRuns(gateway, connection, new Queue(QUEUES.runs, { connection, prefix: gateway.config.queuePrefix }));
  }

  /**
   * A job scheduler's first run fires as soon as the dispatcher starts; once it has finished, every
   * record a test queues is batched by the test's own runs, deterministically.
   */
  async firstRunDone(): Promise<void> {
    await vi.waitFor(async () => expect(await this.queue.getCompletedCount()).toBeGreaterThanOrEqual(1), WAIT);
  }

  /** POST /ops/v1/dispatch/run, then waits for that run to have finished. */
  async run(): Promise<void> {
    const response = await this.gateway.request('operator', { method: 'POST', url: '/ops/v1/dispatch/run' });
    expect(response.statusCode).toBe(202);
    const { jobId } = response.json();
    await vi.waitFor(async () => expect(await this.queue.getJobState(jobId)).toBe('completed'), WAIT);
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}
