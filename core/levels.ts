/**
 * Consistency levels, weakest first (DESIGN.md, "Consistency levels"). `transaction` is
 * the level of a roll-forward restore to a target; it ranks above `application`.
 */

export const LEVELS = ['inconsistent', 'crash', 'filesystem', 'application', 'transaction'] as const;
export type ConsistencyLevel = (typeof LEVELS)[number];

export function levelRank(level: ConsistencyLevel): number {
  return LEVELS.indexOf(level);
}

export function isLevel(value: string): value is ConsistencyLevel {
  return (LEVELS as readonly string[]).includes(value);
}

/** Negative when a is weaker than b, zero when equal, positive when stronger. */
export function compareLevels(a: ConsistencyLevel, b: ConsistencyLevel): number {
  return levelRank(a) - levelRank(b);
}

export function minLevel(a: ConsistencyLevel, b: ConsistencyLevel): ConsistencyLevel {
  return compareLevels(a, b) <= 0 ? a : b;
}

export function atLeast(level: ConsistencyLevel, floor: ConsistencyLevel): boolean {
  return compareLevels(level, floor) >= 0;
}
