/**
 * Scope recovery (seed 004's recovery granularity up to datastores and a site): every VM of
 * a scope restored as a new VM, all from one set of points that a group backup stored
 * together (backup/group.ts tags each point with its set). The set chosen is the newest
 * complete one (a point for every VM of the set) that covers the scope and was quiesced
 * together; when no such set exists, the newest complete one, reported as not consistent.
 * A VM's newer point outside that set (a single-VM backup, or a later group backup where
 * another VM failed) is never mixed in: a mixed set is no instant of the application.
 *
 * The caller names the scope's VMs (the hypervisor port has no datastores) and how each is
 * recreated. Leaves out: restoring onto another site's hosts, network remapping, the
 * order VMs boot in (each is powered on as it is restored).
 */

import { assert } from '../../core/assert.js';
import type { Clock } from '../../core/clock.js';
import type { VmId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import type { GroupTag } from '../backup/group.js';
import type { PointSummary } from '../repository/repository.js';
import type { VmRestoreReport, VmRestoreSpec } from './vm.js';

export interface ScopeRef {
  readonly kind: 'datastore' | 'site';
  readonly name: string;
}

export interface ScopeRecoveryRequest {
  readonly scope: ScopeRef;
  readonly vms: readonly { readonly vmId: VmId; readonly spec: VmRestoreSpec }[];
}

export interface ScopeRestored {
  readonly vmId: string;
  readonly pointId: string;
  readonly restoredVmId: string;
  readonly rtoUs: number;
  readonly bytesRead: number;
}

export interface ScopeRecoveryReport {
  readonly scope: ScopeRef;
  readonly groupId: string;
  /** The set was quiesced together (the engine's claim). */
  readonly consistent: boolean;
  readonly reason: string;
  readonly restored: readonly ScopeRestored[];
  readonly startUs: number;
  readonly endUs: number;
}

export interface ScopeDeps {
  readonly clock: Clock;
  listPoints(): Promise<Result<readonly PointSummary[], string>>;
  restore(pointId: string, spec: VmRestoreSpec): Promise<Result<VmRestoreReport, string>>;
}

/** A group set as the repository lists it: its tag and the point stored for each VM. */
export interface GroupSet {
  readonly tag: GroupTag;
  readonly points: ReadonlyMap<string, string>;
  /** The sequence of the set's newest point (newer sets are larger). */
  readonly newest: number;
}

export function groupTagOf(point: PointSummary): GroupTag | null {
  const job = point.meta.attributes['job'];
  if (job === null || typeof job !== 'object' || Array.isArray(job)) return null;
  const g = (job as Readonly<Record<string, unknown>>)['group'];
  if (g === null || typeof g !== 'object') return null;
  const t = g as Partial<GroupTag>;
  if (typeof t.id !== 'string' || !Array.isArray(t.vmIds) || typeof t.together !== 'boolean' || typeof t.frozen !== 'boolean') return null;
  return { id: t.id, vmIds: t.vmIds.map(String), together: t.together, frozen: t.frozen };
}

export function groupSets(points: readonly PointSummary[]): GroupSet[] {
  const sets = new Map<string, { tag: GroupTag; points: Map<string, string>; newest: number }>();
  for (const p of points) {
    const tag = groupTagOf(p);
    if (tag === null) continue;
    const set = sets.get(tag.id) ?? { tag, points: new Map<string, string>(), newest: -1 };
    set.points.set(p.meta.vmId, p.id);
    set.newest = Math.max(set.newest, p.sequence);
    sets.set(tag.id, set);
  }
  return [...sets.values()].sort((a, b) => b.newest - a.newest);
}

/** The set a recovery of `vmIds` uses (see the header), or null when no complete set covers them. */
export function chooseGroupSet(points: readonly PointSummary[], vmIds: readonly string[]): { set: GroupSet; consistent: boolean } | null {
  const usable = groupSets(points).filter((s) => s.tag.vmIds.every((v) => s.points.has(v)) && vmIds.every((v) => s.tag.vmIds.includes(v)));
  const together = usable.find((s) => s.tag.together && s.tag.frozen);
  if (together !== undefined) return { set: together, consistent: true };
  const any = usable[0];
  return any === undefined ? null : { set: any, consistent: false };
}

/** Restores every VM of the scope from the points `pick` chose. */
export async function restoreScope(deps: ScopeDeps, request: ScopeRecoveryRequest, pick: { groupId: string; consistent: boolean; reason: string; pointOf: (vmId: string) => string | undefined }): Promise<Result<ScopeRecoveryReport, string>> {
  const startUs = deps.clock.nowUs();
  const restored: ScopeRestored[] = [];
  for (const { vmId, spec } of request.vms) {
    const pointId = pick.pointOf(vmId);
    if (pointId === undefined) return err(`no point of ${vmId} in ${pick.groupId}`);
    const r = await deps.restore(pointId, spec);
    if (!r.ok) return err(`restoring ${vmId} from ${pointId.slice(0, 12)}: ${r.error}`);
    restored.push({ vmId, pointId, restoredVmId: r.value.vmId, rtoUs: r.value.rtoUs, bytesRead: r.value.bytesRead });
  }
  return ok({ scope: request.scope, groupId: pick.groupId, consistent: pick.consistent, reason: pick.reason, restored, startUs, endUs: deps.clock.nowUs() });
}

export async function recoverScope(deps: ScopeDeps, request: ScopeRecoveryRequest): Promise<Result<ScopeRecoveryReport, string>> {
  assert(request.vms.length >= 1, 'a scope has a VM');
  const listed = await deps.listPoints();
  if (!listed.ok) return listed;
  const vmIds = request.vms.map((v) => v.vmId as string);
  const chosen = chooseGroupSet(listed.value, vmIds);
  if (chosen === null) return err(`no complete group set covers ${request.scope.kind} ${request.scope.name} (${vmIds.join(', ')})`);
  const { set, consistent } = chosen;
  const reason = consistent
    ? `the newest complete set quiesced together (${set.tag.id})`
    : `no complete set was quiesced together: the newest complete set ${set.tag.id}, whose VMs were snapshotted one at a time`;
  return restoreScope(deps, request, { groupId: set.tag.id, consistent, reason, pointOf: (v) => set.points.get(v) });
}
