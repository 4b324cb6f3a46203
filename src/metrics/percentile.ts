// Order statistics for `status`'s call times, the benchmarks and the VM guest's measurements:
// nearest rank, so every figure is one that was measured.

/** The value at `fraction` (0.5 for the median, 0.99 for p99) of values in any order; NaN for none. */
export function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}
