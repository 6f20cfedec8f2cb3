/**
 * Option objects for the `binance` library (3.6.5): `new USDMClient(restOptions, requestOptions)`
 * and `new WebsocketClient(options)`, built from perpbot's settings. Nothing here opens a
 * connection.
 *
 * What they set, and why:
 * - testnet: the library's `testnet: true` flag (REST base URL key `usdmtest` →
 *   https://testnet.binancefuture.com; websockets `usdmTestnet` → wss://stream.binancefuture.com).
 * - mainnet (https://fapi.binance.com, wss://fstream.binance.com): only with `allowMainnet: true`.
 * - a local endpoint (the simulator): REST `baseUrl`; websockets `wsUrl` plus
 *   `restOptions.baseUrl` (the websocket client creates listen keys over REST).
 * - `beautifyResponses: false` / `beautify: false`: the beautifier turns some money fields into
 *   floats; perpbot reads raw payloads only (mapper.ts).
 * - Lossless JSON (json.ts): axios `transformResponse` for REST, `customParseJSONFn` for
 *   websockets, so int64 ids beyond 2^53 arrive exact. Market connections parse with
 *   `parseMarketFrame`, which recognises a still-forming kline's frame without parsing it.
 * - `parseExceptions: false`: rejections stay axios errors, which carry the HTTP status
 *   (the library's parsed rejection drops it); errors.ts maps both shapes.
 * - `disableTimeSync: true`: perpbot measures the clock offset itself (clock-sync.ts) and
 *   sets it with `client.setTimeOffset(offsetMs)`.
 * - `proxy: false`: axios ignores HTTP(S)_PROXY environment variables.
 * - `customSignMessageFn`: signed requests are signed synchronously with node:crypto
 *   (signing.ts), not through Web Crypto on the thread pool, which held every order back.
 *
 * Keys come from the caller (which reads BINANCE_API_KEY / BINANCE_API_SECRET); these objects
 * hold them and must never be logged: log {@link describeConnection} instead.
 */
import type { USDMClient, WSClientConfigurableOptions } from 'binance';
import { ConfigError } from '../../core/errors.ts';
import { parseBinanceJson, parseMarketFrame, transformBinanceResponse } from './json.ts';
import { signRequest } from './signing.ts';

/** Which Binance network. */
export type BinanceEnv = 'testnet' | 'mainnet';

/** perpbot's connection settings for Binance USDⓈ-M. */
export interface BinanceConnectionSettings {
  env: BinanceEnv;
  /** Must be true for mainnet (real money). Default false. */
  allowMainnet?: boolean;
  /** API key (BINANCE_API_KEY); omit for public data only. Never logged. */
  apiKey?: string;
  /** API secret (BINANCE_API_SECRET); required with `apiKey`. Never logged. */
  apiSecret?: string;
  /**
   * REST base URL override, e.g. `http://127.0.0.1:8080` for the local simulator. Given together
   * with `wsUrl`; replaces the env's endpoints.
   */
  baseUrl?: string;
  /** Websocket base URL override, e.g. `ws://127.0.0.1:8080` (the library appends `/stream`, `/ws/<listenKey>`…). */
  wsUrl?: string;
  /** Signed requests' recvWindow, ms (≤ 60 000). Default 5000. */
  recvWindowMs?: number;
  /** REST request timeout, ms. Default 10 000. */
  timeoutMs?: number;
  /** HTTP keep-alive for REST. Default true. */
  keepAlive?: boolean;
}

/** Arguments of `new USDMClient(restOptions, requestOptions)`. */
export interface UsdmClientArgs {
  restOptions: NonNullable<ConstructorParameters<typeof USDMClient>[0]>;
  requestOptions: NonNullable<ConstructorParameters<typeof USDMClient>[1]>;
}

/** Where the connection goes. */
export interface ResolvedEndpoints {
  network: 'testnet' | 'mainnet' | 'custom';
  restBaseUrl: string;
  wsBaseUrl: string;
}

/** The library's defaults (node_modules/binance/lib/util/requestUtils.js, websocket-util.js). */
const ENDPOINTS: Record<BinanceEnv, { rest: string; ws: string }> = {
  testnet: { rest: 'https://testnet.binancefuture.com', ws: 'wss://stream.binancefuture.com' },
  mainnet: { rest: 'https://fapi.binance.com', ws: 'wss://fstream.binance.com' },
};

/** True for a Binance production host (*.binance.com other than demo-*). */
function isMainnetHost(url: URL): boolean {
  const h = url.hostname.toLowerCase();
  return (h === 'binance.com' || h.endsWith('.binance.com')) && !h.startsWith('demo-');
}

function parseUrl(value: string, key: string, protocols: string[]): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError([`${key}: got ${JSON.stringify(value)}, expected an absolute URL`]);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError([`${key}: got ${JSON.stringify(value)}, expected a ${protocols.join(' or ')} URL`]);
  }
  return url;
}

/**
 * Validate the settings and say where they point.
 * @throws ConfigError when: env is neither testnet nor mainnet; mainnet without
 *   `allowMainnet: true` (also when an override points at a *.binance.com production host);
 *   only one of `baseUrl` / `wsUrl` is given; a URL is malformed or of the wrong scheme;
 *   only one of key and secret is given; recvWindowMs or timeoutMs is out of range
 */
export function resolveEndpoints(s: BinanceConnectionSettings): ResolvedEndpoints {
  const issues: string[] = [];
  if (s.env !== 'testnet' && s.env !== 'mainnet') {
    throw new ConfigError([`binance.env: got ${JSON.stringify(s.env)}, expected "testnet" or "mainnet"`]);
  }
  if ((s.apiKey === undefined) !== (s.apiSecret === undefined) || s.apiKey === '' || s.apiSecret === '') {
    issues.push('binance keys: API key and secret must both be given (non-empty) or both be absent');
  }
  if (s.recvWindowMs !== undefined && !(Number.isInteger(s.recvWindowMs) && s.recvWindowMs > 0 && s.recvWindowMs <= 60_000)) {
    issues.push(`binance.recvWindowMs: got ${s.recvWindowMs}, expected an integer in 1..60000`);
  }
  if (s.timeoutMs !== undefined && !(Number.isInteger(s.timeoutMs) && s.timeoutMs > 0)) {
    issues.push(`binance.timeoutMs: got ${s.timeoutMs}, expected a positive integer`);
  }
  if ((s.baseUrl === undefined) !== (s.wsUrl === undefined)) {
    issues.push('binance.baseUrl / binance.wsUrl: give both or neither (REST and websockets must reach the same venue)');
  }
  if (issues.length) throw new ConfigError(issues);

  if (s.baseUrl !== undefined && s.wsUrl !== undefined) {
    const rest = parseUrl(s.baseUrl, 'binance.baseUrl', ['http:', 'https:']);
    const ws = parseUrl(s.wsUrl, 'binance.wsUrl', ['ws:', 'wss:']);
    if ((isMainnetHost(rest) || isMainnetHost(ws)) && !(s.env === 'mainnet' && s.allowMainnet === true)) {
      throw new ConfigError(['binance.baseUrl / binance.wsUrl: a Binance production host needs env "mainnet" and allowMainnet: true']);
    }
    return { network: 'custom', restBaseUrl: s.baseUrl.replace(/\/+$/, ''), wsBaseUrl: s.wsUrl.replace(/\/+$/, '') };
  }
  if (s.env === 'mainnet' && s.allowMainnet !== true) {
    throw new ConfigError(['binance.env: "mainnet" trades real money and needs allowMainnet: true']);
  }
  return { network: s.env, restBaseUrl: ENDPOINTS[s.env].rest, wsBaseUrl: ENDPOINTS[s.env].ws };
}

function restParts(s: BinanceConnectionSettings, ep: ResolvedEndpoints): UsdmClientArgs {
  const restOptions: UsdmClientArgs['restOptions'] = {
    recvWindow: s.recvWindowMs ?? 5000,
    disableTimeSync: true,
    beautifyResponses: false,
    parseExceptions: false,
    keepAlive: s.keepAlive ?? true,
  };
  if (s.apiKey !== undefined && s.apiSecret !== undefined) {
    restOptions.api_key = s.apiKey;
    restOptions.api_secret = s.apiSecret;
    // node:crypto, synchronously, instead of the library's Web Crypto on the thread pool
    restOptions.customSignMessageFn = signRequest;
  }
  if (ep.network === 'custom') restOptions.baseUrl = ep.restBaseUrl;
  else restOptions.testnet = ep.network === 'testnet';
  const requestOptions: UsdmClientArgs['requestOptions'] = {
    proxy: false,
    // Binance never redirects an API call (a redirected signed POST would be a fault): axios then
    // sends through node:http itself, not through the follow-redirects wrapper.
    maxRedirects: 0,
    timeout: s.timeoutMs ?? 10_000,
    // Replaces axios's default JSON.parse step (which would round int64 ids).
    transformResponse: [transformBinanceResponse],
  };
  return { restOptions, requestOptions };
}

/**
 * Build `new USDMClient(restOptions, requestOptions)`'s arguments.
 * @returns option objects (they contain the keys: never log them)
 * @throws ConfigError as {@link resolveEndpoints}
 */
export function buildUsdmClientOptions(s: BinanceConnectionSettings): UsdmClientArgs {
  return restParts(s, resolveEndpoints(s));
}

/**
 * Build `new WebsocketClient(options)`'s options: raw (non-beautified) events parsed losslessly,
 * the env's endpoints or the `wsUrl` override, and the REST options its listen-key calls use.
 * @param streams `market` for market-stream connections: frames are parsed by `parseMarketFrame`
 *   (a still-forming kline's frame reduced to what perpbot uses); `user` (default) parses every
 *   frame whole
 * @returns the options (they contain the keys: never log them)
 * @throws ConfigError as {@link resolveEndpoints}
 */
export function buildWebsocketClientOptions(s: BinanceConnectionSettings, streams: 'user' | 'market' = 'user'): WSClientConfigurableOptions {
  const ep = resolveEndpoints(s);
  const { restOptions, requestOptions } = restParts(s, ep);
  const opts: WSClientConfigurableOptions = {
    beautify: false,
    testnet: ep.network === 'testnet',
    recvWindow: s.recvWindowMs ?? 5000,
    restOptions,
    requestOptions,
    customParseJSONFn: streams === 'market' ? (raw: string) => parseMarketFrame(raw) as object : (raw: string) => parseBinanceJson(raw) as object,
  };
  if (ep.network === 'custom') opts.wsUrl = ep.wsBaseUrl;
  if (s.apiKey !== undefined && s.apiSecret !== undefined) {
    opts.api_key = s.apiKey;
    opts.api_secret = s.apiSecret;
  }
  return opts;
}

/**
 * A loggable description of the connection: network, endpoints, whether keys are set. No secrets.
 * @throws ConfigError as {@link resolveEndpoints}
 */
export function describeConnection(s: BinanceConnectionSettings): ResolvedEndpoints & { authenticated: boolean } {
  return { ...resolveEndpoints(s), authenticated: s.apiKey !== undefined };
}
