// The `queue` executor: the server only queues jobs (the jobs table is the queue); `trainyard
// worker` processes, each a job loop (loop.ts), claim them from the database and run them, and
// reap the jobs of workers that were lost.
import type { Executor } from './executor.ts';

export class QueueExecutor implements Executor {
  readonly name = 'queue';

  start(): void {}

  /** Workers poll the database; nothing in this process to wake. */
  poke(): void {}

  async stop(): Promise<void> {}
}
