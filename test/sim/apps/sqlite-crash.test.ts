/**
 * Crash consistency of the real SQLite engine on the simulated guest stack.
 *
 * 1. Power is cut before EVERY mutating VFS call (write, sync, truncate, delete) of a
 *    30-transaction workload, one run per call (a dry run counts them), in both journal
 *    modes, on a disk with a volatile write-back cache that honours flush; the host loses
 *    power too, and the cache persists a random half of its unflushed writes, one of them
 *    torn. On reboot the database must open (recovering as needed), pass integrity_check,
 *    hold every acknowledged commit, and hold nothing beyond the transaction in flight.
 * 2. With a lying cache (flush ignored) the same kind of crash loses or corrupts data, and
 *    the same checks find it, for every seed tried.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { createSqliteApp, loadSqlite, sqliteAppFactory, type JournalMode } from '../../../sim/apps/sqlite/index.js';
import type { OpenReport } from '../../../sim/apps/types.js';
import { GuestFixture } from '../../support/guest-fixture.js';

const MiB = 1024 * 1024;
const TXNS = 30;

interface CrashOutcome {
  /** Mutating VFS calls the first boot made (all of them when no cut happened). */
  readonly mutations: number;
  readonly cutHappened: boolean;
  readonly acked: readonly number[];
  /** The last transaction id the first boot began (0: none). */
  readonly lastStarted: number;
  /** null when the file system could not even be mounted. */
  readonly reopened: OpenReport | null;
  readonly committed: ReadonlySet<string>;
}

interface CrashRun {
  readonly seed: number;
  readonly journalMode: JournalMode;
  /** Cut power before mutating call number `cutAt` (0-based); undefined: never. */
  readonly cutAt: number | undefined;
  readonly lyingCache?: boolean;
  /** A deliberately broken VFS: every fsync reports success and does nothing. */
  readonly dropSyncs?: boolean;
}

function crashRun(run: CrashRun): CrashOutcome {
  const fx = new GuestFixture({
    seed: run.seed, diskBytes: 8 * MiB, writeCache: 'write-back',
    faults: { powerLoss: { persistFraction: 0.5, tearOneSector: true } },
  });
  // Lie only after mkfs and mount flushed honestly: the guest boots on a sound volume.
  if (run.lyingCache === true) for (const d of fx.disks) d.setFaults({ ...d.faults, ignoreFlush: true });
  let mutations = 0;
  let cutHappened = false;
  const app = fx.track(sqliteAppFactory({
    journalMode: run.journalMode,
    interceptMutation: (m) => {
      if (run.dropSyncs === true && m.kind === 'sync') return 'skip';
      if (mutations++ === run.cutAt) {
        cutHappened = true;
        return 'power-cut';
      }
      return 'proceed';
    },
  })(fx.host('sqlite')));
  const opened = app.open();
  if (opened.ok) app.startWorkload({ meanIntervalUs: 10_000, maxOps: TXNS, opsPerTxn: 2, valueBytes: 48 });
  fx.sim.runFor(2 * TXNS * 10_000 + 100_000);
  const acked = app.acknowledged().map((a) => Number(a.id));
  const lastStarted = app.startedIds.last;
  fx.powerLoss({ host: true });
  let reopened: OpenReport | null = null;
  let committed: ReadonlySet<string> = new Set();
  try {
    fx.boot();
  } catch {
    return { mutations, cutHappened, acked, lastStarted, reopened, committed };
  }
  const again = fx.track(sqliteAppFactory({ journalMode: run.journalMode })(fx.host('sqlite')));
  reopened = again.open();
  committed = again.committed();
  fx.powerLoss();
  return { mutations, cutHappened, acked, lastStarted, reopened, committed };
}

/** What is wrong with an outcome (empty: durable and nothing invented). */
function problems(o: CrashOutcome): string[] {
  const out: string[] = [];
  if (o.reopened === null) return ['the file system did not mount'];
  if (!o.reopened.ok) out.push(`open failed: ${o.reopened.detail}`);
  const missing = o.acked.filter((id) => !o.committed.has(String(id)));
  if (missing.length > 0) out.push(`acknowledged commits missing: ${missing.join(',')}`);
  const invented = [...o.committed].filter((id) => Number(id) > o.lastStarted);
  if (invented.length > 0) out.push(`never started but present: ${invented.join(',')}`);
  return out;
}

beforeAll(async () => {
  await loadSqlite();
});

describe('power loss before every mutating VFS call (honest flush)', () => {
  for (const journalMode of ['wal', 'rollback'] as const) {
    it(`${journalMode}: every cut point recovers with every acknowledged commit`, () => {
      const full = crashRun({ seed: 11, journalMode, cutAt: undefined });
      expect(full.cutHappened).toBe(false);
      expect(full.acked).toHaveLength(TXNS);
      expect(problems(full)).toEqual([]);
      // The workload really exercises the engine: a few calls per commit, all of them cut at.
      expect(full.mutations).toBeGreaterThan(3 * TXNS);
      let recovered = 0;
      let partial = 0;
      const recoveryKind = journalMode === 'wal' ? 'replayed a WAL' : 'rolled back a hot journal';
      let ownRecovery = 0;
      for (let cutAt = 0; cutAt < full.mutations; cutAt++) {
        const o = crashRun({ seed: 11, journalMode, cutAt });
        expect(o.cutHappened, `cut ${cutAt}`).toBe(true);
        expect(problems(o), `${journalMode}, power cut before mutating call ${cutAt}`).toEqual([]);
        if (o.reopened?.recoveryNeeded === true) recovered++;
        if (o.reopened?.detail.includes(recoveryKind) === true) ownRecovery++;
        if (o.acked.length > 0 && o.acked.length < TXNS) partial++;
      }
      // The cuts land everywhere: mid-workload, and with SQLite's own recovery at work.
      expect(partial).toBeGreaterThan(full.mutations / 2);
      expect(recovered).toBeGreaterThan(0);
      expect(ownRecovery).toBeGreaterThan(0);
    });
  }

  it('the checker flags a lost acknowledged commit and an invented one', () => {
    const good: CrashOutcome = {
      mutations: 5, cutHappened: true, acked: [1, 2], lastStarted: 3,
      reopened: { created: false, recoveryNeeded: true, ok: true, detail: '' }, committed: new Set(['1', '2', '3']),
    };
    expect(problems(good)).toEqual([]);
    expect(problems({ ...good, committed: new Set(['1']) })).toEqual(['acknowledged commits missing: 2']);
    expect(problems({ ...good, committed: new Set(['1', '2', '4']) })).toEqual(['never started but present: 4']);
    expect(problems({ ...good, reopened: null })).toEqual(['the file system did not mount']);
  });
});

describe('the checks have teeth', () => {
  for (const journalMode of ['wal', 'rollback'] as const) {
    it(`${journalMode}: a VFS whose fsync does nothing loses acknowledged commits, and the check says so`, () => {
      const o = crashRun({ seed: 11, journalMode, cutAt: undefined, dropSyncs: true });
      expect(o.acked).toHaveLength(TXNS);
      expect(problems(o).join('; ')).toMatch(/acknowledged commits missing|open failed/);
    });
  }
});

describe('a lying disk cache (flush ignored) and host power loss', () => {
  for (const journalMode of ['wal', 'rollback'] as const) {
    it(`${journalMode}: the loss or corruption is found, for every seed`, () => {
      const findings: string[] = [];
      for (const seed of [1, 2, 3, 4, 5]) {
        const o = crashRun({ seed, journalMode, cutAt: undefined, lyingCache: true });
        expect(o.acked).toHaveLength(TXNS);
        const found = problems(o);
        expect(found.length, `seed ${seed}: a lying flush went unnoticed`).toBeGreaterThan(0);
        findings.push(found.join('; '));
      }
      // The loss shows up as the harm it is: commits gone, or a volume or database unusable.
      expect(findings.every((f) => /acknowledged commits missing|did not mount|open failed/.test(f))).toBe(true);
    });
  }
});

describe('sanity of the crash harness', () => {
  it('a clean run without any fault reopens clean', () => {
    const fx = new GuestFixture({ seed: 3, diskBytes: 8 * MiB, writeCache: 'write-back' });
    const app = fx.track(createSqliteApp(fx.host('sqlite')));
    expect(app.open().ok).toBe(true);
    app.startWorkload({ meanIntervalUs: 1_000, maxOps: 10 });
    fx.sim.runFor(1_000_000);
    fx.shutdown();
    fx.boot();
    const again = fx.track(createSqliteApp(fx.host('sqlite')));
    const opened = again.open();
    expect(opened).toMatchObject({ ok: true, recoveryNeeded: false, created: false });
    expect([...again.committed()]).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
  });
});
