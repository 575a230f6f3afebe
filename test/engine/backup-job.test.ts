/**
 * The backup job against the simulated hypervisor, with a reference target that stores
 * whole disks: full and CBT-incremental points restore to exactly the snapshot's image
 * (random write histories), zero blocks are skipped in fulls, the policy decides between
 * failing and falling back, the claim never exceeds the quiesce outcome, BackupComplete
 * comes after the point is stored, and the VmSnapshot is removed on every path.
 */

import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { SnapshotId, VmId } from '../../core/ids.js';
import { unwrap } from '../../core/result.js';
import { parentOf, runBackup, type BackupReport, type EngineEnv } from '../../engine/backup/job.js';
import { defaultApps, prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { MemoryTarget } from '../support/memory-target.js';

const MiB = 1024 * 1024;

/** Wraps the port: records calls and keeps each snapshot's full images just before removal. */
function recordingPort(hv: SimHypervisor) {
  const calls: string[] = [];
  const images = new Map<string, Map<string, Uint8Array>>();
  const port: HypervisorPort = new Proxy(hv, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        if (prop !== 'readSnapshotDisk' && prop !== 'queryChangedDiskAreas') calls.push(prop);
        if (prop === 'removeSnapshot') {
          const [vmId, snapshotId] = args as [VmId, SnapshotId];
          const vm = hv.vm(vmId);
          const rec = vm.snapshots.get(snapshotId);
          if (rec !== undefined) images.set(snapshotId, new Map(vm.disks.map((d, i) => [d.info.diskId as string, d.disk.snapshotReader(rec.diskSnapshots[i] as SnapshotId).read(0, d.info.capacityBytes)])));
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { port, calls, images };
}

function world(seed: number, os: 'win2019' | 'linux' | 'win2003-x64' = 'win2019', tools: 'esx41' | 'esx35u1' = 'esx41') {
  const { factories } = defaultApps();
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: factories });
  const apps = os === 'linux' ? ['files', 'sqlite'] as const : ['files', 'sqlserver'] as const;
  const vm = unwrap(hv.addVm({ name: 'vm', guestOs: os, tools, apps: [...apps], disks: [{ capacityBytes: 32 * MiB }, { capacityBytes: 48 * MiB }] }));
  for (const app of apps) hv.startWorkload(vm.vmId, app, { meanIntervalUs: 5_000, opsPerTxn: 2, valueBytes: 300 });
  const target = new MemoryTarget();
  const rec = recordingPort(hv);
  const env: EngineEnv = { port: rec.port, target, clock: hv.sim.clock };
  return { hv, vm, target, env, ...rec };
}

describe('backup job', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it('full then CBT incrementals restore to exactly each snapshot image (random histories)', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.array(fc.integer({ min: 50, max: 3000 }), { minLength: 1, maxLength: 4 }), async (seed, gapsMs) => {
      const w = world(seed);
      w.hv.runFor(sToUs(1));
      let parent = null;
      const reports: BackupReport[] = [];
      for (const gap of gapsMs) {
        const r = unwrap(await runBackup(w.env, { vmId: w.vm.vmId, policy: 'try', parent }));
        reports.push(r);
        parent = parentOf(r);
        w.hv.runFor(gap * 1000);
      }
      expect(reports[0]?.meta.kind).toBe('full');
      for (const r of reports.slice(1)) expect(r.meta.kind).toBe('incremental');
      for (const r of reports.slice(1)) for (const d of r.meta.disks) expect(d.mode).toBe('incremental');
      // Every point restores to its snapshot's image, byte for byte.
      const snaps = [...w.images.values()];
      expect(snaps).toHaveLength(reports.length);
      for (const [k, r] of reports.entries()) {
        const stored = w.target.points.find((p) => p.id === r.pointId);
        const image = snaps[k];
        if (stored === undefined || image === undefined) throw new Error('missing point');
        for (const [diskId, bytes] of image) expect(Buffer.compare(stored.disks.get(diskId) ?? new Uint8Array(0), bytes), `point ${k} disk ${diskId}`).toBe(0);
      }
      // Incrementals read far less than the disks.
      for (const r of reports.slice(1)) expect(r.meta.disks.reduce((s, d) => s + d.bytesRead, 0)).toBeLessThan(80 * MiB / 4);
      expect(reports[0]?.meta.quiesce.mode).toBe('application');
      for (const d of w.vm.disks) expect(d.disk.listSnapshots()).toEqual([]);
    }), { numRuns: 6 });
  });

  it('a full skips unallocated and zero blocks', async () => {
    const w = world(3);
    w.hv.runFor(sToUs(1));
    const r = unwrap(await runBackup(w.env, { vmId: w.vm.vmId, policy: 'try' }));
    const read = r.meta.disks.reduce((s, d) => s + d.bytesRead, 0);
    expect(read).toBeLessThan(80 * MiB / 2);
    expect(r.meta.disks.every((d) => d.mode === 'full-cbt')).toBe(true);
  });

  it('claims application for the SQL writer, filesystem for files; BackupComplete after the commit', async () => {
    const w = world(5);
    w.hv.runFor(sToUs(1));
    const r = unwrap(await runBackup(w.env, { vmId: w.vm.vmId, policy: 'require' }));
    expect(r.meta.claimed.apps).toEqual({ files: 'filesystem', sqlserver: 'application' });
    expect(r.meta.claimed.vm).toBe('filesystem');
    const order = w.calls.filter((c) => ['createSnapshot', 'completeBackup', 'removeSnapshot'].includes(c));
    expect(order).toEqual(['createSnapshot', 'completeBackup', 'removeSnapshot']);
    expect(w.target.log).toEqual([`commit ${r.pointId} ${w.vm.vmId}`]);
    expect(r.writersAfterComplete.map((x) => x.state)).toEqual(['STABLE']);
  });

  it('policy require fails when the guest cannot be quiesced; try falls back and says why; off takes a plain snapshot', async () => {
    const req = world(7, 'win2003-x64', 'esx35u1');
    req.hv.runFor(sToUs(1));
    const failed = await runBackup(req.env, { vmId: req.vm.vmId, policy: 'require' });
    expect(failed.ok ? null : failed.error.kind).toBe('quiesce-required');
    for (const d of req.vm.disks) expect(d.disk.listSnapshots()).toEqual([]);
    const tried = unwrap(await runBackup(req.env, { vmId: req.vm.vmId, policy: 'try' }));
    expect(tried.meta.claimed.vm).toBe('crash');
    expect(tried.meta.fallback).toMatch(/FilesystemQuiesceFault/);
    expect(tried.meta.claimed.apps).toEqual({ files: 'crash', sqlserver: 'crash' });
    const off = unwrap(await runBackup(req.env, { vmId: req.vm.vmId, policy: 'off' }));
    expect(off.meta.quiesce.requested).toBe(false);
    expect(off.meta.claimed.vm).toBe('crash');
  });

  it('require fails when a writer fails, and the snapshot is still removed', async () => {
    const w = world(9);
    w.hv.setQuiesceFaults(w.vm.vmId, { writers: { SqlServerWriter: { phase: 'freeze', error: 'NONRETRYABLE' } } });
    w.hv.runFor(sToUs(1));
    const r = await runBackup(w.env, { vmId: w.vm.vmId, policy: 'require' });
    expect(r.ok ? null : r.error).toMatchObject({ kind: 'quiesce-required' });
    for (const d of w.vm.disks) expect(d.disk.listSnapshots()).toEqual([]);
    const tried = unwrap(await runBackup(w.env, { vmId: w.vm.vmId, policy: 'try' }));
    expect(tried.meta.claimed.apps.sqlserver).toBe('filesystem');
    expect(tried.meta.claimed.reasons.join(' ')).toMatch(/SqlServerWriter FAILED_AT_FREEZE/);
  });

  it('a store failure mid-read aborts the point, tells the writers, and still removes the snapshot', async () => {
    const w = world(11);
    w.hv.runFor(sToUs(1));
    w.target.failAfterWrites = 1;
    await expect(runBackup(w.env, { vmId: w.vm.vmId, policy: 'try' })).rejects.toThrow(/store failure/);
    expect(w.target.points).toEqual([]);
    expect(w.target.log).toEqual(['abort']);
    expect(w.calls.filter((c) => c === 'completeBackup')).toHaveLength(1);
    for (const d of w.vm.disks) expect(d.disk.listSnapshots()).toEqual([]);
  });

  it('Linux with a freeze script claims application for SQLite', async () => {
    const w = world(13, 'linux');
    w.hv.installScripts(w.vm.vmId, [{ path: '/etc/vmware-tools/backupScripts.d/50-sqlite', on: { freeze: { action: 'sqlite:checkpoint-and-lock' }, thaw: { action: 'sqlite:checkpoint-and-lock' } } }]);
    w.hv.runFor(sToUs(1));
    const r = unwrap(await runBackup(w.env, { vmId: w.vm.vmId, policy: 'try', appScripts: { sqlite: '/etc/vmware-tools/backupScripts.d/50-sqlite' } }));
    expect(r.meta.claimed.apps).toEqual({ files: 'filesystem', sqlite: 'application' });
  });
});

describe('backup job after a crash', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it('a job that died before removing its snapshot leaves it; the next job removes it and says so', async () => {
    const w = world(31);
    w.hv.runFor(sToUs(1));
    // The engine dies right before removing its snapshot: removeSnapshot never reaches the host.
    const dying: HypervisorPort = new Proxy(w.hv, {
      get(target, prop, receiver) {
        if (prop === 'removeSnapshot') return () => Promise.reject(new Error('engine crashed'));
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    await expect(runBackup({ ...w.env, port: dying }, { vmId: w.vm.vmId, policy: 'try' })).rejects.toThrow(/engine crashed/);
    expect(w.vm.disks[0]?.disk.listSnapshots()).toHaveLength(1);
    expect(w.target.points).toHaveLength(1); // the point itself was stored before the crash
    const next = unwrap(await runBackup(w.env, { vmId: w.vm.vmId, policy: 'try' }));
    expect(next.meta.claimed.reasons.join(' ')).toMatch(/crashed job left behind/);
    for (const d of w.vm.disks) expect(d.disk.listSnapshots()).toEqual([]);
  });
});
