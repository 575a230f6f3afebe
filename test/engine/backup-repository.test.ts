/**
 * The backup job into the real repository: a full and CBT incrementals of a running VM
 * (random write histories) each restore, through the repository, to exactly the
 * snapshot's image; the manifest claims the VM's level; a whole VM restored from the
 * repository boots and its database opens with every commit acknowledged before the freeze.
 */

import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import type { SnapshotId } from '../../core/ids.js';
import { unwrap } from '../../core/result.js';
import { parentOf, runBackup, type BackupReport } from '../../engine/backup/job.js';
import { backupTargetFor } from '../../engine/backup/repository-target.js';
import { repositorySource } from '../../engine/repository/engine-ports.js';
import { RecoveryPointId } from '../../engine/repository/hash.js';
import { Repository } from '../../engine/repository/repository.js';
import { verifyRepository } from '../../engine/repository/verify.js';
import { restoreVm } from '../../engine/restore/vm.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { defaultApps, prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';

const MiB = 1024 * 1024;

async function world(seed: number) {
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: defaultApps().factories });
  const vm = unwrap(hv.addVm({ name: 'vm', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver', 'files'], disks: [{ capacityBytes: 32 * MiB }, { capacityBytes: 32 * MiB }] }));
  for (const app of vm.apps) hv.startWorkload(vm.vmId, app, { meanIntervalUs: 5_000, opsPerTxn: 2, valueBytes: 200 });
  const store = new MemoryStore();
  unwrap(await Repository.init(store, { clock: hv.sim.clock }));
  const repo = unwrap(await Repository.open(store, { clock: hv.sim.clock, writer: { owner: 'job' } }));
  // Keep each snapshot's image before the job removes it (the reference).
  const images: Map<string, Uint8Array>[] = [];
  const port = new Proxy(hv, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'removeSnapshot' || typeof value !== 'function') return value;
      return (vmId: typeof vm.vmId, snapshotId: SnapshotId) => {
        const rec = vm.snapshots.get(snapshotId);
        if (rec !== undefined) images.push(new Map(vm.disks.map((d, i) => [d.info.diskId as string, d.disk.snapshotReader(rec.diskSnapshots[i] as SnapshotId).read(0, d.info.capacityBytes)])));
        return hv.removeSnapshot(vmId, snapshotId);
      };
    },
  });
  return { hv, vm, store, repo, images, env: { port, target: backupTargetFor(repo), clock: hv.sim.clock } };
}

describe('backup job into the repository', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it('incremental k restores to exactly snapshot k (random histories)', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 100_000 }), fc.array(fc.integer({ min: 20, max: 2000 }), { minLength: 1, maxLength: 4 }), async (seed, gapsMs) => {
      const w = await world(seed);
      w.hv.runFor(sToUs(1));
      const reports: BackupReport[] = [];
      let parent = null;
      for (const gap of gapsMs) {
        const r = unwrap(await runBackup(w.env, { vmId: w.vm.vmId, policy: 'try', parent }));
        reports.push(r);
        parent = parentOf(r);
        w.hv.runFor(gap * 1000);
      }
      for (const [k, r] of reports.entries()) {
        const source = unwrap(await repositorySource(w.repo, RecoveryPointId(r.pointId)));
        for (const [diskId, image] of w.images[k] ?? new Map<string, Uint8Array>()) {
          const restored = await source.read(diskId, 0, image.length);
          expect(Buffer.compare(restored, image), `point ${k} disk ${diskId}`).toBe(0);
        }
        const manifest = unwrap(await w.repo.readManifest(RecoveryPointId(r.pointId)));
        expect(manifest.meta.claimedLevel).toBe('filesystem');
      }
      const verified = await verifyRepository(w.store, {});
      expect(verified.ok ? verified.value.damages : verified.error).toEqual([]);
    }), { numRuns: 4 });
  });

  it('a whole VM restored from the repository boots and SQL Server opens with every commit before the freeze', async () => {
    const w = await world(77);
    w.hv.runFor(sToUs(1));
    const r = unwrap(await runBackup(w.env, { vmId: w.vm.vmId, policy: 'require' }));
    const freeze = r.meta.quiesce.freezeStartUs ?? 0;
    const before = w.vm.app('sqlserver').acknowledged().filter((a) => a.timeUs < freeze).map((a) => a.id);
    const source = unwrap(await repositorySource(w.repo, RecoveryPointId(r.pointId)));
    const restored = unwrap(await restoreVm({ port: w.hv, clock: w.hv.sim.clock }, source, { name: 'vm-restored', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver', 'files'] }));
    const vm2 = w.hv.vm(restored.vmId);
    expect(vm2.guest?.openReports.get('sqlserver')).toMatchObject({ ok: true, recoveryNeeded: false });
    const committed = vm2.app('sqlserver').committed();
    expect(before.filter((id) => !committed.has(id))).toEqual([]);
  });
});
