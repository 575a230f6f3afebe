/**
 * The estate's evaluation from its mapped VMs and the results of the distinct cells they
 * need (each cell run once, however many VMs share it): per VM the expected and achieved
 * level of each app, which restores work (from the cell's properties: P14 VM restore, P16
 * file and item restores, P6 point-in-time roll-forward), the RPO, and the risks found with
 * a remediation each; summary counts. Pure.
 */

import type { AppId } from '../../core/hypervisor-port.js';
import { compareLevels, LEVELS, minLevel, type ConsistencyLevel } from '../../core/levels.js';
import type { CellResult, PropertyResult } from '../../core/results.js';
import { assert } from '../../core/assert.js';
import { cellId } from '../cells.js';
import { expectedLevel } from '../matrix/oracle.js';
import type { AppCell, MappedVm } from './map.js';

export type AppLevel = ConsistencyLevel | 'unsupported' | 'no level';
/** works: the property passed; fails; not-applicable (or not run for this cell); not-exercised. */
export type RestoreStatus = 'works' | 'fails' | 'not-applicable' | 'not-exercised';

export interface Risk {
  readonly id: string;
  readonly text: string;
  readonly remediation: string;
}

export interface VmEvaluation {
  readonly vm: string;
  readonly os: string;
  readonly osString: string;
  readonly tools: string;
  readonly toolsVersion: string;
  readonly apps: readonly AppId[];
  /** The cell run for each app (null: unsupported). */
  readonly cell: Readonly<Partial<Record<AppId, string | null>>>;
  readonly expected: Readonly<Partial<Record<AppId, AppLevel>>>;
  readonly achieved: Readonly<Partial<Record<AppId, AppLevel>>>;
  readonly restores: { readonly vm: RestoreStatus; readonly file: RestoreStatus; readonly item: RestoreStatus; readonly pointInTime: RestoreStatus };
  /** Worst snapshot RPO seen in the runs (s), and the RPO with log backups where the cell has a log chain. */
  readonly rpo: { readonly snapshotsS: number | null; readonly withLogBackups: string | null };
  readonly risks: readonly Risk[];
}

export interface EstateSummary {
  readonly vms: number;
  readonly cellsRun: number;
  /** VMs by their lowest achieved level over their apps. */
  readonly vmsPerLevel: Readonly<Record<string, number>>;
  readonly vmsAtRisk: number;
  readonly risks: Readonly<Record<string, number>>;
}

export interface EstateEvaluation {
  readonly vms: readonly VmEvaluation[];
  readonly summary: EstateSummary;
  readonly warnings: readonly string[];
}

const APP_NAMES: Readonly<Record<AppId, string>> = { sqlserver: 'SQL Server', exchange: 'Exchange', ntds: 'Active Directory', sqlite: 'SQLite', files: 'files' };
const OS_NAMES: Readonly<Record<string, string>> = { 'win2003-x64': 'Windows 2003 x64', 'win2003-x86': 'Windows 2003 x86', linux: 'Linux' };
const TOOLS_NAMES: Readonly<Record<string, string>> = { esx35u1: '3.5 U1', esx35u2: '3.5 U2 - 4.0', esx41: '4.1+' };

/** The lowest level any run of the cell reached (the honest figure for a whole estate), or null. */
export function worstAchieved(result: CellResult): ConsistencyLevel | null {
  return LEVELS.find((l) => (result.achieved[l] ?? 0) > 0) ?? null;
}

function appAchieved(a: AppCell, result: CellResult | undefined): AppLevel {
  if (a.cell === null || a.expected.level === 'unsupported') return 'unsupported';
  const level = result === undefined ? null : worstAchieved(result);
  if (level === null) return 'no level';
  return a.approximate ? minLevel(level, a.expected.level) : level;
}

function statusOf(props: readonly PropertyResult[]): RestoreStatus {
  if (props.some((p) => p.status === 'fail')) return 'fails';
  if (props.some((p) => p.status === 'not-exercised')) return 'not-exercised';
  return props.some((p) => p.status === 'pass') ? 'works' : 'not-applicable';
}

function restoresOf(results: readonly CellResult[]): VmEvaluation['restores'] {
  const props = (id: string) => results.flatMap((r) => r.properties.filter((p) => p.id === id));
  const files = statusOf(props('P16'));
  return { vm: statusOf(props('P14')), file: files, item: files, pointInTime: statusOf(props('P6')) };
}

function rpoOf(results: readonly CellResult[]): VmEvaluation['rpo'] {
  const snapshots = results.length === 0 ? null : Math.max(...results.map((r) => r.dataLoss.rpoUsMax)) / 1e6;
  const logs = results.flatMap((r) => r.properties.filter((p) => p.id === 'P13' && p.status === 'pass'));
  return { snapshotsS: snapshots, withLogBackups: logs.length === 0 ? null : 'the log backup interval (P13 holds: within one interval plus a log backup\'s duration; ~0 with a tail-log backup)' };
}

/** Evaluates one mapped VM from the results of its cells (keyed by cell id). */
export function evaluateVm(vm: MappedVm, results: ReadonlyMap<string, CellResult>): VmEvaluation {
  const cell: Partial<Record<AppId, string | null>> = {};
  const expected: Partial<Record<AppId, AppLevel>> = {};
  const achieved: Partial<Record<AppId, AppLevel>> = {};
  const own: CellResult[] = [];
  for (const a of vm.cells) {
    const id = a.cell === null ? null : cellId(a.cell);
    const result = id === null ? undefined : results.get(id);
    assert(id === null || result !== undefined, `cell ${id ?? ''} was run`);
    if (result !== undefined) own.push(result);
    cell[a.app] = id;
    expected[a.app] = a.expected.level;
    achieved[a.app] = appAchieved(a, result);
  }
  return {
    vm: vm.vm, os: vm.os, osString: vm.osString, tools: vm.tools, toolsVersion: vm.toolsVersion, apps: vm.apps,
    cell, expected, achieved, restores: restoresOf(own), rpo: rpoOf(own), risks: risksOf(vm, achieved),
  };
}

const WRITER_APPS: readonly AppId[] = ['sqlserver', 'exchange', 'ntds'];

function appList(apps: readonly AppId[]): string {
  return apps.map((a) => APP_NAMES[a]).join(' and ');
}

/** The risks a VM's configuration carries, each with what to change. */
export function risksOf(vm: MappedVm, achieved: Partial<Record<AppId, AppLevel>>): Risk[] {
  const risks: Risk[] = [];
  const writers = vm.apps.filter((a) => WRITER_APPS.includes(a) && expectedLevel(vm.os, 'esx41', a).level === 'application');
  const blocked = (knob: Partial<typeof vm.conditions>) => writers.filter((a) => expectedLevel(vm.os, vm.tools, a, { ...vm.conditions, ...knob }).level === 'application'
    && expectedLevel(vm.os, vm.tools, a, vm.conditions).level !== 'application');
  const uuid = blocked({ enableUuid: true });
  if (!vm.conditions.enableUuid) risks.push({ id: 'enable-uuid', text: 'disk.EnableUUID is FALSE', remediation: `set it TRUE to reach application consistency${uuid.length === 0 ? ' (with Tools 4.1 or later)' : ` for ${appList(uuid)}`}` });
  if (vm.conditions.controller === 'ide') risks.push({ id: 'ide', text: 'IDE disk prevents application quiescing', remediation: 'move the disks to a SCSI controller' });
  if (vm.conditions.dynamicDisk) risks.push({ id: 'dynamic', text: 'a dynamic disk prevents application quiescing', remediation: 'convert the guest\'s disks to basic disks' });
  if (vm.conditions.encrypted) risks.push({ id: 'encrypted', text: 'VM encryption prevents application quiescing', remediation: 'protect the applications with their own backups (native full and log backups) or back up unencrypted' });
  risks.push(...toolsRisks(vm, writers));
  if (vm.cbt === false) risks.push({ id: 'cbt-off', text: 'CBT is off: incrementals read the whole disk', remediation: 'enable CBT (ctkEnabled) while the VM has no snapshot, then take a new full' });
  if (vm.unknownOs) risks.push({ id: 'unknown-os', text: `guest OS '${vm.osString}' is not one the matrix knows: evaluated as other (crash-consistent)`, remediation: 'check the guest OS in the VM\'s settings, or test this guest\'s quiescing by hand' });
  for (const a of vm.cells) {
    if (a.cell === null) risks.push({ id: 'unsupported', text: `${APP_NAMES[a.app]}: ${a.expected.why}`, remediation: 'upgrade Tools or the guest OS to a supported combination' });
    const got = achieved[a.app];
    if (got !== undefined && got !== 'unsupported' && got !== 'no level' && a.expected.level !== 'unsupported' && compareLevels(got, a.expected.level) < 0) {
      risks.push({ id: 'below-expected', text: `${APP_NAMES[a.app]}: achieved ${got}, expected ${a.expected.level}`, remediation: 'see the cell\'s failing properties in quiescelab run' });
    }
  }
  return risks;
}

function toolsRisks(vm: MappedVm, writers: readonly AppId[]): Risk[] {
  if (vm.tools === 'esx41') return [];
  const now = vm.apps.map((a) => expectedLevel(vm.os, vm.tools, a, vm.conditions).level);
  const after = vm.apps.map((a) => expectedLevel(vm.os, 'esx41', a, vm.conditions).level);
  const better = vm.apps.some((_, i) => after[i] !== 'unsupported' && (now[i] === 'unsupported' || compareLevels(after[i] as ConsistencyLevel, now[i] as ConsistencyLevel) > 0));
  if (!better) return [];
  const os = OS_NAMES[vm.os] ?? vm.os;
  const levels = now.filter((l): l is ConsistencyLevel => l !== 'unsupported');
  const worst = levels.length === 0 ? null : levels.reduce((a, b) => minLevel(a, b));
  const what = worst === 'crash' ? 'crash-consistent only' : worst === 'filesystem' ? 'file-system consistent only' : 'not supported';
  const upTo = writers.length > 0 ? ` (4.1 or later for application quiescing of ${appList(writers)})` : ' (3.5 U2 or later)';
  return [{ id: 'old-tools', text: `Tools ${TOOLS_NAMES[vm.tools] ?? vm.tools} on ${os}: ${what}`, remediation: `upgrade Tools${upTo}` }];
}

/** The estate's evaluation: per VM, and the summary counts. */
export function evaluateEstate(vms: readonly MappedVm[], results: ReadonlyMap<string, CellResult>, warnings: readonly string[]): EstateEvaluation {
  const evaluated = vms.map((vm) => evaluateVm(vm, results));
  const vmsPerLevel: Record<string, number> = {};
  const risks: Record<string, number> = {};
  for (const e of evaluated) {
    const levels = Object.values(e.achieved).filter((l): l is ConsistencyLevel => (LEVELS as readonly string[]).includes(l));
    const key = levels.length === 0 ? 'no level' : levels.reduce((a, b) => minLevel(a, b));
    vmsPerLevel[key] = (vmsPerLevel[key] ?? 0) + 1;
    for (const r of e.risks) risks[r.id] = (risks[r.id] ?? 0) + 1;
  }
  const summary: EstateSummary = { vms: evaluated.length, cellsRun: results.size, vmsPerLevel, vmsAtRisk: evaluated.filter((e) => e.risks.length > 0).length, risks };
  return { vms: evaluated, summary, warnings };
}

/** The distinct cells an estate needs, each once, in a stable order. */
export function distinctCells(vms: readonly MappedVm[]): NonNullable<AppCell['cell']>[] {
  const seen = new Map<string, NonNullable<AppCell['cell']>>();
  for (const vm of vms) for (const a of vm.cells) if (a.cell !== null && !seen.has(cellId(a.cell))) seen.set(cellId(a.cell), a.cell);
  return [...seen.keys()].sort().map((k) => seen.get(k) as NonNullable<AppCell['cell']>);
}
