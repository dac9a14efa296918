// Executors decide only *where* jobs run; the job code path is the same everywhere (../run-job.ts).
// One file each, behind this interface, in the manner of Kysely's dialects:
//   local.ts      the server's own job loop, running jobs in niced subprocesses
//   queue.ts      the server only enqueues; `trainyard worker` processes run jobs
//   aws-batch.ts  a dispatcher submits each queued job to AWS Batch as `run-job <id>`
// from-config.ts picks the one TRAINYARD_EXECUTOR names; test/executor.conformance.test.ts holds
// every executor to the same behaviour.

export interface Executor {
  /** The TRAINYARD_EXECUTOR value this executor implements. */
  readonly name: string;
  /** Begins dispatching queued jobs (claiming them, or handing them to another system). */
  start(): void;
  /** Called when this server queued a job, to start it without waiting for the next poll. */
  poke(): void;
  /** Stops dispatching; what this process runs is handed back or awaited. */
  stop(): Promise<void>;
}
