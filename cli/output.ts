/** Writing the CLI's files: folders created level by level, every failure a one-line usage error naming the option. */

import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from './errors.js';

/**
 * Creates `dir` and its missing parents one level at a time: Node's recursive mkdirSync
 * spins forever on some virtual file systems (/proc), and a bad --out must be exit 2.
 */
export function ensureDir(dir: string, option: string): void {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    assertDepth(missing.length);
    try {
      if (statSync(d).isDirectory()) break;
      throw new UsageError(`${option}: '${d}' exists and is not a folder`);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      if (dirname(d) === d) break;
      missing.push(d);
    }
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (error) {
      throw new UsageError(`${option}: cannot create '${d}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
}

function assertDepth(depth: number): void {
  if (depth > 256) throw new UsageError('--out: the path is more than 256 folders deep');
}

export function writeOutput(path: string, text: string, what: string): void {
  try {
    writeFileSync(path, text);
  } catch (error) {
    throw new UsageError(`${what}: cannot write '${path}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
