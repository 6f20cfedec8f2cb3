// Entry of the database writer thread (see writer-thread.ts). A worker thread does not inherit
// the TypeScript loader of the main thread, so this plain-JS entry registers tsx, then loads the
// TypeScript implementation.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./writer-worker.ts', import.meta.url).href);
