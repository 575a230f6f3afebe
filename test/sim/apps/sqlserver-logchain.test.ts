/**
 * SQL Server model: native log backups and point-in-time restore. Consecutive log backups
 * chain (lastLsn(k) = firstLsn(k+1)); a backup to NUL truncates the log so the next kept
 * backup no longer continues the chain, and a restore across the gap is refused with
 * nothing applied; a copy-only log backup changes nothing. RESTORE from the writer-frozen
 * snapshot WITH NORECOVERY, then RESTORE LOG ... STOPAT T lands exactly: every transaction
 * committed at or before T, none after, for random T. Simple recovery refuses log backups
 * and keeps the log file bounded.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { msToUs, sToUs } from '../../../core/clock.js';
import type { SnapshotId } from '../../../core/ids.js';
import { unwrap } from '../../../core/result.js';
import { SqlServerApp, decodeLogBackup, type AckedTxn, type LogBackupHeader, type SqlServerAppOptions } from '../../../sim/apps/sqlserver/index.js';
import { GUEST_OS } from '../../../sim/guest/catalog.js';
import { GuestFixture } from '../../support/guest-fixture.js';

const DISK_BYTES = 32 * 1024 * 1024;
const WORKLOAD = { meanIntervalUs: 300, opsPerTxn: 3, valueBytes: 40 } as const;
const OPTIONS: SqlServerAppOptions = { checkpointIntervalUs: msToUs(40), keysPerTable: 64 };

function bootApp(fx: GuestFixture, options: SqlServerAppOptions = OPTIONS): { app: SqlServerApp; report: ReturnType<SqlServerApp['open']> } {
  const app = fx.track(new SqlServerApp(fx.host('sqlserver'), options));
  return { app, report: app.open() };
}

function sql(app: SqlServerApp, args: readonly string[], input?: Uint8Array): { exitCode: number; stdout: Uint8Array; text: string; stderr: string } {
  const program = app.programs.sqlcmd;
  if (program === undefined) throw new Error('no sqlcmd');
  const r = program(args, input);
  return { exitCode: r.exitCode, stdout: r.stdout, text: new TextDecoder().decode(r.stdout), stderr: r.stderr };
}

function status(app: SqlServerApp): Record<string, unknown> {
  return JSON.parse(sql(app, ['status']).text) as Record<string, unknown>;
}

/** A full VSS snapshot backup (writer freeze, volumes frozen, disks snapshotted, BackupComplete). */
function fullBackup(fx: GuestFixture, app: SqlServerApp, id: string): { snaps: SnapshotId[]; freezeUs: number } {
  const w = app.writer;
  if (w === null) throw new Error('no writer');
  expect(w.prepareForBackup({ backupType: 'full', backupId: id }).error).toBeNull();
  const freezeUs = fx.sim.clock.nowUs();
  expect(w.freeze().error).toBeNull();
  for (const v of fx.volumes) unwrap(v.freeze());
  const snaps = fx.disks.map((d) => d.createSnapshot());
  for (const v of fx.volumes) unwrap(v.thaw());
  expect(w.thaw().error).toBeNull();
  expect(w.postSnapshot().error).toBeNull();
  expect(w.backupComplete(true).error).toBeNull();
  return { snaps, freezeUs };
}

function bootFromSnapshot(fx: GuestFixture, snaps: readonly SnapshotId[]): SqlServerApp {
  fx.powerLoss();
  fx.disks.forEach((d, i) => { d.revertToSnapshot(snaps[i] as SnapshotId); });
  fx.boot();
  const { app, report } = bootApp(fx);
  expect(report).toMatchObject({ ok: true, recoveryNeeded: false });
  return app;
}

function header(blob: Uint8Array): LogBackupHeader {
  return unwrap(decodeLogBackup(blob)).header;
}

/** Exactly `acked` committed, and the rows their last writes. */
function exactProblems(app: SqlServerApp, acked: readonly AckedTxn[]): string[] {
  const problems: string[] = [];
  const committed = app.committed();
  const ids = new Set(acked.map((a) => a.id));
  for (const id of ids) if (!committed.has(id)) problems.push(`missing ${id}`);
  for (const id of committed) if (!ids.has(id)) problems.push(`extra ${id}`);
  const expected = new Map<string, string>();
  for (const a of acked) for (const [t, k, v] of a.writes) expected.set(`${t}/${k}`, v);
  const rows = app.database.userRows();
  if (rows.length !== expected.size) problems.push(`${rows.length} rows, expected ${expected.size}`);
  for (const [t, k, v] of rows) if (expected.get(`${t}/${k}`) !== v) problems.push(`row ${t}/${k} differs`);
  return problems;
}

interface Chain {
  readonly fx: GuestFixture;
  readonly snaps: SnapshotId[];
  readonly freezeUs: number;
  readonly blobs: Uint8Array[];
  readonly acked: AckedTxn[];
}

/** Full backup, then `count` log backups at irregular intervals while the workload runs. */
function buildChain(seed: number, count: number, gapMs = (k: number): number => 20 + ((seed + k * 37) % 60)): Chain {
  const fx = new GuestFixture({ seed, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES });
  const { app } = bootApp(fx);
  app.startWorkload(WORKLOAD);
  fx.sim.runFor(msToUs(60));
  const full = fullBackup(fx, app, 'full1');
  const blobs: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    fx.sim.runFor(msToUs(gapMs(k)));
    const r = sql(app, ['backup-log']);
    expect(r.exitCode, r.stderr).toBe(0);
    blobs.push(r.stdout);
  }
  return { fx, snaps: full.snaps, freezeUs: full.freezeUs, blobs, acked: [...app.ackedTransactions()] };
}

describe('sqlserver log backups: the chain', () => {
  it('chains consecutive log backups, keeps the log small after each, and refuses a restore across a backup to NUL', () => {
    const fx = new GuestFixture({ seed: 41, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES });
    const { app } = bootApp(fx);
    app.startWorkload(WORKLOAD);
    fx.sim.runFor(msToUs(50));
    // Full recovery before any full backup: no log chain yet.
    expect(sql(app, ['backup-log']).exitCode).toBe(1);
    const full = fullBackup(fx, app, 'full1');
    const kept: Uint8Array[] = [];
    const take = (args: string[]): Uint8Array => {
      fx.sim.runFor(msToUs(40));
      const r = sql(app, ['backup-log', ...args]);
      expect(r.exitCode, r.stderr).toBe(0);
      return r.stdout;
    };
    kept.push(take([]), take([]));
    const copy = take(['--copy-only']);
    kept.push(take([]));
    const nul = take(['--to-nul']);
    expect(nul.length).toBe(0);
    kept.push(take([]));
    const h = kept.map(header);
    const [h0, h1, h2, h3] = h;
    if (h0 === undefined || h1 === undefined || h2 === undefined || h3 === undefined) throw new Error('four backups');
    expect(h0.firstLsn).toBeLessThanOrEqual(unwrap(decodeLogBackup(kept[0] as Uint8Array)).records[0]?.lsn ?? Infinity);
    expect(h1.firstLsn).toBe(h0.lastLsn);
    // The copy-only backup covered the same range start but changed nothing.
    expect(header(copy).firstLsn).toBe(h1.lastLsn);
    expect(h2.firstLsn).toBe(h1.lastLsn);
    // The NUL backup swallowed [h2.lastLsn, h3.firstLsn): the chain is broken there.
    expect(h3.firstLsn).toBeGreaterThan(h2.lastLsn);
    const hist = JSON.parse(sql(app, ['backup-history']).text) as { entries: { type: string; toNul: boolean; copyOnly: boolean; firstLsn: number; lastLsn: number }[] };
    const nulEntry = hist.entries.find((e) => e.toNul);
    expect(nulEntry).toMatchObject({ type: 'log', firstLsn: h2.lastLsn, lastLsn: h3.firstLsn });
    // The log really was truncated by the log backups: it starts after the full backup's checkpoint now.
    expect(Number(status(app).truncationLsn)).toBeGreaterThan(h0.lastLsn);

    // Restore: the snapshot WITH NORECOVERY, the chain up to the gap, then the refused one.
    const acked = [...app.ackedTransactions()];
    const restored = bootFromSnapshot(fx, full.snaps);
    expect(sql(restored, ['restore-database', '--norecovery']).exitCode).toBe(0);
    expect(status(restored).state).toBe('RESTORING');
    for (const blob of kept.slice(0, 3)) {
      const r = sql(restored, ['restore-log', '--norecovery'], blob);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    const before = status(restored);
    const refused = sql(restored, ['restore-log', '--recovery'], kept[3]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/log chain break.*starts at LSN \d+, but the database needs LSN \d+/);
    expect(status(restored)).toEqual(before);
    // A blob applied twice, or an earlier one, is too early; nothing changes either.
    expect(sql(restored, ['restore-log'], kept[0]).stderr).toMatch(/too early/);
    const done = sql(restored, ['restore-recover']);
    expect(done.exitCode, done.stderr).toBe(0);
    const lastTimeUs = header(kept[2] as Uint8Array).backupTimeUs;
    expect(exactProblems(restored, acked.filter((a) => a.timeUs < lastTimeUs))).toEqual([]);
  });

  it('refuses restore-log on an online database and restore-database after the database changed', () => {
    const chain = buildChain(42, 1);
    const app = bootFromSnapshot(chain.fx, chain.snaps);
    const r = sql(app, ['restore-log', '--recovery'], chain.blobs[0]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/RESTORING/);
    app.startWorkload(WORKLOAD);
    chain.fx.sim.runFor(msToUs(20));
    const changed = sql(app, ['restore-database', '--norecovery']);
    expect(changed.exitCode).toBe(1);
    expect(changed.stderr).toMatch(/changed after the writer-frozen snapshot/);
  });
});

describe('sqlserver restore: interruptions and history', () => {
  it('stays RESTORING across a power loss and continues the chain after it', () => {
    const chain = buildChain(44, 2);
    const app = bootFromSnapshot(chain.fx, chain.snaps);
    expect(sql(app, ['restore-database', '--norecovery']).exitCode).toBe(0);
    expect(sql(app, ['restore-log', '--norecovery'], chain.blobs[0]).exitCode).toBe(0);
    chain.fx.powerLoss({ host: true });
    chain.fx.boot();
    const { app: again, report } = bootApp(chain.fx);
    expect(report.ok, report.detail).toBe(true);
    expect(report.detail).toMatch(/RESTORING/);
    expect(status(again).state).toBe('RESTORING');
    again.startWorkload(WORKLOAD);
    expect(again.ackedTransactions()).toEqual([]);
    const r = sql(again, ['restore-log', '--recovery'], chain.blobs[1]);
    expect(r.exitCode, r.stderr).toBe(0);
    const lastUs = header(chain.blobs[1] as Uint8Array).backupTimeUs;
    expect(exactProblems(again, chain.acked.filter((a) => a.timeUs < lastUs))).toEqual([]);
  });

  it('prunes the backup history but keeps the chain', () => {
    const chain = buildChain(45, 30, () => 4);
    const hs = chain.blobs.map(header);
    for (let k = 1; k < hs.length; k++) expect(hs[k]?.firstLsn).toBe(hs[k - 1]?.lastLsn);
    const fx = chain.fx;
    const app = bootFromSnapshot(fx, chain.snaps);
    // The snapshot was taken before BackupComplete: its history does not list the full backup yet.
    const hist = JSON.parse(sql(app, ['backup-history']).text) as { entries: unknown[] };
    expect(hist.entries).toEqual([]);
    expect(sql(app, ['restore-database', '--norecovery']).exitCode).toBe(0);
    for (const blob of chain.blobs) expect(sql(app, ['restore-log', '--norecovery'], blob).exitCode).toBe(0);
    expect(sql(app, ['restore-recover']).exitCode).toBe(0);
    const after = JSON.parse(sql(app, ['backup-history']).text) as { entries: { id: string }[] };
    // Replayed from the log: full1 (seq 1) and log-2..log-30, pruned to the newest 24. The
    // last backup's own history record was logged after its lastLsn, so it is in no backup.
    expect(after.entries.length).toBe(24);
    expect(after.entries.map((e) => e.id)).toEqual(Array.from({ length: 24 }, (_, i) => `log-${i + 7}`));
  });
});

describe('sqlserver restore: STOPAT lands exactly', () => {
  const chain = buildChain(43, 4);
  const lastBackupUs = header(chain.blobs[chain.blobs.length - 1] as Uint8Array).backupTimeUs;

  function restoreTo(args: readonly string[]): SqlServerApp {
    const app = bootFromSnapshot(chain.fx, chain.snaps);
    expect(sql(app, ['restore-database', '--norecovery']).exitCode).toBe(0);
    for (const blob of chain.blobs) {
      const r = sql(app, ['restore-log', ...args, '--norecovery'], blob);
      expect(r.exitCode, r.stderr).toBe(0);
      if ((JSON.parse(r.text) as { stopped: boolean }).stopped) break;
    }
    const done = sql(app, ['restore-recover']);
    expect(done.exitCode, done.stderr).toBe(0);
    return app;
  }

  it('holds every transaction committed at or before T and none after, for random T', () => {
    expect(chain.acked.length).toBeGreaterThan(100);
    fc.assert(fc.property(fc.integer({ min: chain.freezeUs, max: lastBackupUs - 1 }), (t) => {
      const app = restoreTo(['--stopat', String(t)]);
      expect(exactProblems(app, chain.acked.filter((a) => a.timeUs <= t))).toEqual([]);
    }), { numRuns: 15, seed: 99, examples: [[chain.freezeUs], [chain.acked[chain.acked.length - 1]?.timeUs ?? chain.freezeUs]] });
    // The check can fail: off by one transaction either way is caught.
    const mid = chain.acked[Math.floor(chain.acked.length * 0.8)];
    if (mid === undefined) throw new Error('acked');
    const app = restoreTo(['--stopat', String(mid.timeUs)]);
    const exact = chain.acked.filter((a) => a.timeUs <= mid.timeUs);
    expect(exactProblems(app, exact)).toEqual([]);
    expect(exactProblems(app, exact.slice(0, -1)).length).toBeGreaterThan(0);
    expect(exactProblems(app, chain.acked.filter((a) => a.timeUs <= mid.timeUs + 1_000)).length).toBeGreaterThan(0);
  });

  it('stops at an LSN, and a restored database is online and usable', () => {
    const last = unwrap(decodeLogBackup(chain.blobs[1] as Uint8Array)).records;
    const commits = last.filter((r) => r.type === 'commit');
    const target = commits[Math.floor(commits.length / 2)];
    if (target === undefined) throw new Error('a commit in the second backup');
    const app = restoreTo(['--stopatlsn', String(target.lsn)]);
    expect(exactProblems(app, chain.acked.filter((a) => a.timeUs <= target.timeUs))).toEqual([]);
    expect(app.committed().has(`t${target.type === 'commit' ? target.txn : 0}`)).toBe(true);
    app.startWorkload(WORKLOAD);
    chain.fx.sim.runFor(msToUs(20));
    expect(app.ackedTransactions().length).toBeGreaterThan(0);
  });
});

describe('sqlserver simple recovery model', () => {
  function logGrowth(options: SqlServerAppOptions, withFull: boolean): { maxLogBytes: number; lsns: number; refused: string } {
    const fx = new GuestFixture({ seed: 51, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES });
    const { app } = bootApp(fx, options);
    app.startWorkload(WORKLOAD);
    fx.sim.runFor(msToUs(20));
    if (withFull) fullBackup(fx, app, 'full1');
    let maxLogBytes = 0;
    for (let i = 0; i < 20; i++) {
      fx.sim.runFor(msToUs(50));
      maxLogBytes = Math.max(maxLogBytes, Number(status(app).logFileBytes));
      const size = fx.volumes[1]?.stat('/sql/db.ldf');
      if (size?.ok === true) maxLogBytes = Math.max(maxLogBytes, size.value.sizeBytes);
    }
    return { maxLogBytes, lsns: Number(status(app).nextLsn), refused: sql(app, ['backup-log']).stderr };
  }

  it('refuses log backups and keeps the log bounded; full recovery without log backups grows', () => {
    const simple = logGrowth({ ...OPTIONS, recoveryModel: 'simple' }, true);
    expect(simple.refused).toMatch(/SIMPLE/);
    expect(simple.lsns).toBeGreaterThan(15_000);
    // Bounded by about two checkpoint intervals of log (one checkpoint of slack) plus the compaction threshold.
    expect(simple.maxLogBytes).toBeLessThan(768 * 1024);
    // The bound is not vacuous: with the log chain started and no log backups, the log keeps everything.
    const full = logGrowth({ ...OPTIONS, recoveryModel: 'full' }, true);
    expect(full.refused).toBe('');
    expect(full.maxLogBytes).toBeGreaterThan(4 * simple.maxLogBytes);
  });

  it('recovers from a crash after log compactions', () => {
    const fx = new GuestFixture({ seed: 52, os: GUEST_OS.win2019, diskCount: 2, diskBytes: DISK_BYTES, writeCache: 'write-back' });
    const options: SqlServerAppOptions = { ...OPTIONS, recoveryModel: 'simple' };
    const { app } = bootApp(fx, options);
    app.startWorkload(WORKLOAD);
    fx.sim.runFor(sToUs(1));
    const acked = [...app.ackedTransactions()];
    expect(Number(status(app).firstLsnInLog)).toBeGreaterThan(1_000);
    fx.powerLoss({ host: true });
    fx.boot();
    const again = bootApp(fx, options);
    expect(again.report.ok, again.report.detail).toBe(true);
    expect(again.app.committed()).toEqual(new Set(acked.map((a) => a.id)));
  });
});
