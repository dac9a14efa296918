// Spawns the Python trainer for one job directory and turns its JSON-lines stdout into events.
// Cancellation and timeouts arrive as one AbortSignal: SIGTERM first (the trainer stops at the next
// batch and exports the best weights so far), SIGKILL if it has not exited after a grace period.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setPriority } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const TRAINER_PACKAGE_DIR = fileURLToPath(new URL('../../trainer', import.meta.url));

/** Exit status the trainer uses for a user error (bad spec, NaN loss …): never retried. */
export const TRAINER_USER_ERROR_EXIT = 3;

export interface TrainerEvent {
  event: string;
  [key: string]: unknown;
}

export interface TrainerOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  failed?: { code: string; message: string };
  completed?: TrainerEvent;
  stderrTail: string;
}

export interface TrainerOptions {
  python: string;
  jobDir: string;
  threads: number;
  signal: AbortSignal;
  onEvent: (event: TrainerEvent) => void;
  onLog: (line: string) => void;
  /** Extra niceness so the API on the same machine stays responsive. */
  niceness?: number;
  killGraceMs?: number;
}

export function detectPython(configured: string | undefined): string {
  if (configured) return configured;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

export function runTrainer(options: TrainerOptions): Promise<TrainerOutcome> {
  const threads = String(options.threads);
  const child = spawn(options.python, ['-m', 'trainyard_trainer', 'train', '--job-dir', options.jobDir], {
    cwd: TRAINER_PACKAGE_DIR,
    env: {
      ...process.env,
      PYTHONPATH: TRAINER_PACKAGE_DIR,
      PYTHONUNBUFFERED: '1',
      // Debian's OpenBLAS spins a whole core per thread after each matmul unless told otherwise.
      OMP_NUM_THREADS: threads,
      OPENBLAS_NUM_THREADS: threads,
      MKL_NUM_THREADS: threads,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (options.niceness && child.pid) {
    try {
      setPriority(child.pid, options.niceness);
    } catch {
      // Not permitted on some systems; the job still runs, only less politely.
    }
  }

  const outcome: TrainerOutcome = { exitCode: null, signal: null, stderrTail: '' };
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), options.killGraceMs ?? 5000);
  };
  if (options.signal.aborted) onAbort();
  else options.signal.addEventListener('abort', onAbort, { once: true });

  createInterface({ input: child.stdout }).on('line', (line) => {
    let event: TrainerEvent;
    try {
      event = JSON.parse(line) as TrainerEvent;
    } catch {
      options.onLog(line);
      return;
    }
    if (event.event === 'failed') outcome.failed = { code: String(event.code), message: String(event.message) };
    if (event.event === 'completed') outcome.completed = event;
    options.onEvent(event);
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    outcome.stderrTail = (outcome.stderrTail + line + '\n').slice(-4000);
    options.onLog(line);
  });

  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      options.signal.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      options.signal.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      outcome.exitCode = code;
      outcome.signal = signal;
      resolve(outcome);
    });
  });
}
