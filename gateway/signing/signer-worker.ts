/**
 * A sealing thread of SignerPool (signer-pool.ts). It holds its own DocumentSigner and answers
 * { id, xml } with { id, signed } or { id, error }. A `key` message replaces the signer (rotation);
 * messages are processed in order, so every sign request sent after it uses the new key.
 */
import { parentPort } from 'node:worker_threads';
import { isGatewayError } from '../errors/catalogue.ts';
import { DocumentSigner, type SigningKey } from './canonical-signer.ts';

export type WorkerRequest = { type: 'key'; key: SigningKey } | { type: 'sign'; id: number; xml: string };
export type WorkerResponse =
  | { type: 'ready' }
  | { type: 'signed'; id: number; signed: string }
  | { type: 'failed'; id: number; code: string | null; message: string };

const port = parentPort!;
let signer: DocumentSigner | null = null;

port.on('message', (request: WorkerRequest) => {
  if (request.type === 'key') {
    signer = new DocumentSigner(request.key);
    port.postMessage({ type: 'ready' } satisfies WorkerResponse);
    return;
  }
  try {
    if (!signer) throw new Error('no signing key yet');
    port.postMessage({
      type: 'signed',
      id: request.id,
      signed: signer.signCanonical(request.xml),
    } satisfies WorkerResponse);
  } catch (error) {
    port.postMessage({
      type: 'failed',
      id: request.id,
      code: isGatewayError(error) ? error.code : null,
      message: (error as Error).message,
    } satisfies WorkerResponse);
  }
});
