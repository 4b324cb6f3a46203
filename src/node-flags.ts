// The Node flags the daemon runs with: examples/cri-rebalancer.service passes them, and so do the
// tests and benchmarks that start it (a unit test keeps the unit file in step).
// --no-memory-reducer: when the daemon goes quiet between calls, V8's memory reducer shrinks the
// heap with full collections (about 35 ms each here), and the next call waits for them. Without
// it the heap stays at the size the daemon needs, and a create spends 0.15-0.22 ms less inside
// the daemon (bench:proxy-containerd -- --baseline . --baseline-node-flags "").
// Tried and left out: a young generation of 16 MiB from the start (--min-semi-space-size=16).
// It cut the scavenges from 20 to 3 a run, but made every create+start 2 points slower on the
// wall clock in five runs: the daemon's allocations no longer fit the caches.
export const daemonNodeFlags: readonly string[] = ['--no-memory-reducer'];
