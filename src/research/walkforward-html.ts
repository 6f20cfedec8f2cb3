import type { WalkForwardResult } from './walkforward.ts';
export function renderWalkForwardHtml(_r: WalkForwardResult, _d: unknown): string {
  return '';
}
