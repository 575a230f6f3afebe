/**
 * The oracle: the consistency level a quiesced snapshot should reach for each guest OS x
 * Tools x application x condition, with the sources that say so (seed 004's matrix and the
 * notes' facts). It is written from the sources, independently of the simulator's catalog
 * (sim/guest/catalog.ts), so that a wrong catalog shows up as a mismatch rather than
 * agreeing with itself.
 *
 * Levels are those of DESIGN.md. Where the seed is vague ("filesystem at best" for Linux on
 * Tools 3.5 U2 to 4.0) the row says how it is read. Does not cover: restores (transaction
 * level comes from roll-forward, judged elsewhere), fault runs (judged by the fault
 * properties), CPU/OS combinations the seed does not name.
 */

import type { AppId, GuestOsId, ToolsId } from '../../core/hypervisor-port.js';
import { APP_IDS, GUEST_OS_IDS, TOOLS_IDS } from '../../core/hypervisor-port.js';
import { minLevel, type ConsistencyLevel } from '../../core/levels.js';

/** The VM knobs and guest scripts a cell runs with (defaults: the modern VM of notes fact 2). */
export interface CellConditions {
  readonly controller: 'scsi' | 'ide';
  readonly dynamicDisk: boolean;
  readonly enableUuid: boolean;
  readonly encrypted: boolean;
  readonly disableAppQuiescing: boolean;
  /** A guest freeze script that quiesces the app (Linux backupScripts.d). */
  readonly appFreezeScript: boolean;
}

export const DEFAULT_CONDITIONS: CellConditions = {
  controller: 'scsi', dynamicDisk: false, enableUuid: true, encrypted: false, disableAppQuiescing: false, appFreezeScript: false,
};

export type ConditionVariant = 'default' | 'ide' | 'dynamic' | 'no-uuid' | 'encrypted' | 'fs-only' | 'script';

export const CONDITION_VARIANTS: Readonly<Record<ConditionVariant, CellConditions>> = {
  'default': DEFAULT_CONDITIONS,
  'ide': { ...DEFAULT_CONDITIONS, controller: 'ide' },
  'dynamic': { ...DEFAULT_CONDITIONS, dynamicDisk: true },
  'no-uuid': { ...DEFAULT_CONDITIONS, enableUuid: false },
  'encrypted': { ...DEFAULT_CONDITIONS, encrypted: true },
  'fs-only': { ...DEFAULT_CONDITIONS, disableAppQuiescing: true },
  'script': { ...DEFAULT_CONDITIONS, appFreezeScript: true },
};

export interface Expectation {
  /** `unsupported`: these Tools do not run on this OS, or the app does not run on it. */
  readonly level: ConsistencyLevel | 'unsupported';
  readonly why: string;
  readonly sources: readonly string[];
}

const SEED = 'seed 004 (consistency matrix)';
const OLD_WINDOWS: readonly GuestOsId[] = ['win2000', 'winxp'];
const MODERN: readonly GuestOsId[] = ['win2008-x86', 'win2008-x64', 'win2008r2', 'win2012', 'win2016', 'win2019', 'win2022'];
const NEWER_THAN_SEED: readonly GuestOsId[] = ['win2008r2', 'win2012', 'win2016', 'win2019', 'win2022'];
const WINDOWS_SERVER: readonly GuestOsId[] = ['win2000', 'win2003-x86', 'win2003-x64', 'win2008-x86', 'win2008-x64', 'win2008r2', 'win2012', 'win2016', 'win2019', 'win2022'];
/** Applications with a VSS writer (seed 004: "applications that have a vss driver/writer"). */
export const APPS_WITH_WRITER: readonly AppId[] = ['sqlserver', 'exchange', 'ntds'];

/** Whether the app runs on the OS at all (Exchange and AD need Windows Server; SQL Server has no "other"). */
export function appRunsOn(app: AppId, os: GuestOsId): boolean {
  if (app === 'exchange' || app === 'ntds') return WINDOWS_SERVER.includes(os);
  if (app === 'sqlserver') return os !== 'other';
  return true;
}

/** The file-system half of the matrix: what the quiescer gives the volumes. */
function fileSystemLevel(os: GuestOsId, tools: ToolsId): Expectation {
  if (os === 'other') return { level: 'crash', why: 'no quiescing for other guest OSes', sources: [`${SEED}: Other guest operating systems`] };
  if (os === 'linux') {
    if (tools === 'esx41') return { level: 'filesystem', why: 'FIFREEZE', sources: ['DESIGN.md matrix: Linux', 'notes fact 5'] };
    if (tools === 'esx35u2') {
      return {
        level: 'crash', why: '"filesystem at best": the sync-only driver flushes without holding writes, so the journal still needs replay',
        sources: ['DESIGN.md matrix: Linux, 3.5 U2 - 4.0', 'notes fact 5 (sync() is weaker than a freeze)'],
      };
    }
    return { level: 'crash', why: 'no Linux quiescer in Tools of ESX 3.5 U1', sources: ['DESIGN.md matrix: Linux, 3.5 U1'] };
  }
  if (OLD_WINDOWS.includes(os)) return { level: 'filesystem', why: 'SYNC driver', sources: [`${SEED}: Windows 2000 / XP 32-bit`] };
  if (os === 'win2003-x86') return { level: 'filesystem', why: tools === 'esx35u1' ? 'SYNC driver' : 'VSS', sources: [`${SEED}: Windows 2003 32-bit`] };
  if (tools === 'esx35u1') return { level: 'crash', why: 'no quiescer for this guest in Tools of ESX 3.5 U1', sources: [`${SEED}: ${os}, ESX 3.5 U1 or earlier`] };
  return { level: 'filesystem', why: 'VSS', sources: [`${SEED}: ${os}, ESX 3.5 U2 or later`, 'notes fact 1'] };
}

/** Why the VSS writers are not involved on this VM (null when they are). */
function writerBlocker(os: GuestOsId, tools: ToolsId, c: CellConditions): { why: string; source: string } | null {
  if (os === 'linux' || os === 'other') return { why: 'no VSS on this guest', source: 'DESIGN.md matrix' };
  if (OLD_WINDOWS.includes(os)) return { why: 'SYNC driver: file system only', source: `${SEED}: Windows 2000 / XP` };
  if (tools === 'esx35u1') return { why: 'Tools of ESX 3.5 U1 have no VSS component', source: 'notes fact 1' };
  if (c.disableAppQuiescing) return { why: 'vss.disableAppQuiescing', source: 'notes fact 3' };
  if (os === 'vista-x86' || os === 'vista-x64') return { why: 'Vista: file-system quiescing through VSS', source: `${SEED}: Windows Vista` };
  if (MODERN.includes(os)) {
    if (tools !== 'esx41') return { why: 'application quiescing of 2008 needs ESX 4.1', source: 'notes fact 2' };
    if (c.controller === 'ide') return { why: 'an IDE disk', source: 'notes fact 2' };
    if (c.dynamicDisk) return { why: 'a dynamic disk', source: 'notes fact 2' };
    if (!c.enableUuid) return { why: 'disk.EnableUUID is not TRUE', source: 'notes fact 2' };
    if (c.encrypted) return { why: 'VM encryption', source: 'notes fact 2' };
  }
  return null;
}

export function expectedLevel(os: GuestOsId, tools: ToolsId, app: AppId, c: CellConditions = DEFAULT_CONDITIONS): Expectation {
  if (NEWER_THAN_SEED.includes(os) && tools !== 'esx41') return { level: 'unsupported', why: 'these Tools predate this OS', sources: [`${SEED}: "—" cells`] };
  if (!appRunsOn(app, os)) return { level: 'unsupported', why: `${app} does not run on ${os}`, sources: ['product requirements'] };
  const fs = fileSystemLevel(os, tools);
  if (APPS_WITH_WRITER.includes(app)) {
    const blocker = writerBlocker(os, tools, c);
    if (blocker === null) return { level: 'application', why: `VSS with the ${app} writer`, sources: [`${SEED}: application-consistent for apps with a VSS writer`, ...(MODERN.includes(os) ? ['notes fact 2'] : [])] };
    return { level: fs.level, why: `${fs.why}; writer not involved: ${blocker.why}`, sources: [...fs.sources, blocker.source] };
  }
  if (app === 'sqlite' && os === 'linux' && tools === 'esx41' && c.appFreezeScript) {
    return { level: 'application', why: 'FIFREEZE plus a freeze script that checkpoints SQLite and holds its writes', sources: ['DESIGN.md matrix: Linux, "application only through scripts"', 'notes fact 6'] };
  }
  const level = fs.level === 'unsupported' ? fs.level : minLevel(fs.level, 'filesystem');
  return { level, why: `${fs.why}; ${app} has no VSS writer`, sources: [...fs.sources, 'DESIGN.md: an application without a VSS writer gets at most filesystem'] };
}

export interface OracleCell {
  readonly os: GuestOsId;
  readonly tools: ToolsId;
  readonly app: AppId;
  readonly variant: ConditionVariant;
  readonly conditions: CellConditions;
  readonly expected: Expectation;
}

/**
 * Every supported cell: each OS x Tools x app with default conditions, plus the condition
 * variants for a writer app (sqlserver) everywhere and the freeze-script variant for SQLite
 * on Linux.
 */
export function oracleCells(): OracleCell[] {
  const cells: OracleCell[] = [];
  for (const os of GUEST_OS_IDS) {
    for (const tools of TOOLS_IDS) {
      for (const app of APP_IDS) {
        const variants: ConditionVariant[] = ['default'];
        if (app === 'sqlserver') variants.push('ide', 'dynamic', 'no-uuid', 'fs-only', 'encrypted');
        if (app === 'sqlite' && os === 'linux') variants.push('script');
        for (const variant of variants) {
          const conditions = CONDITION_VARIANTS[variant];
          const expected = expectedLevel(os, tools, app, conditions);
          if (expected.level === 'unsupported') continue;
          cells.push({ os, tools, app, variant, conditions, expected });
        }
      }
    }
  }
  return cells;
}
