// One-at-a-time execution for async work: lifecycle decisions, reconciles and checkpoints take
// turns, so two creates can never both see the same CPU as free.
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  /** Runs `work` after every earlier caller's work has settled; resolves to its result. */
  run<T>(work: () => Promise<T>): Promise<T> {
    this.queued += 1;
    const result = this.tail.then(work, work);
    this.tail = result.catch(() => undefined).finally(() => {
      this.queued -= 1;
    });
    return result;
  }

  /** Resolves once the work queued so far has settled; at once when there is none. */
  settled(): Promise<void> {
    return this.queued === 0 ? Promise.resolve() : this.run(() => Promise.resolve());
  }
}
