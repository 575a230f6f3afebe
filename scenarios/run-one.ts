/**
 * One backup scenario of one cell, for `quiescelab run`: the spec drawn from a seed (the
 * backup suite's arbitrary, with the fault given or none), the run with its timeline,
 * every backup-suite property judged on it, the run's data loss and its lowest achieved
 * level; and the first stored point's guest files through a file-level restore, for
 * `--export` (the caller supplies the writer: real I/O stays in cli/).
 */

import fc from 'fast-check';
import type { ConsistencyLevel } from '../core/levels.js';
import type { FileRestoreReport } from '../engine/restore/file-restore.js';
import type { FileWriter } from '../engine/restore/file-writer.js';
import { cellId, type Cell } from './cells.js';
import { dataLossOf, type RunDataLoss } from './checkers/data-loss.js';
import { levelOfRun } from './runner.js';
import { scenarioArb } from './scenario/arbitraries.js';
import { PROTOCOL_VERSION, type Engine } from './engine-api.js';
import { builtinEngine } from './engine-builtin.js';
import { runScenarioKeeping, type ScenarioOutcome } from './scenario/run.js';
import type { FaultPlan, ScenarioSpec } from './scenario/spec.js';
import { BACKUP_SUITE } from './suites/backup-suite.js';
import { guarded, type Verdict } from './verdict.js';

export interface OneRunRequest {
  readonly cell: Cell;
  readonly seed: number;
  /** The fault to inject (default none). */
  readonly fault?: FaultPlan;
  /** The engine under test (default: the built-in one). */
  readonly engine?: Engine;
}

export interface JudgedProperty {
  readonly id: string;
  readonly name: string;
  readonly verdict: Verdict;
}

export interface DiskExport {
  readonly diskIndex: number;
  readonly diskId: string;
  readonly report: FileRestoreReport | null;
  /** Why the disk's files could not be read (no file system, damage), or null. */
  readonly error: string | null;
}

export interface OneRun {
  readonly spec: ScenarioSpec;
  readonly outcome: ScenarioOutcome;
  readonly properties: readonly JudgedProperty[];
  readonly dataLoss: RunDataLoss;
  /** The lowest level the app reached over the points (null: none judged). */
  readonly level: ConsistencyLevel | null;
  /** File-level restore of the first stored point, every disk, through `writerFor`; null when no point was stored. */
  exportFiles(writerFor: (diskIndex: number, diskId: string) => Promise<FileWriter>): Promise<DiskExport[] | null>;
}

/** The spec `seed` draws for the cell: the backup suite's arbitrary, with `fault` (none by default). */
export function specFor(cell: Cell, seed: number, fault: FaultPlan = { kind: 'none' }): ScenarioSpec {
  const [spec] = fc.sample(scenarioArb(cellId(cell), { override: { fault: fc.constant(fault) } }), { seed, numRuns: 1 });
  return spec as ScenarioSpec;
}

export async function runOne(request: OneRunRequest): Promise<OneRun> {
  const engine = request.engine ?? builtinEngine();
  const { cell } = request;
  const spec = specFor(cell, request.seed, request.fault);
  await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed: request.seed });
  const { outcome, repo } = await runScenarioKeeping(spec, { engine });
  const suiteSpec = { ...spec, twin: false };
  const run = { outcome, twin: null };
  const properties = BACKUP_SUITE.properties
    .filter((p) => p.applies(cell, suiteSpec))
    .map((p) => ({ id: p.id, name: p.name, verdict: guarded(() => p.check(cell, suiteSpec, run)) }));
  const point = outcome.points.find((p) => p.ok && p.pointId !== null)?.pointId ?? null;
  return {
    spec, outcome, properties, dataLoss: dataLossOf(cell.app, outcome), level: levelOfRun(cell, outcome),
    exportFiles: (writerFor) => (point === null ? Promise.resolve(null) : exportPoint(engine, repo, point, writerFor)),
  };
}

/** Every disk of a point through the engine's file-level restore. */
async function exportPoint(engine: Engine, repo: string, pointId: string, writerFor: (diskIndex: number, diskId: string) => Promise<FileWriter>): Promise<DiskExport[]> {
  const opened = await engine.openPoint(repo, pointId);
  if (!opened.ok) return [{ diskIndex: 0, diskId: '', report: null, error: opened.error }];
  await engine.closePoint(opened.value.point);
  const out: DiskExport[] = [];
  for (const [diskIndex, disk] of opened.value.disks.entries()) {
    const r = await engine.restoreFiles(await writerFor(diskIndex, disk.diskId), { repo, pointId, diskId: disk.diskId, selection: { all: true } });
    out.push(r.ok ? { diskIndex, diskId: disk.diskId, report: r.value, error: null } : { diskIndex, diskId: disk.diskId, report: null, error: describeFsError(r.error) });
  }
  return out;
}

function describeFsError(e: { readonly kind: string } | string): string {
  if (typeof e === 'string') return e;
  const rest = Object.entries(e).filter(([k]) => k !== 'kind').map(([k, v]) => `${k} ${JSON.stringify(v)}`);
  return rest.length === 0 ? e.kind : `${e.kind}: ${rest.join(', ')}`;
}
