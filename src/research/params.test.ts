import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.ts';
import { getStrategy } from '../../strategies/registry.ts';
import { gridPoints, neighbours, parseParamSpec, parseParamSpecs, pointAt, randomPoints, validateParams } from './params.ts';
import { dsrFromMoments, expectedMaxSharpe } from './dsr.ts';

describe('parameter specs', () => {
  it('parses ranges (inclusive, no float drift), lists and booleans', () => {
    expect(parseParamSpec('bandK=1.5:3:0.25').values).toEqual([1.5, 1.75, 2, 2.25, 2.5, 2.75, 3]);
    expect(parseParamSpec('adxMax=15,20,25').values).toEqual([15, 20, 25]);
    expect(parseParamSpec('allowShort=true,false').values).toEqual([true, false]);
    expect(parseParamSpec('x=0.1:0.3:0.1').values).toEqual([0.1, 0.2, 0.3]);
  });
  it('names --param in every error', () => {
    for (const bad of ['bandK', 'bandK=', 'bandK=3:1:0.5', 'bandK=1:3:0', 'bandK=1:2', '=1,2']) {
      expect(() => parseParamSpec(bad), bad).toThrow(ConfigError);
      expect(() => parseParamSpec(bad), bad).toThrow(/--param/);
    }
    expect(() => parseParamSpecs(['a=1', 'a=2'])).toThrow(/given twice/);
    expect(() => parseParamSpecs([])).toThrow(/--param/);
  });
  it('grid is the cartesian product, last dimension fastest; neighbours step one dimension', () => {
    const dims = parseParamSpecs(['a=1,2', 'b=10,20,30']);
    const pts = gridPoints(dims).map((i) => pointAt(dims, i));
    expect(pts).toEqual([
      { a: 1, b: 10 }, { a: 1, b: 20 }, { a: 1, b: 30 },
      { a: 2, b: 10 }, { a: 2, b: 20 }, { a: 2, b: 30 },
    ]);
    expect(neighbours(dims, [0, 1])).toEqual([[1, 1], [0, 0], [0, 2]]);
  });
  it('random draws are distinct, seeded and reproducible; a different seed draws differently', () => {
    const dims = parseParamSpecs(['a=1:20:1', 'b=1:20:1']);
    const a = randomPoints(dims, 30, 7);
    expect(new Set(a.map((i) => i.join(','))).size).toBe(30);
    expect(randomPoints(dims, 30, 7)).toEqual(a);
    expect(randomPoints(dims, 30, 8)).not.toEqual(a);
    expect(randomPoints(dims, 1000, 7)).toHaveLength(400); // the whole grid
  });
  it("validates against the strategy's zod schema: stopK ≤ bandK is invalid, not a crash", () => {
    const def = getStrategy('vwap-adx');
    const bad = validateParams(def, {}, { bandK: 3, stopK: 2.5 });
    expect(bad).toEqual({ ok: false, error: 'stopK: stopK must be greater than bandK' });
    expect(validateParams(def, {}, { bandK: 2, stopK: 3 }).ok).toBe(true);
    expect(validateParams(def, {}, { nope: 1 }).ok).toBe(false);
  });
});

describe('deflated Sharpe ratio (Bailey & López de Prado 2014)', () => {
  it("reproduces the paper's numerical example: N=100, annualised SR 2.5, V=0.5, T=1250, skew −3, kurtosis 10 → DSR ≈ 0.9004", () => {
    // Reference computed with Python's statistics.NormalDist (an independent Φ and Φ⁻¹).
    const sr0 = expectedMaxSharpe(100, 0.5 / 250);
    expect(sr0).toBeCloseTo(0.113172, 4);
    expect(dsrFromMoments(2.5 / Math.sqrt(250), 1250, -3, 10, sr0)).toBeCloseTo(0.900397, 3);
  });
});
