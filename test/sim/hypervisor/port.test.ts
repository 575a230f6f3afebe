/**
 * The HypervisorPort contract as the simulator implements it: inventory, snapshots and
 * their removal and revert, CBT through the paged query, VDDK-style reads and writes,
 * guest programs, power operations, and a full-VM restore (a new VM from a snapshot's
 * disks boots and its application opens). Bad arguments are typed errors naming the field.
 */

import { describe, expect, it } from 'vitest';
import { sToUs } from '../../../core/clock.js';
import type { ChangedArea } from '../../../core/hypervisor-port.js';
import { DiskId, SnapshotId, VmId } from '../../../core/ids.js';
import { unwrap } from '../../../core/result.js';
import { createFilesApp } from '../../../sim/apps/files/files-app.js';
import { SimHypervisor } from '../../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../../sim/kernel/simulation.js';

const MiB = 1024 * 1024;
const decoder = new TextDecoder();

function world(seed = 1) {
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: { files: createFilesApp } });
  const vm = unwrap(hv.addVm({ name: 'web', guestOs: 'win2019', tools: 'esx41', apps: ['files'], disks: [{ capacityBytes: 32 * MiB }, { capacityBytes: 32 * MiB }] }));
  hv.startWorkload(vm.vmId, 'files', { meanIntervalUs: 5_000, valueBytes: 2000 });
  hv.runFor(sToUs(1));
  return { hv, vm };
}

async function changedAreas(hv: SimHypervisor, vmId: VmId, snapshotId: SnapshotId, diskId: DiskId, changeId: Parameters<SimHypervisor['queryChangedDiskAreas']>[4], capacityBytes: number): Promise<ChangedArea[]> {
  const out: ChangedArea[] = [];
  for (let offset = 0, pages = 0; offset < capacityBytes; pages++) {
    if (pages > 10_000) throw new Error('too many pages');
    const page = unwrap(await hv.queryChangedDiskAreas(vmId, snapshotId, diskId, offset, changeId));
    out.push(...page.changedAreas);
    offset = page.startOffsetBytes + page.lengthBytes;
  }
  return out;
}

describe('SimHypervisor as a HypervisorPort', () => {
  it('formats each disk of a new VM as asked (guestFs), else with mkfs\'s geometry for its size', () => {
    const hv = new SimHypervisor({ sim: new Simulation({ seed: 1 }), apps: { files: createFilesApp } });
    const geometries = (guestFs?: { journalBlocks: number; inodeCount: number }) => {
      const vm = unwrap(hv.addVm({ name: 'fmt', guestOs: 'linux', tools: 'esx41', apps: ['files'], disks: [{ capacityBytes: 16 * MiB }, { capacityBytes: 16 * MiB }], ...guestFs === undefined ? {} : { guestFs } }));
      return (hv.vm(vm.vmId).guest?.volumes ?? []).map((v) => ({ journalBlocks: v.geometry.journalBlocks, inodeCount: v.geometry.inodeCount }));
    };
    expect(geometries({ journalBlocks: 64, inodeCount: 256 })).toEqual([{ journalBlocks: 64, inodeCount: 256 }, { journalBlocks: 64, inodeCount: 256 }]);
    expect(geometries()).toEqual([{ journalBlocks: 128, inodeCount: 1024 }, { journalBlocks: 128, inodeCount: 1024 }]);
  });

  it('lists VMs with their configuration', async () => {
    const { hv, vm } = world();
    const [info] = await hv.listVms();
    expect(info).toMatchObject({ vmId: vm.vmId, name: 'web', guestOs: 'win2019', tools: 'esx41', powerState: 'poweredOn', apps: ['files'] });
    expect(info?.disks.map((d) => [d.capacityBytes, d.controller, d.dynamic])).toEqual([[32 * MiB, 'scsi', false], [32 * MiB, 'scsi', false]]);
    expect(info?.flags).toEqual({ enableUuid: true, encrypted: false, disableAppQuiescing: false, guestWriteCache: 'write-back' });
    expect(info?.generationId).not.toBeNull();
    expect(unwrap(await hv.getVm(vm.vmId))).toEqual(info);
    expect(await hv.getVm(VmId('nope'))).toEqual({ ok: false, error: { kind: 'unknown-vm', vmId: 'nope' } });
  });

  it('refuses bad VM specs with an error naming the field', async () => {
    const { hv } = world();
    const bad = async (spec: Parameters<SimHypervisor['createVm']>[0]) => { const r = await hv.createVm(spec); return r.ok ? null : r.error; };
    expect(await bad({ name: '', guestOs: 'linux', tools: 'esx41', apps: [], disks: [{ capacityBytes: 32 * MiB }] })).toMatchObject({ field: 'name' });
    expect(await bad({ name: 'x', guestOs: 'win2022', tools: 'esx35u1', apps: [], disks: [{ capacityBytes: 32 * MiB }] })).toMatchObject({ field: 'tools' });
    expect(await bad({ name: 'x', guestOs: 'linux', tools: 'esx41', apps: ['exchange'], disks: [{ capacityBytes: 32 * MiB }] })).toMatchObject({ field: 'apps' });
    expect(await bad({ name: 'x', guestOs: 'linux', tools: 'esx41', apps: [], disks: [{ capacityBytes: 1000 }] })).toMatchObject({ field: 'disks[0].capacityBytes' });
    expect(await bad({ name: 'x', guestOs: 'linux', tools: 'esx41', apps: [], disks: [] })).toMatchObject({ field: 'disks' });
  });

  it('CBT: a full query then an incremental one returns exactly the areas changed between snapshots', async () => {
    const { hv, vm } = world();
    unwrap(await hv.enableChangeTracking(vm.vmId));
    const s1 = unwrap(await hv.createSnapshot(vm.vmId, { name: 's1', quiesce: true, memory: false }));
    const disk = vm.disks[1];
    if (disk === undefined) throw new Error('disk');
    const diskId = disk.info.diskId;
    const changeId = s1.changeIds[diskId];
    expect(changeId).toBeDefined();
    const all = await changedAreas(hv, vm.vmId, s1.snapshotId, diskId, '*', 32 * MiB);
    expect(all.length).toBeGreaterThan(0);
    hv.runFor(sToUs(2));
    const s2 = unwrap(await hv.createSnapshot(vm.vmId, { name: 's2', quiesce: true, memory: false }));
    const changed = await changedAreas(hv, vm.vmId, s2.snapshotId, diskId, changeId ?? '*', 32 * MiB);
    expect(changed.length).toBeGreaterThan(0);
    // Every byte outside the changed areas is equal between the two snapshots.
    const a = unwrap(await hv.readSnapshotDisk(vm.vmId, s1.snapshotId, diskId, 0, 32 * MiB));
    const b = unwrap(await hv.readSnapshotDisk(vm.vmId, s2.snapshotId, diskId, 0, 32 * MiB));
    expect(Buffer.compare(a, b)).not.toBe(0);
    for (const area of changed) a.set(b.subarray(area.startBytes, area.startBytes + area.lengthBytes), area.startBytes);
    expect(Buffer.compare(a, b)).toBe(0);
    const wrong = await hv.queryChangedDiskAreas(vm.vmId, s2.snapshotId, diskId, 0, 'bogus' as never);
    expect(wrong.ok ? null : wrong.error.kind).toBe('cbt');
  });

  it('reads are sector-aligned and inside the disk, and take virtual time', async () => {
    const { hv, vm } = world();
    const s = unwrap(await hv.createSnapshot(vm.vmId, { name: 's', quiesce: false, memory: false }));
    const diskId = vm.disks[0]?.info.diskId ?? DiskId('x');
    const t0 = hv.sim.clock.nowUs();
    expect(unwrap(await hv.readSnapshotDisk(vm.vmId, s.snapshotId, diskId, 0, MiB))).toHaveLength(MiB);
    expect(hv.sim.clock.nowUs() - t0).toBeGreaterThanOrEqual(MiB / 200);
    const r1 = await hv.readSnapshotDisk(vm.vmId, s.snapshotId, diskId, 100, 512);
    expect(r1.ok ? null : r1.error).toMatchObject({ kind: 'invalid-argument', field: 'offsetBytes' });
    const r2 = await hv.readSnapshotDisk(vm.vmId, s.snapshotId, diskId, 32 * MiB - 512, 1024);
    expect(r2.ok ? null : r2.error).toMatchObject({ kind: 'invalid-argument', field: 'lengthBytes' });
    const r3 = await hv.readSnapshotDisk(vm.vmId, SnapshotId('nope'), diskId, 0, 512);
    expect(r3.ok ? null : r3.error.kind).toBe('unknown-snapshot');
  });

  it('runs guest programs: cat, ls, sync, and 127 for an unknown one', async () => {
    const { hv, vm } = world();
    const ls = unwrap(await hv.runInGuest(vm.vmId, 'ls', ['1', '/files']));
    expect(ls.exitCode).toBe(0);
    const names = decoder.decode(ls.stdout).split('\n');
    expect(names.length).toBeGreaterThan(0);
    const cat = unwrap(await hv.runInGuest(vm.vmId, 'cat', ['1', `/files/${names[0] ?? ''}`]));
    expect(cat.exitCode).toBe(0);
    expect(cat.stdout.length).toBeGreaterThan(0);
    expect(unwrap(await hv.runInGuest(vm.vmId, 'sync', [])).exitCode).toBe(0);
    expect(unwrap(await hv.runInGuest(vm.vmId, 'nosuch', [])).exitCode).toBe(127);
  });

  it('removing a snapshot consolidates while the guest writes; the disk keeps everything', async () => {
    const { hv, vm } = world();
    const s = unwrap(await hv.createSnapshot(vm.vmId, { name: 's', quiesce: true, memory: false }));
    hv.runFor(sToUs(1));
    const acked = vm.app('files').acknowledged().length;
    unwrap(await hv.removeSnapshot(vm.vmId, s.snapshotId));
    for (const d of vm.disks) expect(d.disk.listSnapshots()).toEqual([]);
    expect(vm.app('files').acknowledged().length).toBeGreaterThan(acked);
    expect((await hv.removeSnapshot(vm.vmId, s.snapshotId)).ok).toBe(false);
  });

  it('revert powers the VM off, drops later snapshots and changes the VM-GenerationID', async () => {
    const { hv, vm } = world();
    const s1 = unwrap(await hv.createSnapshot(vm.vmId, { name: 's1', quiesce: true, memory: false }));
    hv.runFor(sToUs(1));
    const s2 = unwrap(await hv.createSnapshot(vm.vmId, { name: 's2', quiesce: true, memory: false }));
    const gen = unwrap(await hv.getVm(vm.vmId)).generationId;
    unwrap(await hv.revertToSnapshot(vm.vmId, s1.snapshotId));
    const info = unwrap(await hv.getVm(vm.vmId));
    expect(info.powerState).toBe('poweredOff');
    expect(info.snapshots.map((x) => x.snapshotId)).toEqual([s1.snapshotId]);
    expect(info.generationId).not.toBe(gen);
    expect((await hv.readSnapshotDisk(vm.vmId, s2.snapshotId, vm.disks[0]?.info.diskId ?? DiskId('x'), 0, 512)).ok).toBe(false);
    unwrap(await hv.powerOn(vm.vmId));
    expect(vm.guest?.openReports.get('files')?.ok).toBe(true);
  });

  it('restores a whole VM: a new VM written from a snapshot boots and its app opens with the data', async () => {
    const { hv, vm } = world();
    const snap = unwrap(await hv.createSnapshot(vm.vmId, { name: 'b', quiesce: true, memory: false }));
    const ackedBefore = new Set(vm.app('files').acknowledged().filter((a) => a.timeUs < (snap.quiesce.freezeStartUs ?? 0)).map((a) => a.id));
    const restored = unwrap(await hv.createVm({ name: 'web-restored', guestOs: 'win2019', tools: 'esx41', apps: ['files'], disks: vm.disks.map((d) => ({ capacityBytes: d.info.capacityBytes })) }));
    expect(restored.powerState).toBe('poweredOff');
    expect(restored.generationId).not.toBe(unwrap(await hv.getVm(vm.vmId)).generationId);
    for (let i = 0; i < vm.disks.length; i++) {
      const from = vm.disks[i]?.info.diskId ?? DiskId('x');
      const to = restored.disks[i]?.diskId ?? DiskId('x');
      for (let offset = 0; offset < 32 * MiB; offset += 4 * MiB) {
        const bytes = unwrap(await hv.readSnapshotDisk(vm.vmId, snap.snapshotId, from, offset, 4 * MiB));
        unwrap(await hv.writeDisk(restored.vmId, to, offset, bytes));
      }
    }
    unwrap(await hv.powerOn(restored.vmId));
    const guest = hv.vm(restored.vmId);
    expect(guest.lastBoot).toEqual({ ok: true });
    const committed = guest.app('files').committed();
    for (const id of ackedBefore) expect(committed.has(id)).toBe(true);
    // A running VM's disks are not writable from outside.
    expect((await hv.writeDisk(restored.vmId, restored.disks[0]?.diskId ?? DiskId('x'), 0, new Uint8Array(512))).ok).toBe(false);
  });

  it('a VM with blank disks powers on but its guest does not come up', async () => {
    const { hv } = world();
    const blank = unwrap(await hv.createVm({ name: 'blank', guestOs: 'linux', tools: 'esx41', apps: [], disks: [{ capacityBytes: 32 * MiB }] }));
    unwrap(await hv.powerOn(blank.vmId));
    expect(unwrap(await hv.getVm(blank.vmId)).powerState).toBe('poweredOn');
    const run = await hv.runInGuest(blank.vmId, 'ls', ['0', '/']);
    expect(run.ok ? null : run.error.kind).toBe('guest-unavailable');
  });

  it('a host power loss kills the guest; power-on recovers (journal replay) with every fsynced write', async () => {
    const { hv, vm } = world();
    const acks = vm.app('files').acknowledged();
    const durable = acks.filter((a) => a.durable).map((a) => a.id);
    expect(durable.length).toBeGreaterThan(0);
    expect(new Set(acks.map((a) => a.id)).size).toBeGreaterThan(new Set(durable).size);
    hv.powerLossHost();
    expect(unwrap(await hv.getVm(vm.vmId)).powerState).toBe('poweredOff');
    unwrap(await hv.powerOn(vm.vmId));
    expect(vm.guest?.openReports.get('files')?.ok).toBe(true);
    const committed = vm.app('files').committed();
    for (const id of durable) expect(committed.has(id)).toBe(true);
    expect(committed.size, 'buffered writes were lost with the page cache').toBeLessThan(new Set(acks.map((a) => a.id)).size);
  });

  it('shutdown is clean: the next boot needs no journal replay', async () => {
    const { hv, vm } = world();
    unwrap(await hv.shutdownGuest(vm.vmId));
    expect(unwrap(await hv.getVm(vm.vmId)).powerState).toBe('poweredOff');
    const s = unwrap(await hv.createSnapshot(vm.vmId, { name: 'off', quiesce: true, memory: false }));
    expect(s.quiesce).toMatchObject({ requested: true, mode: 'none' });
    const { fsck } = await import('../../../sim/guest/fsck.js');
    const rec = vm.snapshots.get(s.snapshotId);
    for (const [i, d] of vm.disks.entries()) expect(fsck(d.disk.snapshotReader(rec?.diskSnapshots[i] ?? SnapshotId('x'))).state).toBe('clean');
  });

  it('port calls from inside a simulation event are a programmer error', () => {
    const { hv, vm } = world();
    let thrown: unknown;
    hv.sim.queue.after(1, 'test:reentrant', () => {
      try { void hv.powerOff(vm.vmId); } catch (e) { thrown = e; }
    });
    hv.runFor(10);
    expect(String(thrown)).toMatch(/inside a simulation event/);
  });
});
