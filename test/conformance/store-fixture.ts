/**
 * What the conformance suites of the small stores (tokens, revocations, callback watermarks) share:
 * a fresh fixture per test, every instance a test opened closed after it, and how a refusal reads.
 */
import { afterEach, beforeEach } from 'vitest';
import { isGatewayError } from '../../gateway/errors/catalogue.ts';

interface Closable {
  close(): Promise<void>;
}

export interface StoreFixture<S extends Closable> {
  store: S;
  /** Another instance on the same storage, as a second gateway process or replica would open it. */
  another: () => Promise<S>;
  cleanup: () => Promise<void>;
}

/**
 * Registers the per-test fixture (`use` receives each one) and returns `opened`, which keeps an
 * instance a test opens (another(), or a store of its own) to be closed after the test.
 */
export function storeFixturePerTest<S extends Closable, F extends StoreFixture<S>>(
  fixture: () => Promise<F>,
  use: (f: F) => void,
): { opened: (open: () => Promise<S>) => Promise<S> } {
  let f: F;
  const instances: S[] = [];
  beforeEach(async () => {
    f = await fixture();
    use(f);
  });
  afterEach(async () => {
    for (const store of instances.splice(0)) await store.close();
    await f.store.close();
    await f.cleanup();
  });
  return {
    opened: async (open) => {
      const store = await open();
      instances.push(store);
      return store;
    },
  };
}

/** The error's code and message, or what else happened. */
export async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return isGatewayError(error) ? `${error.code}: ${error.message}` : String(error);
  }
  return 'admitted';
}
