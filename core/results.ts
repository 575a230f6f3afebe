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

export interface PropertyResult {
  readonly id: string;
  readonly name: string;
  readonly suite: string;
  readonly pass: boolean;
  /** Runs the property applied to. */
  readonly runs: number;
  readonly failures: number;
  readonly unknown: number;
  /** The shrunk counterexample (the suite's description of the spec), or null. */
  readonly counterexample: unknown;
  /** Size of the counterexample: its JSON length in characters. */
  readonly counterexampleSize: number | null;
  readonly shrinks: number | null;
  /** The failing (or first unknown) verdict's evidence. */
  readonly evidence: string | null;
  readonly replay: string | null;
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
}


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
}
