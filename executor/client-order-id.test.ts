import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { clientOrderIdFor, isPerpbotClientOrderId } from './client-order-id.ts';

describe('clientOrderIdFor', () => {
  it('keeps the ids of earlier versions (a journal written before an upgrade still recognises its orders)', () => {
    // fixed values, computed with createHash('sha256') before the switch to crypto.hash
    expect(clientOrderIdFor('s1:BTCUSDT:1751760000000:0', 'open')).toBe('pb-oCTnDhj72yuDxgqofyglfA');
    expect(clientOrderIdFor('vwap:ETHUSDT:1751760060000:3', 'close')).toBe('pb-zwM5RG4W0rszOgUl-D4rDe');
  });

  it('is pb- + 22 chars of base64url sha256("<signalId>|<leg>"), within Binance\'s newClientOrderId rule', () => {
    for (let i = 0; i < 200; i++) {
      const signalId = `strategy-${i}:SYM${i}USDT:${1_700_000_000_000 + i * 60_000}:${i}`;
      const leg = ['open', 'close', 'stop', 'x', 'ü'][i % 5]!;
      const id = clientOrderIdFor(signalId, leg);
      expect(id).toBe(`pb-${createHash('sha256').update(`${signalId}|${leg}`).digest('base64url').slice(0, 22)}`);
      expect(id).toMatch(/^[.A-Z:/a-z0-9_-]{1,36}$/);
      expect(isPerpbotClientOrderId(id)).toBe(true);
    }
  });
});
