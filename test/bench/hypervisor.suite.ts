/**
 * Hypervisor benchmarks (wall-clock cost of simulating, not simulated time): quiesced
 * snapshots per second of a Windows VM running three modelled applications with VSS
 * writers (take with application quiescing, BackupComplete, remove). "back to back" lets
 * 1 ms of virtual time pass between snapshots (the apps keep running: each snapshot still
 * freezes, checkpoints and thaws every writer); "with workload" lets 100 ms pass, so the
 * figure includes simulating about 15 commits per snapshot. "apps idle" starts no workload:
 * what the snapshot cycle itself costs. Then the same for Linux.
 */

import { sToUs } from '../../core/clock.js';
import type { AppId, GuestOsId, ToolsId } from '../../core/hypervisor-port.js';
import { unwrap } from '../../core/result.js';
import { defaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import type { BenchSuite, Report } from './harness.js';

async function snapshotsPerSecond(os: GuestOsId, tools: ToolsId, apps: readonly AppId[], betweenUs: number, workload = true, minMs = 1500): Promise<{ rate: number; mode: string }> {
  const hv = new SimHypervisor({ sim: new Simulation({ seed: 1 }), apps: defaultApps().factories });
  const vm = unwrap(hv.addVm({ name: 'bench', guestOs: os, tools, apps, disks: [{ capacityBytes: 256 * 1024 * 1024 }, { capacityBytes: 256 * 1024 * 1024 }] }));
  if (workload) for (const app of apps) hv.startWorkload(vm.vmId, app, { meanIntervalUs: 20_000, opsPerTxn: 2, valueBytes: 200 });
  hv.runFor(sToUs(1));
  let count = 0;
  let mode = '';
  const start = process.hrtime.bigint();
  const minNs = BigInt(minMs) * 1_000_000n;
  while (process.hrtime.bigint() - start < minNs) {
    for (let i = 0; i < 20; i++) {
      const snap = unwrap(await hv.createSnapshot(vm.vmId, { name: 'b', quiesce: true, memory: false }));
      mode = snap.quiesce.mode;
      unwrap(await hv.completeBackup(vm.vmId, snap.snapshotId, true));
      unwrap(await hv.removeSnapshot(vm.vmId, snap.snapshotId));
      hv.runFor(betweenUs);
      count++;
    }
  }
  return { rate: count / (Number(process.hrtime.bigint() - start) / 1e9), mode };
}

export const suite: BenchSuite = {
  name: 'hypervisor',
  async run(report: Report) {
    const apps: AppId[] = ['sqlserver', 'exchange', 'ntds'];
    const b2b = await snapshotsPerSecond('win2019', 'esx41', apps, 1_000);
    report('quiesced snapshots/s, win2019 + SQL, Exchange, AD, back to back', b2b.rate, 'snap/s', `mode ${b2b.mode}; take + BackupComplete + remove`);
    const idle = await snapshotsPerSecond('win2019', 'esx41', apps, 1_000, false);
    report('quiesced snapshots/s, same apps idle, back to back', idle.rate, 'snap/s', `mode ${idle.mode}; no transactions: VSS, the writers' freeze, thaw and completion I/O, snapshot and consolidation only`);
    const win = await snapshotsPerSecond('win2019', 'esx41', apps, 100_000);
    report('quiesced snapshots/s, same, with 100 ms of workload', win.rate, 'snap/s', `mode ${win.mode}`);
    const lin = await snapshotsPerSecond('linux', 'esx41', ['files', 'sqlserver'], 100_000);
    report('quiesced snapshots/s, linux FIFREEZE + files, SQL, 100 ms', lin.rate, 'snap/s', `mode ${lin.mode}`);
  },
};
