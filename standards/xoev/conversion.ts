/**
 * Converters between two versions of one standard. A converter maps a valid message of version
 * `from` onto the object of version `to`; whatever has no place in `to` it must refuse (lossy), never
 * drop. The registry in ../version-bridge.ts validates the result and, as a second line of defence,
 * converts it back and compares — so a converter that forgets a field is refused, not trusted.
 */
import { type FieldError, GatewayError } from '../../gateway/errors/catalogue.ts';
import type { MessageTypeSpec, XoevMessage } from '../catalogue.ts';
import { jsonPointer } from './xml-codec.ts';

export interface Converter {
  /** Catalogue id of the standard: `xmeld`. */
  standard: string;
  from: string;
  to: string;
  /** Message type names this converter handles; the type keeps its name in the target version. */
  messageTypes: readonly string[];
  /**
   * The message (valid in `from`) as an object of version `to`, not yet validated. Throws
   * GW_ERR_CONVERSION_LOSSY (see lossy()) listing every value that `to` cannot carry.
   */
  convert(message: XoevMessage, spec: MessageTypeSpec): unknown;
}

/** Collects the values a conversion cannot carry, then throws them all at once. */
export class LossReport {
  private readonly losses: FieldError[] = [];

  constructor(
    private readonly spec: MessageTypeSpec,
    private readonly to: string,
  ) {}

  /** `path` points into the source message. */
  add(path: readonly PropertyKey[], detail: string): void {
    this.losses.push({ pointer: jsonPointer(path), detail });
  }

  /** Throws GW_ERR_CONVERSION_LOSSY if anything was added. */
  throwIfAny(): void {
    if (this.losses.length === 0) return;
    const first = this.losses[0]!;
    const more = this.losses.length > 1 ? ` (and ${this.losses.length - 1} more)` : '';
    throw new GatewayError(
      'GW_ERR_CONVERSION_LOSSY',
      `${this.spec.id} cannot be converted to ${this.spec.standard} ${this.to} without losing data: ${first.pointer}: ${first.detail}${more}`,
      { errors: [...this.losses] },
    );
  }
}

/** A copy of `obj` without the keys whose value is undefined (optional fields stay absent). */
export function defined<T extends Record<string, unknown>>(obj: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
  return out as T;
}

/**
 * The JSON pointer of the first place where `a` and `b` differ (absent and undefined are the same),
 * or undefined when they are equal. Plain JSON values only, which is all a message is.
 */
export function firstDifference(a: unknown, b: unknown, path: PropertyKey[] = []): string | undefined {
  if (Object.is(a, b)) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return jsonPointer(path);
  if (Array.isArray(a) !== Array.isArray(b)) return jsonPointer(path);
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], [...path, i]);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const key of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
    const d = firstDifference(ra[key], rb[key], [...path, key]);
    if (d !== undefined) return d;
  }
  return undefined;
}
