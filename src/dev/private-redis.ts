import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

/** A TCP port nothing listens on right now, on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A redis-server of our own on a free loopback port, keeping nothing on disk: dev mode's when the
 * machine has no Redis, and the one tests and `npm run chaos` kill and start again (empty) on the
 * same port. The machine's Redis is never touched.
 */
export class PrivateRedis {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number, private readonly binary: string, private readonly dir: string | undefined) {}

  static async start(options: { binary?: string; dir?: string } = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), options.binary ?? 'redis-server', options.dir);
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server (again, empty, if it was killed) and resolves once it says it accepts connections. */
  async up(): Promise<void> {
    if (this.child) return;
    const child = spawn(this.binary, [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(this.dir ? ['--dir', this.dir] : []),
    ], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child = child;
    const output: string[] = [];
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        output.push(line);
        if (/Ready to accept connections/.test(line)) {
          child.stdout.resume();
          resolve();
        }
      });
      child.once('exit', () => reject(new Error(`redis-server on port ${this.port} exited before accepting connections:\n${output.join('\n')}`)));
    });
  }

  /** Kills the server, losing everything it held. */
  down(): Promise<void> {
    return this.end('SIGKILL');
  }

  /** Stops the server as a shutdown does, waiting for it to exit. */
  stop(): Promise<void> {
    return this.end('SIGTERM');
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }
}
