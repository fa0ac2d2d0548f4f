/**
 * /metrics as a Prometheus scraper reads it under the default GATEWAY_METRICS_ACCESS=operator: with
 * an operator token of scope `*`, issued once per gateway as an operator issues the scraper's.
 */
import type { Gateway } from '../../gateway/app.ts';

const scraperTokens = new WeakMap<Gateway, Promise<string>>();

/** The Authorization header of this gateway's scraper. */
export async function scraperAuth(gateway: Gateway): Promise<{ authorization: string }> {
  let token = scraperTokens.get(gateway);
  if (!token) {
    token = gateway.tokens
      .issue({ role: 'operator', scope: '*', name: 'prometheus', lifetimeMs: 86_400_000, createdBy: 'test' })
      .then((issued) => issued.token);
    scraperTokens.set(gateway, token);
  }
  return { authorization: `Bearer ${await token}` };
}
