/**
 * Where a replication cycle puts what it reads (seed 002): an identical virtual disk on a
 * VM at the DR site, written through the DR site's hypervisor. It is the backup job's
 * target (engine/backup/sink.ts) so a cycle is a backup job: the same policy, quiescing,
 * claim, CBT and BackupComplete. A cycle's restore point is a VmSnapshot of the replica VM
 * taken once every block of the cycle is written; a cycle that fails (the link drops, the
 * DR datastore fills up) takes none, so the replica's disk may be half-applied beyond its
 * newest snapshot: failover reverts to that snapshot first.
 *
 * Glossary
 * - replica: the VM at the DR site the cycles write into (powered off until a failover).
 * - restore point: one VmSnapshot of the replica, one per complete cycle, the newest
 *   `keepPoints` kept.
 *
 * Leaves out: seeding a replica from a backup, several DR hosts, replica disk resizing.
 */

import { assert } from '../../core/assert.js';
import type { HypervisorPort, PortError, VmInfo } from '../../core/hypervisor-port.js';
import type { VmId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import type { Claim } from '../backup/claim.js';
import type { RecoveryPointMeta } from '../backup/job.js';
import type { BackupTarget, DiskSink, ParentPoint, PointSink } from '../backup/sink.js';

export interface ReplicaPoint {
  /** The replica's VmSnapshot holding this point. */
  readonly pointId: string;
  readonly cycle: number;
  /** The source's VmSnapshot instant this point is a copy of. */
  readonly sourceSnapshotAtUs: number;
  /** When the point was complete at the DR site. */
  readonly committedAtUs: number;
  readonly claim: Claim;
}

export interface ReplicaState {
  readonly handle: string;
  /** The VM replicated (after a failback, the failed-back VM: re-protection). */
  sourceVmId: VmId;
  replicaVmId: VmId | null;
  /** The newest complete cycle's change ids (the next cycle's CBT base), or null before the first. */
  parent: ParentPoint | null;
  points: ReplicaPoint[];
  cycles: number;
  /** Set by a failover: the point booted and the replica's change ids at that instant. */
  failedOver: { readonly pointId: string; readonly atUs: number; readonly changeIds: Readonly<Record<string, string>> } | null;
}

/** A refused port call as one line: what was being done, the error's kind and reason. */
export function portText(during: string, e: PortError): string {
  return `${during}: ${e.kind}${'reason' in e ? ` (${e.reason})` : ''}`;
}

/** Creates the replica VM at the DR site like the source (powered off, empty disks). */
export async function createReplicaVm(dr: HypervisorPort, source: VmInfo): Promise<Result<VmInfo, string>> {
  const created = await dr.createVm({
    name: `${source.name}-replica`.slice(0, 80), guestOs: source.guestOs, tools: source.tools, apps: source.apps,
    disks: source.disks.map((d) => ({ capacityBytes: d.capacityBytes, sectorSizeBytes: d.sectorSizeBytes, controller: d.controller, dynamic: d.dynamic })),
    flags: source.flags,
  });
  return created.ok ? ok(created.value) : err(portText('createVm at the DR site', created.error));
}

class ReplicaDisk implements DiskSink {
  constructor(private readonly sink: ReplicaSink, private readonly diskId: string) {}
  async writeExtent(offsetBytes: number, bytes: Uint8Array): Promise<void> {
    await this.sink.write(this.diskId, offsetBytes, bytes);
  }
}

/** One cycle's writes into the replica; the first failure poisons it (commit then fails). */
class ReplicaSink implements PointSink {
  failure: string | null = null;
  bytesWritten = 0;

  constructor(private readonly target: ReplicaTarget, private readonly replica: VmInfo) {}

  disk(diskId: string): Promise<DiskSink> {
    return Promise.resolve(new ReplicaDisk(this, diskId));
  }

  async write(sourceDiskId: string, offsetBytes: number, bytes: Uint8Array): Promise<void> {
    if (this.failure !== null) return;
    const index = this.target.source.disks.findIndex((d) => d.diskId === sourceDiskId);
    const disk = this.replica.disks[index];
    if (disk === undefined) { this.failure = `the replica has no disk for ${sourceDiskId}`; return; }
    const written = await this.target.dr.writeDisk(this.replica.vmId, disk.diskId, offsetBytes, bytes);
    if (!written.ok) { this.failure = portText('writeDisk at the DR site', written.error); return; }
    this.bytesWritten += bytes.length;
  }

  commit(meta: unknown): Promise<Result<string, string>> {
    if (this.failure !== null) return Promise.resolve(err(this.failure));
    return this.target.commitPoint(this.replica.vmId, meta as RecoveryPointMeta);
  }

  async abort(): Promise<void> {
    // The half-applied writes stay on the replica's disk; its newest snapshot is the last complete point.
  }
}

/** The backup target of one replica's cycles. */
export class ReplicaTarget implements BackupTarget {
  sink: ReplicaSink | null = null;

  constructor(readonly dr: HypervisorPort, readonly source: VmInfo, private readonly state: ReplicaState, private readonly keepPoints: number, private readonly nowUs: () => number) {
    assert(Number.isSafeInteger(keepPoints) && keepPoints >= 1, `keepPoints must be at least 1, got ${keepPoints}`);
  }

  async begin(): Promise<PointSink> {
    if (this.state.replicaVmId === null) {
      const created = await createReplicaVm(this.dr, this.source);
      if (!created.ok) return this.poisoned(created.error);
      this.state.replicaVmId = created.value.vmId;
    }
    const replica = await this.dr.getVm(this.state.replicaVmId);
    if (!replica.ok) return this.poisoned(portText('getVm at the DR site', replica.error));
    this.sink = new ReplicaSink(this, replica.value);
    return this.sink;
  }

  private poisoned(reason: string): PointSink {
    const sink = new ReplicaSink(this, { ...this.source, disks: [] });
    sink.failure = reason;
    this.sink = sink;
    return sink;
  }

  /** Snapshots the replica (the cycle's restore point) and drops the points beyond `keepPoints`. */
  async commitPoint(replicaVmId: VmId, meta: RecoveryPointMeta): Promise<Result<string, string>> {
    const cycle = this.state.cycles;
    const snap = await this.dr.createSnapshot(replicaVmId, { name: `replica-point-${cycle}`, quiesce: false, memory: false });
    if (!snap.ok) return err(portText('createSnapshot of the replica', snap.error));
    this.state.points.push({ pointId: snap.value.snapshotId, cycle, sourceSnapshotAtUs: meta.snapshotAtUs, committedAtUs: this.nowUs(), claim: meta.claimed });
    while (this.state.points.length > this.keepPoints) {
      const oldest = this.state.points[0] as ReplicaPoint;
      const removed = await this.dr.removeSnapshot(replicaVmId, oldest.pointId as never);
      if (!removed.ok) break;
      this.state.points.shift();
    }
    return ok(snap.value.snapshotId);
  }
}
