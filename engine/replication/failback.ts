/**
 * Failback (seed 002): after a failover the VM runs at the DR site; its changes go back to
 * the original VM by CBT, or to a new VM at the source site in full when the original is
 * lost. Two passes: the first while the DR VM still runs (most of the data), then the DR
 * VM shuts down (its guest flushes) and a final pass copies what changed since the first
 * pass's snapshot; then the failed-back VM powers on. To the original, the first pass also
 * copies the areas the original changed after the last replicated point (writes the DR
 * site never had: they must be undone), read from the DR VM.
 *
 * Re-protection: the failed-back VM becomes the replica's source, with its change ids at the
 * failback instant as the CBT base (the replica, shut down, holds the same used blocks):
 * `replicate` with the same replica goes on from it.
 *
 * Leaves out: failback while the source keeps running (the original is powered off first).
 */

import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { SnapshotId, VmId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import type { TimeUs } from '../../core/clock.js';
import { createReplicaVm, portText, type ReplicaState } from './replica-target.js';
import { changedSince, copyArea, type ReplicationEnv } from './replicator.js';
import type { ChangedArea } from '../../core/hypervisor-port.js';

export interface FailbackParams {
  /** `original`: the source VM (powered off first); `new`: a new VM at the source site. */
  readonly target: 'original' | 'new';
}

export interface FailbackReport {
  readonly vmId: VmId;
  readonly target: 'original' | 'new';
  readonly startUs: TimeUs;
  /** The DR VM was shut down at this instant: the failed-back VM holds its disks as of then. */
  readonly finalAtUs: TimeUs;
  readonly poweredOnUs: TimeUs;
  readonly bytesFirstPass: number;
  readonly bytesFinalPass: number;
}

interface Plan {
  readonly dr: HypervisorPort;
  readonly drVm: VmId;
  readonly source: HypervisorPort;
  readonly targetVm: VmId;
  /** Source disk id per DR disk index. */
  readonly targetDisks: readonly string[];
}

/** Copies `areas` of every disk of the DR VM's snapshot to the target; bytes written. */
export async function copyAreas(plan: Plan, snapshotId: SnapshotId, areasPerDisk: readonly (readonly ChangedArea[])[], skipZero: boolean): Promise<Result<number, string>> {
  const drInfo = await plan.dr.getVm(plan.drVm);
  if (!drInfo.ok) return err(portText('getVm at the DR site', drInfo.error));
  let sent = 0;
  for (const [i, areas] of areasPerDisk.entries()) {
    const drDisk = drInfo.value.disks[i];
    const targetDisk = plan.targetDisks[i];
    if (drDisk === undefined || targetDisk === undefined) return err(`disk ${i} missing on the DR VM or the target`);
    for (const area of areas) {
      const copied = await copyArea({ port: plan.dr, vmId: plan.drVm, snapshotId, diskId: drDisk.diskId }, { port: plan.source, vmId: plan.targetVm, diskId: targetDisk }, area, skipZero);
      if (!copied.ok) return err(`from the DR site to the source site: ${copied.error}`);
      sent += copied.value;
    }
  }
  return ok(sent);
}

/** The areas the original VM changed after the last replicated point (a snapshot taken and removed to ask CBT). */
async function originalChanges(source: HypervisorPort, vmId: VmId, base: Readonly<Record<string, string>>): Promise<Result<ChangedArea[][], string>> {
  const info = await source.getVm(vmId);
  if (!info.ok) return err(portText('getVm', info.error));
  const snap = await source.createSnapshot(vmId, { name: 'failback-source', quiesce: false, memory: false });
  if (!snap.ok) return err(portText('createSnapshot of the original', snap.error));
  const out: ChangedArea[][] = [];
  try {
    for (const disk of info.value.disks) {
      const changeId = base[disk.diskId];
      // No change id (CBT reset): the whole disk is suspect.
      const areas = changeId === undefined ? ok([{ startBytes: 0, lengthBytes: disk.capacityBytes }]) : await changedSince(source, vmId, snap.value.snapshotId, disk, changeId);
      if (!areas.ok) return areas;
      out.push(areas.value);
    }
  } finally {
    await source.removeSnapshot(vmId, snap.value.snapshotId);
  }
  return ok(out);
}

/** The failed-back VM: the original (powered off) or a new one like the DR VM. */
async function targetOf(env: ReplicationEnv, state: ReplicaState, drVm: VmId, params: FailbackParams): Promise<Result<Plan, string>> {
  if (params.target === 'original') {
    const info = await env.source.getVm(state.sourceVmId);
    if (!info.ok) return err(portText('getVm of the original', info.error));
    if (info.value.powerState === 'poweredOn') {
      const off = await env.source.powerOff(state.sourceVmId);
      if (!off.ok) return err(portText('powerOff of the original', off.error));
    }
    return ok({ dr: env.dr, drVm, source: env.source, targetVm: state.sourceVmId, targetDisks: info.value.disks.map((d) => d.diskId) });
  }
  const drInfo = await env.dr.getVm(drVm);
  if (!drInfo.ok) return err(portText('getVm at the DR site', drInfo.error));
  const created = await createReplicaVm(env.source, { ...drInfo.value, name: `${drInfo.value.name}-failback` });
  if (!created.ok) return created;
  return ok({ dr: env.dr, drVm, source: env.source, targetVm: created.value.vmId, targetDisks: created.value.disks.map((d) => d.diskId) });
}

/** One pass: snapshot the DR VM, copy what changed since `base` (all of it when null) plus `extra`, remove the snapshot; the change ids as of the pass. */
async function pass(plan: Plan, base: Readonly<Record<string, string>> | null, extra: readonly (readonly ChangedArea[])[], name: string): Promise<Result<{ sent: number; changeIds: Readonly<Record<string, string>> }, string>> {
  const info = await plan.dr.getVm(plan.drVm);
  if (!info.ok) return err(portText('getVm at the DR site', info.error));
  const snap = await plan.dr.createSnapshot(plan.drVm, { name, quiesce: false, memory: false });
  if (!snap.ok) return err(portText(`createSnapshot (${name})`, snap.error));
  try {
    const areas: ChangedArea[][] = [];
    for (const [i, disk] of info.value.disks.entries()) {
      const changeId = base?.[disk.diskId];
      const changed = base === null || changeId === undefined ? ok([{ startBytes: 0, lengthBytes: disk.capacityBytes }]) : await changedSince(plan.dr, plan.drVm, snap.value.snapshotId, disk, changeId);
      if (!changed.ok) return changed;
      areas.push([...changed.value, ...extra[i] ?? []]);
    }
    const sent = await copyAreas(plan, snap.value.snapshotId, areas, base === null);
    return sent.ok ? ok({ sent: sent.value, changeIds: snap.value.changeIds }) : sent;
  } finally {
    await plan.dr.removeSnapshot(plan.drVm, snap.value.snapshotId);
  }
}

/**
 * Re-protection: the failed-back VM becomes the replica's source. Its disks equal the DR
 * VM's (the replica's) on every used block now, so its change ids at this instant are the
 * next cycle's CBT base: `replicate` with the same replica goes on by CBT.
 */
async function reprotect(env: ReplicationEnv, state: ReplicaState, targetVm: VmId): Promise<Result<void, string>> {
  const cbt = await env.source.enableChangeTracking(targetVm);
  if (!cbt.ok) return err(portText('enableChangeTracking of the failed-back VM', cbt.error));
  const snap = await env.source.createSnapshot(targetVm, { name: 'reprotect-base', quiesce: false, memory: false });
  if (!snap.ok) return err(portText('createSnapshot of the failed-back VM', snap.error));
  const removed = await env.source.removeSnapshot(targetVm, snap.value.snapshotId);
  if (!removed.ok) return err(portText('removeSnapshot of the failed-back VM', removed.error));
  state.sourceVmId = targetVm;
  state.parent = { pointId: 'reprotect', vmId: targetVm, changeIds: snap.value.changeIds };
  state.failedOver = null;
  return ok(undefined);
}

/** Failback (see the header). `finalPass: false` is a mutant's (the writes of the last stretch stay behind). */
export async function failback(env: ReplicationEnv, state: ReplicaState, params: FailbackParams, finalPass = true): Promise<Result<FailbackReport, string>> {
  const startUs = env.clock.nowUs();
  if (state.failedOver === null || state.replicaVmId === null) return err('failback: the replica was not failed over');
  const drVm = state.replicaVmId;
  const plan = await targetOf(env, state, drVm, params);
  if (!plan.ok) return plan;
  const fresh = params.target === 'new';
  const extra = fresh || state.parent === null ? ok([]) : await originalChanges(env.source, state.sourceVmId, state.parent.changeIds);
  if (!extra.ok) return extra;
  const first = await pass(plan.value, fresh ? null : state.failedOver.changeIds, extra.value, 'failback-pass-1');
  if (!first.ok) return first;
  const down = await env.dr.shutdownGuest(drVm);
  if (!down.ok) return err(portText('shutdownGuest at the DR site', down.error));
  const finalAtUs = env.clock.nowUs();
  const last = finalPass ? await pass(plan.value, first.value.changeIds, [], 'failback-final') : ok({ sent: 0, changeIds: {} });
  if (!last.ok) return last;
  const reprotected = await reprotect(env, state, plan.value.targetVm);
  if (!reprotected.ok) return reprotected;
  const on = await env.source.powerOn(plan.value.targetVm);
  if (!on.ok) return err(portText('powerOn of the failed-back VM', on.error));
  return ok({ vmId: plan.value.targetVm, target: params.target, startUs, finalAtUs, poweredOnUs: env.clock.nowUs(), bytesFirstPass: first.value.sent, bytesFinalPass: last.value.sent });
}
