// Header blocks a relay can inject into a connection without disturbing HPACK state: every field is a
// literal that is never added to the dynamic table, so the real endpoints' tables stay in step.

/**
 * Encodes each field as "literal header field without indexing, new name" (RFC 7541 §6.2.2), raw
 * latin1 strings. Names and values go as they are: the relay encodes only what an HpackDecoder
 * gave it (one character per octet, as the peer sent them) and its own lower-case ASCII headers.
 */
export function encodeLiteralHeaderBlock(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  // Room for the worst case: an opcode octet and two lengths of up to 6 octets each per field.
  let room = 0;
  for (const [name, value] of headers) room += 13 + name.length + value.length;
  const block = Buffer.allocUnsafe(room);
  let pos = 0;
  for (const [name, value] of headers) {
    block[pos++] = 0x00;
    pos = writeString(block, pos, name);
    pos = writeString(block, pos, value);
  }
  return block.subarray(0, pos);
}

/** A raw §5.2 string: H = 0, the length as a §5.1 integer with a 7-bit prefix, then the octets. */
function writeString(block: Buffer, start: number, text: string): number {
  let pos = start;
  let rest = text.length;
  if (rest < 0x7f) {
    block[pos++] = rest;
  } else {
    block[pos++] = 0x7f;
    for (rest -= 0x7f; rest >= 0x80; rest = Math.floor(rest / 0x80)) block[pos++] = (rest % 0x80) | 0x80;
    block[pos++] = rest;
  }
  return pos + block.write(text, pos, 'latin1');
}
