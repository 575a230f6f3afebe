/**
 * Crash consistency of the guest file system on the real VirtualDisk with a volatile
 * write-back cache, whose power loss persists a random subset of the cached writes (so
 * later writes may land while earlier ones are lost) and tears one of them inside a sector.
 *
 * Power is cut at a random device operation (a write or flush inside a commit, a
 * checkpoint, a writeback or a replay), or after the last one: a deterministic dry run of
 * the same seed counts the operations first, then the run is repeated with the cut.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sToUs } from '../../../core/clock.js';
import { unwrap } from '../../../core/result.js';
import { FileSystem, type DataMode } from '../../../sim/guest/file-system.js';
import { fsck } from '../../../sim/guest/fsck.js';
import { openImage } from '../../../sim/guest/image-reader.js';
import { WINDOWS_WRITEBACK } from '../../../sim/guest/writeback-policy.js';
import { checkImage, expectBytes, makeWorld, pattern, PowerCut, remount, tagProblems, Workload, type World } from './helpers.js';

interface Scenario {
  readonly seed: number;
  readonly sectorSizeBytes: 512 | 4096;
  readonly persistFraction: number;
  readonly dataMode: DataMode;
  readonly windows: boolean;
  /** Picks the device operation the power cut lands on (modulo the operations available). */
  readonly cutPick: number;
  /** Cut just before a flush (the most writes in the volatile cache) rather than anywhere. */
  readonly cutBeforeFlush: boolean;
  /** A small journal wraps and checkpoints often. */
  readonly journalBlocks: number;
  /** Picks a second cut, during the recovery mount. */
  readonly recoveryCutPick: number;
}

const scenarioArb = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  sectorSizeBytes: fc.constantFrom(512 as const, 4096 as const),
  persistFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  dataMode: fc.constantFrom('ordered' as const, 'writeback' as const),
  windows: fc.boolean(),
  cutPick: fc.nat(),
  cutBeforeFlush: fc.boolean(),
  journalBlocks: fc.constantFrom(32, 96),
  recoveryCutPick: fc.nat(),
});

function world(s: Scenario, journalBlocks = s.journalBlocks): World {
  return makeWorld({
    seed: s.seed, sectorSizeBytes: s.sectorSizeBytes, capacityBytes: 16 * 1024 * 1024,
    mkfs: { inodeCount: 512, journalBlocks },
    mount: { dataMode: s.dataMode, ...s.windows ? { writeback: WINDOWS_WRITEBACK } : {} },
  });
}

/** Guest and host power loss at once: memory gone, the disk cache resolved by its plan. */
function powerLoss(w: World, persistFraction: number): void {
  w.fs.crash();
  w.device.cutAt = undefined;
  w.disk.setFaults({ ...w.disk.faults, powerLoss: { persistFraction, tearOneSector: true } });
  w.disk.powerLoss();
}

/** Runs `body`, cutting power before device operation `cutAt` (counted from now). True if it cut. */
function withCut(w: World, cutAt: number | undefined, body: () => void): boolean {
  w.device.cutAt = cutAt === undefined ? undefined : w.device.ops + cutAt;
  try {
    body();
    return false;
  } catch (e) {
    if (e instanceof PowerCut) return true;
    throw e;
  } finally {
    w.device.cutAt = undefined;
  }
}

/**
 * Where to cut, counted from `fromOp`, from a dry run of the same seed: any of its
 * `available` operations or after the last; or, with `beforeFlush`, one of its flushes.
 */
function cutPoint(s: Scenario, dry: World, fromOp: number, available: number): number | undefined {
  const flushes = dry.device.flushOps.filter((op) => op > fromOp);
  if (s.cutBeforeFlush && flushes.length > 0) return (flushes[s.cutPick % flushes.length] as number) - fromOp;
  const k = s.cutPick % (available + 1);
  return k === available ? undefined : k + 1;
}

/**
 * Mounts after a power loss with a second cut during recovery (replay), a second power
 * loss, then the real recovery. Returns the mounted world's file system.
 */
function recover(w: World, s: Scenario): void {
  const cut = withCut(w, 1 + (s.recoveryCutPick % 12), () => { remount(w); });
  if (cut) {
    w.disk.powerLoss();
    remount(w);
  }
  expect(fsck(w.disk).state).toBe('clean');
}

describe('after sync + power loss', () => {
  interface SyncRun {
    readonly w: World;
    readonly synced: Map<string, Uint8Array>;
    readonly syncedAtOp: number;
    readonly opsAfterSync: number;
  }

  function syncRun(s: Scenario, cutAt: number | undefined): SyncRun {
    const w = world(s);
    const workload = new Workload(w, w.sim.stream('workload'), { fsyncShare: 0.05 });
    workload.runUntil(sToUs(20));
    unwrap(w.fs.sync());
    const synced = new Map([...workload.files].map(([path, f]) => [path, f.content.slice()]));
    // More activity after the sync (flusher, commits, checkpoints rewriting the synced
    // files' metadata blocks in place), none of it touching the synced files.
    const after = new Workload(w, w.sim.stream('after'), { protect: new Set(synced.keys()), syncShare: 0, fsyncShare: 0.05, namePrefix: 'late-' });
    for (const dir of workload.dirs) if (dir !== '/') after.dirs.push(dir);
    const start = w.device.ops;
    withCut(w, cutAt, () => { after.runUntil(sToUs(20 + w.sim.stream('gap').int(1, 40))); });
    return { w, synced, syncedAtOp: start, opsAfterSync: w.device.ops - start };
  }

  it('fsck is clean or needs replay, every synced file is intact, and the volume remounts (also after a cut during replay)', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const dry = syncRun(s, undefined);
        const { w, synced } = syncRun(s, cutPoint(s, dry.w, dry.syncedAtOp, dry.opsAfterSync));
        powerLoss(w, s.persistFraction);
        const checked = checkImage(w.disk);
        expect(checked.problems).toEqual([]);
        expect(['clean', 'needs-replay']).toContain(checked.state);
        for (const [path, content] of synced) expectBytes(checked.files.get(path) ?? new Uint8Array(0), content, path);
        recover(w, s);
        for (const [path, content] of synced) expectBytes(unwrap(w.fs.read(unwrap(w.fs.open(path)), 0, content.length + 1)), content, `${path} after remount`);
      }),
      { numRuns: 100 },
    );
  });
});

describe('power loss without sync at a random instant (honest disk)', () => {
  function run(s: Scenario, cutAt: number | undefined): { w: World; workload: Workload; start: number; ops: number } {
    const w = world(s);
    const workload = new Workload(w, w.sim.stream('workload'));
    const start = w.device.ops;
    if (withCut(w, cutAt, () => { workload.runUntil(sToUs(60)); })) workload.forgetInFlight();
    return { w, workload, start, ops: w.device.ops - start };
  }

  it('fsck never says corrupt; replay and reading every file work; fsynced files are intact; ordered mode shows no stale data', () => {
    let needsReplay = 0;
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const dry = run(s, undefined);
        const { w, workload } = run(s, cutPoint(s, dry.w, dry.start, dry.ops));
        const durable = [...workload.files].filter(([, f]) => f.durable !== undefined).map(([path, f]) => [path, f.durable as Uint8Array] as const);
        powerLoss(w, s.persistFraction);
        const checked = checkImage(w.disk);
        expect(checked.problems).toEqual([]);
        expect(checked.state).not.toBe('corrupt');
        if (checked.state === 'needs-replay') needsReplay++;
        for (const [path, content] of durable) expectBytes(checked.files.get(path) ?? new Uint8Array(0), content, `${path} (fsynced)`);
        if (s.dataMode === 'ordered') {
          for (const [path, content] of checked.files) expect(tagProblems(path, content)).toEqual([]);
        }
        recover(w, s);
        for (const [path, content] of checked.files) expectBytes(unwrap(w.fs.read(unwrap(w.fs.open(path)), 0, content.length + 1)), content, `${path} after remount`);
      }),
      { numRuns: 100 },
    );
    expect(needsReplay).toBeGreaterThan(10);
  });

  it('writeback mode can commit metadata before data: a crash leaves the file sized but without its data; ordered mode does not', () => {
    const outcome = (dataMode: DataMode): Uint8Array => {
      const w = makeWorld({ seed: 3, mount: { dataMode } });
      const h = unwrap(w.fs.create('/log'));
      unwrap(w.fs.write(h, 0, pattern(5, 8 * 4096)));
      // The linux flusher writes the pages back at 30 s (35 s tick); the commit timer
      // commits at 35 s; power fails right after, before any flush of the disk cache.
      w.sim.runUntil(sToUs(35));
      expect(w.fs.stats().dirtyPages).toBe(0);
      powerLoss(w, 0);
      return unwrap(unwrap(openImage(w.disk)).readFile('/log'));
    };
    expectBytes(outcome('ordered'), pattern(5, 8 * 4096), 'ordered');
    const writeback = outcome('writeback');
    expect(writeback.length).toBe(8 * 4096);
    expect(writeback.every((b) => b === 0)).toBe(true);
  });
});

describe('a power cut at every device operation of one workload', () => {
  it('each cut point, with partial persistence and a torn sector, leaves a consistent image that holds every fsynced file', () => {
    const base: Scenario = { seed: 11, sectorSizeBytes: 512, persistFraction: 0, dataMode: 'ordered', windows: true, cutPick: 0, cutBeforeFlush: false, journalBlocks: 32, recoveryCutPick: 0 };
    const runFor = (cutAt: number | undefined): { w: World; workload: Workload; ops: number } => {
      const w = world(base);
      const workload = new Workload(w, w.sim.stream('workload'), { fsyncShare: 0.15, writeThroughShare: 0.2 });
      const start = w.device.ops;
      if (withCut(w, cutAt, () => { workload.runUntil(sToUs(45)); })) workload.forgetInFlight();
      return { w, workload, ops: w.device.ops - start };
    };
    const total = runFor(undefined).ops;
    expect(total).toBeGreaterThan(100);
    const verdicts = { clean: 0, 'needs-replay': 0, corrupt: 0 };
    for (let cutAt = 1; cutAt <= total; cutAt++) {
      const { w, workload } = runFor(cutAt);
      const durable = [...workload.files].filter(([, f]) => f.durable !== undefined).map(([path, f]) => [path, f.durable as Uint8Array] as const);
      // Alternate plans: keep most, keep few; the tear always lands somewhere.
      powerLoss(w, cutAt % 2 === 0 ? 0.8 : 0.3);
      const checked = checkImage(w.disk);
      verdicts[checked.state]++;
      if (checked.state === 'corrupt') throw new Error(`cut at operation ${cutAt}: ${checked.problems.join('; ')}`);
      for (const [path, content] of durable) expectBytes(checked.files.get(path) ?? new Uint8Array(0), content, `cut at ${cutAt}: ${path} (fsynced)`);
      for (const [path, content] of checked.files) expect(tagProblems(path, content)).toEqual([]);
    }
    expect(verdicts['needs-replay']).toBeGreaterThan(0);
  });
});

describe('lying disk cache (ignoreFlush) + power loss with partial persistence', () => {
  it('damage is detected: fsck says corrupt in some runs, and whenever it does not, the tree reads back and the volume mounts', () => {
    const states = { clean: 0, 'needs-replay': 0, corrupt: 0 };
    const run = (s: Scenario, cutAt: number | undefined): { w: World; start: number; ops: number } => {
      // A small journal wraps often: checkpoints write home and reuse journal space, which
      // a lying flush turns into lost home writes behind an advanced tail.
      const w = world(s, 32);
      w.disk.setFaults({ ignoreFlush: true });
      const workload = new Workload(w, w.sim.stream('workload'), { syncShare: 0.05 });
      const start = w.device.ops;
      withCut(w, cutAt, () => { workload.runUntil(sToUs(60)); });
      return { w, start, ops: w.device.ops - start };
    };
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const dry = run(s, undefined);
        const { w } = run(s, cutPoint(s, dry.w, dry.start, dry.ops));
        powerLoss(w, Math.min(0.9, Math.max(0.1, s.persistFraction)));
        // checkImage throws when fsck accepts an image the reader cannot read.
        const checked = checkImage(w.disk);
        states[checked.state]++;
        const mounted = FileSystem.mount(w.disk, w.mountOptions);
        expect(mounted.ok).toBe(checked.state !== 'corrupt');
      }),
      { numRuns: 80 },
    );
    expect(states.corrupt, `fsck verdicts ${JSON.stringify(states)}`).toBeGreaterThan(0);
  });
});

describe('freeze versus crash', () => {
  it('a frozen file system leaves an image fsck calls clean holding every completed write; a crash without sync typically needs replay', () => {
    let replayNeeded = 0;
    const runs = 20;
    for (let seed = 1; seed <= runs; seed++) {
      const w = world({ seed, sectorSizeBytes: 512, persistFraction: 0.5, dataMode: 'ordered', windows: false, cutPick: 0, cutBeforeFlush: false, journalBlocks: 96, recoveryCutPick: 0 });
      const workload = new Workload(w, w.sim.stream('workload'), { fsyncShare: 0, syncShare: 0, writeThroughShare: 0 });
      workload.runUntil(sToUs(20));
      const crashImage = fsck(w.disk.durableReader());
      expect(crashImage.state).not.toBe('corrupt');
      if (crashImage.state === 'needs-replay') replayNeeded++;
      unwrap(w.fs.freeze());
      const frozen = w.disk.durableReader();
      expect(fsck(frozen)).toMatchObject({ state: 'clean', problems: [], cleanFlag: true });
      const image = unwrap(openImage(frozen, { replay: false }));
      for (const [path, file] of workload.files) expectBytes(unwrap(image.readFile(path)), file.content, `${path} in the frozen image`);
      // A power loss now changes nothing: the freeze flushed everything.
      powerLoss(w, 0.5);
      expect(fsck(w.disk).state).toBe('clean');
    }
    expect(replayNeeded).toBeGreaterThanOrEqual(runs * 0.75);
  });
});
