/**
 * `Result` carries expected outcomes as values: the error side is a typed object with the
 * fields that identify what went wrong, so checkers and reports can read it as data.
 */

export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export function ok<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

export function err<E>(error: E): { readonly ok: false; readonly error: E } {
  return { ok: false, error };
}

/** Unwraps an ok result; a failure here is a programmer error (the caller proved ok). */
export function unwrap<T, E>(result: Result<T, E>): T {
  if (result.ok) return result.value;
  throw new Error(`unwrap of a failed result: ${JSON.stringify(result.error)}`);
}
