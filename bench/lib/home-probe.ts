// The main thread's handle on home-probe-worker.ts: start before a run, stop after it.
import { Worker } from 'node:worker_threads';
import type { ProbeCommand, ProbeResult, ProbeWorkerData } from './home-probe-worker.ts';

export class HomeProbe {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private seq = 0;

  constructor(data: ProbeWorkerData) {
    this.worker = new Worker(new URL('./home-probe-worker.ts', import.meta.url), { workerData: data });
    this.worker.on('message', (message: { seq: number; result?: unknown; error?: string }) => {
      const waiter = this.waiting.get(message.seq);
      this.waiting.delete(message.seq);
      if (message.error !== undefined) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.result);
    });
    const failAll = (error: Error) => {
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) => failAll(new Error(`the probe worker exited (code ${code})`)));
  }

  private send<T>(command: ProbeCommand): Promise<T> {
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(seq, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ seq, command });
    });
  }

  /**
   * Posts as the probe author every `intervalMs`; with `poll` (home timelines on), also samples the
   * queue and polls the sampled followers' home timelines for each post.
   */
  start(origin: string, token: string, poll: boolean, intervalMs: number, label: string): Promise<void> {
    return this.send({ op: 'start', origin, token, poll, intervalMs, label });
  }

  /** Stops posting, waits up to `settleMs` for the last entries, and returns what was measured. */
  stop(settleMs: number): Promise<ProbeResult> {
    return this.send({ op: 'stop', settleMs });
  }

  async dispose(): Promise<void> {
    await this.worker.terminate();
  }
}
