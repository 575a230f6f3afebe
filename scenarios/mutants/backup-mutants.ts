/**
 * Mutants of the backup path (the backup suite kills them): quiescing, reading, CBT,
 * snapshot handling, the claim, and the restore's reading of a point. Each wraps the port
 * the engine sees or one engine entry point; the harness's tap sits below, so the truth
 * it records is the hypervisor's, not the mutant's.
 */

import type { ChangedArea, ChangedAreasPage, HypervisorPort, QuiesceOutcome, SnapshotInfo } from '../../core/hypervisor-port.js';
import type { SnapshotId, VmId } from '../../core/ids.js';
import { ok } from '../../core/result.js';
import { QUIESCELAB_ENGINE } from '../scenario/engine.js';
import { withPort, type Mutant } from './mutant.js';

const SQL = 'win2019/esx41/sqlserver/default';
const SYNC_ONLY = 'linux/esx35u2/files/default';
const SQLITE_FS = 'linux/esx41/sqlite/default';
const FILES = 'linux/esx41/files/default';
const CRASH_FILES = 'win2003-x64/esx35u1/files/default';
const EXCHANGE = 'win2019/esx41/exchange/default';

function withQuiesce(info: SnapshotInfo, quiesce: QuiesceOutcome): SnapshotInfo {
  return { ...info, quiesce };
}

/** A port whose incremental changed-area pages (not `*`) pass through `edit`. */
function changedAreas(port: HypervisorPort, edit: (areas: readonly ChangedArea[]) => ChangedArea[]): Partial<HypervisorPort> {
  return {
    queryChangedDiskAreas: async (vmId, snapshotId, diskId, start, changeId) => {
      const page = await port.queryChangedDiskAreas(vmId, snapshotId, diskId, start, changeId);
      if (!page.ok || changeId === '*') return page;
      return ok<ChangedAreasPage>({ ...page.value, changedAreas: edit(page.value.changedAreas) });
    },
  };
}

export const BACKUP_MUTANTS: readonly Mutant[] = [
  {
    id: 'no-quiesce',
    description: 'Never asks Tools to quiesce: every snapshot is a plain, crash-consistent one.',
    area: 'quiesce', cells: [SQL, FILES], expectedKiller: 'P1',
    engine: withPort('no-quiesce', (port) => ({
      createSnapshot: (vmId, spec) => port.createSnapshot(vmId, { ...spec, quiesce: false }),
    })),
  },
  {
    id: 'reads-live-disk',
    description: 'Reads the running disk (as of the read) instead of the VmSnapshot: a fuzzy copy.',
    area: 'read', cells: [SQL, FILES], expectedKiller: 'P5',
    engine: withPort('reads-live-disk', (port) => {
      // The live disk at read time: a fresh unquiesced snapshot taken when the first read
      // of the engine's snapshot comes, read instead of it, removed with it.
      const live = new Map<string, SnapshotId>();
      return {
        readSnapshotDisk: async (vmId, snapshotId, diskId, offsetBytes, lengthBytes) => {
          let now = live.get(snapshotId);
          if (now === undefined) {
            const taken = await port.createSnapshot(vmId, { name: `live-${snapshotId}`, quiesce: false, memory: false });
            if (!taken.ok) return taken;
            now = taken.value.snapshotId;
            live.set(snapshotId, now);
          }
          return port.readSnapshotDisk(vmId, now, diskId, offsetBytes, lengthBytes);
        },
        removeSnapshot: async (vmId, snapshotId) => {
          const now = live.get(snapshotId);
          if (now !== undefined) await port.removeSnapshot(vmId, now);
          return port.removeSnapshot(vmId, snapshotId);
        },
      };
    }),
  },
  {
    id: 'cbt-off-by-one',
    description: 'Reads each changed area one sector short (an off-by-one in the CBT extent end).',
    area: 'cbt', cells: [SQL, FILES], expectedKiller: 'P5',
    engine: withPort('cbt-off-by-one', (port) => changedAreas(port, (areas) => areas.map((a) => ({ startBytes: a.startBytes, lengthBytes: a.lengthBytes - 512 })).filter((a) => a.lengthBytes > 0))),
  },
  {
    id: 'cbt-skips-last-area',
    description: 'Loops over a page of changed areas with `i < areas.length - 1`: the last changed area of every page is never read.',
    area: 'cbt', cells: [SQL, FILES], expectedKiller: 'P5',
    engine: withPort('cbt-skips-last-area', (port) => changedAreas(port, (areas) => areas.slice(0, -1))),
  },
  {
    id: 'snapshot-removed-early',
    description: 'Removes the VmSnapshot as soon as the first read returns, before the read ends.',
    area: 'snapshot', cells: [SQL, FILES], expectedKiller: 'P1',
    engine: withPort('snapshot-removed-early', (port) => {
      const removed = new Set<string>();
      return {
        readSnapshotDisk: async (vmId, snapshotId, diskId, offsetBytes, lengthBytes) => {
          const r = await port.readSnapshotDisk(vmId, snapshotId, diskId, offsetBytes, lengthBytes);
          if (!removed.has(snapshotId)) {
            removed.add(snapshotId);
            await port.removeSnapshot(vmId, snapshotId);
          }
          return r;
        },
        removeSnapshot: (vmId, snapshotId) => (removed.has(snapshotId) ? Promise.resolve(ok(undefined)) : port.removeSnapshot(vmId, snapshotId)),
      };
    }),
  },
  {
    id: 'ignores-writer-failure',
    description: 'Claims application level after a VSS writer failed (reads the writers as all healthy).',
    area: 'claim', cells: [SQL, EXCHANGE], expectedKiller: 'P2',
    engine: withPort('ignores-writer-failure', (port) => ({
      createSnapshot: async (vmId, spec) => {
        const r = await port.createSnapshot(vmId, spec);
        if (!r.ok || !spec.quiesce || r.value.quiesce.writers.length === 0) return r;
        const q = r.value.quiesce;
        return ok(withQuiesce(r.value, { ...q, mode: 'application', fault: null, writers: q.writers.map((w) => ({ ...w, error: null, state: 'STABLE' })) }));
      },
    })),
  },
  {
    id: 'claims-app-without-writer',
    description: 'Claims application level for applications that have no VSS writer (a file-system quiesce taken for more).',
    area: 'claim', cells: [SQLITE_FS, SQL], expectedKiller: 'P2',
    engine: withPort('claims-app-without-writer', (port) => ({
      createSnapshot: async (vmId, spec) => {
        const r = await port.createSnapshot(vmId, spec);
        if (!r.ok || r.value.quiesce.mode !== 'filesystem') return r;
        const vm = await port.getVm(vmId);
        const apps = vm.ok ? vm.value.apps : [];
        const q = r.value.quiesce;
        return ok(withQuiesce(r.value, { ...q, mode: 'application', writers: apps.map((app) => ({ writer: `${app} (assumed)`, app, state: 'STABLE', error: null })) }));
      },
    })),
  },
  {
    id: 'leaks-crash-snapshots',
    description: 'Forgets to remove a VmSnapshot that was not quiesced (the fallback path).',
    area: 'snapshot', cells: [CRASH_FILES, SQL], expectedKiller: 'P8',
    engine: withPort('leaks-crash-snapshots', (port) => {
      const plain = new Set<string>();
      return {
        createSnapshot: async (vmId, spec) => {
          const r = await port.createSnapshot(vmId, spec);
          if (r.ok && r.value.quiesce.mode === 'none') plain.add(r.value.snapshotId);
          return r;
        },
        removeSnapshot: (vmId: VmId, snapshotId: SnapshotId) => (plain.has(snapshotId) ? Promise.resolve(ok(undefined)) : port.removeSnapshot(vmId, snapshotId)),
      } satisfies Partial<HypervisorPort>;
    }),
  },
  {
    id: 'restore-drops-last-extent',
    description: 'A restore reads every extent of a point but the last one.',
    area: 'restore', cells: [FILES, SQL], expectedKiller: 'P5',
    engine: {
      ...QUIESCELAB_ENGINE,
      name: 'restore-drops-last-extent',
      async source(repo, pointId) {
        const s = await QUIESCELAB_ENGINE.source(repo, pointId);
        if (!s.ok) return s;
        const inner = s.value;
        return ok({ ...inner, disks: () => inner.disks(), read: (d, o, l) => inner.read(d, o, l), extents: async (d) => (await inner.extents(d)).slice(0, -1) });
      },
    },
  },
  {
    id: 'trusts-sync-only',
    description: 'Believes Tools\' "filesystem" from the sync-only driver, which flushes without holding writes (notes fact 5): claims filesystem for a crash-consistent image.',
    area: 'claim', cells: [SYNC_ONLY], expectedKiller: 'P2',
    engine: withPort('trusts-sync-only', (port) => ({
      createSnapshot: async (vmId, spec) => {
        const r = await port.createSnapshot(vmId, spec);
        if (!r.ok || r.value.quiesce.quiescer !== 'sync-only') return r;
        return ok(withQuiesce(r.value, { ...r.value.quiesce, quiescer: 'fifreeze' }));
      },
    })),
  },
  {
    id: 'false-fallback',
    description: 'Records a fallback that did not happen: reads an application-level quiesce as one where a writer failed, and claims file-system level for an application-consistent point (an under-claim).',
    area: 'claim', cells: [SQL, EXCHANGE], expectedKiller: 'P2',
    engine: withPort('false-fallback', (port) => ({
      createSnapshot: async (vmId, spec) => {
        const r = await port.createSnapshot(vmId, spec);
        if (!r.ok || r.value.quiesce.mode !== 'application' || r.value.quiesce.writers.length === 0) return r;
        const q = r.value.quiesce;
        const writer = q.writers[0]?.writer ?? 'a writer';
        return ok(withQuiesce(r.value, { ...q, mode: 'filesystem', fault: { kind: 'ApplicationQuiesceFault', reason: `${writer} failed (it did not)`, writers: [writer] } }));
      },
    })),
  },
  {
    id: 'claims-crash-after-freeze',
    description: 'Ignores a file-system quiesce that succeeded (FIFREEZE) and claims crash level for a file-system-consistent point (an under-claim).',
    area: 'claim', cells: [FILES, SQLITE_FS], expectedKiller: 'P2',
    engine: withPort('claims-crash-after-freeze', (port) => ({
      createSnapshot: async (vmId, spec) => {
        const r = await port.createSnapshot(vmId, spec);
        if (!r.ok || r.value.quiesce.mode !== 'filesystem') return r;
        return ok(withQuiesce(r.value, { ...r.value.quiesce, mode: 'none' }));
      },
    })),
  },
  {
    id: 'vm-restore-skips-extents',
    description: 'A restore as a new VM writes every other data extent of the point (the point itself reads back whole): the restored VM is only timed, never verified.',
    area: 'restore', cells: [SQL, FILES], expectedKiller: 'P14',
    engine: {
      ...QUIESCELAB_ENGINE,
      name: 'vm-restore-skips-extents',
      restoreVm: (env, source, spec) => QUIESCELAB_ENGINE.restoreVm(env, {
        pointId: source.pointId,
        disks: () => source.disks(),
        read: (d, o, l) => source.read(d, o, l),
        extents: async (d) => (await source.extents(d)).filter((_, i) => i % 2 === 0),
      }, spec),
    },
  },
  {
    id: 'cbt-first-page-only',
    description: 'Reads one QueryChangedDiskAreas page per disk and takes it for the whole disk: an incremental whose changes span more than a page misses the rest (vSphere pages its answer).',
    area: 'cbt', cells: [SQL, FILES], expectedKiller: 'P5',
    engine: withPort('cbt-first-page-only', (port) => ({
      queryChangedDiskAreas: async (vmId, snapshotId, diskId, start, changeId) => {
        const page = await port.queryChangedDiskAreas(vmId, snapshotId, diskId, start, changeId);
        if (!page.ok || changeId === '*') return page;
        const vm = await port.getVm(vmId);
        const capacity = vm.ok ? vm.value.disks.find((d) => d.diskId === diskId)?.capacityBytes : undefined;
        return capacity === undefined ? page : ok<ChangedAreasPage>({ ...page.value, lengthBytes: capacity - page.value.startOffsetBytes });
      },
    })),
  },
];

