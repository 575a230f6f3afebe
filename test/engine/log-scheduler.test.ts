/**
 * Log backups on the seed 003 schedule against a running SQL Server VM (DESIGN property 13):
 * the first starts when the full backup completed, each next one on the next tick or at
 * once after an overrun (slow log backups are forced by a slow guest program), the chain is
 * unbroken, and the RPO — the longest a commit waits to be in a stored log backup — stays
 * within max(interval, longest) + longest (interval + longest while backups fit the interval).
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { msToUs, sToUs } from '../../core/clock.js';
import { unwrap } from '../../core/result.js';
import { runBackup } from '../../engine/backup/job.js';
import { planRollForward } from '../../engine/logbackup/chain.js';
import { logScheduleAfter, nextLogBackupStart, worstRpoUs } from '../../engine/logbackup/schedule.js';
import { runLogSchedule } from '../../engine/logbackup/scheduler.js';
import { MemoryLogStore, runSqlLogBackup, sqlFullBackupDone } from '../../engine/logbackup/sql-job.js';
import { defaultApps, prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { MemoryTarget } from '../support/memory-target.js';
import { simWait, slowGuest } from '../support/slow-guest.js';

describe('log backup scheduler', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it.each([['fast log backups', 0], ['log backups that overrun the tick', 700_000]])('%s follow the schedule; RPO <= interval + longest', async (_name, extraUs) => {
    const hv = new SimHypervisor({ sim: new Simulation({ seed: 12 }), apps: defaultApps().factories });
    const vm = unwrap(hv.addVm({ name: 'sql', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'], disks: [{ capacityBytes: 32 * 1024 * 1024 }] }));
    hv.startWorkload(vm.vmId, 'sqlserver', { meanIntervalUs: 10_000, opsPerTxn: 1, valueBytes: 50 });
    hv.runFor(sToUs(1));
    const full = unwrap(await runBackup({ port: hv, target: new MemoryTarget(), clock: hv.sim.clock }, { vmId: vm.vmId, policy: 'require' }));
    // A slow guest: every log backup takes `extraUs` longer (the guest program is wrapped).
    const slow = slowGuest(hv, extraUs);
    const store = new MemoryLogStore();
    const schedule = unwrap(logScheduleAfter(sqlFullBackupDone({ pointId: full.pointId, doneUs: full.endUs, sqlClaim: full.meta.claimed.apps.sqlserver }), { intervalUs: msToUs(500) }));
    const run = () => runSqlLogBackup({ port: slow, clock: hv.sim.clock, store }, { vmId: vm.vmId, basePointId: full.pointId });
    const runs = await runLogSchedule({ clock: hv.sim.clock, waitUntil: simWait(hv) }, { run, schedule, untilUs: full.endUs + sToUs(5) });
    expect(runs.length).toBeGreaterThan(3);
    expect(runs[0]?.startUs).toBe(full.endUs);
    for (let i = 1; i < runs.length; i++) {
      const prev = runs[i - 1];
      if (prev === undefined) throw new Error('run');
      expect(runs[i]?.startUs).toBe(nextLogBackupStart(schedule, prev.startUs, prev.endUs));
    }
    if (extraUs > 0) expect(runs.some((r, i) => i > 0 && (r.startUs - full.endUs) % schedule.intervalUs !== 0)).toBe(true); // overruns start at once
    const backups = runs.map((r) => (r.result.ok ? r.result.value : undefined)).filter((b) => b !== undefined);
    expect(backups).toHaveLength(runs.length);
    // Unbroken chain over the whole window.
    const first = backups[0];
    if (first === undefined) throw new Error('backup');
    expect(planRollForward(backups, first.firstLsn, { kind: 'latest' }).ok).toBe(true);
    // RPO: every commit acknowledged after the full is in a log backup taken at most interval + longest later.
    const longest = Math.max(...runs.map((r) => r.endUs - r.startUs));
    if (extraUs === 0) expect(worstRpoUs(schedule.intervalUs, longest)).toBe(schedule.intervalUs + longest);
    const acks = vm.app('sqlserver').acknowledged().filter((a) => a.timeUs > full.endUs && a.timeUs <= (backups.at(-1)?.backupTimeUs ?? 0));
    for (const a of acks) {
      const coveredBy = backups.find((b) => b.backupTimeUs >= a.timeUs);
      expect(coveredBy).toBeDefined();
      expect((coveredBy?.endedUs ?? 0) - a.timeUs).toBeLessThanOrEqual(worstRpoUs(schedule.intervalUs, longest));
    }
  });
});
