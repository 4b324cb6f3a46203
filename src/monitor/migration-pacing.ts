// Pure parts of the paced page migrator that stay in TypeScript: naming the outcomes the native
// loop reports. Batch sizing, pacing and retries run in the addon's migration thread
// (native/page_migration.cc) so that no batch waits for a round trip through the event loop.
import { constants } from 'node:os';

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/**
 * The native loop's failures, keyed by errno ("0": the kernel kept the page on another node),
 * as errno names (ENOTMOVED for the latter).
 */
export function nameFailures(failedByErrno: Readonly<Record<string, number>>): Record<string, number> {
  const named: Record<string, number> = {};
  for (const [errno, pages] of Object.entries(failedByErrno)) {
    const name = errno === '0' ? 'ENOTMOVED' : errnoName(Number(errno));
    named[name] = (named[name] ?? 0) + pages;
  }
  return named;
}
