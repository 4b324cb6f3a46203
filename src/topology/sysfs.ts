// Reading sysfs attribute files the way real kernels write them: trailing newline or NUL,
// empty files, missing optional files, hex masks on old kernels. Every error names the file.
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { CpuSet, type CpuSetParseError } from './cpuset.js';

export class TopologyError extends Error {
  readonly code = 'ERR_TOPOLOGY';
  override readonly name = 'TopologyError';

  constructor(
    message: string,
    /** The file or directory the problem is about. */
    readonly path: string,
  ) {
    super(message);
  }
}

// Sysfs attributes are at most a page: one reusable buffer spares readFileSync's fstat and
// allocation on each of the thousands of files a large machine has.
const buffer = Buffer.allocUnsafe(64 * 1024);

function readText(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    return length < buffer.length ? buffer.toString('latin1', 0, length) : readFileSync(path, 'latin1');
  } finally {
    closeSync(fd);
  }
}

/** Sysfs text without NULs and surrounding blanks, or null when the file does not exist. */
export function readOptional(path: string): string | null {
  try {
    return readText(path).replace(/\0/gu, '').trim();
  } catch (error) {
    if (isMissing(error)) return null;
    throw new TopologyError(`cannot read ${path}: ${(error as Error).message}`, path);
  }
}

/** An integer attribute (ids may be -1), or null when the file is absent or empty. */
export function readInt(path: string): number | null {
  const text = readOptional(path);
  if (text === null || text === '') return null;
  if (!/^-?\d+$/u.test(text)) throw new TopologyError(`${path}: expected an integer, found "${text}"`, path);
  return Number(text);
}

export function readRequiredInt(path: string, why: string): number {
  const value = readInt(path);
  if (value === null) throw new TopologyError(`${path} is missing or empty (${why})`, path);
  return value;
}

/**
 * A CPU or node set from `<base>_list`/`<base>list` (cpulist) or, where old kernels only have
 * it, `<mask>` (hex mask). Null when neither file exists.
 */
export function readCpuSet(dir: string, listName: string, maskName?: string): CpuSet | null {
  const listPath = join(dir, listName);
  const list = readOptional(listPath);
  if (list !== null) return parseAt(listPath, list, (text) => CpuSet.parse(text));
  if (maskName === undefined) return null;
  const maskPath = join(dir, maskName);
  const mask = readOptional(maskPath);
  return mask === null ? null : parseAt(maskPath, mask, (text) => CpuSet.parseMask(text));
}

function parseAt(path: string, text: string, parse: (text: string) => CpuSet): CpuSet {
  try {
    return parse(text);
  } catch (error) {
    throw new TopologyError(`${path}: ${(error as CpuSetParseError).message}`, path);
  }
}

/** Numeric suffixes of the entries named `<prefix><n>` in a directory, ascending; [] when absent. */
export function listNumbered(dir: string, prefix: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if (isMissing(error)) return [];
    throw new TopologyError(`cannot list ${dir}: ${(error as Error).message}`, dir);
  }
  const pattern = new RegExp(`^${prefix}(\\d+)$`, 'u');
  return names
    .map((name) => pattern.exec(name)?.[1])
    .filter((suffix): suffix is string => suffix !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
