/**
 * One seed, one world: a hypervisor running every application model through quiesced
 * snapshots, a host power loss and a reboot yields the same history (byte for byte, by
 * digest) and the same snapshot images on every run; another seed yields another history.
 */

import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { sToUs } from '../../../core/clock.js';
import type { AppId } from '../../../core/hypervisor-port.js';
import { SnapshotId } from '../../../core/ids.js';
import { unwrap } from '../../../core/result.js';
import { defaultApps, prepareDefaultApps } from '../../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../../sim/kernel/simulation.js';

async function run(seed: number): Promise<{ history: string; images: string }> {
  const { factories } = defaultApps();
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: factories });
  const winApps = (['sqlserver', 'exchange', 'ntds', 'sqlite', 'files'] as AppId[]).filter((a) => factories[a] !== undefined);
  const win = unwrap(hv.addVm({ name: 'win', guestOs: 'win2019', tools: 'esx41', apps: winApps, disks: [{ capacityBytes: 64 * 1024 * 1024 }, { capacityBytes: 64 * 1024 * 1024 }] }));
  const lin = unwrap(hv.addVm({ name: 'lin', guestOs: 'linux', tools: 'esx41', apps: ['sqlite', 'files'], disks: [{ capacityBytes: 64 * 1024 * 1024 }] }));
  for (const vm of [win, lin]) for (const app of vm.apps) hv.startWorkload(vm.vmId, app, { meanIntervalUs: 30_000, opsPerTxn: 2, valueBytes: 100 });
  const images = createHash('sha256');
  for (let i = 0; i < 3; i++) {
    hv.runFor(sToUs(1));
    for (const vm of [win, lin]) {
      const snap = unwrap(await hv.createSnapshot(vm.vmId, { name: `s${i}`, quiesce: true, memory: false }));
      for (const [d, disk] of vm.disks.entries()) {
        const rec = vm.snapshots.get(snap.snapshotId);
        images.update(disk.disk.snapshotReader(rec?.diskSnapshots[d] ?? SnapshotId('x')).read(0, disk.info.capacityBytes));
      }
      unwrap(await hv.completeBackup(vm.vmId, snap.snapshotId, true));
      unwrap(await hv.removeSnapshot(vm.vmId, snap.snapshotId));
    }
  }
  hv.powerLossHost();
  for (const vm of [win, lin]) unwrap(await hv.powerOn(vm.vmId));
  hv.runFor(sToUs(1));
  return { history: hv.sim.history.digest(), images: images.digest('hex') };
}

describe('determinism of the simulated hypervisor', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it('the same seed gives the same history and images; another seed does not', async () => {
    const a = await run(42);
    const b = await run(42);
    expect(b).toEqual(a);
    const c = await run(43);
    expect(c.history).not.toBe(a.history);
  });
});
