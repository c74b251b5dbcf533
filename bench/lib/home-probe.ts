// The main thread's handle on home-probe-worker.ts: start before a run, stop after it.
import { WorkerCalls } from './worker-calls.ts';
import type { ProbeCommand, ProbeResult, ProbeWorkerData } from './home-probe-worker.ts';

export class HomeProbe {
  private readonly calls: WorkerCalls<ProbeCommand>;

  constructor(data: ProbeWorkerData) {
    this.calls = new WorkerCalls(new URL('./home-probe-worker.ts', import.meta.url), data, 'probe');
  }

  /**
   * Posts as the probe author every `intervalMs`; with `poll` (home timelines on), also samples the
   * queue and polls the sampled followers' home timelines for each post.
   */
  start(origin: string, token: string, poll: boolean, intervalMs: number, label: string): Promise<void> {
    return this.calls.send({ op: 'start', origin, token, poll, intervalMs, label });
  }

  /** Stops posting, waits up to `settleMs` for the last entries, and returns what was measured. */
  stop(settleMs: number): Promise<ProbeResult> {
    return this.calls.send({ op: 'stop', settleMs });
  }

  async dispose(): Promise<void> {
    await this.calls.terminate();
  }
}
