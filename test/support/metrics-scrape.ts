/**
 * /metrics as a Prometheus scraper reads it under the default GATEWAY_METRICS_ACCESS=operator: with
 * a scraper token, issued once per gateway as an operator issues Prometheus' own.
 */
import type { Gateway } from '../../gateway/app.ts';

const scraperTokens = new WeakMap<Gateway, Promise<string>>();

/** The Authorization header of this gateway's scraper. */
export async function scraperAuth(gateway: Gateway): Promise<{ authorization: string }> {
  let token = scraperTokens.get(gateway);
  if (!token) {
    token = gateway.tokens
      .issue({ role: 'scraper', scope: '*', name: 'prometheus', lifetimeMs: 86_400_000, createdBy: 'test' })
      .then((issued) => issued.token);
    scraperTokens.set(gateway, token);
  }
  return { authorization: `Bearer ${await token}` };
}
