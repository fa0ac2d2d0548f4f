/**
 * The charset a request declares in its Content-Type (`application/json; charset="UTF-8"`), checked
 * against the one the adapter's format decodes: a body declared ISO-8859-1 must not be decoded as
 * UTF-8 (or the reverse) and reach a register as mojibake. No charset parameter: the format's own.
 */
import { GatewayError } from '../errors/catalogue.ts';

/** IANA names and aliases of the charsets the formats decode, lower case. */
const ALIASES: Record<string, readonly string[]> = {
  'utf-8': ['utf-8'],
  'iso-8859-1': [
    'iso-8859-1',
    'iso_8859-1',
    'iso_8859-1:1987',
    'latin1',
    'l1',
    'iso-ir-100',
    'cp819',
    'ibm819',
  ],
  'windows-1252': ['windows-1252', 'cp1252', 'x-cp1252'],
};

/** The values of every `charset` parameter, unquoted and lower case (RFC 9110: the name is case-insensitive). */
export function declaredCharsets(contentType: string): string[] {
  const charsets: string[] = [];
  // Parameters after the media type; a quoted value may itself contain ';'.
  const parameter = /;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g;
  for (const match of contentType.matchAll(parameter)) {
    if (match[1]!.toLowerCase() !== 'charset') continue;
    let value = match[2]!.trim();
    if (value.startsWith('"')) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    charsets.push(value.trim().toLowerCase());
  }
  return charsets;
}

/** Refuses (415) a declared charset other than `decodes` (or one of its aliases). */
export function checkDeclaredCharset(contentType: string, decodes: string, what: string): void {
  const accepted = ALIASES[decodes.toLowerCase()] ?? [decodes.toLowerCase()];
  for (const charset of declaredCharsets(contentType)) {
    if (!accepted.includes(charset)) {
      throw new GatewayError(
        'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
        `${what} decodes ${decodes} only, not the declared charset ${JSON.stringify(charset)}`,
      );
    }
  }
}
