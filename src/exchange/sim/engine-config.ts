/**
 * Configuration of the matching engine, resolved: {@link resolveEngineConfig} fills in the
 * defaults of a partial {@link MatchingEngineConfig}, checks every field and parses the rates
 * into `Decimal`s once; {@link slippedPrice} applies the configured MARKET slippage and tick.
 *
 * Split from matching-engine.ts.
 */
import { ConfigError } from '../../core/errors.ts';
import { Decimal, ZERO, dec, isDecimalString, str } from '../../core/decimal.ts';
import type { DecimalString, OrderIntent, Side, Symbol } from '../../core/types.ts';
import type { EngineRejection, MatchingEngineConfig } from './engine-types.ts';

const INT64_MAX = 9223372036854775807n;

const DEFAULTS = {
  takerFeeRate: '0.0005',
  makerFeeRate: '0.0002',
  slippageBps: '1',
  startingBalance: '10000',
} as const;

/** A {@link MatchingEngineConfig} with its defaults applied and its decimals parsed. */
export interface ResolvedEngineConfig {
  /** Taker fee rate, fraction of notional (≥ 0). */
  takerFee: Decimal;
  /** Maker fee rate, fraction of notional (may be negative: a rebate). */
  makerFee: Decimal;
  /** MARKET price factor for a BUY, `1 + slippageBps / 10000`; `null` when slippage is 0. */
  slipUp: Decimal | null;
  /** MARKET price factor for a SELL, `1 − slippageBps / 10000`; `null` when slippage is 0. */
  slipDown: Decimal | null;
  /** Starting wallet balance, USDT. */
  start: Decimal;
  /** First exchange order id and first trade id, int64 in [1, 2^63-1]. */
  firstOrderId: bigint;
  firstTradeId: bigint;
  /** How many finished orders are remembered (integer ≥ 0). */
  historyLimit: number;
  /** As in {@link MatchingEngineConfig}. */
  maxFill: MatchingEngineConfig['maxFillQuantity'];
  tickSize: ((symbol: Symbol) => Decimal | DecimalString | undefined) | undefined;
  validate: ((intent: OrderIntent) => EngineRejection | null) | undefined;
}

/**
 * Apply the defaults to `config` (taker `"0.0005"`, maker `"0.0002"`, slippage `"1"` bps,
 * balance `"10000"` USDT, first order id `1000000000000000001n`, first trade id `1000000001n`,
 * history 1000) and check every field.
 * @throws ConfigError listing every invalid field (non-decimal rate, negative taker fee, slippage
 *   or starting balance, slippage ≥ 10000 bps, non-positive id, id beyond int64, bad history limit).
 */
export function resolveEngineConfig(config: Partial<MatchingEngineConfig>): ResolvedEngineConfig {
  const issues: string[] = [];
  const num = (key: keyof typeof DEFAULTS, min: Decimal | null): Decimal => {
    const raw = config[key] ?? DEFAULTS[key];
    if (!isDecimalString(raw)) {
      issues.push(`${key}: got ${JSON.stringify(raw)}, expected a decimal string`);
      return ZERO;
    }
    const d = new Decimal(raw);
    if (min !== null && d.lt(min)) issues.push(`${key}: got "${raw}", expected ≥ ${str(min)}`);
    return d;
  };
  const takerFee = num('takerFeeRate', ZERO);
  const makerFee = num('makerFeeRate', null);
  const bps = num('slippageBps', ZERO);
  if (bps.gte(10000)) issues.push(`slippageBps: got "${str(bps)}", expected < 10000`);
  const start = num('startingBalance', ZERO);
  const frac = bps.div(10000);
  const slipUp = bps.isZero() ? null : frac.plus(1);
  const slipDown = bps.isZero() ? null : new Decimal(1).minus(frac);
  const firstOrderId = config.firstOrderId ?? 1000000000000000001n;
  const firstTradeId = config.firstTradeId ?? 1000000001n;
  for (const [k, v] of [['firstOrderId', firstOrderId], ['firstTradeId', firstTradeId]] as const) {
    if (typeof v !== 'bigint' || v < 1n || v > INT64_MAX) issues.push(`${k}: got ${String(v)}, expected a bigint in [1, 2^63-1]`);
  }
  const historyLimit = config.orderHistoryLimit ?? 1000;
  if (!Number.isInteger(historyLimit) || historyLimit < 0) {
    issues.push(`orderHistoryLimit: got ${String(historyLimit)}, expected an integer ≥ 0`);
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return {
    takerFee,
    makerFee,
    slipUp,
    slipDown,
    start,
    firstOrderId,
    firstTradeId,
    historyLimit,
    maxFill: config.maxFillQuantity,
    tickSize: config.tickSize,
    validate: config.validate,
  };
}

/**
 * MARKET price after slippage (`price × slipUp` for a BUY, `× slipDown` for a SELL), rounded to
 * `cfg.tickSize(symbol)` away from the taker (BUY up, SELL down); unchanged when slippage is 0,
 * unrounded when the symbol has no positive tick.
 * @param price quote asset
 * @throws TypeError when `tickSize` returns text that is not a decimal number
 */
export function slippedPrice(cfg: ResolvedEngineConfig, price: Decimal, side: Side, symbol: Symbol): Decimal {
  const factor = side === 'BUY' ? cfg.slipUp : cfg.slipDown;
  if (factor === null) return price;
  const p = price.times(factor);
  const raw = cfg.tickSize?.(symbol);
  if (raw === undefined) return p;
  const tick = typeof raw === 'string' ? dec(raw, 'tickSize') : raw;
  if (!tick.isPos()) return p;
  return p.toNearest(tick, side === 'BUY' ? Decimal.ROUND_CEIL : Decimal.ROUND_FLOOR);
}
