/**
 * Helpers for hypervisor tests: a world with the given app models, a VM running them, a
 * quiesced snapshot with the engine's usual fallback to an unquiesced one, and the
 * lab inspection + level verdict of a snapshot.
 */

import type { AppId, GuestOsId, SnapshotInfo, ToolsId, VmFlags } from '../../../core/hypervisor-port.js';
import type { VmId } from '../../../core/ids.js';
import { unwrap } from '../../../core/result.js';
import type { AppFactory, WorkloadSpec } from '../../../sim/apps/types.js';
import { GUEST_OS } from '../../../sim/guest/catalog.js';
import { inspectImage } from '../../../sim/hypervisor/inspect.js';
import { SimHypervisor } from '../../../sim/hypervisor/sim-hypervisor.js';
import type { QuiesceFaults } from '../../../sim/hypervisor/sim-vm.js';
import type { GuestScript } from '../../../sim/guest/quiesce/scripts.js';
import { Simulation } from '../../../sim/kernel/simulation.js';
import type { NewDiskSpec } from '../../../core/hypervisor-port.js';
import { judgeLevel, type LevelVerdict } from '../../../scenarios/checkers/level.js';
import { appsQuiesced } from '../../../scenarios/scenario/run.js';

export interface CellSetup {
  readonly seed: number;
  readonly os: GuestOsId;
  readonly tools: ToolsId;
  readonly apps: readonly AppId[];
  readonly factories: Readonly<Partial<Record<AppId, AppFactory>>>;
  readonly flags?: Partial<VmFlags>;
  readonly disks?: readonly NewDiskSpec[];
  readonly scripts?: readonly GuestScript[];
  readonly faults?: QuiesceFaults;
  readonly workload?: WorkloadSpec;
  readonly warmupUs?: number;
}

export interface CellRun {
  readonly hv: SimHypervisor;
  readonly vmId: VmId;
  readonly snapshot: SnapshotInfo;
  /** The quiesced attempt failed and the snapshot is the unquiesced fallback. */
  readonly fellBack: boolean;
  readonly quiesceError: string | null;
  readonly verdict: LevelVerdict;
}

export const DEFAULT_WORKLOAD: WorkloadSpec = { meanIntervalUs: 20_000, opsPerTxn: 2, valueBytes: 300 };

export async function runCell(setup: CellSetup): Promise<CellRun> {
  const sim = new Simulation({ seed: setup.seed });
  const hv = new SimHypervisor({ sim, apps: setup.factories });
  const vm = unwrap(hv.addVm({
    name: `${setup.os}-${setup.tools}`, guestOs: setup.os, tools: setup.tools, apps: setup.apps,
    disks: setup.disks ?? [{ capacityBytes: 64 * 1024 * 1024 }], ...setup.flags === undefined ? {} : { flags: setup.flags },
  }));
  if (setup.scripts !== undefined) hv.installScripts(vm.vmId, setup.scripts);
  if (setup.faults !== undefined) hv.setQuiesceFaults(vm.vmId, setup.faults);
  for (const app of setup.apps) hv.startWorkload(vm.vmId, app, setup.workload ?? DEFAULT_WORKLOAD);
  hv.runFor(setup.warmupUs ?? 3_000_000);
  const quiesced = await hv.createSnapshot(vm.vmId, { name: 'backup', quiesce: true, memory: false });
  let snapshot: SnapshotInfo;
  let quiesceError: string | null = null;
  if (quiesced.ok) {
    snapshot = quiesced.value;
  } else {
    quiesceError = quiesced.error.kind === 'quiesce' ? `${quiesced.error.fault.kind}: ${quiesced.error.fault.reason}` : quiesced.error.kind;
    snapshot = unwrap(await hv.createSnapshot(vm.vmId, { name: 'backup-crash', quiesce: false, memory: false }));
  }
  const verdict = judgeSnapshot(hv, vm.vmId, snapshot, setup.factories);
  return { hv, vmId: vm.vmId, snapshot, fellBack: !quiesced.ok, quiesceError, verdict };
}

/** Inspects a snapshot in the lab and judges its level against the apps' acknowledgements. */
export function judgeSnapshot(hv: SimHypervisor, vmId: VmId, snapshot: SnapshotInfo, factories: Readonly<Partial<Record<AppId, AppFactory>>>): LevelVerdict {
  const vm = hv.vm(vmId);
  const rec = vm.snapshots.get(snapshot.snapshotId);
  if (rec === undefined) throw new Error(`no snapshot ${snapshot.snapshotId}`);
  const images = vm.disks.map((d, i) => d.disk.snapshotReader(rec.diskSnapshots[i] as typeof rec.diskSnapshots[number]));
  const inspection = inspectImage(images, { os: GUEST_OS[vm.guestOs], apps: vm.apps, factories });
  const acks: Partial<Record<AppId, ReturnType<ReturnType<typeof vm.app>['acknowledged']>>> = {};
  for (const app of vm.apps) if (vm.guest !== null) acks[app] = vm.app(app).acknowledged();
  const q = snapshot.quiesce;
  return judgeLevel({ inspection, acks, cutUs: q.freezeStartUs ?? snapshot.createdAtUs, appQuiesced: appsQuiesced(q, vm.scripts) });
}
