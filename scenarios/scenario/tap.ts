/**
 * The harness's tap: a HypervisorPort between the engine (or a mutant's wrapper) and the
 * simulated hypervisor that passes every call through and writes down what really
 * happened — each VmSnapshot created (with the quiesce outcome the hypervisor reported),
 * each removed, and each snapshot's disk image as it was when the engine let go of it
 * (the reference a restore must equal). The engine cannot see or change what the tap
 * records, so a lying engine is judged against the truth.
 */

import type { HypervisorPort, PortError, SnapshotInfo } from '../../core/hypervisor-port.js';
import type { SnapshotId, VmId } from '../../core/ids.js';
import type { Result } from '../../core/result.js';
import type { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { wrapPort } from './port-wrap.js';
import { SparseImage } from './sparse-image.js';

export interface TappedSnapshot {
  readonly info: SnapshotInfo;
  /** Index of the backup call that took it. */
  readonly backupIndex: number;
  removed: boolean;
  /** Each disk's image (disk order), captured when it was removed or at the end of the run. */
  images: SparseImage[] | null;
}

export interface FailedQuiesce {
  readonly backupIndex: number;
  readonly error: PortError;
}

export class SnapshotTap {
  readonly snapshots: TappedSnapshot[] = [];
  readonly failedQuiesces: FailedQuiesce[] = [];
  /** Which backup the calls belong to (the scenario sets it before each). */
  backupIndex = -1;
  readonly port: HypervisorPort;

  constructor(private readonly hv: SimHypervisor, private readonly vmId: VmId, private readonly captureImages: boolean) {
    const createSnapshot: HypervisorPort['createSnapshot'] = async (vm, spec) => {
      const r = await hv.createSnapshot(vm, spec);
      if (vm === this.vmId) {
        if (r.ok) this.snapshots.push({ info: r.value, backupIndex: this.backupIndex, removed: false, images: null });
        else if (spec.quiesce) this.failedQuiesces.push({ backupIndex: this.backupIndex, error: r.error });
      }
      return r;
    };
    const removeSnapshot: HypervisorPort['removeSnapshot'] = (vm, snapshotId) => {
      const tapped = vm === this.vmId ? this.snapshots.find((s) => s.info.snapshotId === snapshotId && !s.removed) : undefined;
      if (tapped !== undefined) this.capture(tapped);
      const r = hv.removeSnapshot(vm, snapshotId);
      return r.then((res: Result<void, PortError>) => {
        if (tapped !== undefined && res.ok) tapped.removed = true;
        return res;
      });
    };
    this.port = wrapPort(hv, { createSnapshot, removeSnapshot });
  }

  /**
   * The snapshot a backup call used: the first one it created (a failed quiesced attempt
   * creates none, so this is the fallback when there was one; any later snapshot is the
   * engine's own business and not the point's reference).
   */
  snapshotOf(backupIndex: number): TappedSnapshot | undefined {
    return this.snapshots.find((s) => s.backupIndex === backupIndex);
  }

  /** Captures the images of snapshots still present (the engine left them behind). */
  captureLeftovers(): void {
    for (const s of this.snapshots) if (!s.removed) this.capture(s);
  }

  private capture(s: TappedSnapshot): void {
    if (!this.captureImages || s.images !== null) return;
    const vm = this.hv.vm(this.vmId);
    const rec = vm.snapshots.get(s.info.snapshotId);
    if (rec === undefined) return;
    s.images = vm.disks.map((d, i) => SparseImage.fromGrains(d.info.capacityBytes, d.info.sectorSizeBytes, d.disk.snapshotGrains(rec.diskSnapshots[i] as SnapshotId)));
  }
}
