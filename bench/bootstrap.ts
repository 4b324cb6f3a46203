// How far a benchmark's median can be trusted on a noisy machine: a bootstrap interval, seeded so
// that a run's numbers repeat.
import { percentile } from '../src/metrics/percentile.js';
import { seededRandom } from './random.js';

/** The 95% bootstrap interval of the median of `values` (empty input: NaN, NaN). */
export function medianInterval(values: readonly number[], resamples = 2000): [number, number] {
  const next = seededRandom(values.length);
  const medians = Array.from({ length: resamples }, () => percentile(Array.from(values, () => values[Math.floor(next() * values.length)] ?? Number.NaN), 0.5));
  return [percentile(medians, 0.025), percentile(medians, 0.975)];
}
