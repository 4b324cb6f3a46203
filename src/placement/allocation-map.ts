// The allocations a decision returns: an immutable map that shares its entries with the one it
// came from, so a decision costs what it changes rather than a copy of every container (a
// thousand-entry Map copy was the largest cost of a decision). It reads and iterates exactly
// like a Map that went through the same sets and deletes, in the same order.
import type { Allocation, Allocations } from './types.js';

/** Pending changes beyond this many fold into a fresh base: copies stay amortised and short. */
const maxPending = 64;

export class AllocationMap implements ReadonlyMap<string, Allocation> {
  private constructor(
    private readonly base: ReadonlyMap<string, Allocation>,
    /** New entries and replacements of base entries. */
    private readonly added: ReadonlyMap<string, Allocation>,
    /** Base entries deleted (never also in `added`). */
    private readonly removed: ReadonlySet<string>,
    readonly size: number,
  ) {}

  static readonly empty = new AllocationMap(new Map(), new Map(), new Set(), 0);

  /** The allocations with `changed` set (in order) after `removedId` is deleted. */
  static change(allocations: Allocations, changed: readonly Allocation[], removedId: string | null): AllocationMap {
    let base: ReadonlyMap<string, Allocation>;
    let added: Map<string, Allocation>;
    let removed: Set<string>;
    if (allocations instanceof AllocationMap) {
      base = allocations.base;
      added = new Map(allocations.added);
      removed = new Set(allocations.removed);
    } else {
      base = allocations;
      added = new Map();
      removed = new Set();
    }
    let size = allocations.size;
    const fold = (): void => {
      const folded = new Map<string, Allocation>();
      for (const [id, allocation] of base) if (!removed.has(id)) folded.set(id, added.get(id) ?? allocation);
      for (const [id, allocation] of added) if (!base.has(id)) folded.set(id, allocation);
      base = folded;
      added = new Map();
      removed = new Set();
    };
    if (removedId !== null && allocations.has(removedId)) {
      size--;
      added.delete(removedId);
      if (base.has(removedId)) removed.add(removedId);
    }
    for (const allocation of changed) {
      // A Map puts a deleted key that comes back at the end: fold so the base forgets it.
      if (removed.has(allocation.id)) fold();
      if (!added.has(allocation.id) && !base.has(allocation.id)) size++;
      added.set(allocation.id, allocation);
    }
    if (added.size + removed.size > maxPending) fold();
    return new AllocationMap(base, added, removed, size);
  }

  get(id: string): Allocation | undefined {
    if (this.removed.has(id)) return undefined;
    return this.added.get(id) ?? this.base.get(id);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  entries(): MapIterator<[string, Allocation]> {
    return entriesOf(this.base, this.added, this.removed);
  }

  keys(): MapIterator<string> {
    return mapIterator(this.entries(), ([id]) => id);
  }

  values(): MapIterator<Allocation> {
    return mapIterator(this.entries(), ([, allocation]) => allocation);
  }

  [Symbol.iterator](): MapIterator<[string, Allocation]> {
    return this.entries();
  }

  /** The fast way through: no iterator objects. */
  forEach(callback: (value: Allocation, key: string, map: ReadonlyMap<string, Allocation>) => void): void {
    forEachOf(this.base, this.added, this.removed, (allocation, id) => callback(allocation, id, this));
  }
}

function forEachOf(
  base: ReadonlyMap<string, Allocation>,
  added: ReadonlyMap<string, Allocation>,
  removed: ReadonlySet<string>,
  callback: (allocation: Allocation, id: string) => void,
): void {
  base.forEach((allocation, id) => {
    if (!removed.has(id)) callback(added.get(id) ?? allocation, id);
  });
  added.forEach((allocation, id) => {
    if (!base.has(id)) callback(allocation, id);
  });
}

function* entriesOf(
  base: ReadonlyMap<string, Allocation>,
  added: ReadonlyMap<string, Allocation>,
  removed: ReadonlySet<string>,
): MapIterator<[string, Allocation]> {
  for (const [id, allocation] of base) {
    if (!removed.has(id)) yield [id, added.get(id) ?? allocation];
  }
  for (const entry of added) if (!base.has(entry[0])) yield entry;
}

function* mapIterator<From, To>(from: Iterator<From>, map: (value: From) => To): MapIterator<To> {
  for (let next = from.next(); next.done !== true; next = from.next()) yield map(next.value);
}
