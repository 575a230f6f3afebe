/**
 * The runner: every suite that applies to a cell, N runs each, from one seed. A first pass
 * (the survey) runs the suite's arbitrary N times through fast-check and judges every run
 * by every property of the suite, counting levels and data loss; then each property that
 * failed is run again from the same seed with its own predicate, so fast-check finds the
 * same first failure and shrinks it to a minimal counterexample, which comes with a replay
 * token (scenarios/replay.ts).
 *
 * Deterministic: the cell's seed is derived from the run seed and the cell id; shrinking
 * is bounded by a count of evaluations, never by time; no wall-clock figure is kept.
 * Parallelism (worker threads) is the CLI's business: cells are independent.
 */

import fc from 'fast-check';
import { assert } from '../core/assert.js';
import type { ConsistencyLevel } from '../core/levels.js';
import { compareLevels, LEVELS } from '../core/levels.js';
import { cellId, type Cell } from './cells.js';
import { dataLossOf } from './checkers/data-loss.js';
import { encodeReplayToken } from './replay-token.js';
import { capabilitiesOf, lacking, PROTOCOL_VERSION, type Capabilities, type Engine } from './engine-api.js';
import { builtinEngine } from './engine-builtin.js';
import type { ScenarioOutcome } from './scenario/run.js';
import { isQuiesceFault, type ScenarioSpec } from './scenario/spec.js';
import { BACKUP_SUITE } from './suites/backup-suite.js';
import { DC_SUITE } from './suites/dc-suite.js';
import { GROUP_SUITE } from './suites/group-suite.js';
import { REPOSITORY_SUITE } from './suites/repository-suite.js';
import { REPLICATION_SUITE } from './suites/replication-suite.js';
import { LOGS_SUITE } from './suites/logs-suite.js';
import { ReplicationSummary } from './replication-summary.js';
import type { ReplicationOutcome, ReplicationSpec } from './scenario/replication-run.js';
import type { AnySuite, SuiteProperty } from './suites/suite.js';
import type { Verdict } from './verdict.js';
import type { CellResult, LostExample, PropertyResult, PropertyStatus, RunLossSeries, TimelineEntry } from '../core/results.js';

export type { CellResult, PropertyResult } from '../core/results.js';
import { guarded } from './verdict.js';

export const SUITES: readonly AnySuite[] = [BACKUP_SUITE, LOGS_SUITE, REPOSITORY_SUITE, DC_SUITE, REPLICATION_SUITE, GROUP_SUITE];

export interface RunnerOptions {
  readonly runs: number;
  readonly seed: number;
  /** The engine under test (default: the built-in one); a session is initialised for each run. */
  readonly engine?: Engine;
  /** The mutant id the engine is (for replay tokens), or null. */
  readonly mutant?: string | null;
  /** Scenario evaluations a shrink may spend (default 150). */
  readonly shrinkBudget?: number;
  readonly suites?: readonly AnySuite[];
}

/** FNV-1a over a string, to a positive 31-bit seed. */
export function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h & 0x7fffffff) || 1;
}

interface Tally {
  /** The survey's run index of the first failure (where the shrink starts), or -1. */
  firstFailRun: number;
  runs: number;
  failures: number;
  unknown: number;
  first: Verdict | null;
  /** Every survey run index it failed on. */
  failedRuns: number[];
}

const MAX_EXAMPLES = 20;
/** Timeline entries a failure keeps (the first ones: where the failure starts is early). */
export const MAX_TIMELINE = 400;

/** A run's lowest level reached by the cell's app over its points, or null when no point was judged. */
export function levelOfRun(cell: Cell, outcome: ScenarioOutcome): ConsistencyLevel | null {
  let lowest: ConsistencyLevel | null = null;
  for (const p of outcome.points) {
    const level = p.restored?.verdict.apps[cell.app]?.level ?? (p.ok ? null : 'inconsistent');
    if (level === null) continue;
    if (lowest === null || compareLevels(level, lowest) < 0) lowest = level;
  }
  return lowest;
}

function judge<S, O>(property: SuiteProperty<S, O>, cell: Cell, spec: S, outcome: O): Verdict {
  return guarded(() => property.check(cell, spec, outcome));
}

/** One run of a suite in a fresh engine session (initialize forgets the handles of the run before). */
export async function runSuite(suite: AnySuite, spec: unknown, engine: Engine, seed: number): Promise<unknown> {
  // The session's seed is the run's own (every suite's spec has one), so a twin run can start the same session again.
  const own = (spec as { seed?: unknown }).seed;
  const caps = capabilitiesOf(await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed: typeof own === 'number' ? own : seed }));
  return suite.run(spec, engine, caps);
}

/** What the engine declares (a session of its own, before the cell's runs). */
export async function engineCapabilities(engine: Engine, seed: number): Promise<Capabilities> {
  return capabilitiesOf(await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed }));
}

/** A property the engine cannot be judged on: nothing ran, nothing passed. */
function notApplicable(suite: AnySuite, property: SuiteProperty<unknown, unknown>, missing: readonly string[]): PropertyResult {
  return {
    id: property.id, name: property.name, suite: suite.id, pass: false, status: 'not-applicable', runs: 0, judged: 0, minJudged: 0, failures: 0, unknown: 0,
    counterexample: null, counterexampleSize: null, shrinks: null, evidence: `not applicable: the engine does not declare ${missing.join(', ')}`, data: null, failedRuns: [], replay: null, timeline: null,
  };
}

async function shrink<S, O>(suite: AnySuite, property: SuiteProperty<S, O>, cell: Cell, options: { seed: number; runs: number; firstFailRun: number; engine: Engine; budget: number }): Promise<{ spec: S; verdict: Verdict; timeline: readonly TimelineEntry[]; path: string; shrinks: number } | null> {
  let failed = false;
  let evaluations = 0;
  const box: { last: { spec: S; verdict: Verdict; timeline: readonly TimelineEntry[] } | null } = { last: null };
  const result = await fc.check(fc.asyncProperty(suite.arbitrary(cell) as fc.Arbitrary<S>, async (drawn) => {
    if (failed && ++evaluations > options.budget) return true;
    // Shrunk values come from the failing run's: they keep its stratum (forRun's run index).
    const spec = (suite.forProperty?.(drawn, property.id, options.firstFailRun) ?? drawn) as S;
    if (!property.applies(cell, spec)) return true;
    let verdict: Verdict;
    let timeline: readonly TimelineEntry[] = [];
    try {
      const outcome = await runSuite(suite, spec, options.engine, options.seed) as O;
      timeline = suite.timeline(outcome);
      verdict = judge(property, cell, spec, outcome);
    } catch (e) {
      verdict = { valid: false, evidence: `the run threw: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (verdict.valid !== false) return true;
    failed = true;
    box.last = { spec, verdict, timeline };
    return false;
    // The same seed regenerates the survey's values; the path starts at its first failure
    // instead of running every earlier (passing) run again.
  }), { seed: options.seed, numRuns: options.runs, path: String(options.firstFailRun) });
  if (!result.failed || box.last === null || result.counterexamplePath === null) return null;
  return { ...box.last, path: result.counterexamplePath, shrinks: result.numShrinks };
}

/** A property that applies must judge at least a tenth of its suite's runs (and at least one). */
export function minJudgedRuns(suiteRuns: number): number {
  return Math.max(1, Math.ceil(suiteRuns / 10));
}

function notExercised(judged: number, runs: number, minJudged: number, first: Verdict | null): string {
  const why = first === null ? 'no run applied to it' : `first unknown: ${first.evidence}`;
  return `not exercised: judged ${judged} of ${runs} runs, at least ${minJudged} needed (${why})`;
}

export async function runCell(cell: Cell, options: RunnerOptions): Promise<CellResult> {
  assert(Number.isInteger(options.runs) && options.runs >= 1, 'runs >= 1');
  const engine = options.engine ?? builtinEngine();
  const id = cellId(cell);
  const achieved: Partial<Record<ConsistencyLevel, number>> = {};
  const loss = { committedLost: 0, writesLost: 0, recoveryNeeded: 0, recoverySucceeded: 0, rpoUsMax: 0, rtos: [] as number[], examples: [] as LostExample[] };
  const perRun: { [K in keyof RunLossSeries]: RunLossSeries[K][number][] } = { committedLost: [], writesLost: [], rpoUs: [], rtoUs: [], level: [] };
  const properties: PropertyResult[] = [];
  const caps = await engineCapabilities(engine, options.seed);
  const replication = new ReplicationSummary();
  for (const suite of options.suites ?? SUITES) {
    if (!suite.appliesTo(cell)) continue;
    const suiteMissing = lacking(caps, suite.needs?.(cell) ?? []);
    if (suiteMissing.length > 0) {
      for (const p of suite.properties as readonly SuiteProperty<unknown, unknown>[]) if (p.appliesToCell?.(cell) ?? true) properties.push(notApplicable(suite, p, suiteMissing));
      continue;
    }
    const seed = deriveSeed(options.seed, `${id}#${suite.id}`);
    const runs = suite.runsFor(options.runs);
    const tallies = new Map<string, Tally>(suite.properties.map((p) => [p.id, { firstFailRun: -1, runs: 0, failures: 0, unknown: 0, first: null, failedRuns: [] }]));
    let runIndex = 0;
    const applicable = (suite.properties as readonly SuiteProperty<unknown, unknown>[]).filter((p) => p.appliesToCell?.(cell) ?? true);
    for (const p of applicable) if (lacking(caps, p.needs ?? []).length > 0) properties.push(notApplicable(suite, p, lacking(caps, p.needs ?? [])));
    const cellProperties = applicable.filter((p) => lacking(caps, p.needs ?? []).length === 0);
    await fc.check(fc.asyncProperty(suite.arbitrary(cell), async (drawn: unknown) => {
      const spec: unknown = suite.forRun?.(drawn, runIndex) ?? drawn;
      // A run that throws is a failure of every property it would have judged (the
      // shrink pass finds it again: `judge` turns the throw into a false verdict there).
      let outcome: unknown;
      let crashed: Verdict | null = null;
      try {
        outcome = await runSuite(suite, spec, engine, seed);
      } catch (e) {
        crashed = { valid: false, evidence: `the run threw: ${e instanceof Error ? e.message : String(e)}` };
      }
      for (const property of cellProperties) {
        if (!property.applies(cell, spec)) continue;
        const tally = tallies.get(property.id) as Tally;
        const verdict = crashed ?? judge(property, cell, spec, outcome);
        tally.runs++;
        if (verdict.valid === false) tally.failedRuns.push(runIndex);
        if (verdict.valid === false && tally.failures++ === 0) tally.firstFailRun = runIndex;
        if (verdict.valid === 'unknown') tally.unknown++;
        if (verdict.valid !== true && (tally.first === null || (tally.first.valid === 'unknown' && verdict.valid === false))) tally.first = verdict;
      }
      if (suite.id === BACKUP_SUITE.id && crashed === null) {
        const s = spec as ScenarioSpec;
        const o = (outcome as { outcome: ScenarioOutcome }).outcome;
        const level = !isQuiesceFault(s.fault) && s.job.policy === 'try' && !s.job.readFault && o.guestLost === null ? levelOfRun(cell, o) : null;
        if (level !== null) achieved[level] = (achieved[level] ?? 0) + 1;
        const d = dataLossOf(cell.app, o);
        perRun.committedLost.push(d.committedLost);
        perRun.writesLost.push(d.writesLost);
        perRun.rpoUs.push(d.rpoUs);
        perRun.rtoUs.push(d.rtoUs);
        perRun.level.push(level);
        loss.committedLost += d.committedLost;
        loss.writesLost += d.writesLost;
        loss.recoveryNeeded += d.recoveryNeeded;
        loss.recoverySucceeded += d.recoverySucceeded;
        loss.rpoUsMax = Math.max(loss.rpoUsMax, d.rpoUs);
        if (d.rtoUs !== null) loss.rtos.push(d.rtoUs);
        for (const e of d.examples) if (loss.examples.length < MAX_EXAMPLES) loss.examples.push({ ...e, run: runIndex });
      }
      if (suite.id === REPLICATION_SUITE.id && crashed === null) replication.add(runIndex, spec as ReplicationSpec, outcome as ReplicationOutcome);
      runIndex++;
      return true;
    }), { seed, numRuns: runs });
    for (const property of cellProperties) {
      const tally = tallies.get(property.id) as Tally;
      let counterexample: unknown = null;
      let replay: string | null = null;
      let shrinks: number | null = null;
      let evidence = tally.first?.evidence ?? null;
      let data = tally.first?.valid === false ? tally.first.data ?? null : null;
      let timeline: readonly TimelineEntry[] | null = null;
      if (tally.failures > 0) {
        const shrunk = await shrink(suite, property, cell, { seed, runs, firstFailRun: tally.firstFailRun, engine, budget: options.shrinkBudget ?? 150 });
        if (shrunk !== null) {
          counterexample = suite.describe(shrunk.spec);
          shrinks = shrunk.shrinks;
          evidence = shrunk.verdict.evidence;
          data = shrunk.verdict.data ?? data;
          timeline = shrunk.timeline.slice(0, MAX_TIMELINE);
          replay = encodeReplayToken({ cell: id, suite: suite.id, property: property.id, seed, runs, path: shrunk.path, mutant: options.mutant ?? null });
        }
      }
      const judged = tally.runs - tally.unknown;
      const minJudged = minJudgedRuns(runs);
      const status: PropertyStatus = tally.failures > 0 ? 'fail' : judged < minJudged ? 'not-exercised' : 'pass';
      if (status === 'not-exercised') evidence = notExercised(judged, runs, minJudged, tally.first);
      properties.push({
        id: property.id, name: property.name, suite: suite.id, pass: status === 'pass', status, runs: tally.runs, judged, minJudged, failures: tally.failures, unknown: tally.unknown,
        counterexample, counterexampleSize: counterexample === null ? null : JSON.stringify(counterexample).length, shrinks, evidence, data, failedRuns: tally.failedRuns, replay, timeline,
      });
    }
  }
  const rtoUsMax = loss.rtos.length === 0 ? null : Math.max(...loss.rtos);
  const rtoUsMean = loss.rtos.length === 0 ? null : Math.round(loss.rtos.reduce((a, b) => a + b, 0) / loss.rtos.length);
  return {
    id, os: cell.os, tools: cell.tools, app: cell.app, variant: cell.variant, conditions: { ...cell.conditions },
    expected: cell.expected.level as ConsistencyLevel, expectedWhy: cell.expected.why, sources: cell.expected.sources,
    achieved: Object.fromEntries(LEVELS.filter((l) => achieved[l] !== undefined).map((l) => [l, achieved[l]])),
    // Not-applicable properties neither pass nor fail the cell; a cell where nothing applied does not pass.
    pass: properties.some((p) => p.pass) && properties.every((p) => p.pass || p.status === 'not-applicable'),
    properties,
    dataLoss: {
      committedLost: loss.committedLost, writesLost: loss.writesLost, recoveryNeeded: loss.recoveryNeeded, recoverySucceeded: loss.recoverySucceeded,
      rpoUsMax: loss.rpoUsMax, rtoUsMax, rtoUsMean, examples: loss.examples, perRun,
    },
    ...replication.field(),
  };
}
