/**
 * SQLite benchmarks (wall-clock cost of the simulation): commits per second of the real
 * SQLite engine through the whole simulated stack (guest VFS, page cache, journaled file
 * system, virtual disk with a write-back cache and honest flush), in WAL mode with
 * synchronous=FULL (one fsync per commit) and in rollback-journal mode (four fsyncs per
 * commit); and the wall time of open + WAL recovery + integrity_check after a crash.
 * Each commit is one workload transaction of the app (4 rows of 64 bytes + its txns row),
 * driven by the event queue as in a scenario.
 */

import { loadSqlite, sqliteAppFactory, type JournalMode, type SqliteApp } from '../../sim/apps/sqlite/index.js';
import { GuestFixture } from '../support/guest-fixture.js';
import type { BenchSuite } from './harness.js';

const MiB = 1024 * 1024;

function fixture(seed: number): GuestFixture {
  return new GuestFixture({ seed, diskBytes: 256 * MiB, writeCache: 'write-back' });
}

/** Runs `commits` workload transactions; returns commits per second of wall time. */
function commitRate(journalMode: JournalMode, commits: number): { perSecond: number; app: SqliteApp } {
  const fx = fixture(1);
  const app = fx.track(sqliteAppFactory({ journalMode })(fx.host('sqlite')));
  const opened = app.open();
  if (!opened.ok) throw new Error(`open: ${opened.detail}`);
  app.startWorkload({ meanIntervalUs: 100, maxOps: commits });
  const start = process.hrtime.bigint();
  fx.sim.runFor(commits * 1_000);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const acked = app.acknowledged().length;
  if (acked !== commits) throw new Error(`${journalMode}: ${acked} of ${commits} commits acknowledged`);
  return { perSecond: acked / seconds, app };
}

/**
 * Median wall time of open() (recovery and integrity_check included) of a database of
 * `commits` workload commits, after a crash (the WAL never checkpointed: each open replays
 * it) or after a clean shutdown (checkpointed, no WAL).
 */
function reopenMs(commits: number, crashed: boolean): { ms: number; detail: string } {
  const fx = fixture(2);
  const app = fx.track(sqliteAppFactory({ journalMode: 'wal' })(fx.host('sqlite')));
  app.open();
  app.startWorkload({ meanIntervalUs: 100, maxOps: commits });
  fx.sim.runFor(commits * 1_000);
  if (crashed) fx.powerLoss({ host: true });
  else fx.shutdown();
  let detail = '';
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    fx.boot();
    const reopened = fx.track(sqliteAppFactory({ journalMode: 'wal' })(fx.host('sqlite')));
    const start = process.hrtime.bigint();
    const opened = reopened.open();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (!opened.ok || opened.recoveryNeeded !== crashed) throw new Error(`reopen: ${opened.detail}`);
    detail = opened.detail;
    // Power loss, not shutdown: a shutdown would checkpoint, and the next open would not recover.
    fx.powerLoss();
  }
  samples.sort((a, b) => a - b);
  return { ms: samples[2] ?? 0, detail };
}

export const suite: BenchSuite = {
  name: 'sqlite',
  async run(report) {
    const loadStart = process.hrtime.bigint();
    await loadSqlite();
    report('load the wasm module (once per process)', Number(process.hrtime.bigint() - loadStart) / 1e6, 'ms');

    commitRate('wal', 500); // warm-up (JIT)
    const wal = commitRate('wal', 10_000);
    report('commits/s, WAL, synchronous=FULL (target >= 5,000)', wal.perSecond, 'commits/s', `1 fsync per commit; ${wal.app.vfsCounters.syncs} fsyncs`);
    const rollback = commitRate('rollback', 5_000);
    report('commits/s, rollback journal, synchronous=FULL', rollback.perSecond, 'commits/s', `4 fsyncs per commit; ${rollback.app.vfsCounters.syncs} fsyncs`);

    for (const commits of [200, 2_000]) {
      const recovery = reopenMs(commits, true);
      report(`open + WAL recovery + integrity_check (${commits.toLocaleString('en-US')} commits)`, recovery.ms, 'ms', recovery.detail);
    }
    const clean = reopenMs(2_000, false);
    report('open + integrity_check, clean shutdown (2,000 commits)', clean.ms, 'ms', clean.detail);
  },
};
