/** DVDV key patterns: an exact key (`ags:15003000`) or a prefix with a trailing star (`ags:15*`). */
export function matches(pattern: string, key: string): boolean {
  return pattern.endsWith('*') ? key.startsWith(pattern.slice(0, -1)) : key === pattern;
}

/** Higher is more specific: exact keys beat every prefix; longer prefixes beat shorter ones. */
export function specificity(pattern: string): number {
  return pattern.endsWith('*') ? pattern.length - 1 : Number.MAX_SAFE_INTEGER;
}

export const PATTERN = /^[a-z]{2,10}:[A-Za-z0-9._-]*\*?$/;
