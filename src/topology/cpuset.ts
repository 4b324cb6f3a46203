// An immutable set of small non-negative integers (CPU ids or NUMA node ids) with the Linux
// cpulist text form ("0-3,8,10-11"). Kept as a sorted array: sets here hold at most a few
// thousand members, and sorted arrays make formatting, equality and iteration order free.

export class CpuSetParseError extends Error {
  readonly code = 'ERR_CPULIST';
  override readonly name = 'CpuSetParseError';
}

export class CpuSet implements Iterable<number> {
  static readonly empty = new CpuSet([]);
  /**
   * The largest id a cpulist may name: far above any kernel's CPU or node limit, and it keeps a
   * typo such as "0-99999999" from allocating millions of ids.
   */
  static readonly maxId = 65535;

  private constructor(private readonly members: readonly number[]) {}

  /** Builds a set from any ids, in any order, with duplicates. */
  static of(ids: Iterable<number>): CpuSet {
    const unique = [...new Set(ids)];
    for (const id of unique) {
      if (!Number.isInteger(id) || id < 0) throw new CpuSetParseError(`invalid id ${id}`);
    }
    return new CpuSet(unique.sort((a, b) => a - b));
  }

  static range(first: number, last: number): CpuSet {
    const ids: number[] = [];
    for (let id = first; id <= last; id++) ids.push(id);
    return CpuSet.of(ids);
  }

  /**
   * Parses a Linux cpulist ("0-3,8,10-11"), with the kernel's group syntax too ("0-15:2/4" takes
   * the first 2 of every 4: 0-1,4-5,8-9,12-13) and plain strides ("0-31:2" = every second id).
   * Tolerates what kernels really write: NULs and newlines, surrounding blanks, an empty
   * string (empty set).
   */
  static parse(text: string): CpuSet {
    const trimmed = text.replace(/\0/gu, '').trim();
    if (trimmed === '') return CpuSet.empty;
    const ids: number[] = [];
    for (const part of trimmed.split(',')) {
      const match = /^(\d+)(?:-(\d+)(?::(\d+)(?:\/(\d+))?)?)?$/u.exec(part.trim());
      if (!match) throw new CpuSetParseError(`invalid cpulist "${trimmed}": bad element "${part}"`);
      const first = Number(match[1]);
      const last = match[2] === undefined ? first : Number(match[2]);
      // A plain stride ":s" is "take 1 of every s".
      const [used, group] =
        match[4] === undefined ? [1, Number(match[3] ?? 1)] : [Number(match[3]), Number(match[4])];
      if (last < first || used < 1 || group < used) {
        throw new CpuSetParseError(`invalid cpulist "${trimmed}": bad range "${part}"`);
      }
      if (last > CpuSet.maxId) {
        throw new CpuSetParseError(`invalid cpulist "${trimmed}": id ${last} is above ${CpuSet.maxId}`);
      }
      for (let start = first; start <= last; start += group) {
        for (let id = start; id < start + used && id <= last; id++) ids.push(id);
      }
    }
    return CpuSet.of(ids);
  }

  /**
   * Parses a kernel hex mask ("00000000,0000ff0f"), as old kernels write instead of lists:
   * comma-separated 32-bit words, most significant first.
   */
  static parseMask(text: string): CpuSet {
    const trimmed = text.replace(/\0/gu, '').trim();
    if (trimmed === '') return CpuSet.empty;
    const words = trimmed.split(',');
    const ids: number[] = [];
    words.forEach((word, index) => {
      if (!/^[0-9a-fA-F]{1,8}$/u.test(word)) {
        throw new CpuSetParseError(`invalid cpu mask "${trimmed}": bad word "${word}"`);
      }
      const value = Number.parseInt(word, 16);
      const base = (words.length - 1 - index) * 32;
      for (let bit = 0; bit < 32; bit++) {
        if ((value >>> bit) & 1) ids.push(base + bit);
      }
    });
    return CpuSet.of(ids);
  }

  get size(): number {
    return this.members.length;
  }

  isEmpty(): boolean {
    return this.members.length === 0;
  }

  has(id: number): boolean {
    let low = 0;
    let high = this.members.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const value = this.members[mid]!;
      if (value === id) return true;
      if (value < id) low = mid + 1;
      else high = mid - 1;
    }
    return false;
  }

  /** The lowest id, or undefined for the empty set. */
  first(): number | undefined {
    return this.members[0];
  }

  toArray(): number[] {
    return [...this.members];
  }

  [Symbol.iterator](): Iterator<number> {
    return this.members[Symbol.iterator]();
  }

  // The algebra merges the two sorted arrays: linear, no hashing, no re-sorting.
  union(other: CpuSet): CpuSet {
    if (other.isEmpty()) return this;
    if (this.isEmpty()) return other;
    const a = this.members;
    const b = other.members;
    const out: number[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length && j < b.length) {
      const x = a[i]!;
      const y = b[j]!;
      if (x <= y) i++;
      if (y <= x) j++;
      out.push(Math.min(x, y));
    }
    while (i < a.length) out.push(a[i++]!);
    while (j < b.length) out.push(b[j++]!);
    return new CpuSet(out);
  }

  intersect(other: CpuSet): CpuSet {
    return new CpuSet(this.merge(other, true));
  }

  difference(other: CpuSet): CpuSet {
    if (other.isEmpty()) return this;
    return new CpuSet(this.merge(other, false));
  }

  /** The members of this set that are (`inOther`) or are not in the other set. */
  private merge(other: CpuSet, inOther: boolean): number[] {
    const a = this.members;
    const b = other.members;
    const out: number[] = [];
    let j = 0;
    for (const x of a) {
      while (j < b.length && b[j]! < x) j++;
      if ((j < b.length && b[j] === x) === inOther) out.push(x);
    }
    return out;
  }

  isSubsetOf(other: CpuSet): boolean {
    return this.members.every((id) => other.has(id));
  }

  intersects(other: CpuSet): boolean {
    return this.members.some((id) => other.has(id));
  }

  equals(other: CpuSet): boolean {
    return (
      this.members.length === other.members.length &&
      this.members.every((id, index) => other.members[index] === id)
    );
  }

  filter(keep: (id: number) => boolean): CpuSet {
    return new CpuSet(this.members.filter(keep));
  }

  /** The first `count` members in ascending order. */
  take(count: number): CpuSet {
    return new CpuSet(this.members.slice(0, Math.max(0, count)));
  }

  /** The Linux cpulist form, as the kernel prints it: ascending, runs as ranges ("0-2,4-5,7"). */
  format(): string {
    const parts: string[] = [];
    let index = 0;
    while (index < this.members.length) {
      const start = this.members[index]!;
      let end = start;
      while (this.members[index + 1] === end + 1) {
        end++;
        index++;
      }
      parts.push(end === start ? String(start) : `${start}-${end}`);
      index++;
    }
    return parts.join(',');
  }

  toString(): string {
    return this.format();
  }

  toJSON(): string {
    return this.format();
  }
}
