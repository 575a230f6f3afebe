/**
 * `quiescelab run`: one backup scenario of one cell per app — the spec the seed draws, with
 * the fault given — printed as its timeline, its points (snapshot, claimed and achieved
 * level, what was lost), its data loss and every property's verdict. `--export DIR`
 * writes the first stored point's guest files there (file-level restore), one folder per
 * disk. `--engine-cmd` runs them against an engine process (cli/engine-option.ts). Exit 0
 * when every property holds, 1 when one fails, 2 on bad usage.
 */

import { realpathSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import type { Command } from 'commander';
import type { AppId, GuestOsId, ToolsId } from '../core/hypervisor-port.js';
import { APP_IDS, GUEST_OS_IDS, TOOLS_IDS } from '../core/hypervisor-port.js';
import { LocalDirFileWriter } from '../engine/restore/file-writer-local.js';
import type { FileWriter } from '../engine/restore/file-writer.js';
import { cellId, findCell, type Cell } from '../scenarios/cells.js';
import { oracleCells } from '../scenarios/matrix/oracle.js';
import type { Engine } from '../scenarios/engine-api.js';
import type { FaultPlan } from '../scenarios/scenario/spec.js';
import { timelineText } from '../reports/timeline-text.js';
import { engineFor } from '../scenarios/mutants/index.js';
import { runOne, type DiskExport, type OneRun } from '../scenarios/run-one.js';
import { FAULT_SYNTAX, formatFault, parseFault } from '../scenarios/scenario/fault-syntax.js';
import { prepareDefaultApps } from '../sim/hypervisor/default-apps.js';
import { oneLineErrors, parseIdList, parseIntOption, quote, UsageError } from './errors.js';
import { checkEmptyDir, checkOutputFile, makeDirs, writeOutput } from './output.js';
import { addEngineOptions, parseEngineCmd, probeEngine, startEngine, type EngineCmd, type EngineCmdOptions } from './engine-option.js';
import type { StdioEngine } from './engine-rpc/client.js';
import { runSuiteCells, suiteFor, suiteRunIndex } from './run-suite.js';

interface RunOptions extends EngineCmdOptions {
  readonly os: string;
  readonly tools: string;
  readonly apps: string;
  readonly variant: string;
  readonly seed: string;
  readonly fault: string;
  readonly export?: string;
  readonly json?: string;
  readonly mutant?: string;
  readonly suite: string;
  readonly run?: string;
}

function oneId(option: string, raw: string, known: readonly string[]): string {
  if (!known.includes(raw)) throw new UsageError(`${option}: unknown id ${quote(raw)} (known: ${known.join(', ')})`);
  return raw;
}

function pointsText(cell: Cell, run: OneRun): string {
  return run.outcome.points.map((p) => {
    const snapshot = p.truth === null ? 'no snapshot' : `snapshot ${p.truth.quiesce.mode}${p.truth.quiesceFailed === null ? '' : ' (fallback)'}`;
    if (!p.ok) return `  #${p.index} ${p.kind.padEnd(12)} ${snapshot.padEnd(28)} FAILED: ${p.error ?? ''}`;
    const app = p.restored?.verdict.apps[cell.app];
    const achieved = app?.level ?? p.restored?.verdict.vm ?? (p.restoreError === null ? '-' : `unreadable: ${p.restoreError}`);
    const claimed = p.claimed?.apps[cell.app] ?? p.claimed?.vm ?? '-';
    return `  #${p.index} ${p.kind.padEnd(12)} ${snapshot.padEnd(28)} claimed ${claimed.padEnd(12)} achieved ${achieved.padEnd(12)} lost ${app?.lost.length ?? 0}`;
  }).join('\n');
}

function report(cell: Cell, run: OneRun): string {
  const s = run.spec;
  const d = run.dataLoss;
  const lines = [
    `cell ${cellId(cell)}: expected ${cell.expected.level} (${cell.expected.why})`,
    `scenario: world seed ${s.seed}; a transaction every ~${s.workload.meanIntervalMs} ms (${s.workload.opsPerTxn} ops, ${s.workload.valueBytes} B values); warm-up ${s.warmupMs} ms; ` +
      `${s.backupGapsMs.length} backup${s.backupGapsMs.length === 1 ? '' : 's'} (a full${s.backupGapsMs.length > 1 ? ' and CBT incrementals' : ''}, gaps ${s.backupGapsMs.join(', ')} ms); fault ${formatFault(s.fault)}`,
    'timeline:',
    timelineText(run.outcome.timeline),
    'points:',
    pointsText(cell, run),
    `data loss: ${d.committedLost} commits and ${d.writesLost} writes lost; crash recovery ${d.recoverySucceeded}/${d.recoveryNeeded}; RPO ${(d.rpoUs / 1e6).toFixed(3)} s; RTO ${d.rtoUs === null ? '-' : `${(d.rtoUs / 1e6).toFixed(3)} s`}`,
    ...d.examples.slice(0, 5).map((e) => `  lost at point ${e.point}: ${e.app} ${e.id} — ${e.why}`),
    'properties:',
    ...run.properties.map((p) => `  ${p.id.padEnd(4)} ${p.name.padEnd(36)} ${p.verdict.valid === true ? 'holds' : p.verdict.valid === false ? 'FAILS' : 'unknown'} — ${p.verdict.evidence}`),
    `verdict: expected ${cell.expected.level}, achieved ${run.level ?? '-'}${run.properties.some((p) => p.verdict.valid === false) ? ' — FAIL' : ' — pass'}`,
  ];
  return lines.join('\n');
}

function exportText(exports: readonly DiskExport[] | null, dir: string): string {
  if (exports === null) return `export: no point was stored; nothing written to ${dir}`;
  return exports.map((e) => e.report === null
    ? `export: disk ${e.diskIndex} (${e.diskId}): not exported: ${e.error ?? ''}`
    : `export: disk ${e.diskIndex} (${e.diskId}): ${e.report.filesRestored} files, ${e.report.directoriesCreated} folder${e.report.directoriesCreated === 1 ? '' : 's'}, ${e.report.bytesRestored} bytes${e.report.failed.length === 0 ? '' : `, ${e.report.failed.length} failed`} -> ${join(dir, `disk-${e.diskIndex}`)}`).join('\n');
}

interface RunPlan {
  readonly cells: readonly Cell[];
  readonly seed: number;
  readonly fault: FaultPlan;
  readonly engine: Engine;
  /** `--engine-cmd`: the engine is this process (`engine` is its client). */
  readonly process: { readonly cmd: EngineCmd; readonly client: StdioEngine; readonly mutant: string | null } | null;
  readonly exportRoot: string | null;
  readonly json: string | undefined;
}

/** Every option and output path checked before anything is created or run. */
function runPlan(options: RunOptions): RunPlan {
  const os = oneId('--os', options.os, GUEST_OS_IDS) as GuestOsId;
  const tools = oneId('--tools', options.tools, TOOLS_IDS) as ToolsId;
  const apps = parseIdList<AppId>('--apps', options.apps, APP_IDS) ?? [];
  const variants = [...new Set(oracleCells().map((c) => c.variant))];
  oneId('--variant', options.variant, variants);
  const seed = parseIntOption('--seed', options.seed, 0, 0x7fffffff);
  const fault = parseFault(options.fault);
  if (!fault.ok) throw new UsageError(`--fault: ${fault.error}`);
  const cells = apps.map((app) => {
    const cell = findCell(`${os}/${tools}/${app}/${options.variant}`);
    if (cell === undefined) throw new UsageError(`--apps: the matrix has no cell ${os}/${tools}/${app}/${options.variant} (see quiescelab list os|tools|apps; --variant)`);
    return cell;
  });
  const builtin = engineFor(options.mutant ?? null);
  if (builtin === undefined) throw new UsageError(`--mutant: unknown mutant ${quote(options.mutant ?? '')} (see quiescelab list mutants)`);
  const cmd = parseEngineCmd(options);
  const mutant = options.mutant ?? null;
  const spawned = cmd === null ? null : { cmd, client: startEngine(cmd, mutant), mutant };
  const exportRoot = options.export === undefined ? null : checkEmptyDir(options.export, '--export');
  const json = options.json === undefined ? undefined : checkOutputFile(options.json, '--json');
  return { cells, seed, fault: fault.value, engine: spawned?.client ?? builtin, process: spawned, exportRoot, json };
}

export function registerRun(program: Command): void {
  const command = oneLineErrors(program.command('run'))
    .description('run one backup scenario of a cell (per app) and print its timeline, points, data loss and verdict')
    .requiredOption('--os <id>', 'guest OS (quiescelab list os)')
    .requiredOption('--tools <id>', 'VMware Tools generation (quiescelab list tools)')
    .requiredOption('--apps <ids>', 'applications, a comma list: one scenario each (quiescelab list apps)')
    .option('--variant <name>', 'the cell\'s condition variant: default, ide, dynamic, no-uuid, encrypted, fs-only, script', 'default')
    .option('--seed <n>', 'the seed the scenario is drawn from', '1')
    .option('--fault <fault>', `the fault to inject: ${FAULT_SYNTAX}`, 'none')
    .option('--export <dir>', 'write the first point\'s guest files there (file-level restore), one folder per disk; a new or empty folder')
    .option('--json <file>', 'also write the runs (spec, timeline, points, verdicts) as JSON')
    .option('--mutant <id>', 'back up with an engine mutant instead of quiescelab\'s engine (quiescelab list mutants)')
    .option('--suite <id>', 'the kind of scenario: backup, or another suite of the matrix (e.g. group: one group backup scenario told as a timeline)', 'backup')
    .option('--run <n>', 'with --suite: the matrix run (0-9) whose stratum the scenario takes (group: 0, 2, 4 quiesce together; 1, 3, 5 one VM at a time)');
  addEngineOptions(command)
    .action(async (options: RunOptions) => {
      const plan = runPlan(options);
      const suite = options.suite === 'backup' ? null : suiteFor(options.suite, plan.cells, options);
      if (plan.process !== null) await probeEngine(plan.process.cmd, plan.process.mutant, plan.seed);
      try {
        await (suite === null ? runCells(plan) : runSuiteCells(suite, { ...plan, runIndex: suiteRunIndex(options) }));
      } finally {
        await plan.process?.client.close();
      }
    });
}

async function runCells(plan: RunPlan): Promise<void> {
  const { cells, seed, fault, engine, exportRoot, json } = plan;
  if (exportRoot !== null) makeDirs(exportRoot, '--export');
  const realExportRoot = exportRoot === null ? null : realpathSync(exportRoot);
  await prepareDefaultApps();
  const runs: { cell: string; run: Omit<OneRun, 'exportFiles'> }[] = [];
  let failed = false;
  for (const cell of cells) {
    const run = await runOne({ cell, seed, fault, engine });
    process.stdout.write(`${report(cell, run)}\n`);
    failed ||= run.properties.some((p) => p.verdict.valid === false);
    if (exportRoot !== null && realExportRoot !== null) {
      const dir = cells.length === 1 ? exportRoot : join(exportRoot, cell.app);
      const exports = await run.exportFiles((diskIndex) => writerAt(join(dir, `disk-${diskIndex}`), realExportRoot));
      process.stdout.write(`${exportText(exports, dir)}\n`);
    }
    runs.push({ cell: cellId(cell), run: { spec: run.spec, outcome: run.outcome, properties: run.properties, dataLoss: run.dataLoss, level: run.level } });
  }
  if (json !== undefined) writeOutput(json, JSON.stringify(runs, null, 2) + '\n', '--json');
  process.exitCode = failed ? 1 : 0;
}

/** A writer for one disk's files; its root must stay inside the --export folder's real path (no folder swapped for a link). */
async function writerAt(dir: string, realExportRoot: string): Promise<FileWriter> {
  const w = await LocalDirFileWriter.create(dir);
  if (!w.ok) throw new UsageError(`--export: cannot write under '${dir}': ${w.error.kind}`);
  const rel = relative(realExportRoot, w.value.root);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new UsageError(`--export: '${dir}' resolves to '${w.value.root}', outside '${realExportRoot}'`);
  return w.value;
}
