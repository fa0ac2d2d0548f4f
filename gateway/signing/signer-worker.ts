/**
 * A sealing thread of SignerPool (signer-pool.ts). It holds its own DocumentSigner and answers
 * batches of { id, xml } with batches of { id, signed } or { id, code, message }. A `key` message replaces the signer (rotation);
 * messages are processed in order, so every sign request sent after it uses the new key.
 */
import { parentPort } from 'node:worker_threads';
import { isGatewayError } from '../errors/catalogue.ts';
import { DocumentSigner, type SigningKey } from './canonical-signer.ts';

export type SignRequest = { id: number; xml: string };
export type SignResult =
  | { id: number; signed: string }
  | { id: number; signed?: undefined; code: string | null; message: string };
/**
 * Sign requests travel in batches (all requests of one event-loop turn in one message): every
 * postMessage wakes the other thread, and on a busy machine a wake-up per document cost more
 * main-thread time than the signature itself (bench profile: postMessage 5 % of the gateway).
 */
export type WorkerRequest = { type: 'key'; key: SigningKey } | { type: 'sign'; batch: SignRequest[] };
export type WorkerResponse = { type: 'ready' } | { type: 'signed'; results: SignResult[] };

const port = parentPort!;
let signer: DocumentSigner | null = null;

function signOne(request: SignRequest): SignResult {
  try {
    if (!signer) throw new Error('no signing key yet');
    return { id: request.id, signed: signer.signCanonical(request.xml) };
  } catch (error) {
    return {
      id: request.id,
      code: isGatewayError(error) ? error.code : null,
      message: (error as Error).message,
    };
  }
}

port.on('message', (request: WorkerRequest) => {
  if (request.type === 'key') {
    signer = new DocumentSigner(request.key);
    port.postMessage({ type: 'ready' } satisfies WorkerResponse);
    return;
  }
  port.postMessage({ type: 'signed', results: request.batch.map(signOne) } satisfies WorkerResponse);
});
