import { describe, expect, it } from 'vitest';
import { stopPriceText } from './stop-price.ts';

describe('stopPriceText', () => {
  it('writes a usable level as round-trip decimal text', () => {
    expect(stopPriceText(107512.34999999999)).toBe('107512.34999999999');
    expect(stopPriceText(34.36)).toBe('34.36');
  });
  it('gives no stop for a missing, non-positive, non-finite or exponent-written level', () => {
    for (const x of [null, undefined, NaN, Infinity, -5, 0, 1e-7, 1e21]) expect(stopPriceText(x)).toBeUndefined();
  });
});
