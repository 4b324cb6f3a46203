// The daemon's side of the control socket: answers from the store's current snapshot.
import type { CallTimeRecorder } from '../metrics/call-times.js';
import type { PlacementEngine } from '../state/ports.js';
import type { AllocationStore } from '../state/store.js';
import type { Topology } from '../topology/types.js';
import { buildStatusReport, explainContainer } from './report.js';
import type { ControlHandler } from './server.js';

export function createControlHandler(store: AllocationStore, engine: PlacementEngine, topology: Topology, callTimes: CallTimeRecorder): ControlHandler {
  return (request) => {
    const snapshot = store.snapshot;
    if (request.command === 'status') {
      const sets = { reserved: engine.reserved(), shared: engine.sharedPool(snapshot.allocations) };
      return { ok: true, result: buildStatusReport(topology, snapshot, sets, store.path, callTimes.summary()) };
    }
    const explained = explainContainer(snapshot, request.container);
    return explained.ok ? { ok: true, result: explained.report } : { ok: false, error: explained.message };
  };
}
