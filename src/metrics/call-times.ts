// How long kubelet's calls take in the daemon and in the runtime, per CRI method, over each
// method's most recent calls: what `status` shows an operator who asks what the proxy costs.
// Bookkeeping only: the relay measures, this keeps and summarizes.
import type { RelayedCall } from '../cri/relay.js';
import { GrpcStatus } from '../cri/grpc-status.js';
import { percentile } from './percentile.js';

export interface CallTimes {
  /** Service and method, e.g. "RuntimeService/CreateContainer". */
  readonly method: string;
  /** Calls since the daemon started. */
  readonly calls: number;
  /** Of those, calls that ended with another status than OK. */
  readonly errors: number;
  /** Over the recent calls: time in the daemon (relay, decision, checkpoint write). */
  readonly daemonP50Ms: number;
  readonly daemonP99Ms: number;
  /** Over the recent calls that reached the runtime: time in the runtime; null when none did. */
  readonly runtimeP50Ms: number | null;
}

/** Recent calls kept per method: enough for a stable p99, a few KiB each. */
export const recentCallsPerMethod = 256;
/**
 * Methods tracked by name; calls to further paths, or to paths not shaped like gRPC's
 * "/package.Service/Method" (a misbehaving client), are counted together.
 */
const maxMethods = 64;
const otherMethods = 'other methods';
const grpcPath = /^\/(?:[A-Za-z_][\w]*\.)*([A-Za-z_][\w]*)\/([A-Za-z_][\w]*)$/;

class MethodTimes {
  calls = 0;
  errors = 0;
  private next = 0;
  readonly daemonMs: number[] = [];
  /** NaN where the call never reached the runtime. */
  readonly runtimeMs: number[] = [];

  add(call: RelayedCall): void {
    this.calls += 1;
    if (call.code !== GrpcStatus.OK) this.errors += 1;
    this.daemonMs[this.next] = call.durationMs - (call.runtimeMs ?? 0);
    this.runtimeMs[this.next] = call.runtimeMs ?? Number.NaN;
    this.next = (this.next + 1) % recentCallsPerMethod;
  }
}

/** Milliseconds to the microsecond: finer is noise. */
function microseconds(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** "/runtime.v1.RuntimeService/CreateContainer" → "RuntimeService/CreateContainer"; null for other shapes. */
function methodName(path: string): string | null {
  const match = grpcPath.exec(path);
  return match === null ? null : `${match[1]}/${match[2]}`;
}

export class CallTimeRecorder {
  private readonly methods = new Map<string, MethodTimes>();

  record(call: RelayedCall): void {
    let name = methodName(call.method) ?? otherMethods;
    if (!this.methods.has(name) && this.methods.size >= maxMethods - 1) name = otherMethods;
    let times = this.methods.get(name);
    if (times === undefined) {
      times = new MethodTimes();
      this.methods.set(name, times);
    }
    times.add(call);
  }

  /** Every method called so far, by name. */
  summary(): CallTimes[] {
    return [...this.methods.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([method, times]) => {
        const reached = times.runtimeMs.filter((ms) => !Number.isNaN(ms));
        return {
          method,
          calls: times.calls,
          errors: times.errors,
          daemonP50Ms: microseconds(percentile(times.daemonMs, 0.5)),
          daemonP99Ms: microseconds(percentile(times.daemonMs, 0.99)),
          runtimeP50Ms: reached.length === 0 ? null : microseconds(percentile(reached, 0.5)),
        };
      });
  }
}
