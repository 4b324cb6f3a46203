// Releasing several containers in one turn, pure: each release goes through the placement
// engine (the shared pool grows) and into the history. The lifecycle (stop, remove, a failed
// create) and reconcile (gone, exited, lost) release the same way.
import type { CpusetUpdate } from '../placement/types.js';
import { withRelease } from './changes.js';
import type { PlacementEngine } from './ports.js';
import type { StateSnapshot } from './types.js';

export interface ContainerRelease {
  readonly id: string;
  readonly reason: string;
}

export interface Releases {
  readonly snapshot: StateSnapshot;
  /** The shared containers' cpuset changes, in decision order (finalUpdates folds them). */
  readonly updates: readonly CpusetUpdate[];
  /** The ids released; ids the state does not know are passed over. */
  readonly released: readonly string[];
}

export function withReleases(snapshot: StateSnapshot, engine: Pick<PlacementEngine, 'release'>, releases: readonly ContainerRelease[], at: string): Releases {
  let next = snapshot;
  const updates: CpusetUpdate[] = [];
  const released: string[] = [];
  for (const { id, reason } of releases) {
    if (!next.allocations.has(id) && !next.containers.has(id)) continue;
    // A record without an allocation frees no CPUs: only the record goes.
    const freed = next.allocations.has(id) ? engine.release(next.allocations, id) : { allocations: next.allocations, updates: [] };
    next = withRelease(next, { id, allocations: freed.allocations, updates: freed.updates, reasons: [reason], at });
    updates.push(...freed.updates);
    released.push(id);
  }
  return { snapshot: next, updates, released };
}
