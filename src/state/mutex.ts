// One-at-a-time execution for async work: lifecycle decisions, reconciles and checkpoints take
// turns, so two creates can never both see the same CPU as free.
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `work` after every earlier caller's work has settled; resolves to its result. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
