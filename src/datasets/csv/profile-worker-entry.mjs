// Entry of the profiling worker thread: the platform runs TypeScript through tsx, and a worker
// thread needs tsx's loader registered for itself before it imports TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./profile-worker.ts');
