/**
 * A suite: one kind of scenario (an arbitrary of its inputs, a run) and the properties
 * judged on each of its runs. The runner (scenarios/runner.ts) runs every suite that
 * applies to a cell, `runs` times, shares each run among the suite's properties, and
 * shrinks a failing property's counterexample with fast-check.
 *
 * Properties are DESIGN.md's 1-13; each lives in the suite whose scenario exercises it.
 */

import type fc from 'fast-check';
import type { Cell } from '../cells.js';
import type { Capabilities, Capability, Engine } from '../engine-api.js';
import type { TimelineEntry } from '../../core/results.js';
import type { Verdict } from '../verdict.js';

export interface PropertyInfo {
  /** `P1`..`P13`: stable, used in replay tokens and the report. */
  readonly id: string;
  readonly name: string;
  readonly description: string;
}

export interface SuiteProperty<S, O> extends PropertyInfo {
  /**
   * Whether the property says anything about this cell at all (default: yes). One that
   * does not is left out of the cell's results; one that does must judge a tenth of the
   * suite's runs, else the cell fails it as not exercised (scenarios/runner.ts).
   */
  appliesToCell?(cell: Cell): boolean;
  /** Whether this run says anything about the property (else it is not counted). */
  applies(cell: Cell, spec: S): boolean;
  /** What the engine must declare for this property to say anything (else: not applicable on the cell). */
  readonly needs?: readonly Capability[];
  check(cell: Cell, spec: S, outcome: O): Verdict;
}

export interface Suite<S, O> {
  readonly id: string;
  appliesTo(cell: Cell): boolean;
  /** What the engine must declare for the suite to run on the cell at all (else: its properties are not applicable). */
  needs?(cell: Cell): readonly Capability[];
  /** How many runs of this suite a cell gets for `runsPerCell`. */
  runsFor(runsPerCell: number): number;
  arbitrary(cell: Cell): fc.Arbitrary<S>;
  /**
   * The spec the survey's run `runIndex` runs (default: as drawn): a suite stratifies by run
   * what must come up in a fixed share of runs (the backup suite's twin runs, property 11).
   */
  forRun?(spec: S, runIndex: number): S;
  /**
   * The spec a shrink or a replay of `propertyId`'s failure runs (default: as drawn);
   * `runIndex` is the survey run it failed in (the replay path's first step), for a suite
   * whose forRun stratifies by run.
   */
  forProperty?(spec: S, propertyId: string, runIndex?: number): S;
  /** One run against `engine` (a session the runner initialised for this run), which declared `caps` (default: everything). */
  run(spec: S, engine: Engine, caps?: Capabilities): Promise<O>;
  /** What the report keeps of a run's spec (the counterexample): small, JSON. */
  describe(spec: S): unknown;
  /** The run as a timeline, for the failure pages (virtual time, in order). */
  timeline(outcome: O): readonly TimelineEntry[];
  readonly properties: readonly SuiteProperty<S, O>[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registry of suites of any input/outcome types
export type AnySuite = Suite<any, any>;
