// "Did you mean …?" for a mistyped key: the closest allowed key, when one is close enough.

/** Compares keys by spelling alone, so "exclusive-cpus" and "exclusive_CPUs" match "exclusiveCpus". */
function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_\s]/gu, '');
}

/** Levenshtein distance (insertions, deletions, substitutions), one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The allowed key nearest to `key`, or null when none is within a third of its length (min 2). */
export function suggestKey(key: string, allowed: readonly string[]): string | null {
  const wanted = normalizeKey(key);
  const limit = Math.max(2, Math.floor(wanted.length / 3));
  let best: { key: string; distance: number } | null = null;
  for (const candidate of allowed) {
    const distance = editDistance(wanted, normalizeKey(candidate));
    if (distance <= limit && (best === null || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key ?? null;
}
