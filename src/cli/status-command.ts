/**
 * `perpbot status`: read the heartbeat file and say how the bot is, with an exit code monitors
 * can act on. Kept apart from the rest of the CLI, with imports of its own only (no commander,
 * no config schema), so that `bin/perpbot.js` can run it without loading the CLI: monitoring and
 * the Docker HEALTHCHECK call it every few seconds.
 */
import { heartbeatSettings } from '../config/heartbeat-settings.ts';
import { ConfigError, errorMessage } from '../core/errors.ts';
import { readHeartbeatFile } from '../health/heartbeat.ts';
import { scrub } from '../logging/scrub.ts';

/** Options of `perpbot status`. */
export interface StatusFlags {
  /** JSON config file (only `heartbeat.file` and `heartbeat.staleAfterMs` are read). */
  config?: string;
  /** Heartbeat file; default from the config, `PERPBOT_HEARTBEAT_FILE`, or status/heartbeat.json. */
  file?: string;
  /** Print the heartbeat JSON instead of the summary. */
  json?: boolean;
}

/** Exit codes of `perpbot status`. */
export const STATUS_EXIT = { ok: 0, degradedOrHalted: 1, staleOrStopped: 2, badInput: 2, unreadable: 3 } as const;

/**
 * The word `perpbot status` starts with: the heartbeat's own status when the bot ended
 * (`STOPPED`, `STOPPING`), else `STALE` when the heartbeat is older than allowed, else its status.
 */
export function statusWord(status: string, stale: boolean): string {
  if (status === 'stopped' || status === 'stopping') return status.toUpperCase();
  return stale ? 'STALE' : status.toUpperCase();
}

/**
 * Run `perpbot status`.
 * @param write where the summary (or JSON) goes; `writeErr` where errors go
 * @returns the exit code: 0 ok, 1 degraded or halted, 2 stale, stopping or stopped (or a bad
 *   config file), 3 heartbeat missing or unreadable
 */
export function runStatus(flags: StatusFlags, write: (s: string) => void = (s) => void process.stdout.write(s), writeErr: (s: string) => void = (s) => void process.stderr.write(s)): number {
  // Reads only heartbeat.file and heartbeat.staleAfterMs (no full config load: fast start).
  let file = flags.file;
  let staleAfter = 30_000;
  try {
    const settings = heartbeatSettings({ file: flags.config });
    file ??= settings.file;
    staleAfter = settings.staleAfterMs;
  } catch (err) {
    writeErr(`perpbot: ${scrub(errorMessage(err))}\n`);
    return err instanceof ConfigError ? STATUS_EXIT.badInput : 1;
  }
  try {
    const hb = readHeartbeatFile(file);
    const age = Date.now() - hb.timeMs;
    const stale = age > staleAfter;
    if (flags.json) write(`${JSON.stringify(hb, null, 2)}\n`);
    else {
      const src = Object.entries(hb.sources)
        .map(([s, h]) => `${s} ${h.state}${h.ageMs !== null ? ` (${Math.round(h.ageMs / 1000)}s)` : ''}`)
        .join(', ');
      write(
        `${statusWord(hb.status, stale)}: heartbeat ${Math.round(age / 1000)}s old, pid ${hb.pid}, mode ${hb.mode}, run ${hb.runId}\n` +
          (hb.statusReason ? `  reason: ${hb.statusReason}\n` : '') +
          `  risk ${hb.risk.state}${hb.risk.reason ? ` (${hb.risk.reason})` : ''}; positions ${JSON.stringify(hb.positions)}; open orders ${hb.openOrders.length}\n` +
          `  sources: ${src || 'none'}; database ${hb.database.ok ? 'ok' : hb.database.detail}\n` +
          (hb.lastError ? `  last error: ${hb.lastError.message}\n` : ''),
      );
    }
    if (stale || hb.status === 'stopped' || hb.status === 'stopping') return STATUS_EXIT.staleOrStopped;
    if (hb.status !== 'ok') return STATUS_EXIT.degradedOrHalted;
    return STATUS_EXIT.ok;
  } catch (err) {
    writeErr(`perpbot status: ${errorMessage(err)}\n`);
    return STATUS_EXIT.unreadable;
  }
}

/**
 * The options of `perpbot status …` from the words after `status`, when they are only the
 * command's own (`--json`, `--file F`, `--config F`, also as `--file=F`); null for anything else
 * (`--help`, an unknown or incomplete option), which the full CLI then handles.
 */
export function parseStatusArgs(args: readonly string[]): StatusFlags | null {
  const flags: StatusFlags = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--json') flags.json = true;
    else if (a === '--file' || a === '--config') {
      const v = args[++i];
      if (v === undefined || v.startsWith('-')) return null;
      flags[a === '--file' ? 'file' : 'config'] = v;
    } else if (a.startsWith('--file=') || a.startsWith('--config=')) {
      const [k, v] = [a.slice(2, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
      if (v === '') return null;
      flags[k as 'file' | 'config'] = v;
    } else return null;
  }
  return flags;
}
