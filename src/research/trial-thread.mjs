// Entry of a trial worker thread (see pool.ts). A worker thread does not inherit the TypeScript
// loader of the main thread, so this plain-JS entry registers tsx, then loads the implementation.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./trial-thread.ts', import.meta.url).href);
