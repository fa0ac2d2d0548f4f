import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import snMelde from '../sn-melde/adapter.ts';

const context = {
  newUUID: randomUUID,
  now: () => new Date(),
  messageType: () => {
    throw new Error('not used');
  },
};

describe('mapped adapter', () => {
  it('refuses a type field naming an inherited property (toString) like any unknown type', () => {
    const body = Buffer.from(JSON.stringify({ vorgang: { art: 'toString' } }));
    expect(() => snMelde.decode({ body, contentType: 'application/json' }, context)).toThrow(
      expect.objectContaining({
        code: 'GW_ERR_MAPPING_FAILED',
        errors: [expect.objectContaining({ nativeField: '$.vorgang.art' })],
      }),
    );
  });
});
