/**
 * SQL Server model: the VSS writer. A VmSnapshot taken the way VSS takes it (writer
 * freeze, then every volume frozen and flushed, the disks snapshotted, volumes thawed,
 * writer thawed) must open without crash recovery and hold exactly the transactions
 * acknowledged before the freeze; commits in the freeze window are acknowledged only after
 * the thaw. Backup types: log and incremental refused, differential only with a base; a
 * full backup becomes the differential base only with a successful BackupComplete;
 * copy-only changes nothing in the chain; the writer never truncates the log.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { msToUs } from '../../../core/clock.js';
import type { VssBackupType } from '../../../core/hypervisor-port.js';
import type { SnapshotId } from '../../../core/ids.js';
import { unwrap } from '../../../core/result.js';
import { SqlServerApp, decodeLogBackup, type AckedTxn, type BackupHistoryEntry, type LogChainInfo, type SqlServerAppOptions } from '../../../sim/apps/sqlserver/index.js';
import { GUEST_OS } from '../../../sim/guest/catalog.js';
import { GuestFixture } from '../../support/guest-fixture.js';

const DISK_BYTES = 32 * 1024 * 1024;
const WORKLOAD = { meanIntervalUs: 300, opsPerTxn: 3, valueBytes: 40 } as const;
const OPTIONS: SqlServerAppOptions = { checkpointIntervalUs: msToUs(40), keysPerTable: 64 };

function bootApp(fx: GuestFixture, options: SqlServerAppOptions = OPTIONS): { app: SqlServerApp; report: ReturnType<SqlServerApp['open']> } {
  const app = fx.track(new SqlServerApp(fx.host('sqlserver'), options));
  return { app, report: app.open() };
}

function writerOf(app: SqlServerApp): NonNullable<SqlServerApp['writer']> {
  const w = app.writer;
  if (w === null) throw new Error('no writer');
  return w;
}

function sql(app: SqlServerApp, args: readonly string[], input?: Uint8Array): { exitCode: number; stdout: Uint8Array; text: string; stderr: string } {
  const program = app.programs.sqlcmd;
  if (program === undefined) throw new Error('no sqlcmd');
  const r = program(args, input);
  return { exitCode: r.exitCode, stdout: r.stdout, text: new TextDecoder().decode(r.stdout), stderr: r.stderr };
}

function history(app: SqlServerApp): { entries: BackupHistoryEntry[]; logChain: LogChainInfo } {
  return JSON.parse(sql(app, ['backup-history']).text) as { entries: BackupHistoryEntry[]; logChain: LogChainInfo };
}

interface Backup {
  readonly snaps: SnapshotId[];
  readonly freezeUs: number;
  readonly thawUs: number;
  readonly ackedBeforeFreeze: AckedTxn[];
}

/**
 * A VSS snapshot as the requestor drives it; `writerFreeze: false` skips the writer's
 * freeze and thaw (a file-system-only quiesce, for the control case).
 */
function vssSnapshot(fx: GuestFixture, app: SqlServerApp, o: { type: VssBackupType; id: string; complete?: boolean; writerFreeze?: boolean }): Backup {
  const w = writerOf(app);
  const withWriter = o.writerFreeze !== false;
  expect(w.identify().components).toEqual([{ name: 'SQLSERVER/db', files: ['disk0:/sql/db.mdf', 'disk1:/sql/db.ldf'] }]);
  expect(w.prepareForBackup({ backupType: o.type, backupId: o.id }).error).toBeNull();
  expect(w.prepareForSnapshot().error).toBeNull();
  const freezeUs = fx.sim.clock.nowUs();
  const ackedBeforeFreeze = [...app.ackedTransactions()];
  if (withWriter) {
    const frozen = w.freeze();
    expect(frozen.error).toBeNull();
    expect(frozen.durationUs).toBeGreaterThan(0);
  }
  fx.sim.runFor(msToUs(2));
  for (const v of fx.volumes) unwrap(v.freeze());
  const snaps = fx.disks.map((d) => d.createSnapshot());
  for (const v of fx.volumes) unwrap(v.thaw());
  fx.sim.runFor(msToUs(3));
  const thawUs = fx.sim.clock.nowUs();
  if (withWriter) expect(w.thaw().error).toBeNull();
  expect(w.postSnapshot().error).toBeNull();
  if (o.complete !== undefined) expect(w.backupComplete(o.complete).error).toBeNull();
  return { snaps, freezeUs, thawUs, ackedBeforeFreeze: withWriter ? ackedBeforeFreeze : [] };
}

/** Boots the VM from the snapshot's disks (a revert), as a restored VM would. */
function bootFromSnapshot(fx: GuestFixture, snaps: readonly SnapshotId[]): ReturnType<typeof bootApp> {
  fx.powerLoss();
  fx.disks.forEach((d, i) => { d.revertToSnapshot(snaps[i] as SnapshotId); });
  fx.boot();
  return bootApp(fx);
}

function committedProblems(app: SqlServerApp, acked: readonly AckedTxn[]): string[] {
  const problems: string[] = [];
  const committed = app.committed();
  const ids = new Set(acked.map((a) => a.id));
  for (const id of ids) if (!committed.has(id)) problems.push(`acknowledged ${id} missing`);
  for (const id of committed) if (!ids.has(id)) problems.push(`${id} present but not acknowledged before the freeze`);
  const expected = new Map<string, string>();
  for (const a of acked) for (const [t, k, v] of a.writes) expected.set(`${t}/${k}`, v);
  const rows = app.database.userRows();
  if (rows.length !== expected.size) problems.push(`${rows.length} rows, expected ${expected.size}`);
  for (const [t, k, v] of rows) if (expected.get(`${t}/${k}`) !== v) problems.push(`row ${t}/${k} differs`);
  return problems;
}

describe('sqlserver writer: a snapshot taken while frozen', () => {
  it('opens without recovery, holds every transaction acknowledged before the freeze, and none acknowledged in the window', () => {
    let inFlightRollbacks = 0;
    let heldCommits = 0;
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: msToUs(20), max: msToUs(300) }), (seed, runUs) => {
      const fx = new GuestFixture({ seed, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES, writeCache: 'write-back' });
      const { app } = bootApp(fx);
      app.startWorkload(WORKLOAD);
      fx.sim.runFor(runUs);
      const b = vssSnapshot(fx, app, { type: 'full', id: 'b1', complete: true });
      fx.sim.runFor(msToUs(50));
      const acks = app.ackedTransactions();
      // Nothing was acknowledged while the writer held the database...
      expect(acks.filter((a) => a.timeUs >= b.freezeUs && a.timeUs < b.thawUs)).toEqual([]);
      // ...commits that waited were acknowledged at the thaw, and the workload went on.
      heldCommits += acks.filter((a) => a.timeUs === b.thawUs).length;
      expect(acks.length).toBeGreaterThan(b.ackedBeforeFreeze.length);
      expect(b.ackedBeforeFreeze.length).toBeGreaterThan(0);
      const restored = bootFromSnapshot(fx, b.snaps);
      expect(restored.report.ok, restored.report.detail).toBe(true);
      expect(restored.report.recoveryNeeded, restored.report.detail).toBe(false);
      if (restored.report.detail.includes('in flight at the freeze')) inFlightRollbacks++;
      expect(committedProblems(restored.app, b.ackedBeforeFreeze)).toEqual([]);
    }), { numRuns: 12, seed: 4242 });
    expect(heldCommits).toBeGreaterThan(0);
    expect(inFlightRollbacks).toBeGreaterThan(0);
  });

  it('control: a file-system-only quiesce (no writer freeze) leaves an image that needs crash recovery', () => {
    const fx = new GuestFixture({ seed: 7, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES });
    const { app } = bootApp(fx);
    app.startWorkload(WORKLOAD);
    fx.sim.runFor(msToUs(100));
    const b = vssSnapshot(fx, app, { type: 'full', id: 'b1', writerFreeze: false });
    const acksInWindow = app.ackedTransactions().filter((a) => a.timeUs >= b.freezeUs && a.timeUs < b.thawUs);
    expect(acksInWindow.length).toBeGreaterThan(0);
    const restored = bootFromSnapshot(fx, b.snaps);
    expect(restored.report.ok).toBe(true);
    expect(restored.report.recoveryNeeded).toBe(true);
    // And the restore-with-norecovery path refuses such an image.
    const r = sql(restored.app, ['restore-database', '--norecovery']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/not from a writer-consistent/);
  });

  it('abort releases the hold', () => {
    const fx = new GuestFixture({ seed: 8, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES });
    const { app } = bootApp(fx);
    app.startWorkload(WORKLOAD);
    fx.sim.runFor(msToUs(50));
    const w = writerOf(app);
    expect(w.prepareForBackup({ backupType: 'full', backupId: 'x' }).error).toBeNull();
    expect(w.freeze().error).toBeNull();
    const n = app.ackedTransactions().length;
    fx.sim.runFor(msToUs(20));
    expect(app.ackedTransactions().length).toBe(n);
    w.abort();
    fx.sim.runFor(msToUs(20));
    expect(app.ackedTransactions().length).toBeGreaterThan(n);
    expect(history(app).entries).toEqual([]);
  });

  it('a freeze script with checkpoint-and-lock gives an image that opens without recovery (no VSS)', () => {
    const fx = new GuestFixture({ seed: 10, os: GUEST_OS.linux, diskCount: 2, diskBytes: DISK_BYTES });
    const { app } = bootApp(fx);
    app.startWorkload(WORKLOAD);
    fx.sim.runFor(msToUs(80));
    const lock = app.scriptActions['checkpoint-and-lock'];
    if (lock === undefined) throw new Error('no script action');
    const before = [...app.ackedTransactions()];
    expect(lock('freeze').exitCode).toBe(0);
    fx.sim.runFor(msToUs(2));
    for (const v of fx.volumes) unwrap(v.freeze());
    const snaps = fx.disks.map((d) => d.createSnapshot());
    for (const v of fx.volumes) unwrap(v.thaw());
    fx.sim.runFor(msToUs(2));
    expect(app.ackedTransactions().length).toBe(before.length);
    expect(lock('thaw').exitCode).toBe(0);
    fx.sim.runFor(msToUs(10));
    expect(app.ackedTransactions().length).toBeGreaterThan(before.length);
    const restored = bootFromSnapshot(fx, snaps);
    expect(restored.report).toMatchObject({ ok: true, recoveryNeeded: false });
    expect(committedProblems(restored.app, before)).toEqual([]);
  });

  it('has no writer on a guest without VSS', () => {
    const fx = new GuestFixture({ seed: 9, os: GUEST_OS.linux, diskCount: 1, diskBytes: DISK_BYTES });
    const { app, report } = bootApp(fx);
    expect(report.ok).toBe(true);
    expect(app.writer).toBeNull();
    expect(app.database.files()).toEqual(['disk0:/sql/db.mdf', 'disk0:/sql/db.ldf']);
  });
});

describe('sqlserver writer: backup types, history and the differential base', () => {
  it('refuses log and incremental, and a differential without a base', () => {
    const fx = new GuestFixture({ seed: 31, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES });
    const { app } = bootApp(fx);
    const w = writerOf(app);
    expect(w.prepareForBackup({ backupType: 'log', backupId: 'a' }).error).toBe('NONRETRYABLE');
    expect(w.prepareForBackup({ backupType: 'incremental', backupId: 'a' }).error).toBe('NONRETRYABLE');
    expect(w.prepareForBackup({ backupType: 'differential', backupId: 'a' }).error).toBe('NONRETRYABLE');
    expect(w.prepareForBackup({ backupType: 'full', backupId: 'a' }).error).toBeNull();
    expect(w.prepareForBackup({ backupType: 'copy', backupId: 'a' }).error).toBeNull();
  });

  it('makes a full backup the differential base only on a successful BackupComplete; copy-only changes nothing', () => {
    const fx = new GuestFixture({ seed: 32, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES });
    const { app } = bootApp(fx);
    const w = writerOf(app);
    app.startWorkload(WORKLOAD);
    fx.sim.runFor(msToUs(50));

    // Copy-only, completed: recorded as copy-only, no base, no log chain.
    vssSnapshot(fx, app, { type: 'copy', id: 'copy1', complete: true });
    let h = history(app);
    expect(h.entries.map((e) => [e.id, e.type, e.copyOnly])).toEqual([['copy1', 'full', true]]);
    expect(h.logChain.diffBase).toBeNull();
    expect(h.logChain.started).toBe(false);
    expect(w.prepareForBackup({ backupType: 'differential', backupId: 'd0' }).error).toBe('NONRETRYABLE');
    const noChain = sql(app, ['backup-log']);
    expect(noChain.exitCode).toBe(1);
    expect(noChain.stderr).toMatch(/no current database backup/);

    // Full, BackupComplete(false) or never sent: not a base.
    vssSnapshot(fx, app, { type: 'full', id: 'full-failed', complete: false });
    vssSnapshot(fx, app, { type: 'full', id: 'full-unconfirmed' });
    h = history(app);
    expect(h.entries.map((e) => e.id)).toEqual(['copy1']);
    expect(h.logChain.diffBase).toBeNull();

    // Full, BackupComplete(true): the base, and the log chain starts.
    const full = vssSnapshot(fx, app, { type: 'full', id: 'full1', complete: true });
    h = history(app);
    const fullEntry = h.entries.find((e) => e.id === 'full1');
    expect(fullEntry).toMatchObject({ type: 'full', copyOnly: false });
    expect(h.logChain.diffBase?.backupId).toBe('full1');
    expect(h.logChain.started).toBe(true);
    expect(full.ackedBeforeFreeze.length).toBeGreaterThan(0);

    // A differential now works and names its base.
    vssSnapshot(fx, app, { type: 'differential', id: 'diff1', complete: true });
    h = history(app);
    expect(h.entries.find((e) => e.id === 'diff1')).toMatchObject({ type: 'differential', databaseBackupLsn: fullEntry?.checkpointLsn });
    expect(h.logChain.diffBase?.backupId).toBe('full1');

    // Log backups; a copy-only and a full snapshot between two of them break nothing:
    // the writer never truncates the log, and the chain continues.
    fx.sim.runFor(msToUs(30));
    const log1 = sql(app, ['backup-log']);
    expect(log1.exitCode).toBe(0);
    fx.sim.runFor(msToUs(30));
    vssSnapshot(fx, app, { type: 'copy', id: 'copy2', complete: true });
    fx.sim.runFor(msToUs(30));
    vssSnapshot(fx, app, { type: 'full', id: 'full2', complete: true });
    fx.sim.runFor(msToUs(30));
    const log2 = sql(app, ['backup-log']);
    expect(log2.exitCode).toBe(0);
    const b1 = unwrap(decodeLogBackup(log1.stdout)).header;
    const b2 = unwrap(decodeLogBackup(log2.stdout)).header;
    expect(b2.firstLsn).toBe(b1.lastLsn);
    h = history(app);
    expect(h.logChain.diffBase?.backupId).toBe('full2');
    expect(h.entries.find((e) => e.id === 'copy2')?.copyOnly).toBe(true);
  });
});
