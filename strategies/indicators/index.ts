/**
 * Streaming technical indicators on floats (the only place in perpbot where prices are floats).
 * One `update` per closed bar; each matches TA-Lib on the bundled real data (see each module for
 * sources, units, seeding and what is taken from `trading-signals`).
 */
export { Adx } from './adx.ts';
export { SessionVwap, type VwapBand } from './session-vwap.ts';
export { Ema, Macd, Sma, type MacdValue } from './moving-averages.ts';
export { Rsi } from './oscillators.ts';
export { Atr, BollingerBands, Donchian, type Bands } from './volatility.ts';
