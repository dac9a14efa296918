#!/usr/bin/env node
// The `trainyard` command. The platform ships as TypeScript and runs through tsx's loader,
// so a clone needs no build step before `npx trainyard server` works.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
