/**
 * Time as the deterministic layers see it: integer microseconds of virtual time since the
 * start of a run. Only cli/ reads the real clock.
 */

export type TimeUs = number;

export interface Clock {
  /** Virtual time now, in whole microseconds; never decreases. */
  nowUs(): TimeUs;
}

export const US_PER_MS = 1_000;
export const US_PER_S = 1_000_000;

export function msToUs(ms: number): TimeUs {
  return Math.round(ms * US_PER_MS);
}

export function sToUs(s: number): TimeUs {
  return Math.round(s * US_PER_S);
}

/** `12.345678s` — how histories and timelines print virtual time. */
export function formatTimeUs(timeUs: TimeUs): string {
  const s = Math.floor(timeUs / US_PER_S);
  const frac = String(timeUs % US_PER_S).padStart(6, '0');
  return `${s}.${frac}s`;
}
