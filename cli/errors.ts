/**
 * User errors: bad options or input become one line on stderr and exit code 2, never a
 * stack trace. Only cli/ raises them.
 */

import type { Command } from 'commander';

/** Control characters (a newline in an argument among them) would break the one-line rule. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this matches
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Escapes control characters so that any text stays on one line of stderr. */
export function oneLine(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super(oneLine(message));
  }
}

/** A user's value as it appears in a message: one line, at most ~80 characters (an argument can be 128 KiB). */
export function shown(raw: string, max = 80): string {
  return oneLine(raw.length > max ? `${raw.slice(0, max)}... (${raw.length} characters)` : raw);
}

/** `shown`, in quotes. */
export function quote(raw: string, max = 80): string {
  return `'${shown(raw, max)}'`;
}

/** Parses a whole number option, naming the option when it is not one. */
export function parseIntOption(name: string, raw: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(raw.trim())) throw new UsageError(`${name}: expected a whole number, got ${quote(raw)}`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${name}: must be between ${min} and ${max}, got ${shown(raw.trim())}`);
  }
  return value;
}

/**
 * Commander's own errors (an unknown option, a missing argument) echo what was typed: keep
 * them on one line too, for this command and the commands added to it later.
 */
export function oneLineErrors(command: Command): Command {
  return command.configureOutput({
    outputError: (text, write) => {
      write(`${oneLine(text.replace(/\n+$/, ''))}\n`);
    },
  });
}

/** Parses a comma list of ids from a catalog: no empty list, no unknown id, no id twice. */
export function parseIdList<T extends string>(option: string, raw: string | undefined, known: readonly T[], what = 'id'): T[] | undefined {
  if (raw === undefined) return undefined;
  const ids = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (ids.length === 0) throw new UsageError(`${option}: expected a comma list of ${what}s, got ${quote(raw)}`);
  const seen = new Set<string>();
  for (const id of ids) {
    if (!(known as readonly string[]).includes(id)) throw new UsageError(`${option}: unknown ${what} ${quote(id)} (known: ${known.join(', ')})`);
    if (seen.has(id)) throw new UsageError(`${option}: ${quote(id)} is given twice`);
    seen.add(id);
  }
  return ids as T[];
}
