/**
 * One run of any suite on one cell, told as a timeline (`quiescelab run --suite ID`): the
 * spec the seed draws from the suite's arbitrary (placed in the stratum of survey run
 * `runIndex`, as the runner's forRun does), the run against the engine in a fresh session,
 * and every property of the suite that applies, judged. The backup suite has its own
 * richer path (run-one.ts: points, data loss, export); every other suite comes through here.
 */

import fc from 'fast-check';
import { assert } from '../core/assert.js';
import type { TimelineEntry } from '../core/results.js';
import type { Cell } from './cells.js';
import { type Engine } from './engine-api.js';
import { builtinEngine } from './engine-builtin.js';
import { runSuite } from './runner.js';
import type { AnySuite, SuiteProperty } from './suites/suite.js';
import { guarded, type Verdict } from './verdict.js';

export interface SuiteRunRequest {
  readonly suite: AnySuite;
  readonly cell: Cell;
  readonly seed: number;
  /** The survey run whose stratum the spec takes (default 0). */
  readonly runIndex?: number;
  readonly engine?: Engine;
}

export interface SuiteRun {
  readonly suite: string;
  /** The spec as the report keeps it (the suite's `describe`). */
  readonly spec: unknown;
  readonly timeline: readonly TimelineEntry[];
  readonly properties: readonly { readonly id: string; readonly name: string; readonly verdict: Verdict }[];
}

export async function runSuiteOnce(request: SuiteRunRequest): Promise<SuiteRun> {
  const { suite, cell } = request;
  assert(suite.appliesTo(cell), `suite ${suite.id} does not apply to the cell`);
  const [drawn] = fc.sample(suite.arbitrary(cell) as fc.Arbitrary<unknown>, { seed: request.seed, numRuns: 1 });
  const spec: unknown = suite.forRun?.(drawn, request.runIndex ?? 0) ?? drawn;
  const outcome = await runSuite(suite, spec, request.engine ?? builtinEngine(), request.seed);
  const properties = (suite.properties as readonly SuiteProperty<unknown, unknown>[])
    .filter((p) => (p.appliesToCell?.(cell) ?? true) && p.applies(cell, spec))
    .map((p) => ({ id: p.id, name: p.name, verdict: guarded(() => p.check(cell, spec, outcome)) }));
  return { suite: suite.id, spec: suite.describe(spec), timeline: suite.timeline(outcome), properties };
}
