/**
 * The Exchange (ESE) model on the real guest file system and virtual disk:
 * - power loss at random instants (VM only, or the host too with a write-back disk cache
 *   that persists a random subset and tears a write): soft recovery keeps every
 *   acknowledged item with its content, also across a second crash; a disk that ignores
 *   flush loses acknowledged items (the check fails on a broken stack);
 * - a snapshot taken while the Exchange writer is frozen opens without recovery and holds
 *   exactly the items acknowledged before the freeze; commits wait during the freeze;
 * - the writer's truncation rules per backup type, and circular logging;
 * - a missing or damaged log generation fails recovery with the reason;
 * - the on-disk format parses from raw bytes (item-level restore, log backup).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { msToUs, sToUs } from '../../../core/clock.js';
import type { VssBackupType } from '../../../core/hypervisor-port.js';
import {
  ExchangeApp, createExchangeApp, exchangeAppFactory, exchangeLayout, logFileName, parseDatabase, parseDbHeader, parseLog, type ExchangeOptions,
} from '../../../sim/apps/exchange/index.js';
import { GUEST_OS } from '../../../sim/guest/catalog.js';
import { GuestFixture } from '../../support/guest-fixture.js';

const DISK_BYTES = 32 * 1024 * 1024;
const LAYOUT = exchangeLayout('DB1');
const decoder = new TextDecoder();

function fixture(seed: number, extra: Partial<ConstructorParameters<typeof GuestFixture>[0]> = {}): GuestFixture {
  return new GuestFixture({ seed, os: GUEST_OS.win2016, diskBytes: DISK_BYTES, ...extra });
}

function start(f: GuestFixture, options: ExchangeOptions): ExchangeApp {
  return f.track(new ExchangeApp(f.host('exchange'), options));
}

function gens(app: ExchangeApp): number[] {
  const g = app.store?.generations();
  if (g === undefined || !g.ok) throw new Error('no generations');
  return g.value;
}

function readFile(f: GuestFixture, path: string): Uint8Array {
  const fs = f.volumes[0]!;
  const h = fs.open(path);
  if (!h.ok) throw new Error(`open ${path}: ${h.error.kind}`);
  const size = fs.size(h.value);
  const bytes = size.ok ? fs.read(h.value, 0, size.value) : undefined;
  if (bytes === undefined || !bytes.ok) throw new Error(`read ${path}`);
  return bytes.value;
}

function lostAcks(before: ExchangeApp, after: ExchangeApp): string[] {
  const committed = after.committed();
  return before.acknowledged().filter((a) => !committed.has(a.id)).map((a) => a.id);
}

describe('exchange: factories', () => {
  it('builds the writer only on a guest with VSS, with the chosen logging mode', () => {
    const vss = fixture(1);
    const app = createExchangeApp(vss.host('exchange'));
    expect(app.writer?.name).toBe('Microsoft Exchange Writer');
    expect(app.open()).toMatchObject({ ok: true, created: true });
    const noVss = new GuestFixture({ seed: 1, os: GUEST_OS.win2000, diskBytes: DISK_BYTES });
    expect(exchangeAppFactory({ circularLogging: true })(noVss.host('exchange')).writer).toBeNull();
  });

  it('is deterministic: the same seed gives the same history', () => {
    const run = (seed: number): string => {
      const f = fixture(seed, { writeCache: 'write-back' });
      const app = start(f, { circularLogging: true, logFileBytes: 4096 });
      app.open();
      app.startWorkload({ meanIntervalUs: msToUs(30) });
      f.sim.runFor(sToUs(2));
      f.powerLoss({ host: true });
      f.boot();
      start(f, { circularLogging: true, logFileBytes: 4096 }).open();
      return f.sim.history.digest();
    };
    expect(run(8)).toBe(run(8));
    expect(run(8)).not.toBe(run(9));
  });
});

describe('exchange: crash recovery', () => {
  it('keeps every acknowledged item through power loss at a random instant (VM or host, write-back cache)', () => {
    fc.assert(fc.property(
      fc.record({
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        crashAtMs: fc.integer({ min: 0, max: 8_000 }),
        secondCrashAtMs: fc.option(fc.integer({ min: 0, max: 3_000 }), { nil: undefined }),
        /** A full backup's writer cycle (freeze, thaw, BackupComplete) before the crash. */
        backupAtMs: fc.option(fc.integer({ min: 0, max: 8_000 }), { nil: undefined }),
        host: fc.boolean(),
        persistFraction: fc.double({ min: 0, max: 1, noNaN: true }),
        tear: fc.boolean(),
        circular: fc.boolean(),
        logFileBytes: fc.constantFrom(4096, 16384),
        opsPerTxn: fc.integer({ min: 1, max: 3 }),
      }),
      (s) => {
        const f = fixture(s.seed, { writeCache: 'write-back', faults: { powerLoss: { persistFraction: s.persistFraction, tearOneSector: s.tear } } });
        const options: ExchangeOptions = { circularLogging: s.circular, logFileBytes: s.logFileBytes, lazyWriteIntervalUs: msToUs(700), checkpointIntervalUs: sToUs(2) };
        const first = start(f, options);
        expect(first.open().ok).toBe(true);
        first.startWorkload({ meanIntervalUs: msToUs(25), opsPerTxn: s.opsPerTxn, valueBytes: 200 });
        if (s.backupAtMs !== undefined && s.backupAtMs < s.crashAtMs) {
          f.sim.runFor(msToUs(s.backupAtMs));
          const w = first.writer!;
          for (const phase of [() => w.prepareForBackup({ backupType: 'full', backupId: 'b' }), () => w.prepareForSnapshot(), () => w.freeze(), () => w.thaw(), () => w.postSnapshot()]) {
            expect(phase().error).toBeNull();
          }
          f.sim.runFor(msToUs(50));
          expect(w.backupComplete(true).error).toBeNull();
          f.sim.runFor(msToUs(s.crashAtMs - s.backupAtMs));
        } else {
          f.sim.runFor(msToUs(s.crashAtMs));
        }
        for (const a of first.acknowledged()) expect(a.durable).toBe(true);
        f.powerLoss({ host: s.host });
        f.boot();
        const second = start(f, options);
        const report = second.open();
        expect(report.ok, report.detail).toBe(true);
        expect(lostAcks(first, second)).toEqual([]);
        // Nothing extra either: power fails between events, and a commit is acknowledged in its event.
        expect(second.committed().size).toBe(first.acknowledged().length);
        if (s.secondCrashAtMs === undefined) return;
        second.startWorkload({ meanIntervalUs: msToUs(25), opsPerTxn: s.opsPerTxn, valueBytes: 200 });
        f.sim.runFor(msToUs(s.secondCrashAtMs));
        f.powerLoss({ host: s.host });
        f.boot();
        const third = start(f, options);
        expect(third.open().ok).toBe(true);
        expect(lostAcks(first, third)).toEqual([]);
        expect(lostAcks(second, third)).toEqual([]);
        expect(third.committed().size).toBe(first.acknowledged().length + second.acknowledged().length);
      },
    ), { numRuns: 40 });
  });

  it('recovers item content exactly, and the check catches a disk that ignores flush', () => {
    const f = fixture(11, { writeCache: 'write-back' });
    const app = start(f, { circularLogging: false, logFileBytes: 8192 });
    app.open();
    app.startWorkload({ meanIntervalUs: msToUs(30), valueBytes: 300 });
    f.sim.runFor(sToUs(4));
    const items = app.acknowledged().map((a) => {
      const found = [...app.store!.records.values()].find((v) => typeof v === 'object' && v !== null && !Array.isArray(v) && (v as { itemId?: unknown }).itemId === a.id);
      return found as { mailbox: string; itemId: string; body: string };
    });
    f.powerLoss({ host: true });
    f.boot();
    const after = start(f, { circularLogging: false, logFileBytes: 8192 });
    expect(after.open()).toMatchObject({ ok: true, recoveryNeeded: true });
    for (const item of items) expect(after.item(item.mailbox, item.itemId)?.body).toBe(item.body);

    // Broken stack: the disk acknowledges flush and keeps nothing. The same check now fails.
    const lying = fixture(11, { writeCache: 'write-back' });
    lying.disks[0]!.setFaults({ ignoreFlush: true, powerLoss: { persistFraction: 0, tearOneSector: false } }); // after mkfs
    const victim = start(lying, { circularLogging: false, logFileBytes: 8192 });
    victim.open();
    victim.startWorkload({ meanIntervalUs: msToUs(30) });
    lying.sim.runFor(sToUs(4));
    lying.powerLoss({ host: true });
    lying.boot();
    const reopened = start(lying, { circularLogging: false, logFileBytes: 8192 });
    const report = reopened.open();
    expect(report.ok ? lostAcks(victim, reopened).length : victim.acknowledged().length).toBeGreaterThan(0);
  });
});

describe('exchange: the writer-frozen snapshot', () => {
  it('opens without recovery and holds exactly the items acknowledged before the freeze', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 100, max: 6_000 }), (seed, freezeAtMs) => {
      const f = fixture(seed, { writeCache: 'write-back' });
      const app = start(f, { circularLogging: false, logFileBytes: 8192, lazyWriteIntervalUs: msToUs(500) });
      app.open();
      app.startWorkload({ meanIntervalUs: msToUs(20) });
      f.sim.runFor(msToUs(freezeAtMs));
      const writer = app.writer!;
      expect(writer.prepareForBackup({ backupType: 'full', backupId: 'b' }).error).toBeNull();
      expect(writer.prepareForSnapshot().error).toBeNull();
      expect(writer.freeze().error).toBeNull();
      const beforeFreeze = new Set(app.acknowledged().map((a) => a.id));
      // Commits wait while the writer holds.
      f.sim.runFor(msToUs(300));
      expect(app.acknowledged().length).toBe(beforeFreeze.size);
      for (const v of f.volumes) expect(v.freeze().ok).toBe(true);
      const snap = f.disks[0]!.createSnapshot();
      for (const v of f.volumes) expect(v.thaw().ok).toBe(true);
      const thawUs = f.sim.clock.nowUs();
      expect(writer.thaw().error).toBeNull();
      f.sim.runFor(msToUs(500));
      const afterThaw = app.acknowledged().slice(beforeFreeze.size);
      expect(afterThaw.length).toBeGreaterThan(0);
      for (const a of afterThaw) expect(a.timeUs).toBeGreaterThanOrEqual(thawUs);
      f.powerLoss({ host: true });
      f.disks[0]!.revertToSnapshot(snap);
      f.boot();
      const restored = start(f, { circularLogging: false, logFileBytes: 8192 });
      expect(restored.open()).toMatchObject({ ok: true, recoveryNeeded: false });
      expect(restored.committed()).toEqual(beforeFreeze);
    }), { numRuns: 12 });
  });

  it('control: a crash-consistent snapshot of the same workload needs recovery', () => {
    const f = fixture(5, { writeCache: 'write-back' });
    const app = start(f, { circularLogging: false, logFileBytes: 8192 });
    app.open();
    app.startWorkload({ meanIntervalUs: msToUs(20) });
    f.sim.runFor(sToUs(2));
    const acked = new Set(app.acknowledged().map((a) => a.id));
    const snap = f.disks[0]!.createSnapshot();
    f.powerLoss();
    f.disks[0]!.revertToSnapshot(snap);
    f.boot();
    const restored = start(f, { circularLogging: false, logFileBytes: 8192 });
    expect(restored.open()).toMatchObject({ ok: true, recoveryNeeded: true });
    for (const id of acked) expect(restored.committed().has(id)).toBe(true);
  });
});

describe('exchange: backup types and log truncation', () => {
  const cases: { type: VssBackupType; succeeded: boolean; truncates: boolean }[] = [
    { type: 'full', succeeded: true, truncates: true },
    { type: 'full', succeeded: false, truncates: false },
    { type: 'incremental', succeeded: true, truncates: true },
    { type: 'incremental', succeeded: false, truncates: false },
    { type: 'copy', succeeded: true, truncates: false },
    { type: 'differential', succeeded: true, truncates: false },
  ];
  for (const c of cases) {
    it(`${c.type}, BackupComplete(${c.succeeded}): ${c.truncates ? 'truncates below the freeze checkpoint' : 'keeps every generation'}`, () => {
      const f = fixture(3);
      const app = start(f, { circularLogging: false, logFileBytes: 4096 });
      app.open();
      app.startWorkload({ meanIntervalUs: msToUs(20) });
      f.sim.runFor(sToUs(3));
      const writer = app.writer!;
      expect(writer.prepareForBackup({ backupType: c.type, backupId: 'b' }).error).toBeNull();
      writer.prepareForSnapshot();
      expect(writer.freeze().error).toBeNull();
      const checkpointGen = app.store!.checkpointGen;
      const atFreeze = gens(app);
      expect(atFreeze[0]).toBe(1);
      expect(atFreeze.length).toBeGreaterThan(5);
      writer.thaw();
      writer.postSnapshot();
      f.sim.runFor(sToUs(1));
      // Nothing is truncated before BackupComplete.
      expect(gens(app).slice(0, atFreeze.length)).toEqual(atFreeze);
      expect(writer.backupComplete(c.succeeded).error).toBeNull();
      const after = gens(app);
      if (c.truncates) {
        expect(after[0]).toBe(checkpointGen);
        expect(after).toEqual(expect.arrayContaining(atFreeze.filter((g) => g >= checkpointGen)));
      } else {
        expect(after.slice(0, atFreeze.length)).toEqual(atFreeze);
      }
      const header = JSON.parse(decoder.decode(app.programs.eseutil!(['/mh'], undefined).stdout)) as { backups: Record<string, unknown> };
      expect(header.backups[c.type] !== undefined).toBe(c.succeeded);
      // Truncation never takes a generation recovery needs.
      const acked = app.acknowledged().length;
      f.powerLoss();
      f.boot();
      const reopened = start(f, { circularLogging: false, logFileBytes: 4096 });
      expect(reopened.open().ok).toBe(true);
      expect(reopened.committed().size).toBeGreaterThanOrEqual(acked);
    });
  }

  it('circular logging refuses incremental and differential, accepts full and copy, and deletes checkpointed generations', () => {
    const f = fixture(4);
    const app = start(f, { circularLogging: true, logFileBytes: 4096 });
    app.open();
    app.startWorkload({ meanIntervalUs: msToUs(20) });
    f.sim.runFor(sToUs(3));
    const writer = app.writer!;
    expect(writer.prepareForBackup({ backupType: 'incremental', backupId: 'i' }).error).toBe('NONRETRYABLE');
    expect(writer.prepareForBackup({ backupType: 'differential', backupId: 'd' }).error).toBe('NONRETRYABLE');
    expect(writer.prepareForBackup({ backupType: 'log', backupId: 'l' }).error).toBe('NONRETRYABLE');
    expect(writer.prepareForBackup({ backupType: 'copy', backupId: 'c' }).error).toBeNull();
    expect(writer.prepareForBackup({ backupType: 'full', backupId: 'f' }).error).toBeNull();
    writer.abort();
    const present = gens(app);
    expect(present[0]).toBeGreaterThan(1);
    expect(present.length).toBeLessThanOrEqual(5);
    expect(present[0]).toBeGreaterThanOrEqual(app.store!.checkpointGen - 1);

    const plain = fixture(4);
    const keeper = start(plain, { circularLogging: false, logFileBytes: 4096 });
    keeper.open();
    expect(keeper.writer!.prepareForBackup({ backupType: 'incremental', backupId: 'i' }).error).toBeNull();
    keeper.startWorkload({ meanIntervalUs: msToUs(20) });
    plain.sim.runFor(sToUs(3));
    expect(gens(keeper)[0]).toBe(1);
  });
});

describe('exchange: missing or damaged log generations', () => {
  /** A dirty database with many generations past its checkpoint (checkpoints held off). */
  function dirtyWithLogs(seed: number): { f: GuestFixture; checkpointGen: number; highest: number } {
    const f = fixture(seed);
    const options: ExchangeOptions = { circularLogging: false, logFileBytes: 4096, checkpointIntervalUs: sToUs(3600), checkpointDepthGens: 1000 };
    const app = start(f, options);
    app.open();
    app.startWorkload({ meanIntervalUs: msToUs(20) });
    f.sim.runFor(sToUs(3));
    f.powerLoss();
    f.boot();
    const header = parseDbHeader(readFile(f, `${LAYOUT.dir}/${LAYOUT.databaseName}`));
    if (header === undefined) throw new Error('no header');
    expect(header.state).toBe('dirty');
    const all = f.volumes[0]!.readdir(LAYOUT.dir);
    const present = all.ok ? all.value.filter((n) => n.endsWith('.log')).length : 0;
    expect(present - header.checkpointGen).toBeGreaterThan(4);
    return { f, checkpointGen: header.checkpointGen, highest: present };
  }

  const reopen = (f: GuestFixture): ReturnType<ExchangeApp['open']> => start(f, { circularLogging: false, logFileBytes: 4096 }).open();

  it('control: with every generation present recovery succeeds', () => {
    const { f } = dirtyWithLogs(21);
    expect(reopen(f)).toMatchObject({ ok: true, recoveryNeeded: true });
  });

  for (const which of ['checkpoint', 'middle', 'newest'] as const) {
    it(`fails loudly when the ${which} generation is missing`, () => {
      const { f, checkpointGen, highest } = dirtyWithLogs(21);
      const gen = which === 'checkpoint' ? checkpointGen : which === 'middle' ? checkpointGen + 2 : highest;
      expect(f.volumes[0]!.unlink(`${LAYOUT.dir}/${logFileName(LAYOUT, gen)}`).ok).toBe(true);
      const report = reopen(f);
      expect(report).toMatchObject({ ok: false, recoveryNeeded: true });
      expect(report.detail).toContain(logFileName(LAYOUT, gen));
    });
  }

  it('fails loudly when a generation before the newest is damaged', () => {
    const { f, checkpointGen } = dirtyWithLogs(22);
    const path = `${LAYOUT.dir}/${logFileName(LAYOUT, checkpointGen + 1)}`;
    const h = f.volumes[0]!.open(path);
    if (!h.ok) throw new Error('open');
    expect(f.volumes[0]!.write(h.value, 520, new Uint8Array([0xde, 0xad, 0xbe, 0xef])).ok).toBe(true);
    const report = reopen(f);
    expect(report.ok).toBe(false);
    expect(report.detail).toContain('damaged');
  });
});

describe('exchange: files a backup engine can parse', () => {
  it('eseutil lists fixed-size generations and returns their raw bytes; the database parses from raw bytes', () => {
    const f = fixture(9);
    const app = start(f, { circularLogging: false, logFileBytes: 8192 });
    app.open();
    app.startWorkload({ meanIntervalUs: msToUs(20), valueBytes: 100 });
    f.sim.runFor(sToUs(2));
    app.stopWorkload();
    const logs = JSON.parse(decoder.decode(app.programs.eseutil!(['list-logs'], undefined).stdout)) as { gen: number; sizeBytes: number }[];
    expect(logs.length).toBeGreaterThan(2);
    expect(logs.every((l) => l.sizeBytes === 8192)).toBe(true);
    const fromLogs = new Set<string>();
    for (const l of logs) {
      const raw = app.programs.eseutil!(['read-log', String(l.gen)], undefined);
      expect(raw.exitCode).toBe(0);
      const parsed = parseLog(raw.stdout);
      if (!parsed.ok) throw new Error(parsed.error);
      expect(parsed.value.gen).toBe(l.gen);
      for (const r of parsed.value.records) for (const op of r.ops) fromLogs.add(op.key);
    }
    const acked = app.acknowledged();
    expect(fromLogs.size).toBe(acked.length);
    const one = [...app.store!.records.keys()][0]!.split(':');
    const item = app.programs.eseutil!(['get-item', one[1]!, one[2]!], undefined);
    expect(JSON.parse(decoder.decode(item.stdout))).toMatchObject({ mailbox: one[1], itemId: one[2] });
    expect(app.programs.eseutil!(['get-item', 'nobody', 'msg-0'], undefined).exitCode).toBe(1);
    app.shutdown();
    // After a clean shutdown the database file alone holds every item.
    const db = parseDatabase(readFile(f, `${LAYOUT.dir}/${LAYOUT.databaseName}`));
    if (!db.ok) throw new Error(db.error);
    expect(db.value.header.state).toBe('clean');
    expect(db.value.records.size).toBe(acked.length);
  });
});
