import { USDMClient, WebsocketClient } from 'binance';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { buildUsdmClientOptions, buildWebsocketClientOptions, describeConnection, resolveEndpoints, type BinanceConnectionSettings } from './client-options.ts';
import { mapRestOrder } from './mapper.ts';
import { signRequest } from './signing.ts';

const KEY = 'testKeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const SECRET = 'testSecretBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
const LOCAL: BinanceConnectionSettings = { env: 'testnet', baseUrl: 'http://127.0.0.1:8080', wsUrl: 'ws://127.0.0.1:8080', apiKey: KEY, apiSecret: SECRET };

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('buildUsdmClientOptions', () => {
  it('testnet: the library flag, raw responses, lossless JSON, no proxy, our own time sync', () => {
    const { restOptions, requestOptions } = buildUsdmClientOptions({ env: 'testnet', apiKey: KEY, apiSecret: SECRET });
    expect(restOptions).toEqual({
      api_key: KEY,
      api_secret: SECRET,
      testnet: true,
      recvWindow: 5000,
      disableTimeSync: true,
      beautifyResponses: false,
      parseExceptions: false,
      keepAlive: true,
      customSignMessageFn: signRequest,
    });
    expect(requestOptions).toMatchObject({ proxy: false, timeout: 10_000 });
    expect(requestOptions.transformResponse).toHaveLength(1);
    const client = new USDMClient(restOptions, requestOptions);
    expect(client.getBaseUrlKey()).toBe('usdmtest');
  });

  it('mainnet only with allowMainnet: true', () => {
    expect(configErrorOf(() => buildUsdmClientOptions({ env: 'mainnet' })).message).toContain('binance.env: "mainnet" trades real money and needs allowMainnet: true');
    expect(configErrorOf(() => buildUsdmClientOptions({ env: 'mainnet', allowMainnet: false })).code).toBe('CONFIG_INVALID');
    const { restOptions } = buildUsdmClientOptions({ env: 'mainnet', allowMainnet: true });
    expect(restOptions.testnet).toBe(false);
    expect(restOptions.api_key).toBeUndefined();
    expect(new USDMClient(restOptions).getBaseUrlKey()).toBe('usdm');
  });

  it('a local simulator: baseUrl, whatever the env; a production host still needs allowMainnet', () => {
    const { restOptions } = buildUsdmClientOptions({ ...LOCAL, env: 'mainnet' });
    expect(restOptions.baseUrl).toBe('http://127.0.0.1:8080');
    expect(restOptions.testnet).toBeUndefined();
    expect(
      configErrorOf(() => buildUsdmClientOptions({ env: 'testnet', baseUrl: 'https://fapi.binance.com', wsUrl: 'wss://fstream.binance.com' })).message,
    ).toContain('a Binance production host needs env "mainnet" and allowMainnet: true');
    expect(buildUsdmClientOptions({ env: 'mainnet', allowMainnet: true, baseUrl: 'https://fapi.binance.com/', wsUrl: 'wss://fstream.binance.com' }).restOptions.baseUrl).toBe(
      'https://fapi.binance.com',
    );
  });

  it('refuses half settings and bad values, naming each key', () => {
    expect(configErrorOf(() => buildUsdmClientOptions({ env: 'testnet', baseUrl: 'http://127.0.0.1:8080' })).message).toContain('give both or neither');
    expect(configErrorOf(() => buildUsdmClientOptions({ env: 'testnet', apiKey: KEY })).message).toContain('API key and secret must both be given');
    expect(configErrorOf(() => buildUsdmClientOptions({ env: 'testnet', apiKey: '', apiSecret: '' })).message).toContain('API key and secret');
    expect(configErrorOf(() => buildUsdmClientOptions({ ...LOCAL, baseUrl: 'ws://127.0.0.1:8080' })).message).toContain('binance.baseUrl: got "ws://127.0.0.1:8080", expected a http: or https: URL');
    expect(configErrorOf(() => buildUsdmClientOptions({ ...LOCAL, wsUrl: '127.0.0.1:8080' })).message).toContain('binance.wsUrl');
    expect(configErrorOf(() => buildUsdmClientOptions({ env: 'testnet', recvWindowMs: 70_000 })).message).toContain('binance.recvWindowMs: got 70000');
    expect(configErrorOf(() => buildUsdmClientOptions({ env: 'testnet', timeoutMs: 0 })).message).toContain('binance.timeoutMs: got 0');
    expect(configErrorOf(() => buildUsdmClientOptions({ env: 'prod' as 'mainnet' })).message).toContain('binance.env: got "prod"');
  });

  it('end to end through the real library (axios adapter, no network): URL, no secret in the URL but the signature, exact int64 id', async () => {
    const { restOptions, requestOptions } = buildUsdmClientOptions(LOCAL);
    const seen: { url?: string; proxy?: unknown; apiKeyHeader?: unknown } = {};
    const body = '{"orderId":8389766049535966587,"symbol":"BTCUSDT","status":"NEW","clientOrderId":"x-15PC4ZJy-t1","price":"0","avgPrice":"0.00","origQty":"0.001","executedQty":"0.000","cumQty":"0.000","cumQuote":"0.00000","timeInForce":"GTC","type":"MARKET","reduceOnly":false,"closePosition":false,"side":"BUY","positionSide":"BOTH","stopPrice":"0","workingType":"CONTRACT_PRICE","priceProtect":false,"origType":"MARKET","updateTime":1765638258183}';
    const client = new USDMClient(restOptions, {
      ...requestOptions,
      adapter: async (config) => {
        seen.url = config.url;
        seen.proxy = config.proxy;
        seen.apiKeyHeader = config.headers?.['X-MBX-APIKEY'];
        return { data: body, status: 200, statusText: 'OK', headers: { 'x-mbx-used-weight-1m': '1' }, config, request: {} };
      },
    });
    const res = await client.submitNewOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: 0.001, newClientOrderId: 'x-15PC4ZJy-t1' });
    expect((res as unknown as { orderId: unknown }).orderId).toBe('8389766049535966587');
    expect(mapRestOrder(res).orderId).toBe('8389766049535966587');
    expect(seen.url).toMatch(/^http:\/\/127\.0\.0\.1:8080\/fapi\/v1\/order\?/);
    expect(seen.url).toContain('signature=');
    expect(seen.url).not.toContain(SECRET);
    expect(seen.proxy).toBe(false);
    expect(seen.apiKeyHeader).toBe(KEY);
  });
});

describe('buildWebsocketClientOptions', () => {
  it('testnet: raw events, lossless JSON, the same REST options for listen keys', () => {
    const o = buildWebsocketClientOptions({ env: 'testnet', apiKey: KEY, apiSecret: SECRET });
    expect(o).toMatchObject({ beautify: false, testnet: true, recvWindow: 5000, api_key: KEY, api_secret: SECRET });
    expect(o.wsUrl).toBeUndefined();
    expect(o.restOptions).toMatchObject({ testnet: true, beautifyResponses: false });
    expect(o.requestOptions).toMatchObject({ proxy: false });
    expect(o.customParseJSONFn?.('{"e":"ORDER_TRADE_UPDATE","o":{"i":8389766049535966587}}')).toEqual({ e: 'ORDER_TRADE_UPDATE', o: { i: '8389766049535966587' } });
  });

  it('a local simulator: wsUrl plus restOptions.baseUrl; the library builds its URLs from them', async () => {
    const o = buildWebsocketClientOptions(LOCAL);
    expect(o).toMatchObject({ wsUrl: 'ws://127.0.0.1:8080', testnet: false, restOptions: { baseUrl: 'http://127.0.0.1:8080' } });
    const ws = new WebsocketClient(o);
    await expect(ws.getWsUrl('usdm', 'market')).resolves.toBe('ws://127.0.0.1:8080/stream');
    await expect(ws.getWsUrl('usdm', 'private')).resolves.toBe('ws://127.0.0.1:8080/ws/');
  });

  it('mainnet only with allowMainnet: true', () => {
    expect(() => buildWebsocketClientOptions({ env: 'mainnet' })).toThrow(ConfigError);
    expect(buildWebsocketClientOptions({ env: 'mainnet', allowMainnet: true }).testnet).toBe(false);
  });
});

describe('describeConnection / resolveEndpoints', () => {
  it('says where the connection goes, without secrets', () => {
    const d = describeConnection({ env: 'testnet', apiKey: KEY, apiSecret: SECRET });
    expect(d).toEqual({ network: 'testnet', restBaseUrl: 'https://testnet.binancefuture.com', wsBaseUrl: 'wss://stream.binancefuture.com', authenticated: true });
    expect(JSON.stringify(d)).not.toContain(KEY);
    expect(resolveEndpoints(LOCAL)).toEqual({ network: 'custom', restBaseUrl: 'http://127.0.0.1:8080', wsBaseUrl: 'ws://127.0.0.1:8080' });
    expect(resolveEndpoints({ env: 'mainnet', allowMainnet: true })).toEqual({ network: 'mainnet', restBaseUrl: 'https://fapi.binance.com', wsBaseUrl: 'wss://fstream.binance.com' });
  });
});
