// Carrying cpuset changes out on running containers through the daemon's own runtime client.
// Updates of one decision go out together; one that fails (other than for a container that is
// gone, which the next reconcile releases) is retried with the container's cpuset of that time.
// The applier also remembers the cpuset each container was last created with, updated to or seen
// with in the runtime, so a StartContainer can tell at no cost whether the runtime is behind.
import type { Logger } from 'pino';
import type { Allocation, Allocations, CpusetUpdate } from '../placement/types.js';
import type { CpuSet } from '../topology/cpuset.js';
import { isPendingKey } from './changes.js';
import type { RuntimePort } from './ports.js';
import type { StateSnapshot } from './types.js';

/** Each changed container once, with where it ends up in `allocations` (released ones dropped). */
export function finalUpdates(updates: readonly CpusetUpdate[], allocations: Allocations): CpusetUpdate[] {
  return [...new Set(updates.map((update) => update.id))].flatMap((id) => {
    const allocation = allocations.get(id);
    return allocation === undefined ? [] : [{ id, cpus: allocation.cpus, mems: allocation.mems }];
  });
}

export class CpusetApplier {
  private readonly failed = new Set<string>();
  /** Container id → the cpuset the runtime holds for it, as far as the daemon knows. */
  private readonly inRuntime = new Map<string, { readonly cpus: CpuSet; readonly mems: CpuSet }>();

  constructor(
    private readonly runtime: Pick<RuntimePort, 'updateCpuset'>,
    private readonly log: Logger,
  ) {}

  /**
   * Applies the updates, one per container (a later update of the same container wins: several
   * decisions in one turn may move it twice, and parallel calls must not race). Pending creates
   * have no container yet: their cpuset goes with the create. Resolves to how many succeeded.
   */
  async apply(updates: readonly CpusetUpdate[]): Promise<number> {
    const latest = new Map(updates.map((update) => [update.id, update]));
    const live = [...latest.values()].filter((update) => !isPendingKey(update.id));
    const results = await Promise.all(
      live.map(async (update) => {
        try {
          await this.runtime.updateCpuset(update.id, update.cpus, update.mems);
          this.failed.delete(update.id);
          this.inRuntime.set(update.id, { cpus: update.cpus, mems: update.mems });
          this.log.info({ container: update.id, cpus: update.cpus.format(), mems: update.mems.format() }, 'updated cpuset of running container');
          return true;
        } catch (error) {
          const notFound = (error as { code?: unknown }).code === 5;
          if (!notFound) this.failed.add(update.id);
          this.inRuntime.delete(update.id);
          this.log.warn(
            { container: update.id, cpus: update.cpus.format(), error: (error as Error).message },
            notFound ? 'container gone before its cpuset update; the next reconcile releases it' : 'cpuset update failed; will retry at the next reconcile',
          );
          return false;
        }
      }),
    );
    return results.filter(Boolean).length;
  }

  /** The runtime holds this cpuset for the container (it was created with it, or reported it). */
  record(id: string, cpus: CpuSet, mems: CpuSet): void {
    this.inRuntime.set(id, { cpus, mems });
  }

  /** Whether the runtime is known to hold the allocation's cpuset (false when unknown). */
  isApplied(allocation: Allocation): boolean {
    const held = this.inRuntime.get(allocation.id);
    return held !== undefined && held.cpus.equals(allocation.cpus) && held.mems.equals(allocation.mems);
  }

  /**
   * The failed updates to try again, with each container's current allocation. Also forgets what
   * it knew of containers the state no longer has.
   */
  takeRetries(snapshot: StateSnapshot): CpusetUpdate[] {
    for (const id of this.inRuntime.keys()) if (!snapshot.allocations.has(id)) this.inRuntime.delete(id);
    const retries: CpusetUpdate[] = [];
    for (const id of this.failed) {
      const allocation = snapshot.allocations.get(id);
      if (allocation !== undefined) retries.push({ id, cpus: allocation.cpus, mems: allocation.mems });
    }
    this.failed.clear();
    return retries;
  }
}
