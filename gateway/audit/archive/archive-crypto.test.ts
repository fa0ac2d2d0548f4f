/** The archive's document sealing: a fresh IV for every document, across the blocks they are drawn from. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decryptDocument, encryptDocument } from './archive-crypto.ts';

describe('archive document sealing', () => {
  it('never repeats an IV, and every sealed document opens', () => {
    const dayKey = randomBytes(32);
    const d = {
      messageId: 'm',
      digest: 'ab'.repeat(32),
      expiresOn: '2030-01-01',
      document: Buffer.from('<x/>'),
    };
    const ivs = new Set<string>();
    // Several blocks of pooled randomness (256 IVs each).
    for (let i = 0; i < 1000; i++) {
      const sealed = encryptDocument(dayKey, d);
      expect(sealed.length).toBe(12 + d.document.length + 16);
      ivs.add(sealed.subarray(0, 12).toString('hex'));
      expect(decryptDocument(dayKey, { ...d, sealed }).equals(d.document)).toBe(true);
    }
    expect(ivs.size).toBe(1000);
  });
});
