// Paths tests use. tap runs every test process in the repository root, and tests run compiled
// from out/, so paths are resolved from the working directory rather than the module's URL.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = process.cwd();

/** The shared sysfs dumps of real machines, beside the repository when that folder exists. */
export const sharedFixturesDir = join(repoRoot, '..', 'shared', 'fixtures', 'sysfs');

export const hasSharedFixtures = existsSync(sharedFixturesDir);
