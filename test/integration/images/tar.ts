// A minimal ustar writer: directories, regular files and symlinks with fixed owners and mtimes,
// so the same inputs always give the same bytes (and so the same image digests).

export type TarEntry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode: number }
  | { readonly kind: 'file'; readonly path: string; readonly mode: number; readonly data: Buffer }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string };

const blockBytes = 512;

function writeField(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar: "${value}" does not fit in ${length} bytes`);
  bytes.copy(header, offset);
}

/** Octal number, zero padded, NUL terminated, as ustar wants it. */
function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  writeField(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/** Long paths go in the ustar prefix field, split at a slash. */
function splitPath(path: string): { prefix: string; name: string } {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path };
  const cut = path.lastIndexOf('/', 155);
  if (cut <= 0 || Buffer.byteLength(path.slice(cut + 1)) > 100) throw new Error(`tar: path too long: ${path}`);
  return { prefix: path.slice(0, cut), name: path.slice(cut + 1) };
}

function formatHeader(entry: TarEntry, mtimeSeconds: number): Buffer {
  const header = Buffer.alloc(blockBytes);
  const { prefix, name } = splitPath(entry.kind === 'dir' ? `${entry.path.replace(/\/$/u, '')}/` : entry.path);
  writeField(header, 0, 100, name);
  writeOctal(header, 100, 8, entry.kind === 'symlink' ? 0o777 : entry.mode);
  writeOctal(header, 108, 8, 0);
  writeOctal(header, 116, 8, 0);
  writeOctal(header, 124, 12, entry.kind === 'file' ? entry.data.length : 0);
  writeOctal(header, 136, 12, mtimeSeconds);
  header.fill(' ', 148, 156);
  writeField(header, 156, 1, entry.kind === 'file' ? '0' : entry.kind === 'dir' ? '5' : '2');
  if (entry.kind === 'symlink') writeField(header, 157, 100, entry.target);
  writeField(header, 257, 6, 'ustar\0');
  writeField(header, 263, 2, '00');
  writeField(header, 265, 32, 'root');
  writeField(header, 297, 32, 'root');
  writeField(header, 345, 155, prefix);
  let sum = 0;
  for (const byte of header) sum += byte;
  writeField(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

/** The archive's bytes, entries in the order given, ending with two zero blocks. */
export function formatTar(entries: readonly TarEntry[], mtimeSeconds = 0): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(formatHeader(entry, mtimeSeconds));
    if (entry.kind === 'file') {
      parts.push(entry.data);
      const padding = (blockBytes - (entry.data.length % blockBytes)) % blockBytes;
      parts.push(Buffer.alloc(padding));
    }
  }
  parts.push(Buffer.alloc(blockBytes * 2));
  return Buffer.concat(parts);
}
