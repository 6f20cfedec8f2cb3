/**
 * Request signing for the `binance` library's REST client, done synchronously with node:crypto.
 *
 * The library (3.6.5, lib/util/webCryptoAPI.js) signs every REST request through Web Crypto:
 * it imports the key again for each request (`crypto.subtle.importKey`), then calls
 * `crypto.subtle.sign`. Both are asynchronous and run on libuv's thread pool. So every order
 * waited for two thread-pool round trips between perpbot's decision and the request on the
 * wire. The library takes a replacement, `customSignMessageFn(message, secret)`; this is it.
 *
 * Same signatures as the library's, by the same key-type rule (`getSignKeyType` there), as
 * Binance defines them (https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info,
 * "SIGNED Endpoint Security"):
 * - a secret without "PRIVATE KEY": an HMAC key; HMAC-SHA256 of the query string, hex;
 * - a PEM private key: Ed25519 when it is 150 characters or fewer and does not say
 *   "RSA PRIVATE KEY", otherwise RSA (RSASSA-PKCS1-v1_5 with SHA-256); the signature in
 *   base64, URL-encoded (the library URL-encodes its own signature, not a custom one's).
 *
 * Nothing here logs or keeps the secret: the PEM key objects are cached by the secret text,
 * in this module's memory only, so a key is parsed once.
 */
import { createHmac, createPrivateKey, sign, type KeyObject } from 'node:crypto';

/** The key types the library tells apart, by its rule. */
export type SignKeyType = 'HMAC' | 'Ed25519' | 'RSA';

/**
 * The key type of an API secret, by the `binance` library's rule (lib/util/webCryptoAPI.js
 * `getSignKeyType`): "PRIVATE KEY" in it means PEM; then "RSA PRIVATE KEY" or more than 150
 * characters means RSA, else Ed25519; anything else is an HMAC secret.
 */
export function signKeyType(secret: string): SignKeyType {
  if (!secret.includes('PRIVATE KEY')) return 'HMAC';
  if (secret.includes('RSA PRIVATE KEY') || secret.length > 150) return 'RSA';
  return 'Ed25519';
}

const pemKeys = new Map<string, KeyObject>();

function pemKey(secret: string): KeyObject {
  let key = pemKeys.get(secret);
  if (key === undefined) {
    try {
      key = createPrivateKey(secret);
    } catch {
      // never echo the key or node's message about its contents
      throw new Error('binance API secret: a PEM private key that node:crypto cannot read');
    }
    pemKeys.set(secret, key);
  }
  return key;
}

/**
 * Sign a request's query string, synchronously (async only because the library awaits a promise).
 * @param message the serialised parameters, as the library passes them (`a=1&b=2…&timestamp=…`)
 * @param secret the API secret: an HMAC secret or a PEM private key (Ed25519 or RSA)
 * @returns the value of the `signature` parameter: hex for HMAC, URL-encoded base64 for PEM keys
 * @throws Error (as a rejected promise) when a PEM secret cannot be read; the message does not
 *   contain the secret
 */
export async function signRequest(message: string, secret: string): Promise<string> {
  const type = signKeyType(secret);
  if (type === 'HMAC') return createHmac('sha256', secret).update(message).digest('hex');
  const key = pemKey(secret);
  const signature = type === 'Ed25519' ? sign(null, Buffer.from(message), key) : sign('sha256', Buffer.from(message), key);
  return encodeURIComponent(signature.toString('base64'));
}
