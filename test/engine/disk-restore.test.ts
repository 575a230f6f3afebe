/**
 * One-disk restore: after the guest kept writing, the data disk of the original VM is
 * restored from a point (the system disk left as it is) and reads back exactly as the
 * point holds it; mismatched sizes and a running VM are refused.
 */

import { describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import { unwrap } from '../../core/result.js';
import { runBackup } from '../../engine/backup/job.js';
import { restoreDisk } from '../../engine/restore/disk.js';
import { createFilesApp } from '../../sim/apps/files/files-app.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { MemoryTarget, sourceOf } from '../support/memory-target.js';

const MiB = 1024 * 1024;

describe('one-disk restore', () => {
  it('puts back exactly the point\'s disk', async () => {
    const hv = new SimHypervisor({ sim: new Simulation({ seed: 2 }), apps: { files: createFilesApp } });
    const vm = unwrap(hv.addVm({ name: 'fs', guestOs: 'linux', tools: 'esx41', apps: ['files'], disks: [{ capacityBytes: 24 * MiB }, { capacityBytes: 32 * MiB }] }));
    hv.startWorkload(vm.vmId, 'files', { meanIntervalUs: 3_000, valueBytes: 900 });
    hv.runFor(sToUs(1));
    const target = new MemoryTarget();
    const env = { port: hv, target, clock: hv.sim.clock };
    const r = unwrap(await runBackup(env, { vmId: vm.vmId, policy: 'try' }));
    hv.runFor(sToUs(2)); // the guest moves on
    const point = target.points.find((p) => p.id === r.pointId);
    if (point === undefined) throw new Error('point');
    const dataDisk = vm.disks[1];
    if (dataDisk === undefined) throw new Error('disk');
    const refused = await restoreDisk(env, sourceOf(point), dataDisk.info.diskId, { vmId: vm.vmId, diskId: dataDisk.info.diskId });
    expect(refused.ok ? null : refused.error.kind).toBe('mismatch'); // still running
    unwrap(await hv.powerOff(vm.vmId));
    const done = unwrap(await restoreDisk(env, sourceOf(point), dataDisk.info.diskId, { vmId: vm.vmId, diskId: dataDisk.info.diskId }));
    expect(done.bytesWritten).toBe(32 * MiB);
    expect(done.durationUs).toBeGreaterThan(0);
    const now = dataDisk.disk.read(0, 32 * MiB);
    expect(Buffer.compare(now, point.disks.get(dataDisk.info.diskId) ?? new Uint8Array(0))).toBe(0);
    const sizes = await restoreDisk(env, sourceOf(point), vm.disks[0]?.info.diskId ?? '', { vmId: vm.vmId, diskId: dataDisk.info.diskId });
    expect(sizes.ok ? null : sizes.error).toMatchObject({ kind: 'mismatch', reason: expect.stringMatching(/sizes differ/) as unknown });
    unwrap(await hv.powerOn(vm.vmId));
    expect(hv.vm(vm.vmId).lastBoot).toEqual({ ok: true });
  });
});
