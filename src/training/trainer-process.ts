// Spawns the Python trainer for one job directory and turns its JSON-lines stdout into events.
// Cancellation, timeouts and shutdown arrive as one AbortSignal: SIGTERM first (the trainer stops
// after the current batch and saves a checkpoint, or, with checkpoints off, exports the best weights
// so far), SIGKILL if it has not exited after a grace period.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setPriority } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TrainerErrorCode } from '../jobs/errors.ts';
import { parseTrainerEvent, type TrainerEvent, type TrainerEventOf } from './trainer-events.ts';

export const TRAINER_PACKAGE_DIR = fileURLToPath(new URL('../../trainer', import.meta.url));

export interface TrainerOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  failed?: { code: TrainerErrorCode; message: string };
  completed?: TrainerEventOf<'completed'>;
  stderrTail: string;
}

export interface TrainerStartOptions {
  python: string;
  jobDir: string;
  threads: number;
  /** Extra niceness so the API on the same machine stays responsive. */
  niceness?: number;
  /** Data-memory limit (RLIMIT_DATA, set by the trainer before torch loads); 0 or absent: none. */
  memoryBytes?: number;
}

export interface TrainerRunOptions {
  signal: AbortSignal;
  onEvent: (event: TrainerEvent) => void;
  onLog: (line: string) => void;
  /** After SIGTERM, how long the trainer may take (to finish its batch and checkpoint) before SIGKILL. Default 5 s. */
  stopGraceMs?: number;
}

/**
 * What a Python child of the platform (trainer, tuning sampler) may see of the environment. It works
 * on files handed to it (job.json and the data in its job directory) and talks to nothing else, so it
 * gets no database URL, API token or cloud credential: only what finds the interpreter and its
 * libraries, the locale, the thread settings of torch and its BLAS, and the GPU selection.
 */
const PASSED_NAMES = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'LD_LIBRARY_PATH', 'VIRTUAL_ENV', 'TRAINYARD_CONTRACTS_DIR',
  'NVIDIA_VISIBLE_DEVICES', 'NVIDIA_DRIVER_CAPABILITIES', 'PYTORCH_CUDA_ALLOC_CONF',
]);
const PASSED_PREFIXES = ['LC_', 'OMP_', 'OPENBLAS_', 'MKL_', 'KMP_', 'GOMP_', 'CUDA_'];

/** The allowlisted part of this process's environment (see PASSED_NAMES), with `set` on top. */
export function pythonChildEnvironment(set: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && (PASSED_NAMES.has(name) || PASSED_PREFIXES.some((prefix) => name.startsWith(prefix)))) env[name] = value;
  }
  return { ...env, PYTHONPATH: TRAINER_PACKAGE_DIR, PYTHONUNBUFFERED: '1', ...set };
}

export function detectPython(configured: string | undefined): string {
  if (configured) return configured;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

type Line = { stream: 'stdout' | 'stderr'; text: string };

/**
 * A trainer process started ahead of its job (`--wait`): it imports torch (~2 s) while the
 * platform still prepares the data, then trains when `run()` tells it to go. `discard()` ends a
 * trainer that will not be needed (preparation failed, the job was cancelled).
 */
export class TrainerProcess {
  private readonly child: ChildProcess;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Lines printed before run() attached its handlers (start-up warnings, an import error). */
  private early: Line[] | null = [];
  private onLine: (line: Line) => void = (line) => this.early?.push(line);
  private started = false;

  static start(options: TrainerStartOptions): TrainerProcess {
    return new TrainerProcess(options);
  }

  private constructor(options: TrainerStartOptions) {
    const threads = String(options.threads);
    this.child = spawn(options.python, ['-m', 'trainyard_trainer', 'train', '--job-dir', options.jobDir, '--wait'], {
      cwd: TRAINER_PACKAGE_DIR,
      env: pythonChildEnvironment({
        // Debian's OpenBLAS spins a whole core per thread after each matmul unless told otherwise.
        OMP_NUM_THREADS: threads,
        OPENBLAS_NUM_THREADS: threads,
        MKL_NUM_THREADS: threads,
        ...(options.memoryBytes ? { TRAINYARD_TRAINER_MEMORY_BYTES: String(options.memoryBytes) } : {}),
      }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (options.niceness && this.child.pid) {
      try {
        setPriority(this.child.pid, options.niceness);
      } catch {
        // Not permitted on some systems; the job still runs, only less politely.
      }
    }
    // A trainer that died before `go` closes its stdin: the write fails, and 'close' reports why.
    this.child.stdin?.on('error', () => {});
    createInterface({ input: this.child.stdout! }).on('line', (text) => this.onLine({ stream: 'stdout', text }));
    createInterface({ input: this.child.stderr! }).on('line', (text) => this.onLine({ stream: 'stderr', text }));
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('close', (code, signal) => resolve({ code, signal }));
    });
    this.exited.catch(() => {}); // observed by run(); a discarded trainer's failure is of no interest
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Lets the trainer go (job.json and the data must be in place) and collects its events until it exits. */
  async run(options: TrainerRunOptions): Promise<TrainerOutcome> {
    if (this.started) throw new Error('TrainerProcess.run called twice');
    this.started = true;
    const outcome: TrainerOutcome = { exitCode: null, signal: null, stderrTail: '' };
    const handle = ({ stream, text }: Line) => {
      if (stream === 'stderr') {
        outcome.stderrTail = (outcome.stderrTail + text + '\n').slice(-4000);
        options.onLog(text);
        return;
      }
      const parsed = parseTrainerEvent(text);
      if ('error' in parsed) {
        // stdout carries events only; a line that is not one breaks the contract (a version skew
        // between platform and trainer image): it is kept in the log, and the run goes on.
        options.onLog(`trainer output that is not an event (${parsed.error}): ${text.slice(0, 500)}`);
        return;
      }
      const { event } = parsed;
      if (event.event === 'failed') outcome.failed = { code: event.code, message: event.message };
      if (event.event === 'completed') outcome.completed = event;
      options.onEvent(event);
    };
    for (const line of this.early ?? []) handle(line);
    this.early = null;
    this.onLine = handle;

    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      this.child.kill('SIGTERM');
      killTimer = setTimeout(() => this.child.kill('SIGKILL'), options.stopGraceMs ?? 5000);
    };
    if (options.signal.aborted) {
      this.child.stdin?.end(); // never told to go: it exits at once
      this.child.kill('SIGKILL');
    } else {
      options.signal.addEventListener('abort', onAbort, { once: true });
      this.child.stdin?.end('go\n');
    }
    try {
      const { code, signal } = await this.exited;
      outcome.exitCode = code;
      outcome.signal = signal;
      return outcome;
    } finally {
      options.signal.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
    }
  }

  /** Ends a trainer that was never told to go: nothing of it is worth keeping. */
  discard(): void {
    if (this.started) return;
    this.started = true;
    this.child.kill('SIGKILL');
  }
}
