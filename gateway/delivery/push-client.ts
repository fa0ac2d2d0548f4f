/**
 * Push delivery: HTTPS POST of the native payload to the receiving system, authenticated with the
 * gateway's client certificate. The receiver gets the nachrichtenUUID in a header so that it can
 * deduplicate too (the gateway delivers effectively once, the receiver can make it exactly once).
 */
import { createSecureContext } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';

export interface PushResult {
  ok: boolean;
  status: number;
  detail: string;
}

interface PushTarget {
  origin: string;
  path: string;
}

/** Parsed push URLs kept at most (one per push system; a bound against a directory that churns). */
const MAX_TARGETS = 1024;
/** Answer bytes read at most; a longer answer closes the connection (the status is what counts). */
const ANSWER_LIMIT = 64 * 1024;

/**
 * Resolves with the receiver's status once its answer has been read (so the connection can be
 * reused), or with the error that ended the exchange. Never rejects.
 */
class PushHandler implements Dispatcher.DispatchHandler {
  private status = 0;
  private answerBytes = 0;
  private abort: ((reason?: Error) => void) | undefined;
  private settled = false;

  constructor(private readonly resolve: (result: PushResult) => void) {}

  onConnect(abort: (reason?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number): boolean {
    // An informational answer (1xx) comes before the real one, as in undici's own request handler.
    if (statusCode >= 200) this.status = statusCode;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.answerBytes += chunk.length;
    if (this.answerBytes > ANSWER_LIMIT) {
      // The status is known: report it, and let undici drop the connection instead of reading on.
      this.finish();
      this.abort?.(new Error('receiver answer too long'));
      return false;
    }
    return true;
  }

  onComplete(): void {
    this.finish();
  }

  onError(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve({ ok: false, status: 0, detail: error.message });
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    const ok = this.status >= 200 && this.status < 300;
    this.resolve({
      ok,
      status: this.status,
      detail: ok ? 'accepted by receiver' : `receiver answered ${this.status}`,
    });
  }
}

export class PushClient {
  private readonly agent: Agent;
  private readonly targets = new Map<string, PushTarget>();

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

  /**
   * One POST. Dispatched with a handler of its own rather than through undici's `request()`: the
   * receiver's answer body carries no meaning, and `request()` would make a readable stream (and
   * parse the response headers) for every push only to drain it again.
   */
  push(url: string, body: Buffer, contentType: string, headers: Record<string, string>): Promise<PushResult> {
    let target: PushTarget;
    try {
      target = this.targetOf(url);
    } catch (error) {
      return Promise.resolve({ ok: false, status: 0, detail: (error as Error).message });
    }
    return new Promise<PushResult>((resolve) => {
      const handler = new PushHandler(resolve);
      try {
        this.agent.dispatch(
          {
            origin: target.origin,
            path: target.path,
            method: 'POST',
            body,
            headers: { 'content-type': contentType, ...headers },
          },
          handler,
        );
      } catch (error) {
        // undici reports bad arguments through onError; anything thrown is reported the same way.
        handler.onError(error as Error);
      }
    });
  }

  /** The origin and path of a push URL, parsed once per URL (a system's URL rarely changes). */
  private targetOf(url: string): PushTarget {
    let target = this.targets.get(url);
    if (!target) {
      const parsed = new URL(url);
      target = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
      if (this.targets.size >= MAX_TARGETS) this.targets.clear();
      this.targets.set(url, target);
    }
    return target;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
