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
  if (!/\d{16}/.test(text)) return text;
  return text.replace(TOKEN_RE, (tok) => {
    if (tok.charCodeAt(0) === 34 /* " */) return tok;
    return Number.isSafeInteger(Number(tok)) ? tok : `"${tok}"`;
  });
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
