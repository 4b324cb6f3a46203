// The Node flags the daemon runs with: examples/cri-rebalancer.service passes them, and so do the
// tests and benchmarks that start it (a unit test keeps the unit file in step); a daemon started
// without them says so at start.
// --no-memory-reducer: when the daemon goes quiet between calls, V8's memory reducer shrinks the
// heap with full collections (about 35 ms each here, two in a run of 40 creates), and a call that
// comes meanwhile waits. Without it the heap stays at the size the daemon needs. Medians barely
// see it (bench:proxy-containerd -- --baseline . --baseline-node-flags "", five runs: a create
// inside the daemon -0.22 to +0.02 ms, median -0.15; the wall clock -2.5 to +2.2 points, median
// -0.4); the 35 ms pauses are what it removes.
// Tried and left out: a young generation of 16 MiB from the start (--min-semi-space-size=16).
// It cut the scavenges from 20 to 3 a run, but made every create+start 2 points slower on the
// wall clock in five runs: the daemon's allocations no longer fit the caches.
export const daemonNodeFlags: readonly string[] = ['--no-memory-reducer'];

/** The daemon's flags that a Node started with `execArgv` lacks. */
export function missingNodeFlags(execArgv: readonly string[]): string[] {
  return daemonNodeFlags.filter((flag) => !execArgv.includes(flag));
}
