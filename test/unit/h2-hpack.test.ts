// HPACK: the RFC 7541 Appendix C examples, Huffman and integer edge cases, malformed blocks, the
// literal-only encoder, and header blocks captured from a real encoder (node:http2, i.e. nghttp2).
import t, { type Test } from 'tap';
import { connect, constants, type OutgoingHttpHeaders } from 'node:http2';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { HpackDecoder, HpackError } from '../../src/cri/h2/hpack-decoder.js';
import { encodeLiteralHeaderBlock } from '../../src/cri/h2/hpack-encode.js';
import { staticTable } from '../../src/cri/h2/hpack-static-table.js';
import { decodeHuffman, huffmanCodes } from '../../src/cri/h2/huffman.js';

type Fields = Array<[string, string]>;

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/gu, ''), 'hex');

/** A §5.1 integer with an N-bit prefix, `flags` in the first octet's other bits. */
function integer(value: number, prefixBits: number, flags: number): number[] {
  const prefixMax = 2 ** prefixBits - 1;
  if (value < prefixMax) return [flags | value];
  const octets = [flags | prefixMax];
  let rest = value - prefixMax;
  for (; rest >= 0x80; rest = Math.floor(rest / 0x80)) octets.push((rest % 0x80) | 0x80);
  return [...octets, rest];
}

/** A raw (not Huffman-coded) §5.2 string. */
const raw = (text: string): number[] => [...integer(text.length, 7, 0), ...Buffer.from(text, 'latin1')];

/** The dynamic table, newest first, read back through indexed fields until the index runs past it. */
function dynamicTable(decoder: HpackDecoder): Fields {
  const entries: Fields = [];
  for (let index = staticTable.length + 1; ; index++) {
    try {
      entries.push(...decoder.decode(Buffer.from(integer(index, 7, 0x80))));
    } catch {
      return entries;
    }
  }
}

/** The Huffman code of `text` as a string of '0'/'1'. */
function huffmanBits(text: string): string {
  let bits = '';
  for (let i = 0; i < text.length; i++) {
    const symbol = text.charCodeAt(i);
    bits += huffmanCodes[symbol * 2]!.toString(2).padStart(huffmanCodes[symbol * 2 + 1]!, '0');
  }
  return bits;
}

/** Bits to octets, the last one filled with ones: the padding an encoder uses (the first bits of EOS). */
const padded = (bits: string): Buffer =>
  Buffer.from((bits.padEnd(Math.ceil(bits.length / 8) * 8, '1').match(/.{8}/gu) ?? []).map((octet) => parseInt(octet, 2)));
const huffman = (text: string): Buffer => padded(huffmanBits(text));
const decodeAll = (bytes: Buffer): string => decodeHuffman(bytes, 0, bytes.length);

t.test('the Huffman code table is a complete prefix code over 256 octets and EOS', async (t) => {
  t.equal(huffmanCodes.length, 257 * 2);
  let kraft = 0;
  let prefixes = 0;
  for (let a = 0; a < 257; a++) {
    const [codeA, lengthA] = [huffmanCodes[a * 2]!, huffmanCodes[a * 2 + 1]!];
    kraft += 2 ** -lengthA;
    for (let b = 0; b < 257; b++) {
      const [codeB, lengthB] = [huffmanCodes[b * 2]!, huffmanCodes[b * 2 + 1]!];
      if (a !== b && lengthA <= lengthB && Math.floor(codeB / 2 ** (lengthB - lengthA)) === codeA) prefixes++;
    }
  }
  t.equal(kraft, 1, 'the lengths fill the code space exactly');
  t.equal(prefixes, 0, 'no code is a prefix of another');
  t.equal(huffmanCodes[256 * 2], 2 ** 30 - 1, 'EOS is 30 ones');
});

t.test('Huffman decoding', async (t) => {
  // RFC 7541 C.4 and C.6 strings.
  t.equal(decodeAll(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff')), 'www.example.com');
  t.equal(decodeAll(hex('a8eb 1064 9cbf')), 'no-cache');
  t.equal(decodeAll(hex('6402')), '302');
  t.equal(decodeAll(hex('9bd9 ab')), 'gzip');
  t.equal(decodeAll(Buffer.alloc(0)), '', 'an empty string');
  t.equal(decodeHuffman(hex('00 9bd9 ab 00'), 1, 4), 'gzip', 'only the given range is read');

  for (let octet = 0; octet < 256; octet++) {
    const text = String.fromCharCode(octet).repeat(3);
    if (decodeAll(huffman(text)) !== text) t.fail(`octet ${octet} does not round-trip`);
  }
  const everyOctet = Array.from({ length: 256 }, (_, octet) => String.fromCharCode(octet)).join('');
  t.equal(decodeAll(huffman(everyOctet)), everyOctet, 'every octet, in one string, round-trips (latin1)');
  const long = 'grpc-timeout=1S; user-agent=kubelet/v1.31 '.repeat(50);
  t.equal(decodeAll(huffman(long)), long, 'a string longer than the reused output space');

  t.equal(huffmanBits('aaaaa').length, 25, 'five 5-bit codes leave room for 7 bits of padding');
  t.equal(decodeAll(padded(huffmanBits('aaaaa') + '1111111')), 'aaaaa', '7 bits of padding are allowed');
  t.throws(() => decodeAll(padded(huffmanBits('a') + '000')), { name: 'HpackError', message: /not all ones/u });
  t.throws(() => decodeAll(padded(huffmanBits('a') + '101')), HpackError, 'padding with a zero in it');
  t.throws(() => decodeAll(hex('ff')), { message: /8 bits of padding; at most 7/u }, 'a whole octet of padding');
  t.throws(() => decodeAll(padded(huffmanBits('a') + '1'.repeat(11))), { message: /11 bits of padding/u });
  t.throws(() => decodeAll(hex('ffff ffff')), { message: /EOS symbol/u }, 'EOS then padding');
  t.throws(() => decodeAll(padded(huffmanBits('a') + '1'.repeat(30))), { message: /EOS/u }, 'EOS after a symbol');
  t.throws(() => decodeAll(padded(huffmanBits('ab') + '1'.repeat(30) + huffmanBits('a') + '11')), { message: /EOS/u }, 'EOS mid-string');
});

t.test('RFC 7541 C.2: one representation each, on a fresh decoder', async (t) => {
  const cases: Array<[string, string, Fields, number]> = [
    [
      'C.2.1 literal with indexing',
      '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
      [['custom-key', 'custom-header']],
      55,
    ],
    ['C.2.2 literal without indexing', '040c 2f73 616d 706c 652f 7061 7468', [[':path', '/sample/path']], 0],
    ['C.2.3 literal never indexed', '1008 7061 7373 776f 7264 0673 6563 7265 74', [['password', 'secret']], 0],
    ['C.2.4 indexed', '82', [[':method', 'GET']], 0],
  ];
  for (const [name, block, fields, size] of cases) {
    const decoder = new HpackDecoder();
    t.same(decoder.decode(hex(block)), fields, name);
    t.equal(decoder.tableBytes, size, `${name}: table size`);
  }
});

/** Decodes each step with one decoder and checks the fields, the table (newest first) and its size after each. */
function checkSequence(t: Test, decoder: HpackDecoder, steps: Array<[string, Fields, Fields, number]>): void {
  for (const [index, [block, fields, table, size]] of steps.entries()) {
    t.same(decoder.decode(hex(block)), fields, `block ${index + 1}: fields`);
    t.same(dynamicTable(decoder), table, `block ${index + 1}: dynamic table`);
    t.equal(decoder.tableBytes, size, `block ${index + 1}: table size`);
  }
}

const request1: Fields = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const request2: Fields = [...request1, ['cache-control', 'no-cache']];
const request3: Fields = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
];
const requestTables: Fields[] = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];

t.test('RFC 7541 C.3: requests without Huffman coding', async (t) => {
  checkSequence(t, new HpackDecoder(), [
    ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', request1, requestTables[0]!, 57],
    ['8286 84be 5808 6e6f 2d63 6163 6865', request2, requestTables[1]!, 110],
    ['8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', request3, requestTables[2]!, 164],
  ]);
});

t.test('RFC 7541 C.4: requests with Huffman coding', async (t) => {
  checkSequence(t, new HpackDecoder(), [
    ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', request1, requestTables[0]!, 57],
    ['8286 84be 5886 a8eb 1064 9cbf', request2, requestTables[1]!, 110],
    ['8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', request3, requestTables[2]!, 164],
  ]);
});

const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const location = 'https://www.example.com';
const responses: Array<[Fields, Fields, number]> = [
  [
    [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', location]],
    [['location', location], ['date', date1], ['cache-control', 'private'], [':status', '302']],
    222,
  ],
  [
    [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', location]],
    [[':status', '307'], ['location', location], ['date', date1], ['cache-control', 'private']],
    222,
  ],
  [
    [
      [':status', '200'],
      ['cache-control', 'private'],
      ['date', date2],
      ['location', location],
      ['content-encoding', 'gzip'],
      ['set-cookie', cookie],
    ],
    [['set-cookie', cookie], ['content-encoding', 'gzip'], ['date', date2]],
    215,
  ],
];

t.test('RFC 7541 C.5: responses without Huffman coding, 256-octet table (evictions)', async (t) => {
  const blocks = [
    `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768
     7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
    '4803 3330 37c1 c0bf',
    `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153
     444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
  ];
  checkSequence(t, new HpackDecoder(256), responses.map(([fields, table, size], i) => [blocks[i]!, fields, table, size]));
});

t.test('RFC 7541 C.6: responses with Huffman coding, 256-octet table (evictions)', async (t) => {
  const blocks = [
    `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8
     e9ae 82ae 43d3`,
    '4883 640e ffc1 c0bf',
    `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b
     3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
  ];
  checkSequence(t, new HpackDecoder(256), responses.map(([fields, table, size], i) => [blocks[i]!, fields, table, size]));
});

t.test('integers', async (t) => {
  const decoder = new HpackDecoder(2 ** 31 - 1);
  t.same(decoder.decode(Buffer.from(integer(2 ** 31 - 1, 5, 0x20))), [], 'a size update of 2^31-1 octets, the largest integer');
  t.same(decoder.decode(Buffer.from([0x3f, 0x81, 0x80, 0x00])), [], 'zero-valued continuation octets, within five');
  t.same(decoder.decode(Buffer.from(integer(61, 7, 0x80))), [['www-authenticate', '']], 'the last static index');

  const tooLarge = { name: 'HpackError', message: /larger than 2\^31-1/u };
  t.throws(() => decoder.decode(Buffer.from(integer(2 ** 31, 7, 0x80))), tooLarge, '2^31');
  t.throws(() => decoder.decode(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), tooLarge, 'overflow with more octets to come');
  t.throws(() => decoder.decode(Buffer.from([0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])), tooLarge, 'a sixth continuation octet');
  t.throws(() => decoder.decode(Buffer.from([0xff])), { message: /ends inside an integer/u }, 'a prefix that promises more octets');
  t.throws(() => decoder.decode(Buffer.from([0xff, 0x80])), { message: /ends inside an integer/u }, 'a continuation bit on the last octet');
});

t.test('indexes', async (t) => {
  const decoder = new HpackDecoder();
  t.throws(() => decoder.decode(Buffer.from([0x80])), { name: 'HpackError', message: /index 0, which does not exist/u });
  const past = /index 62, past the 61 static and 0 dynamic entries/u;
  t.throws(() => decoder.decode(Buffer.from([0xbe])), { message: past }, 'an indexed field past an empty dynamic table');
  t.throws(() => decoder.decode(Buffer.from([0x7e, ...raw('v')])), { message: past }, 'a literal with indexing naming a missing entry');
  t.throws(() => decoder.decode(Buffer.from([...integer(62, 4, 0x10), ...raw('v')])), { message: past }, 'a never-indexed literal too');
  t.same(decoder.decode(Buffer.from([0x40, ...raw('x-a'), ...raw('1'), 0x40, ...raw('x-b'), ...raw('2')])), [['x-a', '1'], ['x-b', '2']]);
  t.same(decoder.decode(Buffer.from([0xbe, 0xbf, ...integer(63, 4, 0x00), ...raw('3')])), [['x-b', '2'], ['x-a', '1'], ['x-a', '3']]);
  t.throws(() => decoder.decode(Buffer.from([0xc0])), { message: /index 64, past the 61 static and 2 dynamic entries/u });
});

t.test('strings', async (t) => {
  const decoder = new HpackDecoder();
  t.throws(() => decoder.decode(Buffer.from([0x40])), { name: 'HpackError', message: /ends where a string should start/u }, 'no name');
  t.throws(() => decoder.decode(Buffer.from([0x41])), { message: /ends where a string should start/u }, 'no value');
  t.throws(() => decoder.decode(Buffer.from([0x00, 0x05, 0x61])), { message: /string of 5 octets runs past .* \(1 left\)/u });
  t.throws(() => decoder.decode(Buffer.from([0x00, ...raw('a'), 0x83, 0xff])), { message: /3 octets runs past/u }, 'Huffman too');
  t.throws(() => decoder.decode(Buffer.from([0x00, ...raw('a'), 0x81, 0xff])), { name: 'HpackError', message: /padding/u });
  const octets = '\u00e9\u00ff\u0000\u007f';
  t.same(decoder.decode(Buffer.from([0x00, ...raw('x-bytes'), ...raw(octets)])), [['x-bytes', octets]], 'raw octets as latin1');
  const name = huffman('x-h\u00e9');
  const huffmanName = [...integer(name.length, 7, 0x80), ...name];
  t.same(decoder.decode(Buffer.from([0x00, ...huffmanName, 0x80])), [['x-h\u00e9', '']], 'Huffman name, empty value');

  const view = new Uint8Array([0xff, 0xff, 0x00, ...raw('x-view'), ...raw('ok')]).subarray(2);
  t.same(decoder.decode(view), [['x-view', 'ok']], 'a Uint8Array view at an offset, not a Buffer');
  t.equal(decoder.tableBytes, 0);
});

t.test('dynamic table size updates', async (t) => {
  const decoder = new HpackDecoder();
  const tooLarge = { name: 'HpackError', message: /asks for 4097 octets, more than the 4096/u };
  t.throws(() => decoder.decode(Buffer.from(integer(4097, 5, 0x20))), tooLarge);
  t.throws(() => decoder.decode(Buffer.from([0x82, 0x20])), { message: /after a header field; it must start the block/u });
  t.same(decoder.decode(Buffer.from([0x20, ...integer(4096, 5, 0x20), 0x82])), [[':method', 'GET']], 'two updates, then a field');

  decoder.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'));
  decoder.decode(hex('8286 84be 5808 6e6f 2d63 6163 6865'));
  decoder.decode(hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'));
  t.equal(decoder.tableBytes, 164);
  t.same(decoder.decode(Buffer.from(integer(60, 5, 0x20))), []);
  t.same(dynamicTable(decoder), [['custom-key', 'custom-value']], 'shrinking evicts the oldest entries');
  t.equal(decoder.tableBytes, 54);
  decoder.decode(Buffer.from([0x40, ...raw('x-next'), ...raw('')]));
  t.same(dynamicTable(decoder), [['x-next', '']], 'the smaller size holds for later inserts');
  decoder.decode(Buffer.from([0x20]));
  t.equal(decoder.tableBytes, 0, 'size 0 empties the table');

  decoder.setTableSizeLimit(100);
  t.throws(() => decoder.decode(Buffer.from(integer(101, 5, 0x20))), { message: /asks for 101 octets, more than the 100 allowed/u });
  t.same(decoder.decode(Buffer.from([...integer(100, 5, 0x20), 0x40, ...raw('x-a'), ...raw('a'.repeat(60))])), [['x-a', 'a'.repeat(60)]]);
  t.equal(decoder.tableBytes, 95);
  decoder.setTableSizeLimit(8192);
  decoder.decode(Buffer.from(integer(8192, 5, 0x20)));
  decoder.decode(Buffer.from([0x40, ...raw('x-b'), ...raw('b'.repeat(8000))]));
  t.equal(decoder.tableBytes, 95 + 8035, 'a raised limit allows a larger table');
});

t.test('entries larger than the table, and eviction', async (t) => {
  const decoder = new HpackDecoder(64);
  decoder.decode(Buffer.from([0x40, ...raw('custom-key'), ...raw('a')]));
  t.equal(decoder.tableBytes, 43);
  const big = 'v'.repeat(40);
  t.same(decoder.decode(Buffer.from([0x7e, ...raw(big)])), [['custom-key', big]], 'the name comes from the entry the insert evicts');
  t.equal(decoder.tableBytes, 0, 'an entry larger than the table empties it and is not added');
  t.same(dynamicTable(decoder), []);

  const roomy = new HpackDecoder(100);
  roomy.decode(Buffer.from([0x40, ...raw('custom-key'), ...raw('aaaa')]));
  t.same(roomy.decode(Buffer.from([0x7e, ...raw('b'.repeat(20))])), [['custom-key', 'b'.repeat(20)]]);
  t.same(dynamicTable(roomy), [['custom-key', 'b'.repeat(20)]], 'evicting its name source still inserts the new entry');
  t.equal(roomy.tableBytes, 62);

  // Hundreds of inserts: the ring grows, wraps and evicts; the table always holds the newest that fit.
  const ring = new HpackDecoder();
  const inserted: Fields = [];
  for (let i = 0; i < 400; i++) {
    const field: [string, string] = [`x-${i}`, 'v'.repeat(i % 7)];
    ring.decode(Buffer.from([0x40, ...raw(field[0]), ...raw(field[1])]));
    inserted.unshift(field);
  }
  const expected: Fields = [];
  let size = 0;
  for (const [name, value] of inserted) {
    if (size + name.length + value.length + 32 > 4096) break;
    size += name.length + value.length + 32;
    expected.push([name, value]);
  }
  t.same(dynamicTable(ring), expected);
  t.equal(ring.tableBytes, size);
});

t.test('encodeLiteralHeaderBlock', async (t) => {
  t.same([...encodeLiteralHeaderBlock([['a', 'b']])], [0x00, 0x01, 0x61, 0x01, 0x62], 'literal without indexing, new name, raw strings');
  t.equal(encodeLiteralHeaderBlock([]).length, 0);
  t.same([...encodeLiteralHeaderBlock([['x', 'v'.repeat(126)]]).subarray(0, 4)], [0x00, 0x01, 0x78, 0x7e]);
  t.same([...encodeLiteralHeaderBlock([['x', 'v'.repeat(127)]]).subarray(0, 5)], [0x00, 0x01, 0x78, 0x7f, 0x00]);
  t.same([...encodeLiteralHeaderBlock([['x', 'v'.repeat(255)]]).subarray(0, 6)], [0x00, 0x01, 0x78, 0x7f, 0x80, 0x01]);

  const headers: Fields = [
    [':status', '200'],
    ['content-type', 'application/grpc'],
    ['grpc-status', '14'],
    ['grpc-message', 'runtime unavailable: \u00e9\u00ff'],
    ['x-empty', ''],
    ['x-long', 'l'.repeat(20000)],
    ['x-'.padEnd(300, 'n'), 'name longer than 127 octets'],
  ];
  const block = encodeLiteralHeaderBlock(headers);
  const decoder = new HpackDecoder();
  decoder.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'));
  t.same(decoder.decode(block), headers, 'round trip through the decoder');
  t.equal(decoder.tableBytes, 57, 'the dynamic table is untouched');
  t.same(new HpackDecoder().decode(block), headers);
  const fresh = new HpackDecoder();
  fresh.decode(block);
  t.equal(fresh.tableBytes, 0);

});

/** One header block from a capture: its stream and the HEADERS payload with its CONTINUATIONs. */
interface CapturedBlock {
  readonly streamId: number;
  readonly block: Buffer;
}

const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Splits a client's bytes into frames and collects every complete header block, in order. */
function parseHeaderBlocks(bytes: Buffer): CapturedBlock[] {
  const blocks: CapturedBlock[] = [];
  let pending: Buffer[] = [];
  let pos = preface.length;
  while (pos + 9 <= bytes.length) {
    const length = bytes.readUIntBE(pos, 3);
    const [type, flags] = [bytes[pos + 3]!, bytes[pos + 4]!];
    const streamId = bytes.readUInt32BE(pos + 5) & 0x7fffffff;
    if (pos + 9 + length > bytes.length) break;
    let payload = bytes.subarray(pos + 9, pos + 9 + length);
    pos += 9 + length;
    if (type === 1) {
      if (flags & 0x8) payload = payload.subarray(1, payload.length - payload[0]!); // PADDED
      if (flags & 0x20) payload = payload.subarray(5); // PRIORITY: stream dependency and weight
      pending = [payload];
    } else if (type === 9) {
      pending.push(payload);
    } else {
      continue;
    }
    if (flags & 0x4) blocks.push({ streamId, block: Buffer.concat(pending) }); // END_HEADERS
  }
  return blocks;
}

const sentFields = (headers: OutgoingHttpHeaders): Fields => Object.entries(headers).map(([name, value]) => [name, String(value)]);

t.test('header blocks from node:http2 (nghttp2: Huffman, dynamic table, padding, CONTINUATION)', async (t) => {
  const podUids = ['3f1c2a9e-7d41-4b8e-9a55-0c2d6e8f1a20', 'b7e4d0c1-2a36-4f59-8e17-9d3c5a6b4e02'];
  const requests: OutgoingHttpHeaders[] = Array.from({ length: 10 }, (_, i) => ({
    ':method': 'POST',
    ':path': `/runtime.v1.RuntimeService/${['Version', 'ListContainers', 'CreateContainer'][i % 3]!}`,
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': `${(i + 1) * 250}m`,
    'user-agent': 'grpc-node-js/1.14.7',
    'grpc-accept-encoding': 'identity,deflate,gzip',
    'x-request-id': `request-${i}-${(i * 7919).toString(16).padStart(8, '0')}`,
    'x-pod-uid': podUids[i % 2]!,
    ...(i === 4 ? { 'x-long': 'a long value, repeated; '.repeat(40) } : {}),
    ...(i === 7 ? { 'x-huge': Buffer.alloc(18000, 'pod-sandbox-config/').toString('base64') } : {}),
    ...(i >= 5 ? { [`x-custom-${i}`]: `custom value ${i}` } : {}),
  }));

  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  let blocks: CapturedBlock[] = [];
  let allArrived = (): void => undefined;
  const arrived = new Promise<void>((resolve) => (allArrived = resolve));
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])); // an empty SETTINGS frame: the server's preface
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      blocks = parseHeaderBlocks(Buffer.concat(chunks));
      if (blocks.length === requests.length) allArrived();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    paddingStrategy: constants.PADDING_STRATEGY_MAX,
  });
  try {
    for (const [i, headers] of requests.entries()) {
      // Odd requests carry a priority, so HEADERS frames come with and without the PRIORITY flag.
      const stream = client.request(headers, { endStream: true, ...(i % 2 === 1 ? { weight: 200 } : {}) });
      stream.on('error', () => undefined);
    }
    await arrived;
  } finally {
    client.destroy();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  const decoder = new HpackDecoder();
  for (const [i, { streamId, block }] of blocks.entries()) {
    t.equal(streamId, 2 * i + 1, `request ${i}: stream id`);
    const decoded = decoder.decode(block);
    t.same(decoded.filter(([name]) => name in requests[i]!), sentFields(requests[i]!), `request ${i}: every field sent, in order`);
    t.ok(decoded.some(([name]) => name === ':authority'), `request ${i}: fields node:http2 adds`);
  }
  t.ok(decoder.tableBytes > 0, 'the encoder used the dynamic table');
  // Sizes against the same fields as raw literals: indexing shrinks repeats, Huffman shrinks new values.
  const literalBytes = (i: number): number => encodeLiteralHeaderBlock(sentFields(requests[i]!)).length;
  t.ok(blocks[9]!.block.length < literalBytes(9) / 3, 'a late block is mostly indexes into the dynamic table');
  t.ok(blocks[7]!.block.length < literalBytes(7) * 0.9, 'a long new value is Huffman-coded');
});
