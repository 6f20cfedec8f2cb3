/**
 * HeldPosition: what a bar strategy believes it holds follows the executor's answers — a denied or
 * rejected order puts the previous state back (so the next bar decides again), a refused emit is
 * undone, a reconciled position is adopted only with no order in flight.
 */
import { describe, expect, it } from 'vitest';
import type { OrderIntent, PositionChanged } from '../../src/core/types.ts';
import { HeldPosition } from './held-position.ts';

const intent = (id: string): OrderIntent => ({ clientOrderId: id, symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.01', reduceOnly: false, strategyId: 's', refPrice: '100', createdAt: 0 });
const pos = (quantity: string, source: PositionChanged['source']): PositionChanged => ({ type: 'PositionChanged', ts: 0, source, position: { symbol: 'BTCUSDT', quantity, entryPrice: '100', realizedPnl: '0', fees: '0', updatedAt: 0 } });

describe('HeldPosition', () => {
  it('a denied entry rolls back to FLAT; a filled one stays', () => {
    const h = new HeldPosition();
    h.set('LONG');
    expect(h.onOrderUpdate({ type: 'OrderDenied', ts: 0, intent: intent('a'), check: 'tradingState', reason: 'halted' })).toBe(true);
    expect(h.held).toBe('FLAT');
    expect(h.refusals).toBe(1);
    h.set('SHORT');
    h.onOrderUpdate({ type: 'OrderSubmitted', ts: 0, intent: intent('b') });
    expect(h.onPosition(pos('0', 'reconcile'))).toBeNull(); // an order in flight: not adopted
    h.onOrderUpdate({ type: 'OrderRejected', ts: 0, clientOrderId: 'b', reason: '-2019' } as never);
    expect(h.held).toBe('FLAT');
    h.set('LONG');
    h.onOrderUpdate({ type: 'OrderSubmitted', ts: 0, intent: intent('c') });
    h.onOrderUpdate({ type: 'OrderFilled', ts: 0, status: 'FILLED', fill: { clientOrderId: 'c' } } as never);
    expect(h.held).toBe('LONG');
  });

  it('undo() reverts a signal the host refused; a reconciled position is adopted when nothing is in flight', () => {
    const h = new HeldPosition();
    h.set('LONG');
    h.undo();
    expect(h.held).toBe('FLAT');
    expect(h.onPosition(pos('-0.5', 'fill' as PositionChanged['source']))).toBeNull();
    expect(h.onPosition(pos('-0.5', 'reconcile'))).toBe('SHORT');
    expect(h.held).toBe('SHORT');
  });
});
