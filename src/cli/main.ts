// The `trainyard` command: server and worker processes, one-shot job runs, migrations, and the
// client commands that talk to a running server.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../errors.ts';
import { serverCommand } from './server.ts';
import { migrateCommand } from './migrate.ts';
import { clientCommands } from './client/index.ts';
import { runJobCommand } from './run-job.ts';
import { workerCommand } from './worker.ts';
import { tokensCommand } from './tokens.ts';
import { gcCommand } from './gc.ts';

export function buildProgram(): Command {
  const program = new Command('trainyard')
    .description('Trainyard: an open-source machine-learning platform (REST API, training jobs, model registry, serving).')
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(serverCommand());
  program.addCommand(migrateCommand());
  program.addCommand(gcCommand());
  program.addCommand(workerCommand());
  program.addCommand(runJobCommand());
  program.addCommand(tokensCommand());
  for (const c of clientCommands()) program.addCommand(c);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`trainyard: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`trainyard: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  }
}
