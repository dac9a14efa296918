// The study driver's line to the Python sampler (trainer/trainyard_trainer/sampler.py): one process
// per driver, one JSON request per line, answered in order. The process holds no state: each request
// carries the trial history from the metadata store, so a new process (or a new driver on another
// machine) answers exactly as the old one would have.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { detectPython, pythonChildEnvironment, TRAINER_PACKAGE_DIR } from '../training/trainer-process.ts';

const REQUEST_TIMEOUT_MS = 120_000;

export class SamplerProcess {
  private child: ChildProcess | null = null;
  private waiting: Array<{ resolve: (answer: Record<string, unknown>) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }> = [];
  private stderr = '';

  constructor(private readonly python: string | undefined) {}

  private start(): ChildProcess {
    const child = spawn(detectPython(this.python), ['-m', 'trainyard_trainer.sampler'], {
      cwd: TRAINER_PACKAGE_DIR,
      env: pythonChildEnvironment({ OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin!.on('error', () => undefined); // a dead process is reported by 'exit'
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4000)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const next = this.waiting.shift();
      if (!next) return;
      clearTimeout(next.timer);
      try {
        next.resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        next.reject(new Error(`the sampler answered something that is not JSON: ${line.slice(0, 200)}`));
      }
    });
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      const error = new Error(`the sampler process exited (${signal ?? `code ${code}`})${this.stderr ? `: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
      for (const w of this.waiting.splice(0)) {
        clearTimeout(w.timer);
        w.reject(error);
      }
    });
    return child;
  }

  /** Sends one request; rejects on a sampler `error` answer, a dead process or a timeout. */
  request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.child ??= this.start();
    const child = this.child;
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`the sampler did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`));
        child.kill('SIGKILL');
      }, REQUEST_TIMEOUT_MS);
      this.waiting.push({
        resolve: (answer) => (typeof answer.error === 'string' ? reject(new Error(`sampler: ${answer.error}`)) : resolve(answer)),
        reject,
        timer,
      });
      child.stdin!.write(`${JSON.stringify(body)}\n`);
    });
  }

  close(): void {
    this.child?.stdin?.end();
    this.child = null;
  }
}
