/**
 * Property-based fuzzing of every adapter's decode (issue 9): each adapter's own fixtures, truncated,
 * flipped, spliced and injected with hostile tokens (plus plain noise), under every content type it
 * declares. Whatever the bytes, decode returns or throws a catalogued 4xx GatewayError, in bounded
 * time — which covers each native format (JSON, XML dialects, CSV and fixed-width in their charsets,
 * standard XML) as configured by a real adapter, mapping included.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import type { AdapterContext } from '../../adapters/sdk/adapter.ts';
import { ADAPTERS_DIR, discoverAdapters } from '../../adapters/sdk/registry.ts';
import { GatewayError } from '../../gateway/errors/catalogue.ts';
import { catalogue } from '../../standards/index.ts';
import { hostileBytes } from './support/mutations.ts';
import { refusesCleanly } from './support/refuses-cleanly.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 250);

const context: AdapterContext = {
  newUUID: randomUUID,
  now: () => new Date('2026-11-29T04:00:00Z'),
  messageType(standard, version, name) {
    const spec = catalogue.messageType(standard, version, name);
    if (!spec) throw new GatewayError('GW_ERR_UNKNOWN_STANDARD', `${standard} ${version} ${name}`);
    return spec;
  },
};

const registry = await discoverAdapters();

describe('every adapter decodes hostile bytes or refuses them with a catalogued 4xx code', () => {
  for (const adapter of registry.all()) {
    const dir = path.join(ADAPTERS_DIR, adapter.spec.id, 'fixtures');
    // What the system sends (native) and what it is sent (encoded): both are its format.
    const samples = readdirSync(dir)
      .filter((f) => /\.(native|encoded)\./.test(f))
      .map((f) => readFileSync(path.join(dir, f)));
    it(`${adapter.spec.id} (${adapter.spec.format})`, () => {
      fc.assert(
        fc.property(
          hostileBytes(samples),
          fc.constantFrom(...adapter.spec.decodes.contentTypes),
          (body, contentType) => {
            refusesCleanly(
              `${adapter.spec.id}.decode`,
              () => adapter.decode({ body, contentType }, context),
              body,
            );
          },
        ),
        { numRuns: RUNS },
      );
    }, 120_000);
  }
});
