// Runs every unit test file in this one process. tap costs about 2 s of CPU per test process
// on these machines, far more than the unit tests themselves; one process keeps the pure suite
// in seconds. Each file still runs alone when given to tap directly.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
for (const file of readdirSync(here).filter((name) => name.endsWith('.test.js')).sort()) {
  await import(pathToFileURL(join(here, file)).href);
}
