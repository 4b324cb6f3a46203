// The allocations a decision returns: an immutable map that shares its key index with the one it
// came from, so a decision costs a copy of one array of pointers plus what it changes, rather
// than a rebuilt Map of every container (that copy was the largest cost of a decision). It reads
// and iterates exactly like a Map that went through the same sets and deletes, in the same order.
import type { Allocation, Allocations } from './types.js';

/** Keys added since the index was built, or deleted from it, beyond which the index is rebuilt. */
const maxPending = 64;

/** Entries by position; a deleted entry leaves `undefined` until the next rebuild. */
interface Base {
  readonly ids: readonly string[];
  readonly values: readonly (Allocation | undefined)[];
  readonly index: ReadonlyMap<string, number>;
  readonly deleted: number;
}

const emptyBase: Base = { ids: [], values: [], index: new Map(), deleted: 0 };

export class AllocationMap implements ReadonlyMap<string, Allocation> {
  private constructor(
    private readonly base: Base,
    /** Keys not live in the base, in insertion order. */
    private readonly added: ReadonlyMap<string, Allocation>,
    readonly size: number,
  ) {}

  static readonly empty = new AllocationMap(emptyBase, new Map(), 0);

  /** The allocations with `changed` set (in order) after `removedId` is deleted. */
  static change(allocations: Allocations, changed: readonly Allocation[], removedId: string | null): AllocationMap {
    const from = allocations instanceof AllocationMap ? allocations : AllocationMap.rebuilt(allocations);
    const { ids, index } = from.base;
    const values = from.base.values.slice();
    let deleted = from.base.deleted;
    let added: Map<string, Allocation> | null = null;
    const addedMap = (): Map<string, Allocation> => (added ??= new Map(from.added));
    let size = from.size;
    const liveAt = (id: string): number => {
      const position = index.get(id);
      return position !== undefined && values[position] !== undefined ? position : -1;
    };
    if (removedId !== null) {
      const position = liveAt(removedId);
      if (position >= 0) {
        values[position] = undefined;
        deleted++;
        size--;
      } else if (from.added.has(removedId)) {
        addedMap().delete(removedId);
        size--;
      }
    }
    for (const allocation of changed) {
      const position = liveAt(allocation.id);
      if (position >= 0) {
        values[position] = allocation;
        continue;
      }
      const pending = addedMap();
      if (!pending.has(allocation.id)) size++;
      pending.set(allocation.id, allocation);
    }
    const next = new AllocationMap({ ids, values, index, deleted }, added ?? from.added, size);
    return (added ?? from.added).size + deleted > maxPending ? AllocationMap.rebuilt(next) : next;
  }

  /** A map with a fresh index over the entries of `allocations`, in their order. */
  private static rebuilt(allocations: Allocations): AllocationMap {
    const ids: string[] = [];
    const values: Allocation[] = [];
    const index = new Map<string, number>();
    allocations.forEach((allocation, id) => {
      index.set(id, ids.length);
      ids.push(id);
      values.push(allocation);
    });
    return new AllocationMap({ ids, values, index, deleted: 0 }, new Map(), ids.length);
  }

  get(id: string): Allocation | undefined {
    const position = this.base.index.get(id);
    return (position === undefined ? undefined : this.base.values[position]) ?? this.added.get(id);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  *entries(): MapIterator<[string, Allocation]> {
    const { ids, values } = this.base;
    for (let position = 0; position < ids.length; position++) {
      const allocation = values[position];
      if (allocation !== undefined) yield [ids[position]!, allocation];
    }
    yield* this.added;
  }

  *keys(): MapIterator<string> {
    for (const [id] of this.entries()) yield id;
  }

  *values(): MapIterator<Allocation> {
    for (const [, allocation] of this.entries()) yield allocation;
  }

  [Symbol.iterator](): MapIterator<[string, Allocation]> {
    return this.entries();
  }

  /** The fast way through: no iterator objects. */
  forEach(callback: (value: Allocation, key: string, map: ReadonlyMap<string, Allocation>) => void): void {
    const { ids, values } = this.base;
    for (let position = 0; position < ids.length; position++) {
      const allocation = values[position];
      if (allocation !== undefined) callback(allocation, ids[position]!, this);
    }
    this.added.forEach((allocation, id) => callback(allocation, id, this));
  }
}
