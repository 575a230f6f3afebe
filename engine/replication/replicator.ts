/**
 * VM replication to a DR site (seed 002): cycles on a fixed schedule, each a quiesced
 * VmSnapshot of the source whose blocks are copied into the replica (the first cycle the
 * blocks the guest file system uses, later cycles what CBT says changed since the last
 * complete cycle); failover, test failover and failback.
 *
 * Schedule: cycle k starts at start + k x interval (a cycle that overruns its slot delays
 * the next one only until it ends), so the newest point is never older than the interval
 * plus one cycle's duration. A failed cycle keeps the CBT base of the last complete one:
 * the next cycle copies everything since, the failed cycle's half-applied blocks included.
 *
 * Failover: the replica reverts to its newest restore point (a failed cycle may have
 * half-applied the disk) and powers on at the DR site; CBT starts there at that instant.
 * Test failover: a copy of a point boots as a new VM at the DR site, the replica untouched.
 * Failback: the changes the DR VM made go back by CBT to the original VM (with the areas
 * the original changed after the last replicated point, which the DR site never had) or
 * to a new VM as a full copy; a first pass runs while the DR VM still runs, then the DR VM
 * shuts down and a final pass copies what changed since, then the failed-back VM starts.
 *
 * Leaves out: re-IP, network mapping, replica seeding from a backup, several DR hosts,
 * bandwidth throttling by the engine (the link's bandwidth is the harness's).
 */

import { assert } from '../../core/assert.js';
import type { Clock, TimeUs } from '../../core/clock.js';
import type { ChangedArea, HypervisorPort, VmInfo } from '../../core/hypervisor-port.js';
import type { ChangeId, SnapshotId, VmId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import { isAllZero } from '../../core/zero.js';
import type { Claim } from '../backup/claim.js';
import { runBackup, type AppAwarePolicy } from '../backup/job.js';
import { areaBytes, usedAreas } from './allocation.js';
import { createReplicaVm, portText, ReplicaTarget, type ReplicaPoint, type ReplicaState } from './replica-target.js';

export interface ReplicationEnv {
  readonly source: HypervisorPort;
  readonly dr: HypervisorPort;
  readonly clock: Clock;
  waitUntil(timeUs: TimeUs): Promise<void>;
}

export interface ReplicateParams {
  readonly vmId: VmId;
  readonly policy: AppAwarePolicy;
  readonly intervalUs: TimeUs;
  /** No cycle starts at or after this instant. */
  readonly untilUs: TimeUs;
  readonly keepPoints: number;
  /** Skip the blocks the guest file system does not use in a full cycle. */
  readonly whiteSpace: boolean;
  readonly appScripts?: Readonly<Record<string, string>>;
}

export interface CycleReport {
  readonly cycle: number;
  readonly kind: 'full' | 'incremental';
  readonly scheduledUs: TimeUs;
  readonly startUs: TimeUs;
  readonly endUs: TimeUs;
  readonly ok: boolean;
  readonly error: string | null;
  /** The source snapshot's instant (null: none was taken). */
  readonly snapshotAtUs: TimeUs | null;
  readonly bytesSent: number;
  /** Bytes a full cycle did not send because the guest file system does not use them. */
  readonly bytesSkippedWhiteSpace: number;
  readonly pointId: string | null;
  readonly claim: Claim | null;
}

export const CHUNK_BYTES = 1024 * 1024;

/** How the built-in engine replicates; a mutant changes one (scenarios/mutants/replication-mutants.ts). */
export interface ReplicationOptions {
  /** `start`: cycle k at first + k x interval; `end`: the next cycle an interval after the previous one ended (drift). */
  readonly scheduleFrom: 'start' | 'end';
  /** White-space skipping also skips all-zero blocks the file system uses. */
  readonly whiteSpaceSkipsZeros: boolean;
  /** Failover reverts the replica to its point before powering it on. */
  readonly failoverReverts: boolean;
  /** Failback copies what changed after its first pass. */
  readonly failbackFinalPass: boolean;
  /** A cycle reads the disk as it is when each block is read, not its snapshot. */
  readonly readsLive: boolean;
  /** White-space skipping reads the bitmap after the journal's live transactions, not only the bitmap on disk. */
  readonly whiteSpaceReadsJournal: boolean;
}

export const REPLICATION_DEFAULTS: ReplicationOptions = { scheduleFrom: 'start', whiteSpaceSkipsZeros: false, failoverReverts: true, failbackFinalPass: true, readsLive: false, whiteSpaceReadsJournal: true };

/** The readsLive bug: each read comes from a plain snapshot taken at that moment (the disk as it is then). */
function liveReads(port: HypervisorPort): HypervisorPort {
  const read: HypervisorPort['readSnapshotDisk'] = async (vmId, _snapshotId, diskId, offsetBytes, lengthBytes) => {
    const live = await port.createSnapshot(vmId, { name: 'quiescelab-read', quiesce: false, memory: false });
    if (!live.ok) return live;
    const bytes = await port.readSnapshotDisk(vmId, live.value.snapshotId, diskId, offsetBytes, lengthBytes);
    await port.removeSnapshot(vmId, live.value.snapshotId);
    return bytes;
  };
  return new Proxy(port, { get: (t, p, r) => (p === 'readSnapshotDisk' ? read : (Reflect.get(t, p, r) as unknown)) });
}

/** Runs one cycle; the state advances only when it completes. */
export async function runCycle(env: ReplicationEnv, state: ReplicaState, params: ReplicateParams, scheduledUs: TimeUs, options: ReplicationOptions = REPLICATION_DEFAULTS): Promise<CycleReport> {
  const startUs = env.clock.nowUs();
  const cycle = state.cycles;
  const kind = state.parent === null ? 'full' : 'incremental';
  const base = { cycle, kind, scheduledUs, startUs } as const;
  const vm = await env.source.getVm(params.vmId);
  if (!vm.ok) return { ...base, endUs: env.clock.nowUs(), ok: false, error: portText('getVm', vm.error), snapshotAtUs: null, bytesSent: 0, bytesSkippedWhiteSpace: 0, pointId: null, claim: null };
  const target = new ReplicaTarget(env.dr, vm.value, state, params.keepPoints, () => env.clock.nowUs());
  let skipped = 0;
  const fullReadAreas = params.whiteSpace ? async (port: HypervisorPort, vmId: VmId, snapshotId: SnapshotId, disk: VmInfo['disks'][number]) => {
    const areas = await usedAreas(port, vmId, snapshotId, disk, { journal: options.whiteSpaceReadsJournal });
    if (areas !== null) skipped += disk.capacityBytes - areaBytes(areas);
    return areas;
  } : undefined;
  const done = await runBackup({ port: options.readsLive ? liveReads(env.source) : env.source, target, clock: env.clock }, {
    vmId: params.vmId, policy: params.policy, parent: state.parent, skipZeroBlocks: options.whiteSpaceSkipsZeros && params.whiteSpace && state.parent === null,
    ...params.appScripts === undefined ? {} : { appScripts: params.appScripts },
    ...fullReadAreas === undefined ? {} : { fullReadAreas },
  });
  state.cycles++;
  const bytesSent = target.sink?.bytesWritten ?? 0;
  if (done.ok && options.whiteSpaceSkipsZeros) skipped += done.value.meta.disks.reduce((n, d) => n + d.bytesSkippedZero, 0);
  if (!done.ok) {
    const error = done.error.kind === 'port' ? portText(done.error.during, done.error.error) : done.error.reason;
    return { ...base, endUs: env.clock.nowUs(), ok: false, error, snapshotAtUs: null, bytesSent, bytesSkippedWhiteSpace: 0, pointId: null, claim: null };
  }
  state.parent = { pointId: done.value.pointId, vmId: params.vmId, changeIds: done.value.meta.changeIds };
  return {
    ...base, endUs: env.clock.nowUs(), ok: true, error: null, snapshotAtUs: done.value.meta.snapshotAtUs, bytesSent,
    bytesSkippedWhiteSpace: kind === 'full' ? skipped : 0, pointId: done.value.pointId, claim: done.value.meta.claimed,
  };
}

/** Cycles on the schedule from now until `params.untilUs`. */
export async function replicate(env: ReplicationEnv, state: ReplicaState, params: ReplicateParams, options: ReplicationOptions = REPLICATION_DEFAULTS): Promise<CycleReport[]> {
  assert(params.intervalUs > 0 && params.untilUs >= env.clock.nowUs(), 'replicate: a positive interval and an end not in the past');
  assert(params.keepPoints >= 1, 'replicate: keep at least one point');
  const reports: CycleReport[] = [];
  const first = env.clock.nowUs();
  for (let k = 0; ; k++) {
    const previous = reports[reports.length - 1];
    const scheduled = options.scheduleFrom === 'end' && previous !== undefined ? previous.endUs + params.intervalUs : first + k * params.intervalUs;
    if (scheduled >= params.untilUs) break;
    if (env.clock.nowUs() < scheduled) await env.waitUntil(scheduled);
    if (env.clock.nowUs() >= params.untilUs) break;
    reports.push(await runCycle(env, state, params, scheduled, options));
  }
  return reports;
}

/** The newest complete point, or the one named. */
export function pointOf(state: ReplicaState, pointId: string | null): ReplicaPoint | null {
  if (pointId === null) return state.points[state.points.length - 1] ?? null;
  return state.points.find((p) => p.pointId === pointId) ?? null;
}

/** Enables CBT on `vmId` and returns each disk's change id at this instant (a snapshot taken and removed). */
async function changeBase(port: HypervisorPort, vmId: VmId, during: string): Promise<Result<Readonly<Record<string, string>>, string>> {
  const cbt = await port.enableChangeTracking(vmId);
  if (!cbt.ok) return err(portText(`${during}: enableChangeTracking`, cbt.error));
  const snap = await port.createSnapshot(vmId, { name: `${during}-base`, quiesce: false, memory: false });
  if (!snap.ok) return err(portText(`${during}: createSnapshot`, snap.error));
  const removed = await port.removeSnapshot(vmId, snap.value.snapshotId);
  if (!removed.ok) return err(portText(`${during}: removeSnapshot`, removed.error));
  return ok(snap.value.changeIds);
}

export interface FailoverReport {
  readonly vmId: VmId;
  readonly pointId: string;
  readonly startUs: TimeUs;
  readonly poweredOnUs: TimeUs;
}

/** Failover: revert the replica to its newest (or the named) point and power it on at the DR site. */
export async function failover(dr: HypervisorPort, clock: Clock, state: ReplicaState, pointId: string | null, revert = true): Promise<Result<FailoverReport, string>> {
  const startUs = clock.nowUs();
  const point = pointOf(state, pointId);
  if (point === null || state.replicaVmId === null) return err('failover: the replica has no complete restore point');
  const vmId = state.replicaVmId;
  if (revert) {
    const reverted = await dr.revertToSnapshot(vmId, point.pointId as SnapshotId);
    if (!reverted.ok) return err(portText('failover: revertToSnapshot', reverted.error));
  }
  const base = await changeBase(dr, vmId, 'failover');
  if (!base.ok) return base;
  const on = await dr.powerOn(vmId);
  if (!on.ok) return err(portText('failover: powerOn', on.error));
  state.failedOver = { pointId: point.pointId, atUs: clock.nowUs(), changeIds: base.value };
  return ok({ vmId, pointId: point.pointId, startUs, poweredOnUs: clock.nowUs() });
}

/** Copies [start, start+length) of `from`'s snapshot to `to`'s disk, in chunks; all-zero chunks skipped when `skipZero`; the bytes written. */
export async function copyArea(from: { port: HypervisorPort; vmId: VmId; snapshotId: SnapshotId; diskId: string }, to: { port: HypervisorPort; vmId: VmId; diskId: string }, area: ChangedArea, skipZero: boolean): Promise<Result<number, string>> {
  let sent = 0;
  for (let pos = area.startBytes; pos < area.startBytes + area.lengthBytes; pos += CHUNK_BYTES) {
    const n = Math.min(CHUNK_BYTES, area.startBytes + area.lengthBytes - pos);
    const bytes = await from.port.readSnapshotDisk(from.vmId, from.snapshotId, from.diskId as never, pos, n);
    if (!bytes.ok) return err(portText('readSnapshotDisk', bytes.error));
    if (skipZero && isAllZero(bytes.value)) continue;
    const written = await to.port.writeDisk(to.vmId, to.diskId as never, pos, bytes.value);
    if (!written.ok) return err(portText('writeDisk', written.error));
    sent += n;
  }
  return ok(sent);
}

/** Test failover: a copy of the point boots as a new VM at the DR site; the replica is not touched. */
export async function testFailover(dr: HypervisorPort, state: ReplicaState, pointId: string | null): Promise<Result<{ readonly vmId: VmId; readonly pointId: string }, string>> {
  const point = pointOf(state, pointId);
  if (point === null || state.replicaVmId === null) return err('test failover: the replica has no complete restore point');
  const replica = await dr.getVm(state.replicaVmId);
  if (!replica.ok) return err(portText('test failover: getVm', replica.error));
  const copy = await createReplicaVm(dr, { ...replica.value, name: `${replica.value.name}-test` });
  if (!copy.ok) return copy;
  for (const [i, disk] of replica.value.disks.entries()) {
    const target = copy.value.disks[i];
    assert(target !== undefined, 'the copy has the replica\'s disks');
    const copied = await copyArea({ port: dr, vmId: replica.value.vmId, snapshotId: point.pointId as SnapshotId, diskId: disk.diskId }, { port: dr, vmId: copy.value.vmId, diskId: target.diskId }, { startBytes: 0, lengthBytes: disk.capacityBytes }, true);
    if (!copied.ok) return err(`test failover: ${copied.error}`);
  }
  const on = await dr.powerOn(copy.value.vmId);
  if (!on.ok) return err(portText('test failover: powerOn', on.error));
  return ok({ vmId: copy.value.vmId, pointId: point.pointId });
}

/** Every area CBT reports changed on `vmId`'s disk since `changeId`, as of `snapshotId`. */
export async function changedSince(port: HypervisorPort, vmId: VmId, snapshotId: SnapshotId, disk: { diskId: string; capacityBytes: number }, changeId: string): Promise<Result<ChangedArea[], string>> {
  const out: ChangedArea[] = [];
  for (let offset = 0; offset < disk.capacityBytes;) {
    const page = await port.queryChangedDiskAreas(vmId, snapshotId, disk.diskId as never, offset, changeId as ChangeId);
    if (!page.ok) return err(portText('queryChangedDiskAreas', page.error));
    out.push(...page.value.changedAreas);
    const next = page.value.startOffsetBytes + page.value.lengthBytes;
    assert(next > offset, 'a CBT page advances');
    offset = next;
  }
  return ok(out);
}
