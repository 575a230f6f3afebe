/**
 * Mutants of the backup job's wider path (the backup suite kills them): a VM's disks read
 * from more than one instant (blind-spot class 4 of issue 15), the `require` policy, the
 * full re-read after a CBT reset, the retry of a refused snapshot removal and the removal
 * of a crashed job's orphan snapshot (class 7). Each wraps the port the engine sees or one
 * engine entry point; the harness's tap and the job-fault nemesis sit below.
 */

import type { ChangedAreasPage, HypervisorPort, PortError } from '../../core/hypervisor-port.js';
import type { SnapshotId } from '../../core/ids.js';
import { err, ok } from '../../core/result.js';
import { QUIESCELAB_ENGINE } from '../scenario/engine.js';
import { withPort, type Mutant } from './mutant.js';

const SQL = 'win2019/esx41/sqlserver/default';
const SQL_NO_UUID = 'win2008r2/esx41/sqlserver/no-uuid';
const FILES = 'linux/esx41/files/default';
const CRASH_FILES = 'win2003-x64/esx35u1/files/default';
const EXCHANGE = 'win2019/esx41/exchange/default';

/** Every disk after the VM's first is read from its own unquiesced snapshot, taken when its first read comes. */
function disksReadApart(port: HypervisorPort): Partial<HypervisorPort> {
  const late = new Map<string, SnapshotId>();
  return {
    readSnapshotDisk: async (vmId, snapshotId, diskId, offsetBytes, lengthBytes) => {
      const vm = await port.getVm(vmId);
      if (!vm.ok || vm.value.disks[0]?.diskId === diskId) return port.readSnapshotDisk(vmId, snapshotId, diskId, offsetBytes, lengthBytes);
      const key = `${snapshotId}/${diskId}`;
      let own = late.get(key);
      if (own === undefined) {
        const taken = await port.createSnapshot(vmId, { name: `per-disk-${key}`, quiesce: false, memory: false });
        if (!taken.ok) return taken;
        own = taken.value.snapshotId;
        late.set(key, own);
      }
      return port.readSnapshotDisk(vmId, own, diskId, offsetBytes, lengthBytes);
    },
    removeSnapshot: async (vmId, snapshotId) => {
      for (const [key, own] of late) {
        if (!key.startsWith(`${snapshotId}/`)) continue;
        await port.removeSnapshot(vmId, own);
        late.delete(key);
      }
      return port.removeSnapshot(vmId, snapshotId);
    },
  };
}

/** A refused CBT query for a parent's change id is read as "nothing changed" (an empty page to the disk's end). */
function cbtResetKeepsParent(port: HypervisorPort): Partial<HypervisorPort> {
  return {
    queryChangedDiskAreas: async (vmId, snapshotId, diskId, start, changeId) => {
      const page = await port.queryChangedDiskAreas(vmId, snapshotId, diskId, start, changeId);
      if (page.ok || changeId === '*' || page.error.kind !== 'cbt') return page;
      const vm = await port.getVm(vmId);
      const capacity = vm.ok ? vm.value.disks.find((d) => d.diskId === diskId)?.capacityBytes : undefined;
      if (capacity === undefined) return page;
      return ok<ChangedAreasPage>({ startOffsetBytes: start, lengthBytes: capacity - start, changedAreas: [] });
    },
  };
}

/** A refused snapshot removal is never tried again (the job's retry answers the first refusal). */
function noRemovalRetry(port: HypervisorPort): Partial<HypervisorPort> {
  const refused = new Map<string, PortError>();
  return {
    removeSnapshot: async (vmId, snapshotId) => {
      const before = refused.get(snapshotId);
      if (before !== undefined) return err(before);
      const r = await port.removeSnapshot(vmId, snapshotId);
      if (!r.ok) refused.set(snapshotId, r.error);
      return r;
    },
  };
}

/** Writer failures at Thaw or PostSnapshot — after the snapshot, at the freeze window's far edge — read as success. */
function ignoresLateWriterFailure(port: HypervisorPort): Partial<HypervisorPort> {
  const late = new Set(['FAILED_AT_THAW', 'FAILED_AT_POST_SNAPSHOT']);
  return {
    createSnapshot: async (vmId, spec) => {
      const r = await port.createSnapshot(vmId, spec);
      if (!r.ok || !r.value.quiesce.writers.some((w) => late.has(w.state))) return r;
      const q = r.value.quiesce;
      const writers = q.writers.map((w) => (late.has(w.state) ? { ...w, error: null, state: 'STABLE' as const } : w));
      const clean = writers.every((w) => w.error === null);
      return ok({ ...r.value, quiesce: { ...q, writers, ...clean ? { mode: 'application' as const, fault: null } : {} } });
    },
  };
}

export const JOB_MUTANTS: readonly Mutant[] = [
  {
    id: 'disks-read-apart',
    description: 'Reads the VM\'s first disk from the VmSnapshot and every other disk from a snapshot of its own, taken when its read begins: a multi-disk VM is not captured at one instant.',
    area: 'read', cells: [SQL, FILES, EXCHANGE], expectedKiller: 'P5',
    engine: withPort('disks-read-apart', disksReadApart),
  },
  {
    id: 'require-falls-back',
    description: 'Treats the require policy as try: when quiescing falls short it stores a crash- or file-system-consistent point instead of failing the job.',
    area: 'quiesce', cells: [SQL_NO_UUID, CRASH_FILES], expectedKiller: 'P17',
    engine: {
      ...QUIESCELAB_ENGINE,
      name: 'require-falls-back',
      backup: (env, request) => QUIESCELAB_ENGINE.backup(env, request.policy === 'require' ? { ...request, policy: 'try' } : request),
    },
  },
  {
    id: 'cbt-reset-keeps-parent',
    description: 'Reads a refused CBT query (the change id voided by a CBT reset) as "no change": the incremental keeps the parent\'s data instead of reading the disk in full.',
    area: 'cbt', cells: [SQL, FILES], expectedKiller: 'P5',
    engine: withPort('cbt-reset-keeps-parent', cbtResetKeepsParent),
  },
  {
    id: 'no-removal-retry',
    description: 'Gives up on a VmSnapshot whose removal the hypervisor refused once: the VM runs on a growing delta.',
    area: 'snapshot', cells: [FILES, SQL], expectedKiller: 'P8',
    engine: withPort('no-removal-retry', noRemovalRetry),
  },
  {
    id: 'copy-only-truncates',
    description: 'Drops the copy-only flag on its way to VSS: a copy backup is taken as a full one, and Exchange truncates the logs another backup product still needs.',
    area: 'quiesce', cells: [EXCHANGE], expectedKiller: 'P18',
    engine: {
      ...QUIESCELAB_ENGINE,
      name: 'copy-only-truncates',
      backup: (env, request) => QUIESCELAB_ENGINE.backup(env, { ...request, copyOnly: false, vssBackupType: 'full' }),
    },
  },
  {
    id: 'no-backup-complete',
    description: 'Never sends BackupComplete after storing a point: the writers are not told the backup succeeded, so Exchange never truncates its logs and the volume fills.',
    area: 'quiesce', cells: [EXCHANGE], expectedKiller: 'P18',
    engine: withPort('no-backup-complete', () => ({ completeBackup: () => Promise.resolve(ok([])) })),
  },
  {
    id: 'failed-backup-leaks-snapshot',
    description: 'When a snapshot read fails mid-backup, the job returns the error at once: its clean-up path never removes the VmSnapshot.',
    area: 'snapshot', cells: [FILES, SQL], expectedKiller: 'P8',
    engine: withPort('failed-backup-leaks-snapshot', (port) => {
      const failed = new Set<string>();
      return {
        readSnapshotDisk: async (vmId, snapshotId, diskId, offsetBytes, lengthBytes) => {
          const r = await port.readSnapshotDisk(vmId, snapshotId, diskId, offsetBytes, lengthBytes);
          if (!r.ok) failed.add(snapshotId);
          return r;
        },
        removeSnapshot: (vmId, snapshotId) => (failed.has(snapshotId) ? Promise.resolve(ok(undefined)) : port.removeSnapshot(vmId, snapshotId)),
      };
    }),
  },
  {
    id: 'ignores-late-writer-failure',
    description: 'Reads the writers\' status once the snapshot exists, before Thaw and PostSnapshot are over: a writer failing at Thaw (the hold ran too long) is taken as healthy and the point claims application level.',
    area: 'claim', cells: [SQL, EXCHANGE], expectedKiller: 'P2',
    engine: withPort('ignores-late-writer-failure', ignoresLateWriterFailure),
  },
  {
    id: 'orphans-kept',
    description: 'Never looks for VmSnapshots a crashed job left behind (the cleanup reads an empty snapshot list): they stay forever.',
    area: 'snapshot', cells: [FILES, SQL], expectedKiller: 'P8',
    engine: withPort('orphans-kept', (port) => ({
      getVm: async (vmId) => {
        const vm = await port.getVm(vmId);
        return vm.ok ? ok({ ...vm.value, snapshots: [] }) : vm;
      },
    })),
  },
];
