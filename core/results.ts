/**
 * The results of a matrix run (results.json): scenarios/ writes them, reports/ reads them,
 * reports/results.schema.json describes them. Plain JSON; no wall-clock figures, so one
 * seed gives one file, byte for byte.
 */

import type { AppId, GuestOsId, ToolsId } from './hypervisor-port.js';
import type { ConsistencyLevel } from './levels.js';

/** One lost commit or write of a run, with why (the training-grade evidence). */
export interface LostExample {
  readonly run: number;
  readonly point: number;
  readonly app: AppId;
  readonly id: string;
  readonly why: string;
}

/** One event of a scenario's timeline (virtual time), as the failure pages show it. */
export interface TimelineEntry {
  readonly atUs: number;
  /** boot, writes, dirty, fault, power-loss, freeze, thaw, snapshot, snapshot-removed, backup, log-backup, restore, verdict, note. */
  readonly kind: string;
  readonly detail: string;
}

/**
 * A property's outcome on a cell: `pass` (judged on enough runs, none failed), `fail` (a
 * run failed), `not-exercised` (it applies to the cell but judged — true or false, not
 * unknown — fewer than a tenth of the suite's runs, or none: a failure of the cell, never
 * a pass), `not-applicable` (the engine under test does not declare a capability the
 * property needs, so nothing was judged: shown as such, never a pass, and no failure of
 * the cell either; `evidence` names the capabilities).
 */
export type PropertyStatus = 'pass' | 'fail' | 'not-exercised' | 'not-applicable';

/**
 * A failing checker's findings as data (Jepsen's checkers return counts and examples, not
 * only a sentence): named counts, the first, worst and last failing example (one line
 * each), and every id the failure concerns — each lost commit, each damaged object — up to
 * MAX_EVIDENCE_IDS, with how many more there were.
 */
export interface EvidenceData {
  readonly counts: Readonly<Record<string, number>>;
  readonly first: string | null;
  readonly worst: string | null;
  readonly last: string | null;
  readonly ids: readonly string[];
  readonly idsOmitted: number;
}

/** Most ids an EvidenceData lists. */
export const MAX_EVIDENCE_IDS = 200;

export interface PropertyResult {
  readonly id: string;
  readonly name: string;
  readonly suite: string;
  /** status === 'pass'. */
  readonly pass: boolean;
  readonly status: PropertyStatus;
  /** Runs the property applied to. */
  readonly runs: number;
  /** Runs it judged true or false (runs less unknown). */
  readonly judged: number;
  /** The least judged runs that count as exercised: a tenth of the suite's runs, at least 1. */
  readonly minJudged: number;
  readonly failures: number;
  readonly unknown: number;
  /** The shrunk counterexample (the suite's description of the spec), or null. */
  readonly counterexample: unknown;
  /** Size of the counterexample: its JSON length in characters. */
  readonly counterexampleSize: number | null;
  readonly shrinks: number | null;
  /** The failing (or first unknown) verdict's evidence. */
  readonly evidence: string | null;
  /** The failing verdict's findings as data (the shrunk run's, else the first failing run's), or null. */
  readonly data: EvidenceData | null;
  /** Every run (index in the survey) the property failed on. */
  readonly failedRuns: readonly number[];
  readonly replay: string | null;
  /** The shrunk counterexample's run as a timeline (at most MAX_TIMELINE entries), or null when it passed. */
  readonly timeline: readonly TimelineEntry[] | null;
}

export interface CellDataLoss {
  readonly committedLost: number;
  readonly writesLost: number;
  readonly recoveryNeeded: number;
  readonly recoverySucceeded: number;
  readonly rpoUsMax: number;
  readonly rtoUsMax: number | null;
  readonly rtoUsMean: number | null;
  readonly examples: readonly LostExample[];
  /** Per backup-suite run, in run order (columns of equal length): the data-loss charts. */
  readonly perRun: RunLossSeries;
}

export interface RunLossSeries {
  readonly committedLost: readonly number[];
  readonly writesLost: readonly number[];
  readonly rpoUs: readonly number[];
  /** The restored VM's RTO, or null when the run restored none. */
  readonly rtoUs: readonly (number | null)[];
  /** The run's lowest achieved level, or null (a quiesce fault, a lost guest, no point). */
  readonly level: readonly (ConsistencyLevel | null)[];
}

export interface CellResult {
  readonly id: string;
  readonly os: GuestOsId;
  readonly tools: ToolsId;
  readonly app: AppId;
  /** Which condition variant of the cell (default, ide, dynamic, no-uuid, encrypted, fs-only, script). */
  readonly variant: string;
  /** The VM knobs and guest scripts the cell ran with, defaults filled in. */
  readonly conditions: Readonly<Record<string, string | boolean>>;
  readonly expected: ConsistencyLevel;
  readonly expectedWhy: string;
  readonly sources: readonly string[];
  /** Levels reached by runs without an injected quiesce fault (the lowest point of each run; runs whose guest a power loss destroyed are left out). */
  readonly achieved: Partial<Record<ConsistencyLevel, number>>;
  readonly pass: boolean;
  readonly properties: readonly PropertyResult[];
  readonly dataLoss: CellDataLoss;
  /** The replication suite's runs (the report's replication section); absent where the suite did not run. */
  readonly replication?: CellReplication;
}

/** One cycle of a replication run: bytes over the link, and the white space a full cycle did not send. */
export interface ReplicationCycleRecord {
  readonly cycle: number;
  /** full or incremental. */
  readonly kind: string;
  readonly ok: boolean;
  readonly startUs: number;
  readonly endUs: number;
  readonly bytesSent: number;
  readonly bytesSkippedWhiteSpace: number;
}

/** One replication-suite run of the survey, as the report draws it (virtual time, microseconds). */
export interface ReplicationRunRecord {
  readonly run: number;
  /** none, link-drop, source-host-dies or dr-full. */
  readonly fault: string;
  /** When the fault struck, or null (none, or it did not fire). */
  readonly faultFiredAtUs: number | null;
  /** none, test-failover, failover, failback-original or failback-new. */
  readonly after: string;
  readonly intervalUs: number;
  readonly whiteSpace: boolean;
  readonly startUs: number;
  /** No cycle was to start at or after this instant. */
  readonly replicationEndUs: number;
  /** The RPO just before and after each point completed, and at the end (scenarios/checkers/rpo.ts rpoSeries). */
  readonly rpo: readonly { readonly atUs: number; readonly rpoUs: number }[];
  readonly cycles: readonly ReplicationCycleRecord[];
  /** kind test or failover; rtoUs from the call to the booted VM. */
  readonly failover: { readonly kind: string; readonly ok: boolean; readonly rtoUs: number; readonly pointId: string | null } | null;
  /** target original or new; finalAtUs the final pass's instant. */
  readonly failback: { readonly ok: boolean; readonly target: string; readonly finalAtUs: number | null } | null;
}

/** The replication suite on a cell: totals over every survey run, and the first runs in detail. */
export interface CellReplication {
  /** Survey runs that completed (a run that threw is left out). */
  readonly runs: number;
  readonly rpoUsMax: number;
  /** Over the failovers that booted (test failovers are left out: their RTO is in perRun). */
  readonly rtoUsMean: number | null;
  readonly rtoUsMax: number | null;
  readonly bytesSent: number;
  readonly bytesSkippedWhiteSpace: number;
  /** The first MAX_REPLICATION_RUNS runs, in run order. */
  readonly perRun: readonly ReplicationRunRecord[];
}

/** Runs a cell's replication record details. */
export const MAX_REPLICATION_RUNS = 10;


export interface MatrixSummary {
  readonly cells: number;
  readonly passed: number;
  readonly failed: number;
}

export interface PropertyDescription {
  readonly id: string;
  readonly name: string;
  readonly description: string;
}

/** One engine mutant of the hunt: killed (by which property, with its counterexample) or survived. */
export interface MutantOutcome {
  readonly id: string;
  readonly description: string;
  /** backup, logs, repository or restore. */
  readonly area: string;
  /** The property meant to kill it. */
  readonly expectedKiller: string;
  readonly killed: boolean;
  /** The cell it was killed on, or null. */
  readonly cell: string | null;
  /** The killing property's result (counterexample, replay token, timeline), or null. */
  readonly killer: PropertyResult | null;
  /** Runs spent over all the cells tried. */
  readonly runs: number;
}

export interface MutantsResults {
  /** Runs per cell of each mutant. */
  readonly runs: number;
  readonly results: readonly MutantOutcome[];
  readonly killed: number;
  readonly survived: number;
}

export interface MatrixResults {
  readonly tool: 'quiescelab';
  readonly version: string;
  readonly seed: number;
  readonly runsPerCell: number;
  /** The engine under test: quiescelab's, or a mutant's id. */
  readonly engine: string;
  readonly properties: readonly PropertyDescription[];
  readonly cells: readonly CellResult[];
  readonly summary: MatrixSummary;
  /** The mutant hunt run with the matrix, or null when it was left out (--no-mutants). */
  readonly mutants: MutantsResults | null;
}
