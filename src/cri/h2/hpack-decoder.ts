// HPACK header block decoding (RFC 7541) for a relay that reads HTTP/2 frames: one decoder per
// direction of a connection, fed every header block in order so its dynamic table tracks the peer's.
import { HpackError } from './hpack-error.js';
import { staticTable } from './hpack-static-table.js';
import { decodeHuffman } from './huffman.js';

export { HpackError } from './hpack-error.js';

/** RFC 7541 §5.1 leaves integers unbounded; anything past 2^31-1 is an attack or a bug here. */
const maxInteger = 2 ** 31 - 1;
/** RFC 7541 §4.1: an entry's size is its name and value octets plus 32. */
const entryOverhead = 32;
const empty = Buffer.alloc(0);

export class HpackDecoder {
  // The dynamic table as a ring: names[newest] is index 62, older entries sit at lower slots
  // (mod the capacity, a power of two that grows when full), so eviction moves nothing.
  private names: string[] = new Array<string>(16).fill('');
  private values: string[] = new Array<string>(16).fill('');
  private newest = -1;
  private count = 0;
  private bytes = 0;
  /** The table size the peer's encoder chose, by default or with a size update. */
  private maxBytes: number;
  /** The most the encoder may choose: the SETTINGS_HEADER_TABLE_SIZE advertised to it. */
  private limit: number;
  // The block being decoded and the read position: fields, so the readers return one number each.
  private block: Buffer = empty;
  private pos = 0;

  constructor(maxTableBytes = 4096) {
    this.maxBytes = maxTableBytes;
    this.limit = maxTableBytes;
  }

  /** Octets the dynamic table holds now, by RFC 7541's count (32 per entry on top of the strings). */
  get tableBytes(): number {
    return this.bytes;
  }

  /** Sets the most a dynamic table size update may ask for (a new SETTINGS_HEADER_TABLE_SIZE). */
  setTableSizeLimit(bytes: number): void {
    this.limit = bytes;
  }

  /**
   * Decodes one complete header block (HEADERS plus CONTINUATION payloads). Throws HpackError; the
   * table may then be out of step with the peer's, so the connection has to end (COMPRESSION_ERROR).
   */
  decode(block: Uint8Array): Array<[name: string, value: string]> {
    // A Buffer view reads raw strings as latin1 natively; a Buffer argument is used as it is.
    this.block = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    this.pos = 0;
    const headers: Array<[name: string, value: string]> = [];
    try {
      while (this.pos < this.block.length) {
        const first = this.block[this.pos]!;
        if (first >= 0x80) {
          // §6.1 indexed field.
          const index = this.readInteger(7);
          headers.push([this.lookUp(index, 0), this.lookUp(index, 1)]);
        } else if (first >= 0x20 && first < 0x40) {
          // §6.3 dynamic table size update: only ahead of the block's first field.
          if (headers.length > 0) throw new HpackError('a dynamic table size update came after a header field; it must start the block');
          this.resize(this.readInteger(5));
        } else {
          // §6.2 literals: with incremental indexing (01), without indexing (0000) or never indexed (0001).
          const indexing = first >= 0x40;
          const index = this.readInteger(indexing ? 6 : 4);
          const name = index === 0 ? this.readString() : this.lookUp(index, 0);
          const value = this.readString();
          if (indexing) this.insert(name, value);
          headers.push([name, value]);
        }
      }
      return headers;
    } finally {
      this.block = empty;
    }
  }

  /** The name (part 0) or value (part 1) at a 1-based index: the static table, then newest-first dynamic entries. */
  private lookUp(index: number, part: 0 | 1): string {
    if (index === 0) throw new HpackError('a header field refers to table index 0, which does not exist');
    if (index <= staticTable.length) return staticTable[index - 1]![part];
    const age = index - staticTable.length - 1;
    if (age >= this.count) {
      throw new HpackError(
        `a header field refers to table index ${index}, past the ${staticTable.length} static and ${this.count} dynamic entries`,
      );
    }
    const slot = (this.newest - age) & (this.names.length - 1);
    return (part === 0 ? this.names : this.values)[slot]!;
  }

  /** §5.1 integer with an N-bit prefix, starting at the current octet. */
  private readInteger(prefixBits: number): number {
    const block = this.block;
    const prefixMax = (1 << prefixBits) - 1;
    let value = block[this.pos++]! & prefixMax;
    if (value < prefixMax) return value;
    // At most five continuation octets (7 bits each) can stay within 2^31-1.
    for (let multiplier = 1; value <= maxInteger && multiplier <= 2 ** 28; multiplier *= 128) {
      if (this.pos === block.length) throw new HpackError('the header block ends inside an integer');
      const octet = block[this.pos++]!;
      value += (octet & 0x7f) * multiplier;
      if (octet < 0x80 && value <= maxInteger) return value;
    }
    throw new HpackError('an integer in the header block is larger than 2^31-1');
  }

  /** §5.2 string: Huffman-coded or raw, read as latin1 so every octet survives. */
  private readString(): string {
    const block = this.block;
    if (this.pos === block.length) throw new HpackError('the header block ends where a string should start');
    const huffman = block[this.pos]! >= 0x80;
    const length = this.readInteger(7);
    const start = this.pos;
    if (length > block.length - start) {
      throw new HpackError(`a string of ${length} octets runs past the end of the header block (${block.length - start} left)`);
    }
    this.pos = start + length;
    return huffman ? decodeHuffman(block, start, this.pos) : block.toString('latin1', start, this.pos);
  }

  /** §6.3 / §4.3: the encoder's new table size, never above the advertised limit. */
  private resize(bytes: number): void {
    if (bytes > this.limit) {
      throw new HpackError(`a dynamic table size update asks for ${bytes} octets, more than the ${this.limit} allowed`);
    }
    this.maxBytes = bytes;
    this.evictTo(bytes);
  }

  /** §4.4: makes room by evicting the oldest entries; an entry larger than the table empties it and is not added. */
  private insert(name: string, value: string): void {
    const size = name.length + value.length + entryOverhead;
    this.evictTo(Math.max(0, this.maxBytes - size));
    if (size > this.maxBytes) return;
    if (this.count === this.names.length) this.grow();
    this.newest = (this.newest + 1) & (this.names.length - 1);
    this.names[this.newest] = name;
    this.values[this.newest] = value;
    this.count++;
    this.bytes += size;
  }

  private evictTo(bytes: number): void {
    const mask = this.names.length - 1;
    while (this.bytes > bytes) {
      const oldest = (this.newest - this.count + 1) & mask;
      this.bytes -= this.names[oldest]!.length + this.values[oldest]!.length + entryOverhead;
      // Drop the strings so a long evicted value is not kept alive by its old slot.
      this.names[oldest] = '';
      this.values[oldest] = '';
      this.count--;
    }
  }

  /** Doubles the ring, laying the entries out oldest first from slot 0. */
  private grow(): void {
    const capacity = this.names.length * 2;
    const names = new Array<string>(capacity).fill('');
    const values = new Array<string>(capacity).fill('');
    for (let age = this.count - 1; age >= 0; age--) {
      const slot = (this.newest - age) & (this.names.length - 1);
      names[this.count - 1 - age] = this.names[slot]!;
      values[this.count - 1 - age] = this.values[slot]!;
    }
    this.names = names;
    this.values = values;
    this.newest = this.count - 1;
  }
}
