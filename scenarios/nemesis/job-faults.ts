/**
 * The nemesis of the backup job's own path (JobPlan, scenarios/scenario/spec.ts), beside
 * the guest's faults (index.ts). Each fault is an inject step at a fixed moment of the
 * backup suite's run and heals itself:
 *
 * - orphan: before the first backup, a VmSnapshot named as the engine names its own (as a
 *   job that crashed mid-backup leaves it). Heal: the engine's next job removes it; the
 *   tap records whether it did (property 8 fails a run that leaves it).
 * - refuseRemoval: the hypervisor refuses the first removal of every VmSnapshot the engine
 *   takes (a datastore busy consolidating), and accepts the next. Sits between the engine
 *   and the tap, so the tap records the snapshot as still present until a removal passes.
 * - cbtReset: after the full's gap, before the first incremental, CBT is reset on every
 *   disk of the VM (disabled and enabled again, as an administrator or a storage vMotion
 *   does): a new epoch, and the parent's change ids are refused by QueryChangedDiskAreas.
 *   Heal: the engine reads the disks in full.
 *
 * - readFault: the first VmSnapshot read of the run fails once (a transport connection
 *   reset): that backup fails; it must remove its snapshot, store no point, and never tell
 *   the writers it succeeded. The next backup works (a full: there is no parent).
 *
 * A probe proves each fault fired (FoundationDB's rule): the scenario's timeline gets a
 * `fault` event each time, and `JobFaultProbe` counts them for the checkers.
 */

import { assert } from '../../core/assert.js';
import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { SnapshotId, VmId } from '../../core/ids.js';
import { err } from '../../core/result.js';
import { SNAPSHOT_PREFIX } from '../../engine/backup/job.js';
import type { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { wrapPort } from '../scenario/port-wrap.js';
import type { JobPlan } from '../scenario/spec.js';

/** How often each job fault really struck in a run. */
export interface JobFaultProbe {
  orphansLeft: number;
  removalsRefused: number;
  cbtResets: number;
  readsFailed: number;
}

export function newJobFaultProbe(): JobFaultProbe {
  return { orphansLeft: 0, removalsRefused: 0, cbtResets: 0, readsFailed: 0 };
}

/** The snapshot read that fails under `readFault`: the first of the run (a backup that reads anything meets it). */
const FAILING_READ = 1;

/**
 * The port the engine's port wraps: with `refuseRemoval`, the first removal of each
 * VmSnapshot created through it is refused (invalid-state), the next passes.
 */
export function jobFaultPort(port: HypervisorPort, plan: JobPlan, probe: JobFaultProbe, note: (detail: string) => void): HypervisorPort {
  const withRead = plan.readFault ? failingRead(port, probe, note) : port;
  return plan.refuseRemoval ? refusingRemoval(withRead, probe, note) : withRead;
}

/** The FAILING_READ-th snapshot read fails once (the transport's connection reset). */
function failingRead(port: HypervisorPort, probe: JobFaultProbe, note: (detail: string) => void): HypervisorPort {
  let reads = 0;
  return wrapPort(port, {
    readSnapshotDisk: async (vmId, snapshotId, diskId, offsetBytes, lengthBytes) => {
      if (++reads === FAILING_READ) {
        probe.readsFailed++;
        note(`the read of ${diskId} at ${offsetBytes} from VmSnapshot ${snapshotId} fails: the transport's connection was reset`);
        return err({ kind: 'invalid-state', vmId, reason: 'NFC connection reset by the host' });
      }
      return port.readSnapshotDisk(vmId, snapshotId, diskId, offsetBytes, lengthBytes);
    },
  });
}

function refusingRemoval(port: HypervisorPort, probe: JobFaultProbe, note: (detail: string) => void): HypervisorPort {
  const taken = new Set<string>();
  const refused = new Set<string>();
  return wrapPort(port, {
    createSnapshot: async (vmId, spec) => {
      const r = await port.createSnapshot(vmId, spec);
      if (r.ok) taken.add(r.value.snapshotId);
      return r;
    },
    removeSnapshot: async (vmId: VmId, snapshotId: SnapshotId) => {
      if (taken.has(snapshotId) && !refused.has(snapshotId)) {
        refused.add(snapshotId);
        probe.removalsRefused++;
        note(`the hypervisor refuses the first removal of VmSnapshot ${snapshotId} (datastore busy)`);
        return err({ kind: 'invalid-state', vmId, reason: 'another task is in progress on the datastore: snapshot removal refused' });
      }
      return port.removeSnapshot(vmId, snapshotId);
    },
  });
}

/** Leaves a VmSnapshot as the engine's crashed job would have (taken through `port`, the tap's, so it is recorded). */
export async function leaveOrphan(port: HypervisorPort, vmId: VmId, probe: JobFaultProbe, note: (detail: string) => void): Promise<void> {
  const r = await port.createSnapshot(vmId, { name: `${SNAPSHOT_PREFIX}${vmId}-crashed-job`, quiesce: false, memory: false });
  assert(r.ok, `the orphan snapshot could not be taken: ${r.ok ? '' : r.error.kind}`);
  probe.orphansLeft++;
  note(`a VmSnapshot ${r.value.snapshotId} named as the engine's own is left by a job that crashed`);
}

/** Resets CBT on every disk of the VM (a new epoch: the engine's next query for a parent's change id is refused). */
export function resetCbt(hv: SimHypervisor, vmId: VmId, probe: JobFaultProbe, note: (detail: string) => void): void {
  const reset = hv.resetChangeTracking(vmId);
  if (reset === 0) return;
  probe.cbtResets++;
  note(`CBT is reset on ${reset} disk(s) of the VM (disabled and enabled again, as after a storage vMotion): earlier change ids are void`);
}
