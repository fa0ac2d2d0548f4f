/**
 * An HTTPS client acting as one connected system (its client certificate from the data directory).
 * Used by `gw send`, `gw demo`, the tests and the benchmark — the same path a Land's system takes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';

export interface ClientResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

export class SystemClient {
  readonly agent: Agent;

  constructor(
    readonly baseUrl: string,
    tls: { certPem?: string; keyPem?: string; caPem: string },
    options: { connections?: number; pipelining?: number } = {},
  ) {
    this.agent = new Agent({
      connect: { cert: tls.certPem, key: tls.keyPem, ca: tls.caPem, rejectUnauthorized: true },
      connections: options.connections ?? 8,
      pipelining: options.pipelining ?? 1,
    });
  }

  /** The client of `systemId`, with the certificate the gateway issued into `<dataDir>/pki/systems/`. */
  static forSystem(
    baseUrl: string,
    dataDir: string,
    systemId: string | null,
    options?: { connections?: number },
  ): SystemClient {
    const pki = path.join(dataDir, 'pki');
    const caPem = readFileSync(path.join(pki, 'ca.crt'), 'utf8');
    if (!systemId) return new SystemClient(baseUrl, { caPem }, options);
    return new SystemClient(
      baseUrl,
      {
        caPem,
        certPem: readFileSync(path.join(pki, 'systems', `${systemId}.crt`), 'utf8'),
        keyPem: readFileSync(path.join(pki, 'systems', `${systemId}.key`), 'utf8'),
      },
      options,
    );
  }

  async call<T = unknown>(
    method: 'GET' | 'POST',
    urlPath: string,
    body?: Buffer | string,
    headers: Record<string, string> = {},
  ): Promise<ClientResponse<T>> {
    const response = await request(`${this.baseUrl}${urlPath}`, {
      method,
      body,
      headers,
      dispatcher: this.agent,
    });
    const text = await response.body.text();
    const type = String(response.headers['content-type'] ?? '');
    return {
      status: response.statusCode,
      headers: response.headers,
      body: (type.includes('json') && text ? JSON.parse(text) : text) as T,
    };
  }

  send(systemId: string, body: Buffer | string, contentType: string) {
    return this.call('POST', `/v1/systems/${systemId}/messages`, body, { 'content-type': contentType });
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
