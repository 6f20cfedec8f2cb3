/**
 * Streaming technical indicators on floats (the only place in perpbot where prices are floats).
 * Every update is O(1) and allocation-free; see each module for sources and units.
 */
export { Adx } from './adx.ts';
export { SessionVwap, type VwapBand } from './session-vwap.ts';
