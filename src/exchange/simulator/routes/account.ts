/**
 * Account REST routes (SIGNED): balances, account, position risk (v3 and the deprecated v2 forms
 * the `binance` library still calls), commission rate, leverage, margin type and position mode,
 * with Binance's field sets
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api and
 * …/trade/rest-api/Change-Initial-Leverage, …/Change-Margin-Type, …/Change-Position-Mode).
 * Also installs the account arithmetic (`accountNumbers`, `available`) every route uses.
 */
import { Decimal, ZERO, dec, str } from '../../../core/decimal.ts';
import type { Symbol } from '../../../core/types.ts';
import { MAINT_MARGIN_RATE, intParam, maxNotional, strParam, type AccountNumbers, type Route, type SimContext, type SymbolNumbers } from '../context.ts';
import { apiError } from '../wire.ts';

/** One leverage bracket (GET /fapi/v1/leverageBracket `brackets[]`). */
export interface LeverageBracket {
  bracket: number;
  /** Highest initial leverage in this bracket. */
  initialLeverage: number;
  /** Notional cap and floor, USDT. */
  notionalCap: number;
  notionalFloor: number;
  maintMarginRatio: number;
  /** Maintenance amount: Σ over lower brackets of floor × (this ratio − lower ratio). */
  cum: number;
}

const BRACKET_TABLE: [number, number, number][] = [
  // [notionalCap, initialLeverage, maintMarginRatio]: Binance's BTCUSDT table (2024)
  [50_000, 125, 0.004],
  [600_000, 100, 0.005],
  [3_000_000, 75, 0.0065],
  [12_000_000, 50, 0.01],
  [70_000_000, 25, 0.02],
  [100_000_000, 20, 0.025],
  [230_000_000, 10, 0.05],
  [480_000_000, 5, 0.1],
  [600_000_000, 4, 0.125],
  [800_000_000, 3, 0.15],
  [1_200_000_000, 2, 0.25],
  [1_800_000_000, 1, 0.5],
];

/** The leverage brackets served for every symbol, `cum` derived exactly from the table. */
export const LEVERAGE_BRACKETS: readonly LeverageBracket[] = (() => {
  const out: LeverageBracket[] = [];
  let floor = 0;
  let cum = new Decimal(0);
  let prevRatio = new Decimal(0);
  BRACKET_TABLE.forEach(([cap, lev, ratio], i) => {
    cum = cum.plus(new Decimal(floor).times(new Decimal(ratio).minus(prevRatio)));
    out.push({ bracket: i + 1, initialLeverage: lev, notionalCap: cap, notionalFloor: floor, maintMarginRatio: ratio, cum: cum.toNumber() });
    floor = cap;
    prevRatio = new Decimal(ratio);
  });
  return out;
})();

/** Install `accountNumbers` (wallet, unrealized PnL, initial and maintenance margins) and `available` on the context. */
export function installAccount(ctx: SimContext): void {
  const { engine } = ctx;
  const markPrice = ctx.markPrice;
  const lev = ctx.lev;
  function accountNumbers(): AccountNumbers {
    const wallet = dec(engine.balance());
    let upnl = ZERO;
    let posIm = ZERO;
    let orderIm = ZERO;
    let maint = ZERO;
    const perSymbol = new Map<Symbol, SymbolNumbers>();
    const touch = (s: Symbol): SymbolNumbers => {
      let e = perSymbol.get(s);
      if (e === undefined) {
        const p = engine.position(s);
        const mark = markPrice(s);
        const qty = dec(p.quantity);
        const notional = qty.times(dec(mark));
        const up = dec(engine.unrealizedPnl(s, mark));
        const im = notional.abs().div(lev(s));
        const mm = notional.abs().times(MAINT_MARGIN_RATE);
        e = { qty, entry: dec(p.entryPrice), mark, up, notional, im, mm, orderIm: ZERO, realized: p.realizedPnl, fees: p.fees, updatedAt: ctx.wireTime(p.updatedAt) };
        perSymbol.set(s, e);
        upnl = upnl.plus(up);
        posIm = posIm.plus(im);
        maint = maint.plus(mm);
      }
      return e;
    };
    for (const p of engine.positions()) touch(p.symbol);
    for (const o of engine.openOrders()) {
      const e = touch(o.symbol);
      if (o.reduceOnly) continue;
      const m = dec(o.quantity).minus(dec(o.executedQuantity)).times(dec(o.price ?? e.mark)).div(lev(o.symbol));
      e.orderIm = e.orderIm.plus(m);
      orderIm = orderIm.plus(m);
    }
    return { wallet, upnl, posIm, orderIm, maint, perSymbol };
  }

  function available(): Decimal {
    const a = accountNumbers();
    return a.wallet.plus(a.upnl).minus(a.posIm).minus(a.orderIm);
  }

  ctx.accountNumbers = accountNumbers;
  ctx.available = available;
}

/** The account route family. */
export function accountRoutes(ctx: SimContext): Record<string, Route> {
  const { engine, symbols, marginType, makerFee, takerFee, leverage } = ctx;
  const markPrice = ctx.markPrice;
  const lev = ctx.lev;
  const symbolParam = ctx.symbolParam;
  const accountNumbers = (): AccountNumbers => ctx.accountNumbers();
  const openNotionals = (s: Symbol): { bids: string; asks: string } => ctx.openNotionals(s);
  const breakEven = (q: Decimal, e: Decimal): Decimal => ctx.breakEven(q, e);
  const w = (n: number) => () => n;

  function positionRows(filter: Symbol | null): unknown[] {
    const a = accountNumbers();
    const rows: unknown[] = [];
    for (const [s, e] of a.perSymbol) {
      if (filter !== null && s !== filter) continue;
      if (e.qty.isZero() && e.orderIm.isZero() && engine.openOrders(s).length === 0) continue;
      const n = openNotionals(s);
      rows.push({
        symbol: s,
        positionSide: 'BOTH',
        positionAmt: str(e.qty),
        entryPrice: str(e.entry),
        breakEvenPrice: str(breakEven(e.qty, e.entry)),
        markPrice: e.mark,
        unRealizedProfit: str(e.up),
        liquidationPrice: '0',
        isolatedMargin: '0',
        notional: str(e.notional),
        marginAsset: 'USDT',
        isolatedWallet: '0',
        initialMargin: str(e.im.plus(e.orderIm)),
        maintMargin: str(e.mm),
        positionInitialMargin: str(e.im),
        openOrderInitialMargin: str(e.orderIm),
        adl: 0,
        bidNotional: n.bids,
        askNotional: n.asks,
        updateTime: e.updatedAt,
      });
    }
    return rows;
  }

  function accountV3(): unknown {
    const a = accountNumbers();
    const avail = a.wallet.plus(a.upnl).minus(a.posIm).minus(a.orderIm);
    const margin = a.wallet.plus(a.upnl);
    const maxW = Decimal.max(ZERO, Decimal.min(avail, a.wallet));
    const t = ctx.balanceUpdatedAt();
    return {
      totalInitialMargin: str(a.posIm.plus(a.orderIm)),
      totalMaintMargin: str(a.maint),
      totalWalletBalance: str(a.wallet),
      totalUnrealizedProfit: str(a.upnl),
      totalMarginBalance: str(margin),
      totalPositionInitialMargin: str(a.posIm),
      totalOpenOrderInitialMargin: str(a.orderIm),
      totalCrossWalletBalance: str(a.wallet),
      totalCrossUnPnl: str(a.upnl),
      availableBalance: str(avail),
      maxWithdrawAmount: str(maxW),
      assets: [
        {
          asset: 'USDT',
          walletBalance: str(a.wallet),
          unrealizedProfit: str(a.upnl),
          marginBalance: str(margin),
          maintMargin: str(a.maint),
          initialMargin: str(a.posIm.plus(a.orderIm)),
          positionInitialMargin: str(a.posIm),
          openOrderInitialMargin: str(a.orderIm),
          crossWalletBalance: str(a.wallet),
          crossUnPnl: str(a.upnl),
          availableBalance: str(avail),
          maxWithdrawAmount: str(maxW),
          updateTime: t,
        },
      ],
      positions: [...a.perSymbol]
        .filter(([, e]) => !e.qty.isZero())
        .map(([s, e]) => ({
          symbol: s,
          positionSide: 'BOTH',
          positionAmt: str(e.qty),
          unrealizedProfit: str(e.up),
          isolatedMargin: '0',
          notional: str(e.notional),
          isolatedWallet: '0',
          initialMargin: str(e.im),
          maintMargin: str(e.mm),
          updateTime: e.updatedAt,
        })),
    };
  }

  /** GET /fapi/v2/positionRisk rows: every data symbol (flat ones too), with leverage and margin type. */
  function positionRowsV2(filter: Symbol | null): unknown[] {
    const a = accountNumbers();
    return symbols
      .filter((s) => filter === null || s === filter)
      .map((s) => {
        const e = a.perSymbol.get(s);
        const mark = e?.mark ?? markPrice(s);
        const qty = e?.qty ?? ZERO;
        const entry = e?.entry ?? ZERO;
        return {
          symbol: s,
          positionAmt: str(qty),
          entryPrice: str(entry),
          breakEvenPrice: str(breakEven(qty, entry)),
          markPrice: mark,
          unRealizedProfit: str(e?.up ?? ZERO),
          liquidationPrice: '0',
          leverage: String(lev(s)),
          maxNotionalValue: maxNotional(lev(s)),
          marginType: marginType.get(s) ?? 'cross',
          isolatedMargin: '0',
          isAutoAddMargin: 'false',
          positionSide: 'BOTH',
          notional: str(e?.notional ?? ZERO),
          isolatedWallet: '0',
          updateTime: e?.updatedAt ?? 0,
        };
      });
  }

  /** GET /fapi/v2/account: the v3 body plus the v2 flags and per-symbol position rows. */
  function accountV2(): unknown {
    const v3 = accountV3() as Record<string, unknown>;
    const a = accountNumbers();
    return {
      feeTier: 0,
      canTrade: true,
      canDeposit: true,
      canWithdraw: true,
      updateTime: 0,
      multiAssetsMargin: false,
      tradeGroupId: -1,
      ...v3,
      positions: symbols.map((s) => {
        const e = a.perSymbol.get(s);
        return {
          symbol: s,
          initialMargin: str(e === undefined ? ZERO : e.im.plus(e.orderIm)),
          maintMargin: str(e?.mm ?? ZERO),
          unrealizedProfit: str(e?.up ?? ZERO),
          positionInitialMargin: str(e?.im ?? ZERO),
          openOrderInitialMargin: str(e?.orderIm ?? ZERO),
          leverage: String(lev(s)),
          isolated: (marginType.get(s) ?? 'cross') === 'isolated',
          entryPrice: str(e?.entry ?? ZERO),
          breakEvenPrice: str(breakEven(e?.qty ?? ZERO, e?.entry ?? ZERO)),
          maxNotional: maxNotional(lev(s)),
          bidNotional: openNotionals(s).bids,
          askNotional: openNotionals(s).asks,
          positionSide: 'BOTH',
          positionAmt: str(e?.qty ?? ZERO),
          updateTime: e?.updatedAt ?? 0,
        };
      }),
    };
  }

  function balanceV3(): unknown {
    const a = accountNumbers();
    const avail = a.wallet.plus(a.upnl).minus(a.posIm).minus(a.orderIm);
    return [
      {
        accountAlias: 'SgsRmYFzAuTi',
        asset: 'USDT',
        balance: str(a.wallet),
        crossWalletBalance: str(a.wallet),
        crossUnPnl: str(a.upnl),
        availableBalance: str(avail),
        maxWithdrawAmount: str(Decimal.max(ZERO, Decimal.min(avail, a.wallet))),
        marginAvailable: true,
        updateTime: ctx.balanceUpdatedAt(),
      },
    ];
  }


  /**
   * GET /fapi/v1/leverageBracket: Binance's brackets; one table for every symbol (BTCUSDT's
   * shape; per-symbol brackets are not modelled). Numbers are JSON numbers as Binance sends them;
   * an array without `symbol`, one object with it
   * (https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Notional-and-Leverage-Brackets).
   */
  function leverageBracket(p: URLSearchParams): unknown {
    const one = (s: Symbol) => ({ symbol: s, brackets: LEVERAGE_BRACKETS.map((b) => ({ ...b })) });
    const s = p.get('symbol');
    if (s !== null && s !== '') return one(symbolParam(p));
    return symbols.map(one);
  }

  return {
    'GET /fapi/v1/leverageBracket': { weight: w(1), auth: 'signed', handler: leverageBracket },
    'GET /fapi/v1/commissionRate': { weight: w(20), auth: 'signed', handler: (p) => ({ symbol: symbolParam(p), makerCommissionRate: str(makerFee), takerCommissionRate: str(takerFee) }) },
    'GET /fapi/v3/positionRisk': { weight: w(5), auth: 'signed', handler: (p) => {
      const s = p.get('symbol');
      return positionRows(s !== null && s !== '' ? symbolParam(p) : null);
    } },
    'GET /fapi/v3/account': { weight: w(5), auth: 'signed', handler: accountV3 },
    'GET /fapi/v3/balance': { weight: w(5), auth: 'signed', handler: balanceV3 },
    'GET /fapi/v2/positionRisk': { weight: w(5), auth: 'signed', handler: (p) => {
      const s = p.get('symbol');
      return positionRowsV2(s !== null && s !== '' ? symbolParam(p) : null);
    } },
    'GET /fapi/v2/account': { weight: w(5), auth: 'signed', handler: accountV2 },
    'GET /fapi/v2/balance': { weight: w(5), auth: 'signed', handler: balanceV3 },
    'POST /fapi/v1/leverage': { weight: w(1), auth: 'signed', handler: (p) => {
      const symbol = symbolParam(p);
      const l = intParam(p, 'leverage', true)!;
      if (l < 1 || l > 125) throw apiError(-4028, [String(l)]);
      leverage.set(symbol, l);
      return { leverage: l, maxNotionalValue: maxNotional(l), symbol };
    } },
    'POST /fapi/v1/marginType': { weight: w(1), auth: 'signed', handler: (p) => {
      const symbol = symbolParam(p);
      const mt = strParam(p, 'marginType').toUpperCase();
      if (mt !== 'ISOLATED' && mt !== 'CROSSED') throw apiError(-1130, ['marginType']);
      const want = mt === 'ISOLATED' ? 'isolated' : 'cross';
      if ((marginType.get(symbol) ?? 'cross') === want) throw apiError(-4046);
      if (!dec(engine.position(symbol).quantity).isZero()) throw apiError(-4048);
      marginType.set(symbol, want);
      return { code: 200, msg: 'success' };
    } },
    'GET /fapi/v1/positionSide/dual': { weight: w(30), auth: 'signed', handler: () => ({ dualSidePosition: ctx.dualSide }) },
    'POST /fapi/v1/positionSide/dual': { weight: w(1), auth: 'signed', handler: (p) => {
      const v = strParam(p, 'dualSidePosition');
      if (v !== 'true' && v !== 'false') throw apiError(-1130, ['dualSidePosition']);
      const want = v === 'true';
      if (want === ctx.dualSide) throw apiError(-4059);
      if (engine.openOrders().length > 0) throw apiError(-4067);
      if (engine.positions().some((x) => !dec(x.quantity).isZero())) throw apiError(-4068);
      ctx.dualSide = want;
      return { code: 200, msg: 'success' };
    } },
  };
}
