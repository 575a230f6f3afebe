/**
 * Assertions for programmer errors: a failed assert means the code is wrong, never the
 * input. Expected outcomes (a failed writer, a corrupt block) are `Result` values instead.
 */

export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Throws when `condition` is false. The message says which invariant broke. */
export function assert(condition: boolean, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/**
 * Documents that a condition may be either true or false at this point (TigerBeetle's
 * `maybe`): it checks nothing, it tells the reader that both cases were considered.
 */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- the argument is the documentation
export function maybe(condition: boolean): void {}

/** Marks a switch branch that the type checker proves unreachable. */
export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${JSON.stringify(value)}`);
}

/** Asserts that `value` is an integer in [min, max]. Returns it for chaining. */
export function assertInt(value: number, min: number, max: number, name: string): number {
  assert(Number.isSafeInteger(value) && value >= min && value <= max,
    `${name} must be an integer in [${min}, ${max}], got ${value}`);
  return value;
}
