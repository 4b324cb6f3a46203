// The one error HPACK decoding throws: a malformed or hostile header block, which HTTP/2 answers with a
// connection error of type COMPRESSION_ERROR. Its own module so the decoder and Huffman code share it.
export class HpackError extends Error {
  readonly code = 'ERR_HPACK';
  override readonly name = 'HpackError';
}
