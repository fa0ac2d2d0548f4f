/**
 * Waiting for something at most so long, without leaving a timer behind: the ingress waits for
 * another request's claim (ingress.ts) and for audit entries it retries (published-audit.ts) this way.
 */

/** `{ value }` if `promise` resolves within `ms`, undefined if it has not by then; a rejection passes through. */
export async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise.then((value) => ({ value })), late]);
  } finally {
    clearTimeout(timer);
  }
}
