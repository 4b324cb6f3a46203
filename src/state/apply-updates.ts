// Carrying cpuset changes out on running containers through the daemon's own runtime client.
// Updates of one decision go out together; one that fails (other than for a container that is
// gone, which the next reconcile releases) is retried with the container's cpuset of that time.
import type { Logger } from 'pino';
import type { Allocations, CpusetUpdate } from '../placement/types.js';
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
          this.log.info({ container: update.id, cpus: update.cpus.format(), mems: update.mems.format() }, 'updated cpuset of running container');
          return true;
        } catch (error) {
          const notFound = (error as { code?: unknown }).code === 5;
          if (!notFound) this.failed.add(update.id);
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

  /** The failed updates to try again, with each container's current allocation. */
  takeRetries(snapshot: StateSnapshot): CpusetUpdate[] {
    const retries: CpusetUpdate[] = [];
    for (const id of this.failed) {
      const allocation = snapshot.allocations.get(id);
      if (allocation !== undefined) retries.push({ id, cpus: allocation.cpus, mems: allocation.mems });
    }
    this.failed.clear();
    return retries;
  }
}
