// Polls a condition that becomes true asynchronously (a cgroup the daemon updates right after a
// create, a runtime coming back), failing with the last value seen.
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitUntil<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 5000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value: T | undefined;
    let failure: unknown = null;
    try {
      value = await read();
      if (done(value)) return value;
    } catch (error) {
      failure = error;
    }
    if (Date.now() > deadline) {
      const last = failure === null ? JSON.stringify(value) : String(failure);
      throw new Error(`condition not met within ${timeoutMs} ms; last: ${last}`);
    }
    await sleep(intervalMs);
  }
}
