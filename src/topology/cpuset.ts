// An immutable set of small non-negative integers (CPU ids or NUMA node ids) with the Linux
// cpulist text form ("0-3,8,10-11"). Kept as a sorted array: sets here hold at most a few
// thousand members, and sorted arrays make formatting, equality and iteration order free.

export class CpuSetParseError extends Error {
  readonly code = 'ERR_CPULIST';
}

export class CpuSet implements Iterable<number> {
  static readonly empty = new CpuSet([]);

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
   * Parses a Linux cpulist ("0-3,8,10-11", "0-31:2" strides too). Tolerates what kernels
   * really write: trailing newline or NUL, surrounding blanks, an empty string (empty set).
   */
  static parse(text: string): CpuSet {
    const trimmed = text.replace(/\0+$/u, '').trim();
    if (trimmed === '') return CpuSet.empty;
    const ids: number[] = [];
    for (const part of trimmed.split(',')) {
      const match = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/u.exec(part.trim());
      if (!match) throw new CpuSetParseError(`invalid cpulist "${trimmed}": bad element "${part}"`);
      const first = Number(match[1]);
      const last = match[2] === undefined ? first : Number(match[2]);
      const stride = match[3] === undefined ? 1 : Number(match[3]);
      if (last < first || stride < 1) {
        throw new CpuSetParseError(`invalid cpulist "${trimmed}": bad range "${part}"`);
      }
      for (let id = first; id <= last; id += stride) ids.push(id);
    }
    return CpuSet.of(ids);
  }

  /**
   * Parses a kernel hex mask ("00000000,0000ff0f"), as old kernels write instead of lists:
   * comma-separated 32-bit words, most significant first.
   */
  static parseMask(text: string): CpuSet {
    const trimmed = text.replace(/\0+$/u, '').trim();
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

  union(other: CpuSet): CpuSet {
    if (other.isEmpty()) return this;
    if (this.isEmpty()) return other;
    return CpuSet.of([...this.members, ...other.members]);
  }

  intersect(other: CpuSet): CpuSet {
    return new CpuSet(this.members.filter((id) => other.has(id)));
  }

  difference(other: CpuSet): CpuSet {
    if (other.isEmpty()) return this;
    return new CpuSet(this.members.filter((id) => !other.has(id)));
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
