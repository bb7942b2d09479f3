import { BhxhSimulator, type Behaviour } from '../../src/dev/bhxh-simulator.js';
import { DispatchRuns } from './dispatch-runs.js';
import { startTestGateway, type TestGateway, type TestGatewayOptions } from './gateway.js';

/** A gateway pushing to its own BHXH simulator, with explicit dispatch runs: what the dispatch tests start each test with. */
export interface DispatchHarness {
  simulator: BhxhSimulator;
  gateway: TestGateway;
  runs: DispatchRuns;
  close(): Promise<void>;
}

export interface DispatchHarnessOptions {
  /** Settings over the harness's: only explicit runs, fast retries, a breaker that opens only when a test asks. */
  env?: Record<string, string>;
  script?: Behaviour[];
  /** BHXH down: the simulator's port is closed, so every connection is refused; it can be started again on it. */
  bhxhDown?: boolean;
  /** The gateway's clock (the support gateway's fixed TEST_NOW otherwise). */
  now?: () => Date;
  /** More clients (schools) and another facility list for the gateway. */
  gateway?: Pick<TestGatewayOptions, 'clients' | 'facilities'>;
}

export async function startDispatchHarness(options: DispatchHarnessOptions = {}): Promise<DispatchHarness> {
  const simulator = new BhxhSimulator();
  await simulator.start();
  if (options.script?.length) simulator.setScript(...options.script);
  const url = simulator.url;
  if (options.bhxhDown) await simulator.close();
  let gateway: TestGateway;
  try {
    gateway = await startTestGateway({
      ...options.gateway,
      startDispatcher: true,
      now: options.now,
      env: {
        BHXH_PUSH_URL: url,
        // Only explicit runs (the scheduler's first run fires at start, before anything is queued).
        DISPATCH_INTERVAL_MS: '3600000',
        RETRY_BASE_DELAY_MS: '20',
        // High unless a test is about the breaker, so retries are not also delayed by it.
        BREAKER_VOLUME_THRESHOLD: '50',
        ...options.env,
      },
    });
  } catch (error) {
    await simulator.close();
    throw error;
  }
  const runs = DispatchRuns.watch(gateway);
  try {
    await runs.firstRunDone();
  } catch (error) {
    await runs.close();
    await gateway.close();
    await simulator.close();
    throw error;
  }
  return {
    simulator, gateway, runs,
    async close() {
      try {
        await runs.close();
        await gateway.close();
      } finally {
        await simulator.close();
      }
    },
  };
}
