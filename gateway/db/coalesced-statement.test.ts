import { describe, expect, it } from 'vitest';
import { CoalescedStatement } from './coalesced-statement.ts';

/** A statement that records each batch it runs and answers once `finish` is called. */
function recorded() {
  const batches: number[][] = [];
  let finish: (() => void) | undefined;
  const statement = new CoalescedStatement(async (inputs: number[]) => {
    batches.push(inputs);
    await new Promise<void>((resolve) => (finish = resolve));
    if (inputs.includes(-1)) throw new Error('the statement failed');
    return inputs.map((i) => i * 10);
  });
  return { statement, batches, finish: () => finish?.() };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('CoalescedStatement', () => {
  it('runs the calls of one tick as one statement, each caller getting its own output', async () => {
    const { statement, batches, finish } = recorded();
    const outputs = Promise.all([statement.call(1), statement.call(2), statement.call(3)]);
    await turn();
    finish();
    expect(await outputs).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('collects the calls made while a statement is in flight into the next one', async () => {
    const { statement, batches, finish } = recorded();
    const first = statement.call(1);
    await turn();
    const later = [statement.call(2), statement.call(3)];
    await turn();
    expect(batches).toEqual([[1]]);
    finish();
    expect(await first).toBe(10);
    await turn();
    finish();
    expect(await Promise.all(later)).toEqual([20, 30]);
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it("rejects every call of a failed statement, and runs the next one's", async () => {
    const { statement, batches, finish } = recorded();
    const failed = [statement.call(-1), statement.call(2)].map((p) => p.catch((e: Error) => e.message));
    await turn();
    const next = statement.call(4);
    finish();
    expect(await Promise.all(failed)).toEqual(['the statement failed', 'the statement failed']);
    await turn();
    finish();
    expect(await next).toBe(40);
    expect(batches).toEqual([[-1, 2], [4]]);
  });
});
