/**
 * The one place where Binance USDⓈ-M failures become perpbot errors: every rejection of the
 * `binance` library's REST client (or of axios beneath it) is turned into a {@link VenueError}
 * that says what kind of failure it was and whether trying again can help.
 *
 * Sources:
 * - Error codes: https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code
 * - HTTP return codes (4XX, 403 WAF, 408, 418, 429 with Retry-After, 5XX = execution status
 *   UNKNOWN): https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 *
 * Shapes read (see node_modules/binance/lib/util/BaseRestClient.js, `parseException`):
 * - the library's own rejection when the server answered (default `parseExceptions`):
 *   `{ code, message, body, headers, requestUrl, requestBody, requestOptions }` — no HTTP status;
 * - with `parseExceptions: false` (what client-options.ts sets), the raw axios error:
 *   `{ code: 'ECONNRESET' | 'ECONNABORTED' | …, message, response?: { status, headers, data }, request? }`;
 * - a bare string (the library throws `message` when the request was never sent).
 *
 * Messages are scrubbed (`scrub`, src/logging/logger.ts) and never include the request URL's
 * query (which carries the signature), the API key header or the original error object.
 */
import { PerpbotError } from '../../core/errors.ts';
import { scrub } from '../../logging/logger.ts';

/**
 * What went wrong, for the caller's decision:
 * - `network`: no answer (connection refused/reset, DNS): retryable when the request is idempotent
 * - `timeout`: no answer in time (client timeout, HTTP 408, -1007): retryable when idempotent
 * - `server`: Binance's side (5XX, -1000, -1001, -1006, -1008): retryable
 * - `rate_limit`: 429 / -1003 / -1015: retryable after `retryAfterMs`
 * - `ip_ban`: 418 (or -1003 "banned until"): not retryable; trading must halt
 * - `business`: the order or request itself is refused (filters, margin, unknown order…): never retry
 * - `auth`: key, signature, permission, IP whitelist, WAF: not retryable; halt
 * - `clock`: -1021 / -5028 timestamp outside recvWindow: resynchronise the clock, then retry once
 * - `unknown_outcome`: an order placement whose result is unknown (timeout, network error after
 *   sending, 5XX, -1006, -1007): the order may exist. Never resend blindly: query it by its
 *   client order id first.
 */
export type VenueErrorKind =
  | 'network'
  | 'timeout'
  | 'server'
  | 'rate_limit'
  | 'ip_ban'
  | 'business'
  | 'auth'
  | 'clock'
  | 'unknown_outcome';

/** What the caller should do next. */
export type VenueErrorAction = 'retry' | 'resync_clock' | 'query_order' | 'halt' | 'none';

/** Fields of a {@link VenueError}. */
export interface VenueErrorInit {
  kind: VenueErrorKind;
  /** Binance's numeric error code (`-2019`…), or null when the answer had none. */
  binanceCode: number | null;
  /** HTTP status, or null when unknown (no response, or the library's parsed rejection). */
  httpStatus: number | null;
  retryable: boolean;
  /** Minimum wait before retrying, ms (Retry-After, an IP ban's end), or null. */
  retryAfterMs: number | null;
  action: VenueErrorAction;
  /** Binance's symbolic name of the code (`MARGIN_NOT_SUFFICIENT`), when catalogued. */
  binanceName?: string;
  /** `METHOD /path` of the request, without the query. */
  request?: string;
}

/**
 * A failure talking to Binance. Code `VENUE`; `retryable` follows the catalogue below.
 * The message names the request, the HTTP status, the Binance code and message, all scrubbed.
 */
export class VenueError extends PerpbotError {
  readonly kind: VenueErrorKind;
  readonly binanceCode: number | null;
  readonly httpStatus: number | null;
  readonly retryAfterMs: number | null;
  readonly action: VenueErrorAction;
  readonly binanceName: string | undefined;
  readonly request: string | undefined;

  constructor(message: string, init: VenueErrorInit) {
    const details: Record<string, unknown> = {
      kind: init.kind,
      binanceCode: init.binanceCode,
      httpStatus: init.httpStatus,
      retryAfterMs: init.retryAfterMs,
      action: init.action,
    };
    if (init.binanceName) details.binanceName = init.binanceName;
    if (init.request) details.request = init.request;
    super('VENUE', scrub(message), init.retryable, details);
    this.kind = init.kind;
    this.binanceCode = init.binanceCode;
    this.httpStatus = init.httpStatus;
    this.retryAfterMs = init.retryAfterMs;
    this.action = init.action;
    this.binanceName = init.binanceName;
    this.request = init.request;
  }
}

/** One catalogue entry: how a Binance error code is treated. */
export interface CatalogueEntry {
  /** Binance's name of the code. */
  name: string;
  kind: VenueErrorKind;
  retryable: boolean;
  action: VenueErrorAction;
  /**
   * Execution status unknown when this answers an order placement (Binance's wording for
   * -1006 / -1007, and implied for -1000): becomes `unknown_outcome`.
   */
  ambiguousOnPlacement?: boolean;
}

const biz = (name: string, action: VenueErrorAction = 'none'): CatalogueEntry => ({ name, kind: 'business', retryable: false, action });
const auth = (name: string): CatalogueEntry => ({ name, kind: 'auth', retryable: false, action: 'halt' });

/**
 * Binance USDⓈ-M error codes perpbot knows, each as documented on
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code .
 * A code not listed here is a business error (never retried) when the HTTP status is 4XX,
 * and a server error otherwise.
 */
export const BINANCE_ERROR_CATALOGUE: Readonly<Record<number, CatalogueEntry>> = {
  // 10xx — general server or network issues
  [-1000]: { name: 'UNKNOWN', kind: 'server', retryable: false, action: 'none', ambiguousOnPlacement: true },
  [-1001]: { name: 'DISCONNECTED', kind: 'server', retryable: true, action: 'retry' },
  [-1002]: auth('UNAUTHORIZED'),
  [-1003]: { name: 'TOO_MANY_REQUESTS', kind: 'rate_limit', retryable: true, action: 'retry' },
  [-1006]: { name: 'UNEXPECTED_RESP', kind: 'server', retryable: true, action: 'retry', ambiguousOnPlacement: true },
  [-1007]: { name: 'TIMEOUT', kind: 'timeout', retryable: true, action: 'retry', ambiguousOnPlacement: true },
  [-1008]: { name: 'REQUEST_THROTTLED', kind: 'server', retryable: true, action: 'retry' },
  [-1011]: auth('NON_WHITE_LIST'),
  [-1013]: biz('INVALID_MESSAGE'),
  [-1014]: biz('UNKNOWN_ORDER_COMPOSITION'),
  [-1015]: { name: 'TOO_MANY_ORDERS', kind: 'rate_limit', retryable: true, action: 'retry' },
  [-1016]: { name: 'SERVICE_SHUTTING_DOWN', kind: 'server', retryable: false, action: 'halt' },
  [-1021]: { name: 'INVALID_TIMESTAMP', kind: 'clock', retryable: true, action: 'resync_clock' },
  [-1022]: auth('INVALID_SIGNATURE'),
  [-1099]: auth('NOT_FOUND'),
  // 11xx — request issues
  [-1100]: biz('ILLEGAL_CHARS'),
  [-1101]: biz('TOO_MANY_PARAMETERS'),
  [-1102]: biz('MANDATORY_PARAM_EMPTY_OR_MALFORMED'),
  [-1103]: biz('UNKNOWN_PARAM'),
  [-1106]: biz('PARAM_NOT_REQUIRED'),
  [-1111]: biz('BAD_PRECISION'),
  [-1116]: biz('INVALID_ORDER_TYPE'),
  [-1117]: biz('INVALID_SIDE'),
  [-1121]: biz('BAD_SYMBOL'),
  [-1125]: auth('INVALID_LISTEN_KEY'),
  // 20xx — processing issues
  [-2010]: biz('NEW_ORDER_REJECTED'),
  [-2011]: biz('CANCEL_REJECTED', 'query_order'),
  [-2013]: biz('NO_SUCH_ORDER'),
  [-2014]: auth('BAD_API_KEY_FMT'),
  [-2015]: auth('REJECTED_MBX_KEY'),
  [-2018]: biz('BALANCE_NOT_SUFFICIENT'),
  [-2019]: biz('MARGIN_NOT_SUFFICIENT'),
  [-2020]: biz('UNABLE_TO_FILL'),
  [-2021]: biz('ORDER_WOULD_IMMEDIATELY_TRIGGER'),
  [-2022]: biz('REDUCE_ONLY_REJECT'),
  [-2023]: { name: 'USER_IN_LIQUIDATION', kind: 'business', retryable: false, action: 'halt' },
  [-2024]: biz('POSITION_NOT_SUFFICIENT'),
  [-2025]: biz('MAX_OPEN_ORDER_EXCEEDED'),
  [-2027]: biz('MAX_LEVERAGE_RATIO'),
  // 40xx — filters and other issues
  [-4003]: biz('QTY_LESS_THAN_ZERO'),
  [-4004]: biz('QTY_LESS_THAN_MIN_QTY'),
  [-4005]: biz('QTY_GREATER_THAN_MAX_QTY'),
  [-4013]: biz('PRICE_LESS_THAN_MIN_PRICE'),
  [-4014]: biz('PRICE_NOT_INCREASED_BY_TICK_SIZE'),
  [-4015]: biz('INVALID_CL_ORD_ID_LEN'),
  [-4016]: biz('PRICE_HIGHER_THAN_MULTIPLIER_UP'),
  [-4023]: biz('QTY_NOT_INCREASED_BY_STEP_SIZE'),
  [-4024]: biz('PRICE_LOWER_THAN_MULTIPLIER_DOWN'),
  [-4061]: biz('POSITION_SIDE_NOT_MATCH'),
  [-4087]: { name: 'REDUCE_ONLY_ORDER_PERMISSION', kind: 'business', retryable: false, action: 'halt' },
  [-4088]: { name: 'NO_PLACE_ORDER_PERMISSION', kind: 'business', retryable: false, action: 'halt' },
  [-4116]: biz('DUPLICATED_CLIENT_ORDER_ID', 'query_order'),
  [-4118]: biz('REDUCE_ONLY_MARGIN_CHECK_FAILED'),
  [-4131]: biz('MARKET_ORDER_REJECT'),
  [-4164]: biz('MIN_NOTIONAL'),
  // 50xx — order execution issues
  [-5021]: biz('FOK_ORDER_REJECT'),
  [-5022]: biz('GTX_ORDER_REJECT'),
  [-5028]: { name: 'ME_RECVWINDOW_REJECT', kind: 'clock', retryable: true, action: 'resync_clock' },
};

/** Context of the failed request, for classification and the message. */
export interface RequestContext {
  /** HTTP method, e.g. `POST`. */
  method?: string;
  /** Path without query, e.g. `/fapi/v1/order`. */
  path?: string;
  /**
   * True for a request that creates an order (POST /fapi/v1/order, batchOrders): a failure
   * without a definite answer becomes `unknown_outcome`. Default: method POST and a path ending
   * in `/order` or `/batchOrders`.
   */
  placesOrder?: boolean;
  /** Exchange time now, UTC epoch ms: turns an IP ban's "banned until <ms>" into `retryAfterMs`. */
  now?: number;
}

/** axios error codes meaning the client gave up waiting. */
const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ERR_SOCKET_CONNECTION_TIMEOUT']);
/** axios / Node error codes meaning no answer (the request may or may not have reached Binance). */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_NETWORK',
  'UND_ERR_SOCKET',
]);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object';

function header(headers: unknown, name: string): string | undefined {
  if (!isObj(headers)) return undefined;
  // axios AxiosHeaders has get(); plain objects are lower-cased by axios.
  const getter = (headers as { get?: unknown }).get;
  if (typeof getter === 'function') {
    const v = (getter as (n: string) => unknown).call(headers, name);
    if (v !== undefined && v !== null) return String(v);
  }
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === name && v !== undefined && v !== null) return Array.isArray(v) ? String(v[0]) : String(v);
  }
  return undefined;
}

/**
 * Parse a Retry-After header (seconds, per RFC 9110; Binance sends seconds) to ms.
 * @returns ms, or null when absent or not a non-negative number of seconds
 */
export function retryAfterToMs(value: string | undefined): number | null {
  if (value === undefined) return null;
  const s = Number(value.trim());
  return Number.isFinite(s) && s >= 0 ? Math.round(s * 1000) : null;
}

function placesOrder(ctx: RequestContext): boolean {
  if (ctx.placesOrder !== undefined) return ctx.placesOrder;
  return (ctx.method ?? '').toUpperCase() === 'POST' && /\/(order|batchOrders)$/.test(ctx.path ?? '');
}

function pathOf(url: unknown): string | undefined {
  if (typeof url !== 'string' || url === '') return undefined;
  try {
    return new URL(url).pathname;
  } catch {
    return url.split('?')[0];
  }
}

/**
 * Classify an HTTP status and/or Binance code. Pure: the heart of {@link toVenueError}.
 *
 * @param status HTTP status or null; code Binance code or null; msg Binance's message
 * @returns kind, retryable, action and the catalogue name
 */
export function classify(
  status: number | null,
  code: number | null,
  msg: string,
  ctx: RequestContext = {},
): Pick<VenueErrorInit, 'kind' | 'retryable' | 'action' | 'binanceName'> {
  const placing = placesOrder(ctx);
  const unknown = { kind: 'unknown_outcome', retryable: false, action: 'query_order' } as const;
  // 418: IP auto-banned after ignoring 429s (general-info, HTTP Return Codes). Halt.
  if (status === 418 || (code === -1003 && /banned/i.test(msg))) {
    return { kind: 'ip_ban', retryable: false, action: 'halt', binanceName: code === -1003 ? 'TOO_MANY_REQUESTS' : undefined };
  }
  const entry = code !== null ? BINANCE_ERROR_CATALOGUE[code] : undefined;
  if (entry) {
    if (placing && entry.ambiguousOnPlacement) return { ...unknown, binanceName: entry.name };
    return { kind: entry.kind, retryable: entry.retryable, action: entry.action, binanceName: entry.name };
  }
  // 429: request rate limit broken (general-info). Retry after Retry-After.
  if (status === 429) return { kind: 'rate_limit', retryable: true, action: 'retry' };
  // 5XX: Binance's side; "execution status is UNKNOWN and could have been a success" (general-info).
  if (status !== null && status >= 500) return placing ? unknown : { kind: 'server', retryable: true, action: 'retry' };
  // 408: timeout waiting for the backend (general-info).
  if (status === 408) return placing ? unknown : { kind: 'timeout', retryable: true, action: 'retry' };
  // 401 unauthorized; 403 WAF limit violated (general-info).
  if (status === 401 || status === 403) return { kind: 'auth', retryable: false, action: 'halt' };
  // Any other 4XX, or an uncatalogued negative code: the request was malformed or refused.
  if ((status !== null && status >= 400) || (code !== null && code < 0)) return { kind: 'business', retryable: false, action: 'none' };
  // An answer without a usable status or code (an HTML page, an empty body): treat as the server's.
  return placing ? unknown : { kind: 'server', retryable: true, action: 'retry' };
}

/**
 * Turn anything the `binance` library (or axios) rejected with into a {@link VenueError}.
 * A VenueError passes through unchanged.
 *
 * - No answer: an axios timeout code → `timeout`; another network code or an error with a
 *   `request` but no `response` → `network`; both retryable, except on an order placement where
 *   the request may have arrived → `unknown_outcome` (not retryable, action `query_order`).
 *   A bare string (the library's "request never sent" case) → `network`, not retryable.
 * - An answer: HTTP status (axios `response.status`, when known) and Binance code
 *   (`code` / `body.code` / `response.data.code`) go through {@link classify};
 *   `retryAfterMs` comes from Retry-After (429, 418) or from "banned until <ms>" with `ctx.now`.
 *
 * @param err the rejection value
 * @param ctx method/path of the request (derived from the error when absent), order placement
 */
export function toVenueError(err: unknown, ctx: RequestContext = {}): VenueError {
  if (err instanceof VenueError) return err;
  const e: Obj = isObj(err) ? err : {};
  // axios error: `response`; the library re-throwing a non-200 axios response itself: `status` + `data`.
  const response = isObj(e.response) ? e.response : typeof e.status === 'number' && 'data' in e && 'headers' in e ? e : undefined;
  const config = isObj(e.config) ? e.config : undefined;
  const method = (ctx.method ?? (typeof config?.method === 'string' ? config.method : undefined))?.toUpperCase();
  const path = ctx.path ?? pathOf(config?.url) ?? pathOf(e.requestUrl);
  const full: RequestContext = { ...ctx, method, path };
  const request = method || path ? [method, path].filter(Boolean).join(' ') : undefined;
  const where = request ? `Binance ${request}` : 'Binance';

  // The library threw a plain message: the request was never sent.
  if (typeof err === 'string' || (!isObj(err) && err !== undefined)) {
    return new VenueError(`${where}: request not sent: ${String(err)}`, {
      kind: 'network',
      binanceCode: null,
      httpStatus: null,
      retryable: false,
      retryAfterMs: null,
      action: 'none',
      request,
    });
  }

  const body: unknown = response ? response.data : e.body;
  const bodyObj = isObj(body) ? body : undefined;
  const rawCode = bodyObj?.code ?? e.code;
  const code = typeof rawCode === 'number' && Number.isInteger(rawCode) ? rawCode : typeof rawCode === 'string' && /^-?\d+$/.test(rawCode) ? Number(rawCode) : null;
  const status = typeof response?.status === 'number' ? response.status : typeof e.status === 'number' ? e.status : null;
  const binanceMsg =
    typeof bodyObj?.msg === 'string'
      ? bodyObj.msg
      : typeof body === 'string' && body.trim() !== ''
        ? body.trim().slice(0, 200)
        : typeof e.message === 'string'
          ? e.message
          : '';

  // No answer at all.
  const axiosCode = typeof e.code === 'string' ? e.code : undefined;
  if (!response && body === undefined && code === null) {
    const isTimeout = axiosCode !== undefined && TIMEOUT_CODES.has(axiosCode);
    const sent = isObj(e.request) || isTimeout || (axiosCode !== undefined && NETWORK_CODES.has(axiosCode));
    const placing = placesOrder(full);
    const kind: VenueErrorKind = placing && sent ? 'unknown_outcome' : isTimeout ? 'timeout' : 'network';
    return new VenueError(`${where}: ${isTimeout ? 'timed out' : 'no answer'}${axiosCode ? ` (${axiosCode})` : ''}: ${binanceMsg || 'network error'}`, {
      kind,
      binanceCode: null,
      httpStatus: null,
      retryable: kind !== 'unknown_outcome',
      retryAfterMs: null,
      action: kind === 'unknown_outcome' ? 'query_order' : 'retry',
      request,
    });
  }

  const c = classify(status, code, binanceMsg, full);
  const headers = response ? response.headers : e.headers;
  let retryAfterMs = retryAfterToMs(header(headers, 'retry-after'));
  if (c.kind === 'ip_ban' && retryAfterMs === null && ctx.now !== undefined) {
    const until = /banned until (\d{10,16})/i.exec(binanceMsg);
    if (until) retryAfterMs = Math.max(0, Number(until[1]) - ctx.now);
  }
  if (c.kind === 'rate_limit' && retryAfterMs === null && ctx.now !== undefined) {
    // No Retry-After: wait for the limit's window to roll (orders: 10 s; weight: 1 minute).
    const windowMs = code === -1015 ? 10_000 : 60_000;
    retryAfterMs = windowMs - (ctx.now % windowMs);
  }
  const parts = [status !== null ? `HTTP ${status}` : null, code !== null ? `code ${code}${c.binanceName ? ` ${c.binanceName}` : ''}` : null, binanceMsg || null];
  return new VenueError(`${where}: ${parts.filter(Boolean).join(', ')}`, {
    kind: c.kind,
    binanceCode: code,
    httpStatus: status,
    retryable: c.retryable,
    retryAfterMs,
    action: c.action,
    binanceName: c.binanceName,
    request,
  });
}
