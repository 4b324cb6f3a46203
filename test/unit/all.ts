// Runs every unit test file in this one process. tap costs about 2 s of CPU per test process
// on these machines, far more than the unit tests themselves; one process keeps the pure suite
// in seconds. Each file still runs alone when given to tap directly.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here).filter((name) => name.endsWith('.test.js')).sort();

// Loading inside a subtest keeps the root test busy: a root-level t.teardown in any file turns
// on tap's end-when-idle, which would otherwise end the run between two imports and drop the
// tests of every file imported after it.
t.test(`load ${files.length} unit test files`, async (t) => {
  for (const file of files) await import(pathToFileURL(join(here, file)).href);
  t.ok(files.length > 0, 'found the unit test files');
});
