/**
 * Lossless JSON for Binance: order and trade ids are int64 and can exceed 2^53 (a real USDⓈ-M
 * orderId is 8389766049535966587), which `JSON.parse` silently rounds (…966000). Every Binance
 * payload perpbot reads goes through {@link parseBinanceJson}, which quotes each bare integer
 * literal that is not a safe integer before parsing, so the id arrives as exact text.
 *
 * Wiring (see client-options.ts): the `binance` library's WebsocketClient takes it as
 * `customParseJSONFn`; REST responses pass through it as axios `transformResponse`.
 */

/**
 * A JSON string literal (skipped whole, so digits inside strings are never touched), or an
 * integer token that stands alone as a value: after `:` `,` `[` (plus whitespace) and before
 * `,` `}` `]` (plus whitespace). Decimal fractions and exponents never match.
 */
const TOKEN_RE = /"(?:[^"\\]|\\.)*"|(?<=[:,[]\s*)-?\d{16,}(?=\s*[,}\]])/g;

/**
 * Quote every bare integer literal of the JSON text whose value is beyond ±(2^53 − 1), so that
 * `JSON.parse` yields its exact digits as a string. Safe integers (times, small ids) and all
 * strings are left as they are.
 *
 * @param text JSON text as received from Binance
 * @returns the same text with unsafe integers quoted, e.g. `{"i":8389766049535966587}` →
 *   `{"i":"8389766049535966587"}`
 */
export function quoteUnsafeIntegers(text: string): string {
  // Fast path: no run of 16 digits, nothing to do (nearly every frame).
  if (!hasDigitRun(text, 16)) return text;
  return text.replace(TOKEN_RE, (tok) => {
    if (tok.charCodeAt(0) === 34 /* " */) return tok;
    return Number.isSafeInteger(Number(tok)) ? tok : `"${tok}"`;
  });
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/**
 * Whether `text` holds `n` or more consecutive ASCII digits (as `/\d{n}/.test(text)`, ~7× faster
 * on a kline frame: the regex tries every digit as a start). It looks at every n-th character
 * only, since any such run covers one of them, and measures the run around a digit it finds.
 * @param n the run length, ≥ 1
 */
export function hasDigitRun(text: string, n: number): boolean {
  const len = text.length;
  for (let i = n - 1; i < len; i += n) {
    if (!isDigit(text.charCodeAt(i))) continue;
    let from = i;
    while (from > 0 && isDigit(text.charCodeAt(from - 1))) from--;
    let to = i;
    while (to + 1 < len && isDigit(text.charCodeAt(to + 1))) to++;
    if (to - from + 1 >= n) return true;
    i = to; // the next run starts after this one; the next sample (to + n) still covers it
  }
  return false;
}

/**
 * Parse Binance JSON text without losing int64 precision: integers beyond 2^53 become strings
 * (see {@link quoteUnsafeIntegers}); everything else parses as `JSON.parse` would.
 *
 * @param text the raw frame or response body
 * @returns the parsed value
 * @throws SyntaxError when the text is not JSON (as `JSON.parse`)
 */
export function parseBinanceJson(text: string): unknown {
  return JSON.parse(quoteUnsafeIntegers(text));
}

/**
 * axios `transformResponse` step for the `binance` library's REST client: parses a JSON body
 * losslessly; a body that is not JSON text (an HTML 502 page, an empty body) is returned as is,
 * so the error mapper can still see it.
 *
 * @param data the raw response body (a string when axios's default transforms are replaced)
 */
export function transformBinanceResponse(data: unknown): unknown {
  if (typeof data !== 'string') return data;
  const t = data.trim();
  if (t === '' || (t[0] !== '{' && t[0] !== '[')) return data;
  try {
    return parseBinanceJson(t);
  } catch {
    return data;
  }
}

const WIRE_VALUE = '(?:"[^"\\\\]*"|-?\\d+(?:\\.\\d+)?|true|false|null)';
const WIRE_FIELD = `"[A-Za-z]{1,2}":${WIRE_VALUE}`;
/**
 * A whole combined-stream frame of a still-forming kline, in Binance's field order
 * (`{"stream":"…@kline_1m","data":{"e":"kline","E":…,"s":"…","k":{…,"x":false,…}}}`), every
 * value of `k` a JSON string, number or literal: the text is valid JSON of that shape.
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Kline-Candlestick-Streams
 */
const FORMING_KLINE_FRAME = new RegExp(
  `^\\{"stream":"([a-z0-9]+@kline_[0-9a-zA-Z]+)","data":\\{"e":"kline","E":(\\d{1,15}),"s":"([A-Z0-9]{1,30})","k":\\{(?:${WIRE_FIELD},)*"x":false(?:,${WIRE_FIELD})*\\}\\}\\}$`,
);

/**
 * A still-forming kline's frame as {@link parseMarketFrame} returns it: the kline reduced to its
 * `x` (false), since a forming kline is counted (stream health) and used no further.
 */
export interface FormingKlineFrame {
  stream: string;
  data: { e: 'kline'; E: number; s: string; k: { x: false } };
}

/**
 * Parse a market-stream frame (the `customParseJSONFn` of market connections). A still-forming
 * kline's frame (Binance sends one every 250 ms per symbol, 4 of every 5 market frames, and
 * perpbot only counts it) is recognised whole by one regular expression and returned as a
 * {@link FormingKlineFrame}, ~5× cheaper than parsing it; any other frame, or one in another
 * field order, is parsed by {@link parseBinanceJson}.
 * @param text the raw frame
 * @returns the parsed value (a reduced one for a forming kline)
 * @throws SyntaxError when the text is not JSON (as `JSON.parse`)
 */
export function parseMarketFrame(text: string): unknown {
  const m = FORMING_KLINE_FRAME.exec(text);
  if (m === null) return parseBinanceJson(text);
  const frame: FormingKlineFrame = { stream: m[1]!, data: { e: 'kline', E: Number(m[2]), s: m[3]!, k: { x: false } } };
  return frame;
}
