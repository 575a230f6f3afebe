/**
 * `quiescelab evaluate ESTATE`: a pre-purchase evaluation of an estate (an RVTools CSV
 * export folder, the RVTools xlsx workbook, a vInfo CSV alone, or a YAML estate;
 * cli/evaluate-read.ts). Each VM is mapped to matrix cells (scenarios/estate/map.ts),
 * each distinct cell is run once with
 * `--runs N` (the backup and logs suites: levels, restores, roll-forward), and the per-VM
 * evaluation (scenarios/estate/evaluate.ts) is written as evaluation.json and index.html
 * in --out, optionally as --json, with a short summary on stdout. Warnings (a row that
 * cannot be mapped, an unknown OS) are one line each on stderr; bad input exits 2.
 */

import { join } from 'node:path';
import type { Command } from 'commander';
import type { AppId } from '../core/hypervisor-port.js';
import type { CellResult } from '../core/results.js';
import { cellId } from '../scenarios/cells.js';
import { distinctCells, evaluateEstate, type EstateEvaluation } from '../scenarios/estate/evaluate.js';
import { mapApp, mapVm, type MappedVm } from '../scenarios/estate/map.js';
import { runCell } from '../scenarios/runner.js';
import { BACKUP_SUITE } from '../scenarios/suites/backup-suite.js';
import { LOGS_SUITE } from '../scenarios/suites/logs-suite.js';
import { prepareDefaultApps } from '../sim/hypervisor/default-apps.js';
import { oneLine, oneLineErrors, parseIntOption, quote, UsageError } from './errors.js';
import { evaluationHtml } from './evaluate-html.js';
import { readEstate } from './evaluate-read.js';
import { checkOutDir, checkOutputFile, claimOutDir, writeOutput } from './output.js';

interface EvaluateOptions {
  readonly runs: string;
  readonly seed: string;
  readonly app: readonly string[];
  readonly out: string;
  readonly json?: string;
}

/** `--app VM=APP[,APP]`, repeatable: the apps of each named VM. */
export function parseAppOptions(values: readonly string[]): Map<string, AppId[]> {
  const map = new Map<string, AppId[]>();
  for (const raw of values) {
    const eq = raw.lastIndexOf('=');
    if (eq <= 0) throw new UsageError(`--app: expected VM=APP[,APP], got ${quote(raw)}`);
    const vm = raw.slice(0, eq).trim();
    const apps = raw.slice(eq + 1).split(',').map((a) => a.trim()).filter((a) => a !== '');
    if (apps.length === 0) throw new UsageError(`--app: no application after '=' in ${quote(raw)}`);
    const ids = apps.map((a) => {
      const id = mapApp(a);
      if (id === null) throw new UsageError(`--app: unknown application ${quote(a)} in ${quote(raw)} (known: sqlite, sqlserver, exchange, ntds, files)`);
      return id;
    });
    map.set(vm, [...new Set([...(map.get(vm) ?? []), ...ids])]);
  }
  return map;
}

const collect = (value: string, previous: readonly string[]): string[] => [...previous, value];

export function registerEvaluate(program: Command): void {
  oneLineErrors(program.command('evaluate'))
    .description('evaluate an estate (RVTools CSV export folder or xlsx, vInfo CSV, or YAML): each VM mapped to a matrix cell, each distinct cell run once; per-VM levels, restores, risks and remediations')
    .argument('<estate>', 'a folder of RVTools_tabvInfo.csv / tabvTools.csv / tabvDisk.csv, an RVTools .xlsx (sheets vInfo, vTools, vDisk), a vInfo CSV alone, or an estate .yaml')
    .option('--runs <n>', 'scenario runs per distinct cell', '10')
    .option('--seed <n>', 'the run seed', '1')
    .option('--app <vm=apps>', 'the applications of a VM, a comma list (repeatable; overrides an apps column)', collect, [] as string[])
    .option('--out <dir>', 'output folder: evaluation.json and index.html (new, empty, or one quiescelab wrote)', 'evaluation')
    .option('--json <file>', 'also write the evaluation JSON there')
    .action(async (estatePath: string, options: EvaluateOptions) => {
      const runs = parseIntOption('--runs', options.runs, 1, 10000);
      const seed = parseIntOption('--seed', options.seed, 0, 0x7fffffff);
      const apps = parseAppOptions(options.app);
      const outDir = checkOutDir(options.out, '--out');
      const json = options.json === undefined ? undefined : checkOutputFile(options.json, '--json', outDir);
      const { vms, warnings } = await mapEstate(estatePath, apps);
      for (const w of warnings) process.stderr.write(`quiescelab: warning: ${oneLine(w)}\n`);
      const results = await runCells(vms, runs, seed);
      const evaluation = evaluateEstate(vms, results, warnings);
      const text = `${JSON.stringify(evaluation, null, 2)}\n`;
      claimOutDir(outDir, '--out');
      writeOutput(join(outDir, 'evaluation.json'), text, '--out');
      writeOutput(join(outDir, 'index.html'), evaluationHtml(evaluation, `quiescelab estate evaluation: ${estatePath}`), '--out');
      if (json !== undefined) writeOutput(json, text, '--json');
      process.stdout.write(`${summaryText(evaluation)}\nreport: ${join(outDir, 'index.html')}\n`);
    });
}

/** Reads and maps the estate; every VM named by --app must be in it (warned otherwise). */
async function mapEstate(path: string, apps: ReadonlyMap<string, readonly AppId[]>): Promise<{ vms: MappedVm[]; warnings: string[] }> {
  const estate = await readEstate(path);
  const warnings = [...estate.warnings];
  const warn = (w: string) => warnings.push(w);
  const assumeTools = estate.noToolsVersions ? 'esx41' : null;
  const vms: MappedVm[] = [];
  const seen = new Set<string>();
  for (const input of estate.vms) {
    if (seen.has(input.name) && input.name.trim() !== '') {
      warn(`${input.where}: VM ${input.name} appears twice; the first row is kept`);
      continue;
    }
    seen.add(input.name);
    const vm = mapVm(input, { apps, assumeTools }, warn);
    if (vm !== null) vms.push(vm);
  }
  for (const name of apps.keys()) if (!seen.has(name)) warn(`--app: no VM named ${quote(name)} in the estate`);
  if (vms.length === 0) throw new UsageError(`${path}: no VM could be evaluated (${estate.vms.length} rows read)`);
  return { vms, warnings };
}

async function runCells(vms: readonly MappedVm[], runs: number, seed: number): Promise<Map<string, CellResult>> {
  await prepareDefaultApps();
  const results = new Map<string, CellResult>();
  for (const cell of distinctCells(vms)) {
    results.set(cellId(cell), await runCell(cell, { runs, seed, suites: [BACKUP_SUITE, LOGS_SUITE] }));
  }
  return results;
}

export function summaryText(e: EstateEvaluation): string {
  const s = e.summary;
  const perLevel = Object.entries(s.vmsPerLevel).map(([l, n]) => `${l} ${n}`).join(', ');
  const lines = [
    `${s.vms} VMs, ${s.cellsRun} distinct cells run; VMs by lowest achieved level: ${perLevel}; ${s.vmsAtRisk} VMs at risk`,
    ...e.vms.map((v) => `  ${v.vm.padEnd(18)} ${v.os.padEnd(12)} ${v.tools.padEnd(8)} ${v.apps.map((a) => `${a} ${v.achieved[a] ?? '-'}`).join(', ').padEnd(36)} ${v.risks.map((r) => r.id).join(' ')}`),
    `${e.warnings.length} warning${e.warnings.length === 1 ? '' : 's'}`,
  ];
  return lines.map((l) => oneLine(l.trimEnd())).join('\n');
}
