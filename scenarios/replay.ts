/**
 * Replays a failure from its token (scenarios/replay-token.ts): fast-check regenerates the
 * shrunk counterexample from the seed and path, the suite runs it once against the same
 * engine (the mutant named in the token, if any), and the property judges it again. The
 * result is the spec, the outcome's timeline and the verdict — the same as when the
 * failure was found, because the run is deterministic.
 */

import fc from 'fast-check';
import { err, ok, type Result } from '../core/result.js';
import { findCell, type Cell } from './cells.js';
import type { ReplayToken } from './replay-token.js';
import type { Engine } from './engine-api.js';
import { builtinEngine } from './engine-builtin.js';
import { runSuite, SUITES } from './runner.js';
import type { AnySuite, SuiteProperty } from './suites/suite.js';
import { guarded, type Verdict } from './verdict.js';

export interface Replayed {
  readonly cell: Cell;
  readonly suite: AnySuite;
  readonly property: SuiteProperty<unknown, unknown>;
  readonly spec: unknown;
  readonly outcome: unknown;
  readonly verdict: Verdict;
}

export async function replay(token: ReplayToken, engines: { resolve(mutant: string | null): Engine | undefined } = { resolve: (m) => (m === null ? builtinEngine() : undefined) }): Promise<Result<Replayed, string>> {
  const cell = findCell(token.cell);
  if (cell === undefined) return err(`token.cell: no cell '${token.cell}' in the matrix`);
  const suite = SUITES.find((s) => s.id === token.suite);
  if (suite === undefined) return err(`token.suite: no suite '${token.suite}'`);
  const property = (suite.properties as readonly SuiteProperty<unknown, unknown>[]).find((p) => p.id === token.property);
  if (property === undefined) return err(`token.property: no property '${token.property}' in suite ${suite.id}`);
  const engine = engines.resolve(token.mutant);
  if (engine === undefined) return err(`token.mutant: no engine mutant '${token.mutant ?? ''}'`);
  const box: { found: Replayed | null } = { found: null };
  await fc.check(fc.asyncProperty(suite.arbitrary(cell) as fc.Arbitrary<unknown>, async (drawn) => {
    // The path's value comes first; fast-check then goes on through the rest of its shrink
    // candidates (the property passes), which are not the counterexample: skip them.
    if (box.found !== null) return true;
    // As the shrink ran it (runner.ts).
    const spec: unknown = suite.forProperty?.(drawn, property.id, Number(token.path.split(':')[0])) ?? drawn;
    const outcome: unknown = await runSuite(suite, spec, engine, token.seed);
    const verdict = guarded(() => property.check(cell, spec, outcome));
    box.found = { cell, suite, property, spec, outcome, verdict };
    return true;
  }), { seed: token.seed, path: token.path, numRuns: 1 });
  if (box.found === null) return err('token.path: fast-check produced no value for this path');
  return ok(box.found);
}
