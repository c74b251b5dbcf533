// The main thread's handle on subscriber-worker.ts: each method sends one command and resolves
// with the worker's answer.
import { WorkerCalls } from './worker-calls.ts';
import type { Command, Counts, FanoutResult, OpenResult, SubscriberWorkerData } from './subscriber-worker.ts';

/** Warble checks open streams' sessions every 2 s (server/realtime/timeline-hub.ts). */
const SESSION_CHECK_WAIT_MS = 2500;
const REOPEN_TRIES = 5;

export class Subscribers {
  private readonly calls: WorkerCalls<Command>;

  constructor(data: SubscriberWorkerData) {
    this.calls = new WorkerCalls(new URL('./subscriber-worker.ts', import.meta.url), data, 'subscriber');
  }

  /** Opens one stream per token (a token may repeat: several streams of one user). */
  open(tokens: string[]): Promise<OpenResult> {
    return this.calls.send({ op: 'open', tokens });
  }

  /**
   * Opens one stream per token, then, while the server ends some of the new streams within a
   * session-check period (it should not: see docs/benchmarks.md), opens those again, so that a
   * measurement has the streams it says it has. `ended` counts the streams that had to be reopened.
   */
  async openAll(tokens: string[]): Promise<OpenResult & { ended: number; open: number }> {
    const endedBefore = (await this.counts()).ended;
    const result = await this.open(tokens);
    for (let tries = 0; tries < REOPEN_TRIES; tries++) {
      await new Promise((resolve) => setTimeout(resolve, SESSION_CHECK_WAIT_MS));
      const again = await this.calls.send<OpenResult>({ op: 'reopen' });
      if (again.opened + again.failed === 0) break;
      result.failed += again.failed;
      result.errors.push(...again.errors);
    }
    const counts = await this.counts();
    return { ...result, ended: counts.ended - endedBefore, open: counts.open };
  }

  /** Closes the `count` streams opened last; resolves with how many stay open. */
  close(count = Infinity): Promise<{ open: number }> {
    return this.calls.send({ op: 'close', count });
  }

  counts(): Promise<Counts> {
    return this.calls.send({ op: 'counts' });
  }

  /** The author posts `warmUp + posts` times, `intervalMs` apart; every open stream should get each post. */
  fanout(options: Omit<Extract<Command, { op: 'fanout' }>, 'op'>): Promise<FanoutResult> {
    return this.calls.send({ op: 'fanout', ...options });
  }

  /** Ends the worker and with it every stream still open. */
  async stop(): Promise<void> {
    await this.calls.terminate();
  }
}
