/**
 * The whole test kit for one adapter folder: its fixtures (./testkit.ts) and the property-based
 * round trip (./roundtrip.ts). `gw adapter test` and every adapter's one-line vitest file run this.
 */
import type { Adapter } from './adapter.ts';
import { propertyRoundTrip } from './roundtrip.ts';
import { type FixtureResult, listFixtures, runFixture } from './testkit.ts';

export interface KitOptions {
  /** Property runs per message type (default: the adapter's, else 100). */
  runs?: number;
  seed?: number;
}

export function runAdapterKit(
  adapter: Adapter,
  adapterDir: string,
  options: KitOptions = {},
): FixtureResult[] {
  const fixtures = listFixtures(adapterDir);
  const results: FixtureResult[] =
    fixtures.length === 0
      ? [{ name: '(fixtures)', check: 'decode', ok: false, detail: 'the adapter has no fixtures' }]
      : fixtures.flatMap((f) => runFixture(adapter, f));
  return [...results, ...propertyRoundTrip(adapter, options)];
}
