/**
 * Replay tokens: what reproduces one failure exactly — the cell, the suite and property,
 * the fast-check seed and run count, the shrunk counterexample's path, and the engine
 * mutant if one was switched on. Printed as `ql1.<base64url of JSON>` so it survives a
 * shell, a JUnit file and a URL. Decoding names the field that is wrong.
 */

import { err, ok, type Result } from '../core/result.js';

export interface ReplayToken {
  readonly cell: string;
  readonly suite: string;
  readonly property: string;
  readonly seed: number;
  readonly runs: number;
  readonly path: string;
  readonly mutant: string | null;
}

const PREFIX = 'ql1.';

export function encodeReplayToken(t: ReplayToken): string {
  const json = JSON.stringify({ cell: t.cell, suite: t.suite, property: t.property, seed: t.seed, runs: t.runs, path: t.path, mutant: t.mutant });
  return PREFIX + Buffer.from(json, 'utf8').toString('base64url');
}

export function decodeReplayToken(token: string): Result<ReplayToken, string> {
  if (!token.startsWith(PREFIX)) return err(`token: expected it to start with '${PREFIX}'`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return err('token: not base64url-encoded JSON');
  }
  if (typeof value !== 'object' || value === null) return err('token: not an object');
  const v = value as Record<string, unknown>;
  for (const field of ['cell', 'suite', 'property', 'path'] as const) {
    if (typeof v[field] !== 'string' || v[field] === '') return err(`token.${field}: expected a non-empty string`);
  }
  for (const field of ['seed', 'runs'] as const) {
    if (typeof v[field] !== 'number' || !Number.isSafeInteger(v[field]) || (v[field]) < 1) return err(`token.${field}: expected a positive integer`);
  }
  if (v['mutant'] !== null && typeof v['mutant'] !== 'string') return err('token.mutant: expected a string or null');
  if (!/^\d+(:\d+)*$/.test(v['path'] as string)) return err('token.path: expected a fast-check path like 3:0:1');
  return ok({ cell: v['cell'] as string, suite: v['suite'] as string, property: v['property'] as string, seed: v['seed'] as number, runs: v['runs'] as number, path: v['path'] as string, mutant: (v['mutant']) });
}
