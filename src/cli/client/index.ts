// The client commands: `trainyard datasets|models|train|jobs|predict|infer …` talk to a running
// server at TRAINYARD_URL (default http://127.0.0.1:8080) with TRAINYARD_TOKEN as a Bearer token.
import { Command, CommanderError } from 'commander';
import { datasetsCommand } from './datasets.ts';
import { modelsCommand } from './models.ts';
import { jobsCommand, trainCommand } from './train.ts';
import { inferCommand, predictCommand } from './predict.ts';
import { tuneCommand, tuningJobsCommand } from './tune.ts';
import { monitorCommand } from './monitor.ts';

export { setClientIO, type ClientIO } from './context.ts';

/** Command-line mistakes (unknown option, missing argument) exit 2, like the commands' own usage errors. */
function usageErrorsExit2(command: Command): void {
  command.showHelpAfterError().exitOverride((error) => {
    if (error.exitCode === 0) throw error;
    throw new CommanderError(2, error.code, error.message);
  });
  for (const sub of command.commands) usageErrorsExit2(sub);
}

export function clientCommands(): Command[] {
  const commands = [datasetsCommand(), modelsCommand(), trainCommand(), jobsCommand(), tuneCommand(), tuningJobsCommand(), predictCommand(), inferCommand(), monitorCommand()];
  for (const command of commands) usageErrorsExit2(command);
  return commands;
}
