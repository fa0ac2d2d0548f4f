/**
 * One statement for the calls that come together: calls made in one tick (before its microtasks
 * ran out), and those made while the previous statement is in flight, go to the database as one,
 * and each caller gets its own part of the answer. Under load every request then shares the round
 * trip (and the driver's CPU per query, most of a short statement's cost) with the others waiting;
 * alone, a call goes out at once, as it would have (a microtask later, not an event-loop turn).
 */
export class CoalescedStatement<Input, Output> {
  private queued: { input: Input; resolve(output: Output): void; reject(error: unknown): void }[] = [];
  private running = false;
  private scheduled = false;

  /** `run` answers the inputs of one statement, one output per input, in their order. */
  constructor(private readonly run: (inputs: Input[]) => Promise<Output[]>) {}

  call(input: Input): Promise<Output> {
    return new Promise((resolve, reject) => {
      this.queued.push({ input, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.scheduled || this.queued.length === 0) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queued;
    this.queued = [];
    this.running = true;
    try {
      const outputs = await this.run(batch.map((b) => b.input));
      for (const [i, b] of batch.entries()) b.resolve(outputs[i]!);
    } catch (error) {
      for (const b of batch) b.reject(error);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}
