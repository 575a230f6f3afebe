/**
 * Runs the quiescelab CLI from source (node + tsx) in the repository root, as a user would,
 * without throwing on a nonzero exit; and the assertion every bad-usage test makes.
 */

import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { expect } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '../..');

/** node's arguments for `quiescelab ...args` from source. */
export function cliArgs(...args: string[]): string[] {
  return ['--import', 'tsx', join(ROOT, 'cli/main.ts'), ...args];
}

export function cli(...args: string[]) {
  return execa('node', cliArgs(...args), { cwd: ROOT, reject: false });
}

/** Bad input: exit 2 and exactly one line on stderr, matching `message` (never a stack trace). */
export function expectUsageError(r: { readonly exitCode?: number | undefined; readonly stderr: unknown }, message: RegExp): void {
  expect(r.exitCode).toBe(2);
  const stderr = String(r.stderr).trim();
  expect(stderr.split('\n')).toHaveLength(1);
  expect(stderr).toMatch(message);
}
