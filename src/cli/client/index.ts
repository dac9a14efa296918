// The client commands: `trainyard datasets|models|train|jobs|predict|infer …` talk to a running
// server at TRAINYARD_URL (default http://127.0.0.1:8080) with TRAINYARD_TOKEN as a Bearer token.
import type { Command } from 'commander';
import { datasetsCommand } from './datasets.ts';
import { modelsCommand } from './models.ts';
import { jobsCommand, trainCommand } from './train.ts';
import { inferCommand, predictCommand } from './predict.ts';

export { setClientIO, type ClientIO } from './context.ts';

export function clientCommands(): Command[] {
  return [datasetsCommand(), modelsCommand(), trainCommand(), jobsCommand(), predictCommand(), inferCommand()];
}
