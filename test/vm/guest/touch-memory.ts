// A process for the guest's migration checks: allocates and touches N MiB (on whatever node its
// cpuset allows), prints "ready", then answers "verify" on stdin with "intact" or "corrupt" so a
// test can prove that moving the pages kept their contents. Exits when stdin closes.
import { createInterface } from 'node:readline';

const mebibytes = Number(process.argv[2]);
if (!Number.isInteger(mebibytes) || mebibytes <= 0) {
  console.error('usage: touch-memory MIB');
  process.exit(2);
}

const chunkBytes = 1 << 20;
const pattern = Buffer.alloc(chunkBytes);
for (let i = 0; i < chunkBytes; i += 1) pattern[i] = (i * 7 + 13) % 251;

const memory = Buffer.allocUnsafeSlow(mebibytes * chunkBytes);
for (let offset = 0; offset < memory.length; offset += chunkBytes) pattern.copy(memory, offset);

function isIntact(): boolean {
  for (let offset = 0; offset < memory.length; offset += chunkBytes) {
    if (memory.compare(pattern, 0, chunkBytes, offset, offset + chunkBytes) !== 0) return false;
  }
  return true;
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line === 'verify') process.stdout.write(isIntact() ? 'intact\n' : 'corrupt\n');
});
lines.on('close', () => process.exit(0));
process.stdout.write('ready\n');
