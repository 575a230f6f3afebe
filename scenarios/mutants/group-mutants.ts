/**
 * Mutants of the group job and the scope recovery (the group suite kills them: P25, P26).
 * - group-one-by-one-claims-consistent: the job's freeze step runs a program that does not
 *   pause the application (`sync`, which every guest has and which exits 0), so the VMs
 *   are snapshotted one at a time while it runs, and the set is claimed consistent.
 * - group-incomplete-claims-consistent: a set quiesced together is claimed consistent even
 *   when a VM's backup failed (the claim looks at the freeze only).
 * - scope-recovery-mixes-points: a datastore or site is recovered from each VM's newest
 *   point, whatever set it belongs to (a single-VM backup, a set where another VM failed).
 */

import { runGroupBackup } from '../../engine/backup/group.js';
import { ok } from '../../core/result.js';
import type { PointSummary } from '../../engine/repository/repository.js';
import { chooseGroupSet, restoreScope } from '../../engine/restore/scope.js';
import { QUIESCELAB_ENGINE, type EngineUnderTest } from '../scenario/engine.js';
import type { Mutant } from './mutant.js';

const GROUP_CELLS = ['win2019/esx41/files/default', 'linux/esx41/files/default', 'win2008r2/esx41/files/default'];

export const ONE_BY_ONE_CLAIMS_CONSISTENT: EngineUnderTest = {
  ...QUIESCELAB_ENGINE,
  name: 'group-one-by-one-claims-consistent',
  group: {
    ...QUIESCELAB_ENGINE.group,
    backup: (env, request, backup) => runGroupBackup(env, request.coordinator === undefined
      ? request
      : { ...request, coordinator: { vmId: request.coordinator.vmId, freeze: 'sync', thaw: 'sync' } }, backup),
  },
};

export const INCOMPLETE_CLAIMS_CONSISTENT: EngineUnderTest = {
  ...QUIESCELAB_ENGINE,
  name: 'group-incomplete-claims-consistent',
  group: {
    ...QUIESCELAB_ENGINE.group,
    async backup(env, request, backup) {
      const r = await runGroupBackup(env, request, backup);
      if (!r.ok || r.value.consistent || r.value.freeze?.exitCode !== 0) return r;
      return ok({ ...r.value, consistent: true, reason: `${request.vmIds.join(', ')} were snapshotted while the application was paused (${r.value.freeze.detail}): one instant across the group` });
    },
  },
};

export const SCOPE_RECOVERY_MIXES_POINTS: EngineUnderTest = {
  ...QUIESCELAB_ENGINE,
  name: 'scope-recovery-mixes-points',
  group: {
    ...QUIESCELAB_ENGINE.group,
    async recoverScope(deps, request) {
      const listed = await deps.listPoints();
      if (!listed.ok) return listed;
      const newest = new Map<string, PointSummary>();
      for (const p of listed.value) {
        const seen = newest.get(p.meta.vmId);
        if (seen === undefined || p.sequence > seen.sequence) newest.set(p.meta.vmId, p);
      }
      const chosen = chooseGroupSet(listed.value, request.vms.map((v) => v.vmId));
      return restoreScope(deps, request, {
        groupId: chosen?.set.tag.id ?? 'newest', consistent: chosen?.consistent ?? false, reason: 'the newest point of each VM',
        pointOf: (vmId) => newest.get(vmId)?.id,
      });
    },
  },
};

export const GROUP_MUTANTS: readonly Mutant[] = [
  {
    id: 'group-one-by-one-claims-consistent', description: 'The group job never pauses the application (its freeze step runs `sync`): the VMs are snapshotted one at a time while transactions run, and the set is claimed consistent.',
    area: 'claim', cells: GROUP_CELLS, expectedKiller: 'P25', engine: ONE_BY_ONE_CLAIMS_CONSISTENT,
  },
  {
    id: 'group-incomplete-claims-consistent', description: 'A group quiesced together is claimed consistent although a VM\'s backup failed and the set has no point of it (the claim looks at the freeze only).',
    area: 'claim', cells: GROUP_CELLS, expectedKiller: 'P25', engine: INCOMPLETE_CLAIMS_CONSISTENT,
  },
  {
    id: 'scope-recovery-mixes-points', description: 'Datastore and site recovery restores each VM from its own newest point (a single-VM backup, a set where another VM failed) instead of one complete group set.',
    area: 'restore', cells: GROUP_CELLS, expectedKiller: 'P26', engine: SCOPE_RECOVERY_MIXES_POINTS,
  },
];
