/**
 * Matrix cells as the runner sees them: the oracle's cells (scenarios/matrix/oracle.ts)
 * with a stable id, the VM each one runs (disks, flags, guest scripts from its
 * conditions), and the filters of the CLI (`--os`, `--tools`, `--apps`).
 *
 * A cell runs its application beside the `files` app (a guest always has some plain file
 * writes), except the files cell itself.
 */

import type { AppId, GuestOsId, NewDiskSpec, ToolsId, VmFlags } from '../core/hypervisor-port.js';
import type { GuestScript } from '../sim/guest/quiesce/scripts.js';
import { SCRIPTS_DIR } from '../sim/guest/quiesce/scripts.js';
import { assert } from '../core/assert.js';
import { oracleCells, type OracleCell } from './matrix/oracle.js';

export type Cell = OracleCell;

/** `<os>/<tools>/<app>/<variant>`: unique, stable, safe in a file name once `/` is replaced. */
export function cellId(cell: Pick<Cell, 'os' | 'tools' | 'app' | 'variant'>): string {
  return `${cell.os}/${cell.tools}/${cell.app}/${cell.variant}`;
}

export interface CellFilter {
  readonly os?: readonly GuestOsId[];
  readonly tools?: readonly ToolsId[];
  readonly apps?: readonly AppId[];
}

export function selectCells(filter: CellFilter = {}): Cell[] {
  return oracleCells().filter((c) => (filter.os === undefined || filter.os.includes(c.os))
    && (filter.tools === undefined || filter.tools.includes(c.tools))
    && (filter.apps === undefined || filter.apps.includes(c.app)));
}

export function findCell(id: string): Cell | undefined {
  return oracleCells().find((c) => cellId(c) === id);
}

/** Path of the SQLite freeze script of the `script` variant (Linux backupScripts.d). */
export const SQLITE_SCRIPT_PATH = `${SCRIPTS_DIR}/50-sqlite`;

export const SQLITE_FREEZE_SCRIPT: GuestScript = {
  path: SQLITE_SCRIPT_PATH,
  on: { freeze: { action: 'sqlite:checkpoint-and-lock' }, thaw: { action: 'sqlite:checkpoint-and-lock' }, freezeFail: { action: 'sqlite:checkpoint-and-lock' } },
};

export interface CellVm {
  readonly apps: readonly AppId[];
  readonly disks: readonly NewDiskSpec[];
  readonly flags: Partial<VmFlags>;
  readonly scripts: readonly GuestScript[];
  /** App -> freeze-script path, for the engine's claim (appScripts). */
  readonly appScripts: Readonly<Partial<Record<AppId, string>>>;
}

const MiB = 1024 * 1024;

/** The cell's VM: `diskCount` disks of `diskBytes` each, every one on the cell's controller and disk kind. */
export function cellVm(cell: Cell, diskBytes = 16 * MiB, diskCount = 1): CellVm {
  const c = cell.conditions;
  assert(Number.isInteger(diskCount) && diskCount >= 1 && diskCount <= 3, `a cell VM has 1 to 3 disks, not ${diskCount}`);
  return {
    apps: cell.app === 'files' ? ['files'] : [cell.app, 'files'],
    disks: Array.from({ length: diskCount }, () => ({ capacityBytes: diskBytes, controller: c.controller, dynamic: c.dynamicDisk })),
    flags: { enableUuid: c.enableUuid, encrypted: c.encrypted, disableAppQuiescing: c.disableAppQuiescing },
    scripts: c.appFreezeScript ? [SQLITE_FREEZE_SCRIPT] : [],
    appScripts: c.appFreezeScript ? { sqlite: SQLITE_SCRIPT_PATH } : {},
  };
}
