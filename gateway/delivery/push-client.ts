/**
 * Push delivery: HTTPS POST of the native payload to the receiving system, authenticated with the
 * gateway's client certificate. The receiver gets the nachrichtenUUID in a header so that it can
 * deduplicate too (the gateway delivers effectively once, the receiver can make it exactly once).
 */
import { createSecureContext } from 'node:tls';
import { Agent, request } from 'undici';

export interface PushResult {
  ok: boolean;
  status: number;
  detail: string;
}

export class PushClient {
  private readonly agent: Agent;

  constructor(options: { certPem: string; keyPem: string; caPems: string[]; timeoutMs: number }) {
    this.agent = new Agent({
      // One TLS context for every connection: given PEMs instead, each new connection would parse
      // the key and the certificates again.
      connect: {
        secureContext: createSecureContext({
          cert: options.certPem,
          key: options.keyPem,
          ca: options.caPems,
        }),
        rejectUnauthorized: true,
      },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connectTimeout: Math.min(options.timeoutMs, 10_000),
    });
  }

  async push(
    url: string,
    body: Buffer,
    contentType: string,
    headers: Record<string, string>,
  ): Promise<PushResult> {
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        body,
        headers: { 'content-type': contentType, ...headers },
      });
      // Drain so the connection can be reused; the receiver's answer body carries no meaning.
      await response.body.dump({ limit: 64 * 1024 });
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      return {
        ok,
        status: response.statusCode,
        detail: ok ? 'accepted by receiver' : `receiver answered ${response.statusCode}`,
      };
    } catch (error) {
      return { ok: false, status: 0, detail: (error as Error).message };
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
