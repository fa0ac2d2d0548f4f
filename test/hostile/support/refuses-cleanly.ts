/**
 * The fuzzers' one property: a decoder either returns, or throws a GatewayError whose code is in
 * the catalogue and is a client error (4xx) — never a TypeError, a RangeError from a blown stack, a
 * 500, or a hang. "Hang" is a time budget per input, generous because two shared cores are noisy.
 */
import { ERRORS, GatewayError } from '../../../gateway/errors/catalogue.ts';

export const BUDGET_MS = Number(process.env.FUZZ_BUDGET_MS ?? 2_000);

export function refusesCleanly(what: string, run: () => unknown, input: Buffer | string): void {
  const started = performance.now();
  try {
    run();
  } catch (error) {
    const preview = JSON.stringify(input.toString().slice(0, 200));
    if (!(error instanceof GatewayError)) {
      throw new Error(
        `${what} threw ${(error as Error)?.constructor?.name}: ${(error as Error)?.message} on ${preview}`,
        {
          cause: error,
        },
      );
    }
    if (!(error.code in ERRORS) || error.status < 400 || error.status >= 500) {
      throw new Error(`${what} threw ${error.code} (${error.status}) on ${preview}: ${error.message}`);
    }
  }
  const ms = performance.now() - started;
  if (ms > BUDGET_MS)
    throw new Error(`${what} took ${ms.toFixed(0)} ms (budget ${BUDGET_MS}) on ${input.length} bytes`);
}
