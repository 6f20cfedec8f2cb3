/**
 * Prometheus metrics (prom-client) of a running bot, served at `GET /metrics` (behind the token)
 * or on `metrics.port` (loopback, no token). Default Node process metrics plus `perpbot_*`:
 *
 * - counters from the bus (one subscriber, `api-metrics`): klines and mark prices received per
 *   symbol, signals by strategy and target, orders by outcome (submitted, accepted, rejected by
 *   Binance error code, denied by check), fills by symbol, trading-state changes;
 * - histograms of order latency, intent → acknowledgement and intent → first fill (event times);
 * - gauges read at scrape time: stream message age, reconnects, REST weight used, bus queue depth
 *   and conflations per subscriber, writer backlog and failures, trading state, positions,
 *   unrealized and realized PnL, equity.
 *
 * Naming: base units in names (`_seconds`, `_usdt`), `_total` on counters, labels bounded by the
 * configured symbols, strategies, check names and Binance error codes.
 */
import client from 'prom-client';
import type { Kernel } from '../src/kernel/kernel.ts';
import type { ApiBackend } from './backend.ts';

const { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } = client;

/** How often the event-loop lag (`nodejs_eventloop_lag_*`) is sampled, ms. */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** The registry of one API server and its bus subscription. */
export interface BotMetrics {
  registry: InstanceType<typeof Registry>;
  /** Stop the bus subscription. */
  close(): void;
}

/**
 * Build the registry. With a running bot (`backend.kernel`), subscribe to its bus; for a finished
 * run only the process metrics are exported.
 */
export function createMetrics(backend: ApiBackend): BotMetrics {
  const registry = new Registry();
  // The event-loop lag is sampled every 100 ms, not prom-client's default 10 ms: its timer woke
  // the bot 100 times a second, ~0.4 % of a core on its own (bench:scale, 10 symbols); a stall
  // long enough to matter still spans a sample.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const kernel = backend.kernel;
  if (!kernel) return { registry, close: () => {} };

  const klines = new Counter({ name: 'perpbot_klines_received_total', help: 'Closed 1m klines received, per symbol', labelNames: ['symbol'], registers: [registry] });
  const marks = new Counter({ name: 'perpbot_mark_prices_received_total', help: 'Mark price updates handled by the API subscriber (conflated updates are not counted), per symbol', labelNames: ['symbol'], registers: [registry] });
  const signals = new Counter({ name: 'perpbot_signals_total', help: 'Signals emitted, by strategy and target position', labelNames: ['strategy', 'target'], registers: [registry] });
  const orders = new Counter({ name: 'perpbot_orders_total', help: 'Order outcomes: submitted, accepted, rejected (by Binance error code), denied (by check), canceled, expired', labelNames: ['outcome', 'reason'], registers: [registry] });
  const fills = new Counter({ name: 'perpbot_fills_total', help: 'Fills, per symbol', labelNames: ['symbol'], registers: [registry] });
  const stateChanges = new Counter({ name: 'perpbot_trading_state_changes_total', help: 'Trading-state changes, by new state', labelNames: ['state'], registers: [registry] });
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  const ackLatency = new Histogram({ name: 'perpbot_order_ack_latency_seconds', help: 'Order intent → venue acknowledgement', buckets, registers: [registry] });
  const fillLatency = new Histogram({ name: 'perpbot_order_fill_latency_seconds', help: 'Order intent → first fill', buckets, registers: [registry] });

  const intents = new Map<string, number>();
  const consumer = kernel.bus.consume(
    ['market.kline.*', 'market.markPrice.*', 'signal.*', 'order.update', 'risk.state'],
    (m) => {
      switch (m.type) {
        case 'KlineClosed':
          return void klines.inc({ symbol: m.kline.symbol });
        case 'MarkPriceUpdated':
          return void marks.inc({ symbol: m.symbol });
        case 'SignalEmitted':
          return void signals.inc({ strategy: m.strategyId, target: m.target });
        case 'TradingStateChanged':
          return void stateChanges.inc({ state: m.state });
        case 'OrderSubmitted':
          orders.inc({ outcome: 'submitted', reason: '' });
          if (intents.size > 10_000) intents.clear();
          intents.set(m.intent.clientOrderId, m.intent.createdAt);
          return;
        case 'OrderDenied':
          return void orders.inc({ outcome: 'denied', reason: m.check });
        case 'OrderAccepted': {
          orders.inc({ outcome: 'accepted', reason: '' });
          const t0 = intents.get(m.clientOrderId);
          if (t0 !== undefined) ackLatency.observe(Math.max(0, m.ts - t0) / 1000);
          return;
        }
        case 'OrderRejected':
          intents.delete(m.clientOrderId);
          return void orders.inc({ outcome: 'rejected', reason: String(m.code ?? 'unknown') });
        case 'OrderCanceled':
          intents.delete(m.clientOrderId);
          return void orders.inc({ outcome: 'canceled', reason: '' });
        case 'OrderExpired':
          intents.delete(m.clientOrderId);
          return void orders.inc({ outcome: 'expired', reason: '' });
        case 'OrderFilled': {
          fills.inc({ symbol: m.fill.symbol });
          const t0 = intents.get(m.fill.clientOrderId);
          if (t0 !== undefined) {
            fillLatency.observe(Math.max(0, m.fill.time - t0) / 1000);
            intents.delete(m.fill.clientOrderId); // first fill only
          }
          return;
        }
        default:
          return;
      }
    },
    { name: 'api-metrics' },
  );

  gauges(kernel, backend, registry);
  return { registry, close: () => consumer.close() };
}

/** Gauges read from the kernel at scrape time. */
function gauges(kernel: Kernel, backend: ApiBackend, registry: InstanceType<typeof Registry>): void {
  const g = (name: string, help: string, labelNames: string[], collect: (gauge: InstanceType<typeof Gauge>) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        collect(this);
      },
    });
  const snap = () => kernel.healthSnapshot() as ReturnType<Kernel["healthSnapshot"]> & { counters: Record<string, number> };
  g('perpbot_stream_message_age_seconds', 'Age of the last market message per source (stream), seconds', ['source'], (m) => {
    for (const [s, h] of Object.entries(snap().sources)) if (h.lastMessageAt !== null) m.set({ source: s }, Math.max(0, Date.now() - h.lastMessageAt) / 1000);
  });
  g('perpbot_stream_connected', '1 while the source is connected or replaying', ['source'], (m) => {
    for (const [s, h] of Object.entries(snap().sources)) m.set({ source: s }, h.state === 'connected' || h.state === 'replaying' ? 1 : 0);
  });
  // Cumulative counts the components keep themselves: exported as counters set at scrape time.
  const fromCounters = (name: string, help: string, key: string) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const v = snap().counters[key];
        this.reset();
        if (typeof v === 'number' && v > 0) this.inc(v);
      },
    });
  fromCounters('perpbot_stream_reconnects_total', 'Market stream reconnections', 'marketReconnects');
  fromCounters('perpbot_stream_malformed_frames_total', 'Malformed market frames skipped', 'marketMalformedFrames');
  fromCounters('perpbot_venue_retries_total', 'Order request retries (live)', 'venueRetries');
  fromCounters('perpbot_venue_unknown_outcomes_total', 'Orders whose outcome was unknown after sending (live)', 'venueUnknownOutcomes');
  new Counter({
    name: 'perpbot_rest_rate_limited_total',
    help: 'Binance REST answers 429 (request rate limit) and 418 (IP ban), any call (live)',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      this.reset();
      const c = snap().counters;
      for (const [status, key] of [['429', 'rest429'], ['418', 'rest418']] as const) {
        const v = c[key];
        this.inc({ status }, typeof v === 'number' ? v : 0);
      }
    },
  });
  g('perpbot_rest_weight_used', 'Binance REST request weight used in the current minute (live)', [], (m) => {
    const v = snap().counters.rateLimitWeight1m;
    if (typeof v === 'number') m.set(v);
  });
  g('perpbot_bus_queue_depth', 'Messages waiting per bus subscriber', ['subscriber'], (m) => {
    for (const s of kernel.bus.stats().subscribers) m.set({ subscriber: s.name }, s.depth);
  });
  new Counter({
    name: 'perpbot_bus_conflated_messages_total',
    help: 'Messages replaced by a newer one (latest wins) per bus subscriber',
    labelNames: ['subscriber'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of kernel.bus.stats().subscribers) if (s.conflated > 0) this.inc({ subscriber: s.name }, s.conflated);
    },
  });
  new Counter({
    name: 'perpbot_bus_handler_errors_total',
    help: 'Bus handler failures per subscriber',
    labelNames: ['subscriber'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of kernel.bus.stats().subscribers) if (s.handlerErrors > 0) this.inc({ subscriber: s.name }, s.handlerErrors);
    },
  });
  g('perpbot_writer_backlog_batches', 'Record batches handed to the writer thread and not committed yet', [], (m) => m.set(kernel.writer.backlog));
  new Counter({
    name: 'perpbot_writer_failures_total',
    help: 'Database write failures',
    registers: [registry],
    collect() {
      this.reset();
      if (kernel.writer.errorCount > 0) this.inc(kernel.writer.errorCount);
    },
  });
  g('perpbot_trading_state', '1 for the current trading state', ['state'], (m) => {
    const cur = kernel.executor.tradingState().state;
    for (const s of ['ACTIVE', 'REDUCING', 'HALTED']) m.set({ state: s }, s === cur ? 1 : 0);
  });
  g('perpbot_position_quantity', 'Signed position per symbol, base asset', ['symbol'], (m) => {
    for (const s of backend.symbols()) m.set({ symbol: s }, 0);
    for (const [s, q] of Object.entries(kernel.executor.positionSnapshot())) m.set({ symbol: s }, Number(q));
  });
  g('perpbot_unrealized_pnl_usdt', 'Unrealized PnL per symbol at the latest mark price, USDT', ['symbol'], (m) => {
    for (const p of backend.positions()) if (p.unrealizedPnl !== null) m.set({ symbol: p.symbol }, Number(p.unrealizedPnl));
  });
  g('perpbot_realized_pnl_usdt', 'Realized PnL before fees since the bot started, USDT', [], (m) => m.set(Number(kernel.executor.totals().realizedPnl)));
  g('perpbot_fees_usdt', 'Fees paid since the bot started, USDT', [], (m) => m.set(Number(kernel.executor.totals().fees)));
  g('perpbot_equity_usdt', 'Equity: wallet balance + unrealized PnL, USDT', [], (m) => m.set(Number(backend.account().equity)));
  g('perpbot_open_orders', 'Open orders in the executor book', [], (m) => m.set(kernel.executor.openOrders().length));
}
