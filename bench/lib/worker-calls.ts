// Calls into a bench worker thread (subscriber-worker.ts, home-probe-worker.ts): each command goes
// with a sequence number, its answer (or error) comes back with the same one, and every call still
// waiting fails when the worker errs or exits.
import { Worker } from 'node:worker_threads';

export class WorkerCalls<Command> {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private seq = 0;

  /** `name` says which worker in the error of a call it left unanswered. */
  constructor(url: URL, workerData: unknown, name: string) {
    this.worker = new Worker(url, { workerData });
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
    this.worker.on('exit', (code) => failAll(new Error(`the ${name} worker exited (code ${code})`)));
  }

  send<T>(command: Command): Promise<T> {
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(seq, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ seq, command });
    });
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}
