/**
 * The fast path of `perpbot status` (compiled to dist/status.js; see bin/perpbot.js): runs the
 * command without loading the CLI, when its arguments are only the command's own.
 */
import { parseStatusArgs, runStatus } from './status-command.ts';

/**
 * Run `perpbot status` from `args` (the words after `status`).
 * @returns the exit code, or null when the arguments need the full CLI (`--help`, an unknown option)
 */
export function fastStatus(args: readonly string[]): number | null {
  const flags = parseStatusArgs(args);
  return flags === null ? null : runStatus(flags);
}
