/** One line per adapter test file: `testAdapterFixtures(adapter, import.meta.dirname)`. */
import { describe, expect, it } from 'vitest';
import type { Adapter } from './adapter.ts';
import { propertyRoundTrip, roundTripTypes } from './roundtrip.ts';
import { listFixtures, runFixture } from './testkit.ts';

export function testAdapterFixtures(adapter: Adapter, adapterDir: string): void {
  describe(`${adapter.spec.id} fixtures`, () => {
    const fixtures = listFixtures(adapterDir);
    it('has at least one fixture', () => {
      expect(fixtures.length).toBeGreaterThan(0);
    });
    for (const fixture of fixtures) {
      it(fixture.name, () => {
        const results = runFixture(adapter, fixture);
        expect(results.filter((r) => !r.ok)).toEqual([]);
      });
    }
  });
  if (roundTripTypes(adapter).length > 0) {
    describe(`${adapter.spec.id} property-based round trip`, () => {
      it('decode(encode(m)) = m for generated messages the native format can carry', () => {
        const results = propertyRoundTrip(adapter);
        expect(results.filter((r) => !r.ok)).toEqual([]);
      });
    });
  }
}
