/**
 * The sqlite app beyond crashes: determinism (one seed, one disk image, whatever ran
 * before in the process), the `checkpoint-and-lock` freeze action (a FIFREEZE-style
 * snapshot opens without recovery and holds exactly what was acknowledged before the
 * freeze; without the action a WAL snapshot needs recovery), the `sqlite3` guest program
 * (integrity_check, SQL, wal-frames, checkpoint), and the app's life cycle (ids continue,
 * the workload waits for a thaw, a crash writes nothing, a corrupt database fails to open,
 * the WAL limit).
 */

import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { unwrap } from '../../../core/result.js';
import { createSqliteApp, DB_PATH, loadSqlite, sqliteAppFactory, WAL_PATH, type JournalMode, type SqliteApp } from '../../../sim/apps/sqlite/index.js';
import type { OpenReport } from '../../../sim/apps/types.js';
import { GuestFixture } from '../../support/guest-fixture.js';

const MiB = 1024 * 1024;
const DISK_BYTES = 8 * MiB;

beforeAll(async () => {
  await loadSqlite();
});

function started(seed: number, journalMode: JournalMode = 'wal', writeCache: 'none' | 'write-back' = 'write-back'): { fx: GuestFixture; app: SqliteApp } {
  const fx = new GuestFixture({ seed, diskBytes: DISK_BYTES, writeCache });
  const app = fx.track(sqliteAppFactory({ journalMode })(fx.host('sqlite')));
  expect(app.open()).toMatchObject({ ok: true, created: true, recoveryNeeded: false });
  return { fx, app };
}

function ids(app: SqliteApp): string[] {
  return app.acknowledged().map((a) => a.id);
}

/** Boots a copy of a disk image in a separate guest and opens the database there. */
function bootImage(image: Uint8Array, journalMode: JournalMode): { open: OpenReport; committed: string[] } {
  const lab = new GuestFixture({ seed: 999, diskBytes: image.length });
  lab.powerLoss();
  const disk = lab.disks[0];
  if (disk === undefined) throw new Error('no disk');
  disk.write(0, image);
  lab.boot();
  const app = lab.track(sqliteAppFactory({ journalMode })(lab.host('sqlite')));
  const open = app.open();
  const committed = [...app.committed()];
  lab.powerLoss();
  return { open, committed };
}

function durableImage(fx: GuestFixture): Uint8Array {
  const disk = fx.disks[0];
  if (disk === undefined) throw new Error('no disk');
  return disk.durableReader().read(0, disk.capacityBytes);
}

describe('determinism', () => {
  /** A workload, then a host power loss mid-way: the durable image and the history. */
  function run(seed: number, journalMode: JournalMode = 'wal'): { image: string; history: string; acked: number } {
    const fx = new GuestFixture({ seed, diskBytes: DISK_BYTES, writeCache: 'write-back', faults: { powerLoss: { persistFraction: 0.5, tearOneSector: true } } });
    const app = fx.track(sqliteAppFactory({ journalMode })(fx.host('sqlite')));
    app.open();
    app.startWorkload({ meanIntervalUs: 2_000, maxOps: 40 });
    fx.sim.runFor(50_000);
    app.scriptActions['checkpoint-and-lock']?.('freeze');
    app.scriptActions['checkpoint-and-lock']?.('thaw');
    fx.sim.runFor(30_000);
    fx.powerLoss({ host: true });
    fx.boot();
    const again = fx.track(sqliteAppFactory({ journalMode })(fx.host('sqlite')));
    again.open();
    again.startWorkload({ meanIntervalUs: 2_000, maxOps: 10 });
    fx.sim.runFor(100_000);
    fx.powerLoss({ host: true });
    const image = createHash('sha256').update(durableImage(fx)).digest('hex');
    return { image, history: fx.sim.history.digest(), acked: app.acknowledged().length + again.acknowledged().length };
  }

  it('one seed gives the same disk image and history, whatever ran before; another seed does not', () => {
    const first = run(5);
    const other = run(6);
    run(7, 'rollback'); // churns SQLite's memory and its PRNG in between
    const second = run(5);
    expect(first.acked).toBeGreaterThan(10);
    expect(second).toEqual(first);
    expect(other.image).not.toBe(first.image);
    expect(other.history).not.toBe(first.history);
  });
});

describe('checkpoint-and-lock: a freeze-script snapshot is application-consistent', () => {
  /**
   * The Linux quiesce sequence with the app running: [freeze action], FIFREEZE, copy the
   * durable image, FIFREEZE thaw, [thaw action].
   */
  function snapshot(journalMode: JournalMode, withScript: boolean): { app: SqliteApp; fx: GuestFixture; image: Uint8Array; ackedBefore: string[]; freezeUs: number } {
    const { fx, app } = started(21, journalMode);
    app.startWorkload({ meanIntervalUs: 5_000, opsPerTxn: 3 });
    fx.sim.runFor(200_000);
    const action = app.scriptActions['checkpoint-and-lock'];
    if (action === undefined) throw new Error('no checkpoint-and-lock action');
    const ackedBefore = ids(app);
    let freezeUs = 0;
    if (withScript) {
      const frozen = action('freeze');
      expect(frozen.exitCode).toBe(0);
      freezeUs = frozen.durationUs;
    }
    const fs = fx.volumes[0];
    if (fs === undefined) throw new Error('no volume');
    unwrap(fs.freeze());
    fx.sim.runFor(50_000); // the guest keeps running while the hypervisor snapshots
    expect(ids(app)).toEqual(ackedBefore); // nothing commits while frozen
    const image = durableImage(fx);
    unwrap(fs.thaw());
    if (withScript) expect(action('thaw').exitCode).toBe(0);
    fx.sim.runFor(100_000);
    expect(app.acknowledged().length).toBeGreaterThan(ackedBefore.length); // the workload resumed
    return { app, fx, image, ackedBefore, freezeUs };
  }

  it('WAL: the snapshot opens without recovery and holds exactly the commits acknowledged before the freeze', () => {
    const s = snapshot('wal', true);
    expect(s.ackedBefore.length).toBeGreaterThan(20);
    // The checkpoint did real work: WAL pages into the database, and fsyncs (cost model).
    expect(s.freezeUs).toBeGreaterThan(5_000);
    const lab = bootImage(s.image, 'wal');
    expect(lab.open).toMatchObject({ ok: true, recoveryNeeded: false, created: false });
    expect(lab.committed).toEqual(s.ackedBefore);
  });

  it('WAL without the script: the same snapshot needs crash recovery (a non-empty WAL), though SQLite recovers it', () => {
    const s = snapshot('wal', false);
    const lab = bootImage(s.image, 'wal');
    expect(lab.open).toMatchObject({ ok: true, recoveryNeeded: true });
    expect(lab.open.detail).toMatch(/replayed a WAL/);
    expect(lab.committed).toEqual(s.ackedBefore);
  });

  it('rollback mode: the snapshot opens without recovery, with the commits acknowledged before the freeze', () => {
    const s = snapshot('rollback', true);
    const lab = bootImage(s.image, 'rollback');
    expect(lab.open).toMatchObject({ ok: true, recoveryNeeded: false });
    expect(lab.committed).toEqual(s.ackedBefore);
  });

  it('the hold defers transactions until thaw or freezeFail, without the file system frozen', () => {
    const { fx, app } = started(22);
    app.startWorkload({ meanIntervalUs: 5_000 });
    fx.sim.runFor(100_000);
    const action = app.scriptActions['checkpoint-and-lock'];
    if (action === undefined) throw new Error('no action');
    for (const release of ['thaw', 'freezeFail'] as const) {
      expect(action('freeze').exitCode).toBe(0);
      const held = app.acknowledged().length;
      fx.sim.runFor(200_000);
      expect(app.acknowledged().length).toBe(held);
      expect(action(release).exitCode).toBe(0);
      fx.sim.runFor(100_000);
      expect(app.acknowledged().length).toBeGreaterThan(held);
    }
    // After the freeze action the WAL is empty: the database file alone holds everything.
    expect(action('freeze').exitCode).toBe(0);
    expect(unwrap(fx.volumes[0]!.stat(WAL_PATH)).sizeBytes).toBe(0);
    action('thaw');
  });
});

describe('the sqlite3 guest program', () => {
  const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

  it('runs integrity_check and SQL, and reports errors with a nonzero exit', () => {
    const { fx, app } = started(31);
    app.startWorkload({ meanIntervalUs: 1_000, maxOps: 12 });
    fx.sim.runFor(100_000);
    const sqlite3 = app.programs.sqlite3;
    if (sqlite3 === undefined) throw new Error('no sqlite3 program');
    expect(sqlite3(['app.db', 'PRAGMA integrity_check'], undefined)).toMatchObject({ exitCode: 0, stderr: '' });
    expect(text(sqlite3(['app.db', 'PRAGMA integrity_check'], undefined).stdout)).toBe('ok\n');
    expect(text(sqlite3([DB_PATH, 'SELECT count(*), max(id) FROM txns'], undefined).stdout)).toBe('12|12\n');
    expect(text(sqlite3(['app.db'], new TextEncoder().encode('SELECT 1; SELECT 2')).stdout)).toBe('1\n2\n');
    const bad = sqlite3(['app.db', 'SELECT * FROM nowhere'], undefined);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/no such table/);
    expect(sqlite3(['other.db', 'SELECT 1'], undefined).exitCode).toBe(1);
  });

  it('wal-frames returns the WAL (header, frames, commit markers), from an offset too; checkpoint empties it', () => {
    const { fx, app } = started(32);
    app.startWorkload({ meanIntervalUs: 1_000, maxOps: 15 });
    fx.sim.runFor(100_000);
    const sqlite3 = app.programs.sqlite3;
    if (sqlite3 === undefined) throw new Error('no sqlite3 program');
    const wal = sqlite3(['app.db', 'wal-frames'], undefined);
    expect(wal.exitCode).toBe(0);
    const bytes = wal.stdout;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect([0x377f0682, 0x377f0683]).toContain(view.getUint32(0, false));
    const pageBytes = view.getUint32(8, false);
    expect(pageBytes).toBe(4096);
    const frameBytes = 24 + pageBytes;
    expect((bytes.length - 32) % frameBytes).toBe(0);
    const salts = [view.getUint32(16, false), view.getUint32(20, false)];
    let commits = 0;
    for (let at = 32; at + frameBytes <= bytes.length; at += frameBytes) {
      expect([view.getUint32(at + 8, false), view.getUint32(at + 12, false)]).toEqual(salts);
      if (view.getUint32(at + 4, false) !== 0) commits++;
    }
    // Every workload commit, plus the schema's commits at open.
    expect(commits).toBeGreaterThanOrEqual(15);
    const tail = sqlite3(['app.db', 'wal-frames', String(32 + frameBytes)], undefined);
    expect(Buffer.from(tail.stdout).equals(bytes.subarray(32 + frameBytes))).toBe(true);
    expect(sqlite3(['app.db', 'wal-frames', '-1'], undefined).exitCode).toBe(1);
    const checkpoint = sqlite3(['app.db', 'checkpoint'], undefined);
    expect(checkpoint.exitCode).toBe(0);
    expect(text(checkpoint.stdout)).toMatch(/^0\|/);
    expect(sqlite3(['app.db', 'wal-frames'], undefined).stdout).toHaveLength(0);
    expect(text(sqlite3(['app.db', 'SELECT count(*) FROM txns'], undefined).stdout)).toBe('15\n');
  });
});

describe('life cycle', () => {
  it('transaction ids continue after the highest on disk', () => {
    const { fx, app } = started(41);
    app.startWorkload({ meanIntervalUs: 1_000, maxOps: 5 });
    fx.sim.runFor(100_000);
    fx.shutdown();
    fx.boot();
    const again = fx.track(createSqliteApp(fx.host('sqlite')));
    expect(again.open()).toMatchObject({ ok: true, recoveryNeeded: false, created: false });
    again.startWorkload({ meanIntervalUs: 1_000, maxOps: 5 });
    fx.sim.runFor(100_000);
    expect(ids(again)).toEqual(['6', '7', '8', '9', '10']);
    expect([...again.committed()]).toHaveLength(10);
    expect(again.acknowledged().every((a) => a.durable && a.app === 'sqlite')).toBe(true);
  });

  it('a frozen volume holds the workload until thaw; no commit is acknowledged in between', () => {
    const { fx, app } = started(42);
    app.startWorkload({ meanIntervalUs: 2_000 });
    fx.sim.runFor(50_000);
    const fs = fx.volumes[0];
    if (fs === undefined) throw new Error('no volume');
    unwrap(fs.freeze());
    const fromUs = fx.sim.clock.nowUs();
    fx.sim.runFor(100_000);
    const toUs = fx.sim.clock.nowUs();
    unwrap(fs.thaw());
    fx.sim.runFor(50_000);
    const acks = app.acknowledged();
    expect(acks.some((a) => a.timeUs > toUs)).toBe(true);
    expect(acks.filter((a) => a.timeUs > fromUs && a.timeUs < toUs)).toEqual([]);
  });

  it('crash() writes nothing (no checkpoint, the WAL stays); shutdown() checkpoints and removes it', () => {
    const { fx, app } = started(43);
    app.startWorkload({ meanIntervalUs: 1_000, maxOps: 10 });
    fx.sim.runFor(100_000);
    const fs = fx.volumes[0];
    if (fs === undefined) throw new Error('no volume');
    const walBefore = unwrap(fs.stat(WAL_PATH)).sizeBytes;
    expect(walBefore).toBeGreaterThan(0);
    app.crash();
    expect(unwrap(fs.stat(WAL_PATH)).sizeBytes).toBe(walBefore);
    expect(app.committed().size).toBe(0); // a dead app answers nothing
    const next = fx.track(createSqliteApp(fx.host('sqlite')));
    expect(next.open()).toMatchObject({ ok: true, recoveryNeeded: true });
    next.shutdown();
    expect(fs.stat(WAL_PATH).ok).toBe(false);
  });

  it('a corrupt database file fails to open (ok: false), and the report says why', () => {
    const { fx, app } = started(44, 'rollback', 'none');
    app.startWorkload({ meanIntervalUs: 1_000, maxOps: 30, valueBytes: 500 });
    fx.sim.runFor(100_000);
    fx.shutdown();
    fx.boot();
    const fs = fx.volumes[0];
    if (fs === undefined) throw new Error('no volume');
    const h = unwrap(fs.open(DB_PATH));
    expect(unwrap(fs.size(h))).toBeGreaterThan(3 * 4096);
    unwrap(fs.write(h, 4096, new Uint8Array(4096).fill(0xa5))); // scribble over page 2 (a b-tree page)
    unwrap(fs.fsync(h));
    fs.close(h);
    const again = fx.track(sqliteAppFactory({ journalMode: 'rollback' })(fx.host('sqlite')));
    const opened = again.open();
    expect(opened.ok).toBe(false);
    expect(opened.detail).toMatch(/integrity_check|malformed|corrupt/i);
  });

  it('the WAL limit makes the app checkpoint by itself, and says so in the history', () => {
    const fx = new GuestFixture({ seed: 45, diskBytes: DISK_BYTES });
    const app = fx.track(sqliteAppFactory({ walLimitBytes: 64 * 1024 })(fx.host('sqlite')));
    app.open();
    app.startWorkload({ meanIntervalUs: 1_000, maxOps: 40 });
    fx.sim.runFor(200_000);
    expect(app.acknowledged()).toHaveLength(40);
    const checkpoints = fx.sim.history.events().filter((e) => e.kind === 'app.sqlite.checkpoint');
    expect(checkpoints.length).toBeGreaterThan(0);
    expect(checkpoints.every((e) => e.data.reason === 'wal-limit' && e.data.ok === true)).toBe(true);
    expect(unwrap(fx.volumes[0]!.stat(WAL_PATH)).sizeBytes).toBeLessThan(64 * 1024 + 10 * 4120);
  });

  it('writer is null, and the app records app.commit history events', () => {
    const { fx, app } = started(46);
    expect(app.writer).toBeNull();
    app.startWorkload({ meanIntervalUs: 1_000, maxOps: 3 });
    fx.sim.runFor(100_000);
    const commits = fx.sim.history.events().filter((e) => e.kind === 'app.commit' && e.subject === 'vm1/sqlite');
    expect(commits.map((e) => e.data.id)).toEqual(['1', '2', '3']);
  });
});
