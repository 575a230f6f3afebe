/**
 * A group backup: the VMs of an application that spans VMs (seed 004: point-in-time
 * consistency over "a group of data sets"), backed up as one set of RecoveryPoints. Each VM
 * goes through the ordinary backup job (job.ts: its own quiesce, claim and read); every
 * point carries a group tag in its record (`group`: the set's id, its VMs, whether the
 * VMs were quiesced together), so a later recovery can find a complete set.
 *
 * Together (`together: true`): the coordinator's freeze program runs in its guest first
 * (the application lets the transaction in flight finish and issues no new one), every VM
 * is snapshotted (each with its own quiesce, as the job would: the policy's request, and
 * under `try` a crash-consistent fallback taken still inside the pause), then the thaw
 * program runs (always, once the freeze ran); only then are the VMs read, each by the
 * ordinary job, which is handed its VM's snapshot instead of taking one. The set is
 * claimed consistent only when the freeze succeeded and every VM's point was stored. One
 * at a time (`together: false`), or when the freeze failed, the VMs are captured at
 * different instants while the application runs: the set is claimed not consistent, and
 * the reason says why. The engine cannot name the application's broken references (it
 * does not read the application's data); the harness finds them in the restored images.
 *
 * Every point is a full backup (no incremental chain per VM). Leaves out: groups spanning
 * repositories, VSS across guests, parallel VM jobs.
 */

import { assert } from '../../core/assert.js';
import type { AppId, HypervisorPort, PortError, SnapshotInfo } from '../../core/hypervisor-port.js';
import type { SnapshotId, VmId } from '../../core/ids.js';
import { wrapPort } from '../../core/port-wrap.js';
import { err, ok, type Result } from '../../core/result.js';
import { runBackup, SNAPSHOT_PREFIX, type AppAwarePolicy, type BackupError, type BackupReport, type BackupRequest, type EngineEnv } from './job.js';
import type { BackupTarget, PointSink } from './sink.js';

export const MAX_GROUP_VMS = 16;

/** The guest programs that pause and resume the application, on the VM that runs them. */
export interface GroupCoordinator {
  readonly vmId: VmId;
  readonly freeze: string;
  readonly thaw: string;
}

export interface GroupBackupRequest {
  readonly vmIds: readonly VmId[];
  readonly policy: AppAwarePolicy;
  readonly together: boolean;
  readonly coordinator?: GroupCoordinator;
  /** Per VM: apps quiesced by a guest freeze script (Linux). */
  readonly appScripts?: Readonly<Record<string, Readonly<Partial<Record<AppId, string>>>>>;
}

/** What each point of a group records of its set (in the point's job record, `group`). */
export interface GroupTag {
  readonly id: string;
  readonly vmIds: readonly string[];
  /** The group job asked for a freeze of the application. */
  readonly together: boolean;
  /** The freeze ran and succeeded before this point's snapshot. */
  readonly frozen: boolean;
}

export interface GroupMember {
  readonly vmId: string;
  readonly pointId: string | null;
  readonly error: string | null;
  readonly snapshotAtUs: number | null;
  readonly claimedLevel: string | null;
}

export interface GroupBackupReport {
  readonly groupId: string;
  readonly members: readonly GroupMember[];
  /** The engine's claim: the set holds one instant of the application across its VMs. */
  readonly consistent: boolean;
  readonly reason: string;
  /** The freeze program's outcome (null: none was run). */
  readonly freeze: { readonly exitCode: number; readonly detail: string } | null;
  readonly thawed: boolean | null;
  readonly startUs: number;
  readonly endUs: number;
}

export type BackupFn = (env: EngineEnv, request: BackupRequest) => Promise<Result<BackupReport, BackupError>>;

export function describeBackupError(e: BackupError): string {
  return e.kind === 'port' ? `${e.during}: ${e.error.kind}` : e.reason;
}

/** The target with every point's record tagged with its group. */
function taggedTarget(target: BackupTarget, tag: GroupTag): BackupTarget {
  return {
    async begin(vmId, parent): Promise<PointSink> {
      const sink = await target.begin(vmId, parent);
      return {
        disk: (diskId, capacityBytes, fromParent) => sink.disk(diskId, capacityBytes, fromParent),
        commit: (meta) => sink.commit({ ...(meta as Record<string, unknown>), group: tag }),
        abort: () => sink.abort(),
      };
    },
  };
}

function validate(request: GroupBackupRequest): string | null {
  if (request.vmIds.length < 1 || request.vmIds.length > MAX_GROUP_VMS) return `a group has 1 to ${MAX_GROUP_VMS} VMs, got ${request.vmIds.length}`;
  if (new Set(request.vmIds).size !== request.vmIds.length) return 'a VM is listed twice in the group';
  if (request.together && request.coordinator === undefined) return 'a group quiesced together needs a coordinator (its freeze and thaw programs)';
  return null;
}

async function runProgram(env: EngineEnv, vmId: VmId, program: string): Promise<{ exitCode: number; detail: string }> {
  const r = await env.port.runInGuest(vmId, program, []);
  if (!r.ok) return { exitCode: -1, detail: `${program} on ${vmId}: ${r.error.kind}` };
  return { exitCode: r.value.exitCode, detail: r.value.exitCode === 0 ? `${program} on ${vmId}: exit 0` : `${program} on ${vmId}: exit ${r.value.exitCode}: ${r.value.stderr}` };
}

/** A VM's snapshot taken in the group's pause, before its job runs: what its job's createSnapshot calls get, in order. */
interface Pretaken {
  readonly answers: readonly Result<SnapshotInfo, PortError>[];
  /** Snapshots the answers hold (removed by the job, or after it when it never asked). */
  readonly ids: readonly SnapshotId[];
  asked: number;
}

/** CBT on (so the snapshot carries change ids), then the snapshot the job would take: quiesced by policy, under `try` a plain one after a failed quiesce. */
async function pretake(env: EngineEnv, vmId: VmId, policy: AppAwarePolicy, groupId: string): Promise<Pretaken> {
  const vm = await env.port.getVm(vmId);
  if (vm.ok && vm.value.disks.some((d) => !d.changeTrackingEnabled)) await env.port.enableChangeTracking(vmId);
  const name = `${SNAPSHOT_PREFIX}${vmId}-${groupId}`;
  const first = await env.port.createSnapshot(vmId, { name, quiesce: policy !== 'off', memory: false, quiesceSpec: { vssBackupType: 'full' } });
  if (first.ok || first.error.kind !== 'quiesce' || policy === 'require') return { answers: [first], ids: first.ok ? [first.value.snapshotId] : [], asked: 0 };
  const plain = await env.port.createSnapshot(vmId, { name, quiesce: false, memory: false });
  return { answers: [first, plain], ids: plain.ok ? [plain.value.snapshotId] : [], asked: 0 };
}

/** The port a VM's job sees: its createSnapshot answered from the pretaken snapshot, which getVm does not list (the job would remove it as an orphan). */
function pretakenPort(port: HypervisorPort, vmId: VmId, taken: Pretaken): HypervisorPort {
  const overrides: Partial<HypervisorPort> = {
    async getVm(id) {
      const r = await port.getVm(id);
      return !r.ok || id !== vmId ? r : ok({ ...r.value, snapshots: r.value.snapshots.filter((x) => !taken.ids.includes(x.snapshotId)) });
    },
    createSnapshot(id, spec) {
      if (id !== vmId) return port.createSnapshot(id, spec);
      const answer = taken.answers[taken.asked++];
      return answer === undefined ? port.createSnapshot(id, spec) : Promise.resolve(answer);
    },
  };
  return wrapPort(port, overrides);
}

async function backupMembers(env: EngineEnv, request: GroupBackupRequest, tag: GroupTag, backup: BackupFn, pretaken: ReadonlyMap<string, Pretaken> | null): Promise<GroupMember[]> {
  const members: GroupMember[] = [];
  const target = taggedTarget(env.target, tag);
  for (const vmId of request.vmIds) {
    const scripts = request.appScripts?.[vmId];
    const taken = pretaken?.get(vmId);
    const port = taken === undefined ? env.port : pretakenPort(env.port, vmId, taken);
    const r = await backup({ ...env, port, target }, { vmId, policy: request.policy, parent: null, ...scripts === undefined ? {} : { appScripts: scripts } });
    // A job that never asked for its snapshot (it failed before) leaves it: removed here.
    if (taken !== undefined && taken.asked === 0) for (const id of taken.ids) await env.port.removeSnapshot(vmId, id);
    members.push(r.ok
      ? { vmId, pointId: r.value.pointId, error: null, snapshotAtUs: r.value.meta.snapshotAtUs, claimedLevel: r.value.meta.claimed.vm }
      : { vmId, pointId: null, error: describeBackupError(r.error), snapshotAtUs: null, claimedLevel: null });
  }
  return members;
}

function claimOf(request: GroupBackupRequest, freeze: GroupBackupReport['freeze'], members: readonly GroupMember[]): { consistent: boolean; reason: string } {
  const failed = members.filter((m) => m.pointId === null);
  const incomplete = failed.length === 0 ? null : `incomplete: ${failed.map((m) => `${m.vmId} (${m.error ?? 'failed'})`).join(', ')} stored no point`;
  const names = members.map((m) => m.vmId).join(', ');
  if (!request.together) return { consistent: false, reason: [`${names} were snapshotted one at a time while the application ran: cross-VM references may be broken`, ...incomplete === null ? [] : [incomplete]].join('; ') };
  if (freeze === null || freeze.exitCode !== 0) return { consistent: false, reason: [`the freeze failed (${freeze?.detail ?? 'not run'}): ${names} were snapshotted one at a time while the application ran`, ...incomplete === null ? [] : [incomplete]].join('; ') };
  if (incomplete !== null) return { consistent: false, reason: incomplete };
  return { consistent: true, reason: `${names} were snapshotted while the application was paused (${freeze.detail}): one instant across the group` };
}

export async function runGroupBackup(env: EngineEnv, request: GroupBackupRequest, backup: BackupFn = runBackup): Promise<Result<GroupBackupReport, string>> {
  const invalid = validate(request);
  if (invalid !== null) return err(invalid);
  const startUs = env.clock.nowUs();
  const groupId = `group-${startUs}`;
  const coordinator = request.together ? request.coordinator ?? null : null;
  const freeze = coordinator === null ? null : await runProgram(env, coordinator.vmId, coordinator.freeze);
  const frozen = freeze?.exitCode === 0;
  let pretaken: Map<string, Pretaken> | null = null;
  let thawed: boolean | null = null;
  try {
    // Frozen: every VM's snapshot now, inside the pause; the reads come after the thaw.
    if (frozen) {
      pretaken = new Map();
      for (const vmId of request.vmIds) pretaken.set(vmId, await pretake(env, vmId, request.policy, groupId));
    }
  } finally {
    // Thawed on every path once a freeze was attempted (a failed freeze may have paused it all the same).
    if (coordinator !== null) thawed = (await runProgram(env, coordinator.vmId, coordinator.thaw)).exitCode === 0;
  }
  const tag: GroupTag = { id: groupId, vmIds: [...request.vmIds], together: request.together, frozen };
  const members = await backupMembers(env, request, tag, backup, pretaken);
  assert(members.length === request.vmIds.length, 'one member per VM');
  const claim = claimOf(request, freeze, members);
  return ok({ groupId, members, ...claim, freeze, thawed, startUs, endUs: env.clock.nowUs() });
}
