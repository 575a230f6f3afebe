/**
 * User errors: bad options or input become one line on stderr and exit code 2, never a
 * stack trace. Only cli/ raises them.
 */

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Parses a whole number option, naming the option when it is not one. */
export function parseIntOption(name: string, raw: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(raw.trim())) throw new UsageError(`${name}: expected a whole number, got '${raw}'`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${name}: must be between ${min} and ${max}, got ${raw}`);
  }
  return value;
}
