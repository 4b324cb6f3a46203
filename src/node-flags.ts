// The Node flags the daemon runs with: examples/cri-rebalancer.service passes them, and so do the
// tests and benchmarks that start it (a unit test keeps the unit file in step). Both keep garbage
// collection off the path of kubelet's calls (measured in front of containerd, 40-60 creates):
// - a young generation of 16 MiB from the start. At the daemon's slow allocation V8 keeps it at
//   1 MiB and scavenged it about every other create+start, 1-2 ms each on whichever call ran out;
//   with 16 MiB, 3 scavenges instead of 20, and a create 0.1-0.25 ms shorter at the median;
// - no memory reducer: when the daemon goes quiet V8 shrinks the heap with full collections of
//   about 35 ms, which the next call waits for. The heap stays at the size the daemon needs.
export const daemonNodeFlags: readonly string[] = ['--min-semi-space-size=16', '--no-memory-reducer'];
