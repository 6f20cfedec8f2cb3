/**
 * Scrubbing secrets out of free text (error messages, URLs), apart from the logger so that
 * commands that never log (`perpbot status`) need not load pino.
 */

const SECRET_IN_TEXT = /((?:signature|apiKey|api_key|apiSecret|secret|listenKey|token|X-MBX-APIKEY)["']?\s*[=:]\s*["']?)[^&\s"',}]+/gi;
const SLACK_TOKEN = /xox[abprs]-[A-Za-z0-9-]+/g;
/**
 * Binance API keys, secrets, listen keys and HMAC signatures are 64 letters and digits. The
 * `binance` library puts listen keys into websocket URLs (`/ws/<listenKey>`) and its own
 * connection names (`usdm_userData__<listenKey>_…`), where no `key=` precedes them. Nothing
 * perpbot logs on purpose is that long (order ids ≤ 20 digits, client order ids 25 chars).
 */
const LONG_TOKEN = /(?<![A-Za-z0-9])[A-Za-z0-9]{60,}(?![A-Za-z0-9])/g;

/** Replace secrets inside free text (error messages, URLs) by `***`. */
export function scrub(text: string): string {
  return text.replace(SECRET_IN_TEXT, '$1***').replace(SLACK_TOKEN, 'xox*-***').replace(LONG_TOKEN, '***');
}
