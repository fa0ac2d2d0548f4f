import { describe, expect, it } from 'vitest';
import { UUID } from '../../standards/xoev/nachrichtenkopf.ts';
import { receiptIdFor, uuidV5 } from './receipt-id.ts';

describe('receipt ids', () => {
  it('are RFC 9562 UUIDv5 (the RFC’s own example)', () => {
    // RFC 9562, Appendix A.4: the DNS namespace and "www.example.com".
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  it('are derived from the acknowledged id only: the same for every process, distinct per message, valid nachrichtenUUIDs', () => {
    const id = '3f0c9a52-7d1e-4b8a-9c2f-5e6d7a8b9c01';
    expect(receiptIdFor(id)).toBe(receiptIdFor(id.toUpperCase()));
    // Python: uuid.uuid5(uuid.UUID('6d1f3c2a-8b4e-4f7a-9c3d-2e1b0a9f8e7d'), '3f0c9a52-…-5e6d7a8b9c01')
    expect(receiptIdFor(id)).toBe('46778b8e-ca96-5933-ba22-1e5f383d31f4');
    expect(receiptIdFor('3f0c9a52-7d1e-4b8a-9c2f-5e6d7a8b9c02')).not.toBe(receiptIdFor(id));
    expect(UUID.safeParse(receiptIdFor(id)).success).toBe(true);
    expect(receiptIdFor(receiptIdFor(id))).not.toBe(receiptIdFor(id));
  });
});
