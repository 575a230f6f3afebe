/**
 * SQL Server model: crash recovery. Power is lost (the VM's, or the host's with the disks'
 * volatile write-back caches persisting a random subset of unflushed writes, one torn) at
 * random instants of a concurrent workload; every reopen must recover with no
 * acknowledged commit lost, no uncommitted or rolled-back change visible, and the rows
 * exactly as the acknowledged transactions left them. Also: a torn data page is rebuilt
 * from the page image in the log, or refused when the log holds none; data and log disks
 * from different instants are refused.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { msToUs, sToUs } from '../../../core/clock.js';
import { SqlServerApp, PAGE_BYTES, PAGE_MAGIC, type AckedTxn, type SqlServerAppOptions } from '../../../sim/apps/sqlserver/index.js';
import { GUEST_OS } from '../../../sim/guest/catalog.js';
import { GuestFixture } from '../../support/guest-fixture.js';

const DISK_BYTES = 32 * 1024 * 1024;
const WORKLOAD = { meanIntervalUs: 400, opsPerTxn: 3, valueBytes: 40 } as const;
const CRASH_WORKLOAD = { meanIntervalUs: 500, opsPerTxn: 3, valueBytes: 40 } as const;

function bootApp(fx: GuestFixture, options: SqlServerAppOptions = {}): { app: SqlServerApp; report: ReturnType<SqlServerApp['open']> } {
  const app = fx.track(new SqlServerApp(fx.host('sqlserver'), options));
  return { app, report: app.open() };
}

/**
 * What the database must hold after recovery, given every acknowledged transaction (in
 * acknowledgement order, which is commit order): its committed set is exactly the
 * acknowledged ids, and each user row carries the value and txn of its last acknowledged
 * writer (a row only uncommitted or rolled-back transactions wrote must be absent).
 */
function problemsOf(app: SqlServerApp, acked: readonly AckedTxn[]): string[] {
  const problems: string[] = [];
  const committed = app.committed();
  const ackedIds = new Set(acked.map((a) => a.id));
  for (const id of ackedIds) if (!committed.has(id)) problems.push(`acknowledged ${id} lost`);
  for (const id of committed) if (!ackedIds.has(id)) problems.push(`${id} committed but never acknowledged`);
  const expected = new Map<string, { value: string; id: string }>();
  for (const a of acked) for (const [table, key, value] of a.writes) expected.set(`${table}/${key}`, { value, id: a.id });
  const seen = new Set<string>();
  for (const [table, key, value, txn] of app.database.userRows()) {
    const name = `${table}/${key}`;
    seen.add(name);
    const want = expected.get(name);
    if (want === undefined) problems.push(`row ${name} (t${txn}) written by no acknowledged transaction`);
    else if (want.value !== value || want.id !== `t${txn}`) problems.push(`row ${name} holds t${txn} '${value.slice(0, 12)}', expected ${want.id}`);
  }
  for (const name of expected.keys()) if (!seen.has(name)) problems.push(`row ${name} missing`);
  return problems;
}

/** Finds the disk offset of data-file page `pageId` by its header (pages are block-aligned, written in place). */
function diskOffsetOfPage(fx: GuestFixture, pageId: number): number {
  const disk = fx.disks[0];
  if (disk === undefined) throw new Error('no disk');
  const durable = disk.durableReader();
  const chunk = 1024 * 1024;
  for (let base = 0; base < durable.capacityBytes; base += chunk) {
    const bytes = durable.read(base, chunk);
    const view = new DataView(bytes.buffer);
    for (let off = 0; off < chunk; off += PAGE_BYTES) {
      if (view.getUint32(off, true) === PAGE_MAGIC && view.getUint32(off + 4, true) === pageId) return base + off;
    }
  }
  throw new Error(`page ${pageId} not found on disk`);
}

describe('sqlserver model: open, create, clean shutdown', () => {
  it('creates the files on two volumes, reopens a clean shutdown without recovery', () => {
    const fx = new GuestFixture({ seed: 11, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES });
    const first = bootApp(fx);
    expect(first.report).toMatchObject({ created: true, ok: true, recoveryNeeded: false });
    expect(fx.volumes[0]?.stat('/sql/db.mdf').ok).toBe(true);
    expect(fx.volumes[1]?.stat('/sql/db.ldf').ok).toBe(true);
    expect(fx.volumes[1]?.stat('/sql/db.mdf').ok).toBe(false);
    first.app.startWorkload({ ...WORKLOAD, maxOps: 200 });
    fx.sim.runFor(sToUs(2));
    const acked = [...first.app.ackedTransactions()];
    expect(acked.length).toBeGreaterThan(50);
    expect(problemsOf(first.app, acked)).toEqual([]);
    fx.shutdown();
    fx.boot();
    const second = bootApp(fx);
    expect(second.report).toMatchObject({ created: false, ok: true, recoveryNeeded: false });
    expect(problemsOf(second.app, acked)).toEqual([]);
    // The checker is not vacuous: a lost acknowledged commit and an unacknowledged one are both caught.
    expect(problemsOf(second.app, [...acked, { id: 't999999', timeUs: 0, writes: [] }])).toContain('acknowledged t999999 lost');
    expect(problemsOf(second.app, acked.slice(0, -1)).some((p) => p.includes('never acknowledged'))).toBe(true);
  });

  it('continues transaction ids after the highest found', () => {
    const fx = new GuestFixture({ seed: 12, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES });
    const { app } = bootApp(fx);
    app.startWorkload({ ...WORKLOAD, maxOps: 50 });
    fx.sim.runFor(sToUs(1));
    const before = app.ackedTransactions().map((a) => Number(a.id.slice(1)));
    fx.powerLoss();
    fx.boot();
    const again = bootApp(fx).app;
    again.startWorkload({ ...WORKLOAD, maxOps: 20 });
    fx.sim.runFor(sToUs(1));
    const after = again.ackedTransactions().map((a) => Number(a.id.slice(1)));
    expect(after.length).toBeGreaterThan(0);
    expect(Math.min(...after)).toBeGreaterThan(Math.max(...before));
  });
});

describe('sqlserver model: crash recovery at random instants', () => {
  it('loses no acknowledged commit and shows nothing uncommitted, after VM or host power loss', () => {
    let recoveries = 0;
    let rollbacks = 0;
    let ackedTotal = 0;
    fc.assert(fc.property(
      fc.record({
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        host: fc.boolean(),
        persistFraction: fc.double({ min: 0, max: 1, noNaN: true }),
        crashesAtUs: fc.array(fc.integer({ min: msToUs(1), max: msToUs(250) }), { minLength: 1, maxLength: 3 }),
        checkpointMs: fc.constantFrom(15, 40, 1000),
      }),
      (s) => {
        const fx = new GuestFixture({
          seed: s.seed, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES, writeCache: 'write-back',
          faults: { powerLoss: { persistFraction: s.persistFraction, tearOneSector: true } },
        });
        const options: SqlServerAppOptions = { checkpointIntervalUs: msToUs(s.checkpointMs), keysPerTable: 48 };
        let { app } = bootApp(fx, options);
        app.startWorkload(CRASH_WORKLOAD);
        const acked: AckedTxn[] = [];
        for (const at of s.crashesAtUs) {
          fx.sim.runFor(at);
          acked.push(...app.ackedTransactions());
          fx.powerLoss({ host: s.host });
          fx.boot();
          const next = bootApp(fx, options);
          expect(next.report.ok, next.report.detail).toBe(true);
          if (next.report.recoveryNeeded) recoveries++;
          if (next.report.detail.includes('rolled back')) rollbacks++;
          expect(problemsOf(next.app, acked)).toEqual([]);
          app = next.app;
          app.startWorkload(CRASH_WORKLOAD);
        }
        ackedTotal += acked.length;
      },
    ), { numRuns: 18, seed: 20240607 });
    // Not vacuous: recoveries ran, and some rolled back transactions caught in flight.
    expect(ackedTotal).toBeGreaterThan(400);
    expect(recoveries).toBeGreaterThan(10);
    expect(rollbacks).toBeGreaterThan(3);
  });
});

describe('sqlserver model: torn pages and mismatched disks', () => {
  function tornSetup(seed: number): { fx: GuestFixture; acked: AckedTxn[]; touchedPage: number } {
    const fx = new GuestFixture({ seed, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES });
    const options: SqlServerAppOptions = { checkpointIntervalUs: sToUs(3600) };
    const { app } = bootApp(fx, options);
    app.startWorkload({ ...WORKLOAD, maxOps: 100 });
    fx.sim.runFor(sToUs(1));
    expect(app.programs.sqlcmd?.(['checkpoint'], undefined).exitCode).toBe(0);
    // Transactions after the checkpoint: their pages get images in the log first.
    app.startWorkload({ ...WORKLOAD, maxOps: 10 });
    fx.sim.runFor(sToUs(1));
    const acked = [...app.ackedTransactions()];
    const last = acked[acked.length - 1]?.writes[0];
    if (last === undefined) throw new Error('no write after the checkpoint');
    const touchedPage = app.database.pageOf(last[0], last[1]);
    if (touchedPage === undefined) throw new Error('row has no page');
    fx.powerLoss({ host: true });
    return { fx, acked, touchedPage };
  }

  function tear(fx: GuestFixture, pageId: number): void {
    const disk = fx.disks[0];
    if (disk === undefined) throw new Error('no disk');
    const offset = diskOffsetOfPage(fx, pageId);
    // The second half of the page never made it (a tear at a sector boundary).
    disk.write(offset + PAGE_BYTES / 2, new Uint8Array(PAGE_BYTES / 2).fill(0x5a));
    disk.flush();
  }

  it('rebuilds a torn page from its image in the log', () => {
    const { fx, acked, touchedPage } = tornSetup(21);
    tear(fx, touchedPage);
    fx.boot();
    const { app, report } = bootApp(fx);
    expect(report.ok, report.detail).toBe(true);
    expect(report.recoveryNeeded).toBe(true);
    expect(report.detail).toContain(`repaired torn pages ${touchedPage}`);
    expect(problemsOf(app, acked)).toEqual([]);
  });

  it('refuses a torn page the log holds no image of', () => {
    const { fx } = tornSetup(22);
    // The system page (sys.dbinfo) changes only when a backup completes: never here, so no image of it is logged.
    const untouched = 2;
    tear(fx, untouched);
    fx.boot();
    const { report } = bootApp(fx);
    expect(report.ok).toBe(false);
    expect(report.detail).toMatch(new RegExp(`pages ${untouched} \\(CRC mismatch.*no image`));
  });

  it('refuses a data disk newer than the log disk (not one instant), accepts both from one instant', () => {
    const run = (skewed: boolean): ReturnType<SqlServerApp['open']> => {
      const fx = new GuestFixture({ seed: 23, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES });
      const { app } = bootApp(fx, { checkpointIntervalUs: msToUs(50) });
      app.startWorkload(WORKLOAD);
      fx.sim.runFor(msToUs(300));
      const [disk0, disk1] = fx.disks;
      if (disk0 === undefined || disk1 === undefined) throw new Error('two disks');
      const logSnap = disk1.createSnapshot();
      if (!skewed) {
        const dataSnap = disk0.createSnapshot();
        fx.sim.runFor(msToUs(300));
        fx.powerLoss();
        disk0.revertToSnapshot(dataSnap);
      } else {
        // The data disk is read 300 ms (several checkpoints) later than the log disk.
        fx.sim.runFor(msToUs(300));
        const dataSnap = disk0.createSnapshot();
        fx.powerLoss();
        disk0.revertToSnapshot(dataSnap);
      }
      disk1.revertToSnapshot(logSnap);
      fx.boot();
      return bootApp(fx).report;
    };
    expect(run(false).ok).toBe(true);
    const skewed = run(true);
    expect(skewed.ok).toBe(false);
    expect(skewed.detail).toMatch(/newer than the log/);
  });
});
