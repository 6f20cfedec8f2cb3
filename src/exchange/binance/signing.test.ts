import { generateKeyPairSync, createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { USDMClient } from 'binance';
import { describe, expect, it } from 'vitest';
import { buildUsdmClientOptions } from './client-options.ts';
import { signKeyType, signRequest } from './signing.ts';

// The library's own Web Crypto signer, to compare with (what it does without customSignMessageFn).
const require = createRequire(import.meta.url);
const lib = require('binance/lib/util/webCryptoAPI.js') as {
  getSignKeyType(secret: string): string;
  signMessage(message: string, secret: string, method: 'hex', algorithm: 'SHA-256', pemMethod: 'base64'): Promise<string>;
};
const librarySignature = async (message: string, secret: string) => encodeURIComponent(await lib.signMessage(message, secret, 'hex', 'SHA-256', 'base64'));

const MESSAGE = 'symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.002&newClientOrderId=pb-abc_DEF-123&timestamp=1733356800000&recvWindow=5000';
const HMAC_SECRET = 'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j';
const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

describe('signRequest (synchronous node:crypto signing for the binance library)', () => {
  it('tells key types apart by the library\'s rule', () => {
    for (const secret of [HMAC_SECRET, ed25519, rsa]) expect(signKeyType(secret)).toBe({ HMAC: 'HMAC', Ed25519: 'Ed25519', 'RSASSA-PKCS1-v1_5': 'RSA' }[lib.getSignKeyType(secret)]);
    expect(signKeyType(ed25519)).toBe('Ed25519');
    expect(signKeyType(rsa)).toBe('RSA');
  });

  it.each([
    ['HMAC', HMAC_SECRET],
    ['Ed25519', ed25519],
    ['RSA', rsa],
  ])('gives the signature the library gives, %s key', async (_type, secret) => {
    for (const message of [MESSAGE, 'timestamp=1&recvWindow=5000', 'a=%2B%20x&b=é']) {
      expect(await signRequest(message, secret)).toBe(await librarySignature(message, secret));
    }
  });

  it('gives Binance\'s documented HMAC example signature', async () => {
    // https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info (SIGNED endpoint examples)
    const query = 'symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943';
    const secret = '2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9';
    expect(await signRequest(query, secret)).toBe(createHmac('sha256', secret).update(query).digest('hex'));
    expect(await signRequest(query, secret)).toBe('3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9');
  });

  it('rejects an unreadable PEM key without echoing it', async () => {
    const broken = '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXRleHQ=\n-----END PRIVATE KEY-----';
    const err = await signRequest(MESSAGE, broken).then(() => null, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/cannot read/);
    expect(err!.message).not.toContain('c2VjcmV0');
  });

  it('is what the REST client signs with, and only with keys', () => {
    const withKeys = buildUsdmClientOptions({ env: 'testnet', apiKey: 'k', apiSecret: HMAC_SECRET });
    expect(withKeys.restOptions.customSignMessageFn).toBe(signRequest);
    expect(buildUsdmClientOptions({ env: 'testnet' }).restOptions.customSignMessageFn).toBeUndefined();
    // the library keeps the option (it reads it on each signed request)
    const client = new USDMClient(withKeys.restOptions, withKeys.requestOptions);
    expect((client as unknown as { options: { customSignMessageFn?: unknown } }).options.customSignMessageFn).toBe(signRequest);
  });
});
