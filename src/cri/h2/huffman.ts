// HPACK's Huffman string decoding (RFC 7541 §5.2, code in Appendix B). A state table built once at
// load decodes a whole input octet per lookup, so a header string costs one lookup per byte.
import { HpackError } from './hpack-error.js';

/** RFC 7541 Appendix B: for each symbol (octets 0-255, then EOS = 256) its code and length in bits. */
export const huffmanCodes: readonly number[] = [
  0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28, 0xfffffe4, 28, 0xfffffe5, 28, 0xfffffe6, 28, 0xfffffe7, 28, // 0
  0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30, 0xfffffe9, 28, 0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28, // 8
  0xfffffed, 28, 0xfffffee, 28, 0xfffffef, 28, 0xffffff0, 28, 0xffffff1, 28, 0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28, // 16
  0xffffff4, 28, 0xffffff5, 28, 0xffffff6, 28, 0xffffff7, 28, 0xffffff8, 28, 0xffffff9, 28, 0xffffffa, 28, 0xffffffb, 28, // 24
  0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12, 0x1ff9, 13, 0x15, 6, 0xf8, 8, 0x7fa, 11, // 32 ' '
  0x3fa, 10, 0x3fb, 10, 0xf9, 8, 0x7fb, 11, 0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6, // 40 '('
  0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6, 0x1a, 6, 0x1b, 6, 0x1c, 6, 0x1d, 6, // 48 '0'
  0x1e, 6, 0x1f, 6, 0x5c, 7, 0xfb, 8, 0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10, // 56 '8'
  0x1ffa, 13, 0x21, 6, 0x5d, 7, 0x5e, 7, 0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7, // 64 '@'
  0x63, 7, 0x64, 7, 0x65, 7, 0x66, 7, 0x67, 7, 0x68, 7, 0x69, 7, 0x6a, 7, // 72 'H'
  0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7, 0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7, // 80 'P'
  0xfc, 8, 0x73, 7, 0xfd, 8, 0x1ffb, 13, 0x7fff0, 19, 0x1ffc, 13, 0x3ffc, 14, 0x22, 6, // 88 'X'
  0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5, 0x24, 6, 0x5, 5, 0x25, 6, 0x26, 6, // 96 '`'
  0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7, 0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5, // 104 'h'
  0x2b, 6, 0x76, 7, 0x2c, 6, 0x8, 5, 0x9, 5, 0x2d, 6, 0x77, 7, 0x78, 7, // 112 'p'
  0x79, 7, 0x7a, 7, 0x7b, 7, 0x7ffe, 15, 0x7fc, 11, 0x3ffd, 14, 0x1ffd, 13, 0xffffffc, 28, // 120 'x'
  0xfffe6, 20, 0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20, 0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22, 0x7fffd9, 23, // 128
  0x3fffd6, 22, 0x7fffda, 23, 0x7fffdb, 23, 0x7fffdc, 23, 0x7fffdd, 23, 0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23, // 136
  0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22, 0x7fffe0, 23, 0xffffee, 24, 0x7fffe1, 23, 0x7fffe2, 23, 0x7fffe3, 23, // 144
  0x7fffe4, 23, 0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23, 0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23, 0xffffef, 24, // 152
  0x3fffda, 22, 0x1fffdd, 21, 0xfffe9, 20, 0x3fffdb, 22, 0x3fffdc, 22, 0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21, // 160
  0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22, 0xfffff0, 24, 0x1fffdf, 21, 0x3fffdf, 22, 0x7fffeb, 23, 0x7fffec, 23, // 168
  0x1fffe0, 21, 0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21, 0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23, 0x7fffef, 23, // 176
  0xfffea, 20, 0x3fffe2, 22, 0x3fffe3, 22, 0x3fffe4, 22, 0x7ffff0, 23, 0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23, // 184
  0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20, 0x7fff1, 19, 0x3fffe7, 22, 0x7ffff2, 23, 0x3fffe8, 22, 0x1ffffec, 25, // 192
  0x3ffffe2, 26, 0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27, 0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24, 0x1ffffed, 25, // 200
  0x7fff2, 19, 0x1fffe3, 21, 0x3ffffe6, 26, 0x7ffffe0, 27, 0x7ffffe1, 27, 0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24, // 208
  0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26, 0x3ffffe9, 26, 0xffffffd, 28, 0x7ffffe3, 27, 0x7ffffe4, 27, 0x7ffffe5, 27, // 216
  0xfffec, 20, 0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21, 0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21, 0x7ffff3, 23, // 224
  0x3fffea, 22, 0x3fffeb, 22, 0x1ffffee, 25, 0x1ffffef, 25, 0xfffff4, 24, 0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23, // 232
  0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26, 0x3ffffed, 26, 0x7ffffe7, 27, 0x7ffffe8, 27, 0x7ffffe9, 27, 0x7ffffea, 27, // 240
  0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27, 0x7ffffee, 27, 0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26, // 248
  0x3fffffff, 30, // 256 EOS
];

const eos = 256;
/** A complete binary code over 257 symbols has 256 internal nodes: the decoder's states. */
const states = 256;

// The code as a tree: child[node * 2 + bit] is an internal node (> 0; the root, 0, is nobody's child),
// or ~symbol (< 0) for a leaf. onesRun[node] is how many bits lead to the node since the last symbol
// boundary when they are all ones (a valid padding prefix of EOS), else -1.
const child = new Int16Array(states * 2);
const onesRun = new Int8Array(states);
let nextNode = 1;
for (let symbol = 0; symbol <= eos; symbol++) {
  const code = huffmanCodes[symbol * 2]!;
  let node = 0;
  for (let bit = huffmanCodes[symbol * 2 + 1]! - 1; bit > 0; bit--) {
    const slot = node * 2 + ((code >>> bit) & 1);
    if (child[slot] === 0) {
      child[slot] = nextNode;
      onesRun[nextNode] = onesRun[node]! >= 0 && slot % 2 === 1 ? onesRun[node]! + 1 : -1;
      nextNode++;
    }
    node = child[slot]!;
  }
  child[node * 2 + (code & 1)] = ~symbol;
}

// transitions[state << 8 | octet]: bits 0-7 the next state, 8-15 and 16-23 the symbols completed on the
// way (8 bits hold at most two: a code is at least 5 bits long), 24-25 how many, or 3 when EOS was reached.
const eosReached = 3;
const transitions = new Uint32Array(states * 256);
for (let state = 0; state < states; state++) {
  for (let octet = 0; octet < 256; octet++) {
    let node = state;
    let count = 0;
    let symbols = 0;
    for (let bit = 7; bit >= 0 && count !== eosReached; bit--) {
      const next = child[node * 2 + ((octet >>> bit) & 1)]!;
      if (next >= 0) {
        node = next;
      } else if (~next === eos) {
        count = eosReached;
      } else {
        symbols |= ~next << (8 * count);
        count++;
        node = 0;
      }
    }
    transitions[(state << 8) | octet] = (count << 24) | (symbols << 8) | node;
  }
}

/** Reused output space: two octets per input octet is the most a lookup writes. */
let scratch = Buffer.allocUnsafeSlow(256);

/** Decodes bytes[start, end) as a Huffman-coded string; returns the octets as a latin1 string. */
export function decodeHuffman(bytes: Uint8Array, start: number, end: number): string {
  if (scratch.length < 2 * (end - start)) scratch = Buffer.allocUnsafeSlow(2 * (end - start));
  const out = scratch;
  let state = 0;
  let length = 0;
  for (let i = start; i < end; i++) {
    const entry = transitions[(state << 8) | bytes[i]!]!;
    const count = entry >>> 24;
    if (count === eosReached) throw new HpackError('a Huffman-coded string contains the EOS symbol');
    // Both slots are written every time (no branch); only `count` of them are kept.
    out[length] = entry >>> 8;
    out[length + 1] = entry >>> 16;
    length += count;
    state = entry & 0xff;
  }
  const padding = onesRun[state]!;
  if (padding < 0) throw new HpackError('a Huffman-coded string ends in padding that is not all ones (the start of EOS)');
  if (padding > 7) throw new HpackError(`a Huffman-coded string ends in ${padding} bits of padding; at most 7 are allowed`);
  return out.toString('latin1', 0, length);
}
