#!/usr/bin/env node
// `trainyard run-job …` that also knows the `probe` job kind (job-probe.ts): what the executor
// conformance suite's job loops and Batch "containers" run.
import { register } from 'tsx/esm/api';

register();
const { probeMain } = await import('./job-probe.ts');
await probeMain(process.argv);
