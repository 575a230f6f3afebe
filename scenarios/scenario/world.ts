/**
 * The world a scenario runs in: one simulation from the spec's seed, a hypervisor with the
 * default application models, and the cell's VM booted with its disks, flags and guest
 * scripts (scenarios/cells.ts). Shared by the backup scenario (run.ts) and the log
 * scenario (logs-run.ts), so both suites judge the same VM for a cell.
 *
 * Leaves out: more than one VM per world, hosts other than the simulated one.
 */

import { unwrap } from '../../core/result.js';
import { DEFAULT_FILES_OPTIONS, filesAppFactory, UNWRITE_OPTIONS } from '../../sim/apps/files/files-app.js';
import type { AppFactory } from '../../sim/apps/types.js';
import type { AppId } from '../../core/hypervisor-port.js';
import type { GuestScript } from '../../sim/guest/quiesce/scripts.js';
import { defaultApps, type AppSet } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import type { SimVm } from '../../sim/hypervisor/sim-vm.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { cellVm, type Cell } from '../cells.js';
import type { WorkloadPlan } from './spec.js';

export interface CellWorld {
  readonly hv: SimHypervisor;
  readonly vm: SimVm;
  /** The world's application models (and the AdDomain its domain controllers share). */
  readonly apps: AppSet;
  readonly factories: Readonly<Partial<Record<AppId, AppFactory>>>;
  /** The guest scripts installed in the VM. */
  readonly scripts: readonly GuestScript[];
}

export interface CellWorldOptions {
  readonly seed: number;
  /** Disk size of the cell's VM (default: cellVm's). */
  readonly diskBytes?: number | undefined;
  /** The disks' write cache ignores flush (a lying storage stack). */
  readonly lyingCache?: boolean;
  /** Guest scripts to install (default: the cell's own). */
  readonly scripts?: readonly GuestScript[];
  /** Areas per QueryChangedDiskAreas page (default the simulator's, 1024). */
  readonly cbtPageAreas?: number;
  /** Disks of the VM (default 1). */
  readonly disks?: number;
  /** The files app runs in un-write mode (UNWRITE_OPTIONS; default: it only appends). */
  readonly unwrite?: boolean;
}

/**
 * How a cell VM's disks are formatted: a 64-block (256 KiB) journal and 256 inodes, not
 * mkfs's defaults for 16 MiB (128 blocks, 1,024 inodes). A scenario's guest holds a few
 * dozen files at most; the defaults made a third of every point's bytes journal and inode
 * table, which every backup hashes, compresses, reads back and compares. The journal
 * still wraps and checkpoints (more often, which exercises it more), and one operation's
 * metadata fits with room to spare (mkfs refuses a journal that cannot hold one).
 */
export const SCENARIO_GUEST_FS = { journalBlocks: 64, inodeCount: 256 } as const;

export function bootCellWorld(cell: Cell, options: CellWorldOptions): CellWorld {
  const sim = new Simulation({ seed: options.seed });
  const defaults = defaultApps();
  const apps: AppSet = options.unwrite === true
    ? { ...defaults, factories: { ...defaults.factories, files: filesAppFactory({ ...DEFAULT_FILES_OPTIONS, unwrite: UNWRITE_OPTIONS }) } }
    : defaults;
  const factories = apps.factories;
  const hv = new SimHypervisor({ sim, apps: factories });
  const setup = cellVm(cell, options.diskBytes, options.disks);
  const vm = unwrap(hv.addVm({
    name: `${cell.os}-${cell.tools}`, guestOs: cell.os, tools: cell.tools, apps: setup.apps, disks: setup.disks, flags: setup.flags,
    guestFs: SCENARIO_GUEST_FS,
    ...options.lyingCache === true ? { diskFaults: { ignoreFlush: true } } : {},
    ...options.cbtPageAreas === undefined ? {} : { cbtPageAreas: options.cbtPageAreas },
  }));
  const scripts = options.scripts ?? setup.scripts;
  if (scripts.length > 0) hv.installScripts(vm.vmId, scripts);
  return { hv, vm, apps, factories, scripts };
}

/**
 * Operations an app's workload runs per start (a boot's worth). A scenario's interesting
 * part is seconds long, but a guest script that hangs holds the backup for Tools' 15
 * minutes while the apps go on: unbounded, that is ~180,000 transactions at a 5 ms think
 * time — beyond the SQL Server model's commit table (16,384 ids) and most of a run's CPU.
 * After the bound the app idles; the hang still runs its full course.
 */
export const MAX_WORKLOAD_OPS = 4_000;

/** Starts the workload of every app of the VM. */
export function startCellWorkload(world: Pick<CellWorld, 'hv' | 'vm'>, plan: WorkloadPlan): void {
  for (const app of world.vm.apps) world.hv.startWorkload(world.vm.vmId, app, { meanIntervalUs: plan.meanIntervalMs * 1000, opsPerTxn: plan.opsPerTxn, valueBytes: plan.valueBytes, maxOps: MAX_WORKLOAD_OPS });
}
