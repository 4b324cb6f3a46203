// Values derived from an object and kept while it lives: the placement context of a topology
// and policy, the usage of an allocations map.

/** The value kept for `key`, made (and kept) on first use. */
export function memoized<K extends object, V>(cache: WeakMap<K, V>, key: K, make: () => V): V {
  let value = cache.get(key);
  if (value === undefined) {
    value = make();
    cache.set(key, value);
  }
  return value;
}
