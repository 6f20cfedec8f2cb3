/**
 * The deflated Sharpe ratio: Bailey, D. H. & López de Prado, M. (2014), "The Deflated Sharpe
 * Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality", Journal of
 * Portfolio Management 40(5), 94–107.
 *
 *   SR₀ = √V[SR̂ₙ] · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N·e)))        (expected max of N Sharpes under H₀)
 *   DSR = Φ( (SR̂ − SR₀) √(T − 1) / √(1 − γ̂₃ SR̂ + (γ̂₄ − 1)/4 · SR̂²) )
 *
 * with SR̂ the selected (best) trial's non-annualised Sharpe over T returns, γ̂₃ their skewness,
 * γ̂₄ their kurtosis (not excess: 3 for a normal), V the variance of the N trials' Sharpes and
 * γ ≈ 0.5772 the Euler–Mascheroni constant. DSR is the probability that the true Sharpe is above
 * 0 after allowing for the N trials tried; ≥ 0.95 is the usual bar.
 */
import cdf from '@stdlib/stats-base-dists-normal-cdf';
import quantile from '@stdlib/stats-base-dists-normal-quantile';

const EULER_GAMMA = 0.5772156649015329;

/** Standard normal CDF Φ (stdlib). */
export function normCdf(x: number): number {
  return cdf(x, 0, 1);
}

const probit = (p: number): number => quantile(p, 0, 1);

/** Skewness m₃/m₂^1.5 and kurtosis m₄/m₂² (not excess) from the central moments of `r`. */
export function moments(r: readonly number[]): { skewness: number; kurtosis: number } {
  const n = r.length;
  const m = r.reduce((a, b) => a + b, 0) / n;
  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  for (const x of r) {
    const d = x - m;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  return { skewness: m3 / m2 ** 1.5, kurtosis: m4 / (m2 * m2) };
}

/** Per-period Sharpe ratio mean / sample standard deviation; null with < 2 returns or no variance. */
export function periodSharpe(r: readonly number[]): number | null {
  if (r.length < 2) return null;
  const m = r.reduce((a, b) => a + b, 0) / r.length;
  const v = r.reduce((a, x) => a + (x - m) ** 2, 0) / (r.length - 1);
  return v > 0 ? m / Math.sqrt(v) : null;
}

/**
 * SR₀, the expected maximum of `n` per-period Sharpe ratios of unskilled trials whose Sharpes
 * have variance `variance` (Bailey & López de Prado 2014, eq. for SR₀); 0 for n < 2.
 */
export function expectedMaxSharpe(n: number, variance: number): number {
  if (n < 2) return 0;
  return Math.sqrt(variance) * ((1 - EULER_GAMMA) * probit(1 - 1 / n) + EULER_GAMMA * probit(1 - 1 / (n * Math.E)));
}

/**
 * The probabilistic Sharpe ratio of `sr` (per period, over `t` returns with skewness `skew` and
 * kurtosis `kurt`, 3 = normal) against the benchmark `sr0`; with sr0 = {@link expectedMaxSharpe}
 * it is the deflated Sharpe ratio (Bailey & López de Prado 2014). null when the variance term
 * 1 − skew·SR + (kurt − 1)/4·SR² is not positive.
 */
export function dsrFromMoments(sr: number, t: number, skew: number, kurt: number, sr0: number): number | null {
  const denom = 1 - skew * sr + ((kurt - 1) / 4) * sr * sr;
  if (!(denom > 0)) return null;
  return normCdf(((sr - sr0) * Math.sqrt(t - 1)) / Math.sqrt(denom));
}

/** The deflated Sharpe ratio and its parts. */
export interface DeflatedSharpe {
  /** DSR, a probability in [0, 1]; null when it cannot be computed (see `note`). */
  dsr: number | null;
  /** Selected trial's per-period (daily) Sharpe. */
  sharpe: number | null;
  /** SR₀: the Sharpe the best of N unskilled trials would show, per period. */
  expectedMaxSharpe: number | null;
  /** Number of trials N (the valid ones with a Sharpe). */
  trials: number;
  /** Returns T of the selected trial. */
  observations: number;
  skewness: number | null;
  /** Kurtosis γ₄ (3 for a normal distribution). */
  kurtosis: number | null;
  /** Why dsr is null, or caveats. */
  note: string;
}

/**
 * Deflated Sharpe ratio of the selected trial.
 * @param best the selected trial's per-period returns (daily fractions)
 * @param trialSharpes every trial's per-period Sharpe (nulls are ignored)
 */
export function deflatedSharpe(best: readonly number[], trialSharpes: ReadonlyArray<number | null>): DeflatedSharpe {
  const srs = trialSharpes.filter((s): s is number => s !== null && Number.isFinite(s));
  const n = srs.length;
  const t = best.length;
  const sr = periodSharpe(best);
  const base = { trials: n, observations: t, sharpe: sr };
  if (sr === null || t < 4 || n < 1) {
    return { ...base, dsr: null, expectedMaxSharpe: null, skewness: null, kurtosis: null, note: `needs ≥ 4 daily returns with variance (have ${t}) and ≥ 1 trial with a Sharpe` };
  }
  const { skewness: skew, kurtosis: kurt } = moments(best);
  let v = 0;
  if (n >= 2) {
    const m = srs.reduce((a, b) => a + b, 0) / n;
    v = srs.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1);
  }
  const sr0 = expectedMaxSharpe(n, v);
  const dsr = dsrFromMoments(sr, t, skew, kurt, sr0);
  if (dsr === null) return { ...base, dsr: null, expectedMaxSharpe: sr0, skewness: skew, kurtosis: kurt, note: 'non-positive variance term (extreme skew/kurtosis for so few returns)' };
  return { ...base, dsr, expectedMaxSharpe: sr0, skewness: skew, kurtosis: kurt, note: t < 30 ? `only ${t} daily returns: a rough estimate` : '' };
}
