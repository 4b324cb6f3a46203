// Sysfs trees for tests: the shared dumps of real machines (unpacked once per test process
// into a temp dir) and trees generated from the project's own specs. Temp dirs go away when
// the process exits.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateSysfs, type Layout } from '../fixtures/generate-sysfs.js';
import type { TopologySpec } from '../fixtures/spec.js';
import { sharedFixturesDir } from './paths.js';

const tempDirs: string[] = [];
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

// Generated trees are thousands of tiny files: memory-backed /dev/shm writes them much faster.
const tempBase = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

function makeTempDir(label: string): string {
  const dir = mkdtempSync(join(tempBase, `cri-rebalancer-${label}-`));
  tempDirs.push(dir);
  return dir;
}

/** Names of the shared dumps (`NAME.tar.gz` → `NAME`), sorted; [] when the folder is absent. */
export function sharedFixtureNames(): string[] {
  try {
    return readdirSync(sharedFixturesDir)
      .filter((file) => file.endsWith('.tar.gz'))
      .map((file) => file.slice(0, -'.tar.gz'.length))
      .sort();
  } catch {
    return [];
  }
}

const unpacked = new Map<string, Promise<string>>();

/**
 * Unpacks a shared dump (once per process) and resolves to its sysfs root, the directory to
 * pass to discoverTopology. `NAME/NOTES.md` sits two levels above it.
 */
export function unpackSharedFixture(name: string): Promise<string> {
  let root = unpacked.get(name);
  if (root === undefined) {
    root = (async () => {
      const dir = makeTempDir('sysfs');
      await promisify(execFile)('tar', ['xzf', join(sharedFixturesDir, `${name}.tar.gz`), '-C', dir]);
      return join(dir, name, 'sys');
    })();
    unpacked.set(name, root);
  }
  return root;
}

/** Writes the spec's sysfs tree into a fresh temp dir; returns its root and layout. */
export function generateSysfsTree(spec: TopologySpec): { root: string; layout: Layout } {
  const root = makeTempDir(`gen-${spec.name}`);
  return { root, layout: generateSysfs(spec, root) };
}
