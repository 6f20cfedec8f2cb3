#!/usr/bin/env node
// perpbot's command line. The sources are TypeScript; tsx compiles them on load (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
