/**
 * perpbot's error catalogue: every expected failure is a {@link PerpbotError} with a stable `code`.
 * A rejection by a filter or a risk check is not an error but an event (`OrderDenied`).
 * Retryable failures (network, 5xx, rate limit) are marked `retryable`; business failures
 * (insufficient margin, filter breach) never are. Messages never carry secrets.
 */

/** Stable error codes. Tests and operators match on these, never on message text. */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_FILE'
  | 'DATA_MALFORMED'
  | 'DATA_FILE'
  | 'EXCHANGE_INFO_INVALID'
  | 'SYMBOL_UNKNOWN'
  | 'STRATEGY_UNKNOWN'
  | 'STRATEGY_PARAMS'
  | 'STRATEGY_MODULE'
  | 'DATABASE'
  | 'VENUE'
  | 'DOWNLOAD'
  | 'INVARIANT';

/** Base class of every expected perpbot failure. */
export class PerpbotError extends Error {
  /**
   * @param code stable machine-readable code
   * @param message human-readable, names the offending field/value; never contains secrets
   * @param retryable true when trying again may succeed (network, timeouts, 5xx)
   * @param details structured context for logs (no secrets)
   */
  constructor(
    public readonly code: ErrorCode,
    message: string,
    public readonly retryable = false,
    public readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A configuration value is missing, unknown or of the wrong shape. The CLI exits with code 2. */
export class ConfigError extends PerpbotError {
  /** @param issues one line per offending key: `key: got <value>, expected <what>` */
  constructor(public readonly issues: string[], code: 'CONFIG_INVALID' | 'CONFIG_FILE' = 'CONFIG_INVALID') {
    super(code, `invalid configuration:\n  - ${issues.join('\n  - ')}`);
  }
}

/**
 * A market-data row or frame is malformed. Names the file (or stream), the line and the field.
 */
export class DataError extends PerpbotError {
  constructor(
    message: string,
    public readonly location: { file?: string; line?: number; field?: string; stream?: string },
    code: 'DATA_MALFORMED' | 'DATA_FILE' = 'DATA_MALFORMED',
  ) {
    super(code, message, false, location);
  }
}

/** A broken internal invariant: the process should stop and recover from the database. */
export class InvariantError extends PerpbotError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('INVARIANT', message, false, details);
  }
}

/** Render any thrown value as a one-line message safe for logs. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
