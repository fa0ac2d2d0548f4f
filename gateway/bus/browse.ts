/**
 * Reads every record a topic holds right now, through the Bus port, without moving any group that
 * does work on that topic: for operators' tools (`gw dlq list`), not for the pipeline.
 *
 * How: a fresh consumer group (named by the caller, unique per browse) starts at the beginning of
 * the topic; `lag()` of that group before it subscribes says how many records each partition holds,
 * and the browse ends when it has seen that many of each. The throwaway group keeps its committed
 * offsets (Kafka drops empty groups after offsets.retention.minutes; the SQLite bus keeps one row
 * per partition). An empty topic is answered without subscribing, so it leaves no group behind.
 */
import type { Bus, ConsumedRecord } from '../ports/bus.ts';

export async function browseTopic(
  bus: Bus,
  options: { topic: string; group: string; timeoutMs: number },
): Promise<ConsumedRecord[]> {
  const { topic, group, timeoutMs } = options;
  const expected = new Map<number, number>();
  for (const p of await bus.lag(group, topic)) if (p.lag > 0) expected.set(p.partition, p.lag);
  if (expected.size === 0) return [];

  // By offset: a record handed twice (at-least-once) is counted once.
  const seen = new Map<number, Map<string, ConsumedRecord>>();
  let finish: () => void = () => {};
  const complete = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const isComplete = () => [...expected].every(([partition, n]) => (seen.get(partition)?.size ?? 0) >= n);
  const subscription = await bus.subscribe({
    group,
    topics: [topic],
    handler: async (record) => {
      const want = expected.get(record.partition) ?? 0;
      const records = seen.get(record.partition) ?? new Map<string, ConsumedRecord>();
      seen.set(record.partition, records);
      // Records published after the browse began are not part of it.
      if (records.size < want) records.set(record.offset, record);
      if (isComplete()) finish();
    },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      complete,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const got = [...seen.values()].reduce((n, l) => n + l.size, 0);
          const want = [...expected.values()].reduce((n, l) => n + l, 0);
          reject(new Error(`reading ${topic} timed out after ${timeoutMs} ms (${got} of ${want} records)`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await subscription.close();
  }
  return [...seen.entries()]
    .sort(([a], [b]) => a - b)
    .flatMap(([, records]) => [...records.values()].sort((x, y) => compareOffsets(x.offset, y.offset)));
}

function compareOffsets(a: string, b: string): number {
  const d = BigInt(a) - BigInt(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}
