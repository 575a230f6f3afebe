/**
 * SQL Server point-in-time restore through the engine: a full application-aware backup,
 * native log backups on a schedule, a whole-VM restore and a roll-forward to a random
 * target time lands exactly on it (every transaction committed at or before it, none
 * after); a broken chain and a VSS snapshot alone are refused before anything is applied.
 */

import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import { unwrap } from '../../core/result.js';
import { runBackup, type EngineEnv } from '../../engine/backup/job.js';
import { MemoryLogStore, runSqlLogBackup } from '../../engine/logbackup/sql-job.js';
import { rollForwardSql } from '../../engine/restore/sql-rollforward.js';
import { restoreVm } from '../../engine/restore/vm.js';
import { defaultApps, prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { MemoryTarget, sourceOf } from '../support/memory-target.js';

const MiB = 1024 * 1024;

async function scenario(seed: number, logBackups: number) {
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: defaultApps().factories });
  const vm = unwrap(hv.addVm({ name: 'sql', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'], disks: [{ capacityBytes: 32 * MiB }, { capacityBytes: 32 * MiB }] }));
  hv.startWorkload(vm.vmId, 'sqlserver', { meanIntervalUs: 4_000, opsPerTxn: 2, valueBytes: 100 });
  hv.runFor(sToUs(1));
  const target = new MemoryTarget();
  const env: EngineEnv = { port: hv, target, clock: hv.sim.clock };
  const full = unwrap(await runBackup(env, { vmId: vm.vmId, policy: 'require' }));
  const logs = new MemoryLogStore();
  for (let i = 0; i < logBackups; i++) {
    hv.runFor(300_000);
    unwrap(await runSqlLogBackup({ port: hv, clock: hv.sim.clock, store: logs }, { vmId: vm.vmId, basePointId: full.pointId }));
  }
  const acks = [...vm.app('sqlserver').acknowledged()];
  const point = target.points.find((p) => p.id === full.pointId);
  if (point === undefined) throw new Error('point');
  return { hv, vm, full, logs, acks, point };
}

describe('SQL Server roll-forward', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it('lands exactly on a random target time', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 0, max: 1, noNaN: true }), async (seed, where) => {
      const s = await scenario(seed, 4);
      const list = unwrap(await s.logs.list(s.vm.vmId));
      const lo = s.full.meta.snapshotAtUs;
      const hi = list.at(-1)?.backupTimeUs ?? lo;
      const targetUs = Math.floor(lo + where * (hi - lo));
      const restored = unwrap(await restoreVm({ port: s.hv, clock: s.hv.sim.clock }, sourceOf(s.point), { name: 'sql-restored', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'] }));
      const report = unwrap(await rollForwardSql({ port: s.hv, clock: s.hv.sim.clock, logs: s.logs }, { vmId: restored.vmId, sourceVmId: s.vm.vmId }, { kind: 'time', timeUs: targetUs }));
      expect(report.applied.length).toBeGreaterThan(0);
      const committed = s.hv.vm(restored.vmId).app('sqlserver').committed();
      const expected = new Set(s.acks.filter((a) => a.timeUs <= targetUs).map((a) => a.id));
      const missing = [...expected].filter((id) => !committed.has(id));
      const extra = [...committed].filter((id) => !expected.has(id));
      expect({ missing, extra }).toEqual({ missing: [], extra: [] });
      expect(restored.rtoUs).toBeGreaterThan(0);
    }), { numRuns: 5 });
  });

  it('refuses a broken chain before applying anything', async () => {
    const s = await scenario(21, 4);
    const list = unwrap(await s.logs.list(s.vm.vmId));
    const second = list[1];
    if (second === undefined) throw new Error('log backups');
    s.logs.remove(second.id);
    const restored = unwrap(await restoreVm({ port: s.hv, clock: s.hv.sim.clock }, sourceOf(s.point), { name: 'r', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'] }));
    const r = await rollForwardSql({ port: s.hv, clock: s.hv.sim.clock, logs: s.logs }, { vmId: restored.vmId, sourceVmId: s.vm.vmId }, { kind: 'time', timeUs: list.at(-1)?.backupTimeUs ?? 0 });
    expect(r.ok ? null : r.error).toMatchObject({ kind: 'refused', refusal: { kind: 'gap' } });
    const status = JSON.parse(new TextDecoder().decode(unwrap(await s.hv.runInGuest(restored.vmId, 'sqlcmd', ['status'])).stdout)) as { state: string };
    expect(status.state).toBe('RESTORING');
  });

  it('refuses to roll a VSS snapshot forward without log backups', async () => {
    const s = await scenario(23, 0);
    const restored = unwrap(await restoreVm({ port: s.hv, clock: s.hv.sim.clock }, sourceOf(s.point), { name: 'r', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'] }));
    const r = await rollForwardSql({ port: s.hv, clock: s.hv.sim.clock, logs: s.logs }, { vmId: restored.vmId, sourceVmId: s.vm.vmId }, { kind: 'latest' });
    expect(r.ok ? null : r.error).toMatchObject({ kind: 'refused', refusal: { kind: 'no-log-backups' } });
  });
});
