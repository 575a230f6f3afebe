/** The live file system's API: namespace, data, space, durability points, timers, freeze. */

import { describe, expect, it } from 'vitest';
import { sToUs } from '../../../core/clock.js';
import { unwrap } from '../../../core/result.js';
import { FileSystem } from '../../../sim/guest/file-system.js';
import { fsck } from '../../../sim/guest/fsck.js';
import { openImage } from '../../../sim/guest/image-reader.js';
import { WINDOWS_WRITEBACK } from '../../../sim/guest/writeback-policy.js';
import type { GuestMemory } from '../../../sim/faults/power.js';
import { HistoryRecorder } from '../../../sim/kernel/history-recorder.js';
import { expectBytes, makeWorld, pattern, remount, type World } from './helpers.js';

function withHistory(seed = 1, extra: Parameters<typeof makeWorld>[0]['mount'] = {}): World & { history: HistoryRecorder } {
  const w = makeWorld({ seed, mount: { ...extra } });
  const history = new HistoryRecorder(w.sim.clock);
  w.fs.crash();
  const world = { ...w, history, mountOptions: { ...w.mountOptions, history } };
  remount(world);
  return world;
}

function powerLoss(w: World, persistFraction = 0): void {
  w.fs.crash();
  w.disk.setFaults({ powerLoss: { persistFraction, tearOneSector: false } });
  w.disk.powerLoss();
}

describe('namespace', () => {
  it('mkdir, create, readdir, stat, unlink, rmdir, with typed errors', () => {
    const { fs } = makeWorld({ seed: 1 });
    unwrap(fs.mkdir('/a'));
    unwrap(fs.mkdir('/a/b'));
    const h = unwrap(fs.create('/a/f'));
    expect(fs.mkdir('/a')).toMatchObject({ ok: false, error: { kind: 'exists', path: '/a' } });
    expect(fs.create('/a/f')).toMatchObject({ ok: false, error: { kind: 'exists' } });
    expect(fs.mkdir('/x/y')).toMatchObject({ ok: false, error: { kind: 'not-found', path: '/x' } });
    expect(fs.create('/a/f/g')).toMatchObject({ ok: false, error: { kind: 'not-a-directory', path: '/a/f' } });
    expect(fs.open('/a')).toMatchObject({ ok: false, error: { kind: 'is-a-directory' } });
    expect(fs.open('/a/nope')).toMatchObject({ ok: false, error: { kind: 'not-found' } });
    expect(fs.mkdir('a')).toMatchObject({ ok: false, error: { kind: 'invalid-path' } });
    expect(fs.mkdir(`/${'n'.repeat(60)}`)).toMatchObject({ ok: false, error: { kind: 'invalid-path' } });
    expect(fs.unlink('/a/b')).toMatchObject({ ok: false, error: { kind: 'is-a-directory' } });
    expect(fs.rmdir('/a')).toMatchObject({ ok: false, error: { kind: 'not-empty' } });
    expect(fs.rmdir('/a/f')).toMatchObject({ ok: false, error: { kind: 'not-a-directory' } });
    expect(fs.rmdir('/')).toMatchObject({ ok: false, error: { kind: 'busy' } });
    expect(unwrap(fs.readdir('/a'))).toEqual(['b', 'f']);
    expect(unwrap(fs.stat('/a'))).toMatchObject({ type: 'dir', linkCount: 3, sizeBytes: 4096 });
    unwrap(fs.unlink('/a/f'));
    expect(fs.write(h, 0, new Uint8Array(1))).toMatchObject({ ok: false, error: { kind: 'stale-handle' } });
    unwrap(fs.rmdir('/a/b'));
    unwrap(fs.rmdir('/a'));
    expect(unwrap(fs.readdir('/'))).toEqual([]);
    unwrap(fs.unmount());
  });

  it('rename moves files and directories atomically, keeps link counts, refuses loops', () => {
    const w = makeWorld({ seed: 1 });
    const { fs } = w;
    unwrap(fs.mkdir('/a'));
    unwrap(fs.mkdir('/a/sub'));
    unwrap(fs.mkdir('/b'));
    const h = unwrap(fs.create('/a/file'));
    unwrap(fs.write(h, 0, pattern(1, 5000)));
    unwrap(fs.rename('/a/file', '/b/moved'));
    expect(unwrap(fs.read(h, 0, 6000))).toEqual(pattern(1, 5000));
    unwrap(fs.rename('/a/sub', '/b/sub'));
    expect(unwrap(fs.stat('/a')).linkCount).toBe(2);
    expect(unwrap(fs.stat('/b')).linkCount).toBe(3);
    expect(fs.rename('/b', '/b/sub/inside')).toMatchObject({ ok: false, error: { kind: 'busy' } });
    const other = unwrap(fs.create('/a/other'));
    unwrap(fs.rename('/a/other', '/b/moved')); // replaces the file
    expect(fs.read(h, 0, 1)).toMatchObject({ ok: false, error: { kind: 'stale-handle' } });
    expect(unwrap(fs.size(other))).toBe(0);
    unwrap(fs.mkdir('/empty'));
    unwrap(fs.rename('/a', '/empty')); // replaces an empty directory
    unwrap(fs.create('/empty/x'));
    expect(fs.rename('/b', '/empty')).toMatchObject({ ok: false, error: { kind: 'not-empty' } });
    expect(fs.rename('/b/moved', '/empty')).toMatchObject({ ok: false, error: { kind: 'is-a-directory' } });
    expect(unwrap(fs.readdir('/'))).toEqual(['b', 'empty']);
    unwrap(fs.unmount());
    expect(fsck(w.disk)).toMatchObject({ state: 'clean', problems: [], dirs: 4, files: 2 });
  });

  it('a directory of 200 files spans several blocks and survives remount in order', () => {
    const w = makeWorld({ seed: 2 });
    unwrap(w.fs.mkdir('/many'));
    const names = Array.from({ length: 200 }, (_, i) => `file-${String(i).padStart(3, '0')}`);
    for (const name of names) unwrap(w.fs.create(`/many/${name}`));
    expect(unwrap(w.fs.stat('/many')).sizeBytes).toBe(4 * 4096);
    unwrap(w.fs.sync());
    powerLoss(w, 0);
    remount(w);
    expect(unwrap(w.fs.readdir('/many'))).toEqual(names);
    expect(fsck(w.disk).state).toBe('clean');
  });
});

describe('data', () => {
  it('writes, reads, sparse holes, truncate both ways; stat shows memory and disk sizes', () => {
    const { fs } = makeWorld({ seed: 1 });
    const h = unwrap(fs.create('/f'));
    unwrap(fs.write(h, 10_000, pattern(2, 3000)));
    const all = unwrap(fs.read(h, 0, 20_000));
    expect(all.length).toBe(13_000);
    expect(all.subarray(0, 10_000).every((b) => b === 0)).toBe(true);
    expectBytes(all.subarray(10_000), pattern(2, 3000));
    expect(unwrap(fs.stat('/f'))).toMatchObject({ sizeBytes: 13_000, diskSizeBytes: 0, dirtyPages: 2, allocatedBlocks: 0 });
    unwrap(fs.fsync(h));
    expect(unwrap(fs.stat('/f'))).toMatchObject({ sizeBytes: 13_000, diskSizeBytes: 13_000, dirtyPages: 0, allocatedBlocks: 2 });
    unwrap(fs.truncate(h, 10_500));
    unwrap(fs.truncate(h, 20_000));
    const grown = unwrap(fs.read(h, 0, 30_000));
    expect(grown.length).toBe(20_000);
    expectBytes(grown.subarray(10_000, 10_500), pattern(2, 500));
    expect(grown.subarray(10_500).every((b) => b === 0)).toBe(true);
    expect(fs.write(h, -1, new Uint8Array(1))).toMatchObject({ ok: false, error: { kind: 'invalid-argument' } });
    expect(unwrap(fs.write(h, 0, new Uint8Array(0)))).toBe(0);
  });

  it('a file fragmented past the inline extents gets an extent block, which survives remount and is freed by truncate', () => {
    const w = makeWorld({ seed: 1 });
    const h = unwrap(w.fs.create('/frag'));
    for (let p = 0; p < 40; p += 2) unwrap(w.fs.write(h, p * 4096, pattern(p, 4096)));
    unwrap(w.fs.fsync(h));
    const ino = unwrap(w.fs.stat('/frag')).ino;
    const image = unwrap(openImage(w.disk));
    expect(unwrap(image.stat('/frag')).sizeBytes).toBe(39 * 4096);
    unwrap(w.fs.unmount());
    remount(w);
    const h2 = unwrap(w.fs.open('/frag'));
    for (let p = 0; p < 40; p += 2) expectBytes(unwrap(w.fs.read(h2, p * 4096, 4096)), pattern(p, 4096), `page ${p}`);
    const free = w.fs.stats().freeBlocks;
    unwrap(w.fs.truncate(h2, 3 * 4096));
    unwrap(w.fs.unmount());
    const report = fsck(w.disk);
    expect(report).toMatchObject({ state: 'clean', problems: [] });
    remount(w);
    // 18 data blocks and the extent block came back.
    expect(w.fs.stats().freeBlocks).toBe(free + 18 + 1);
    expect(unwrap(w.fs.stat('/frag'))).toMatchObject({ ino, allocatedBlocks: 2 });
  });
});

describe('space', () => {
  it('delayed allocation reserves at write time: the write that does not fit fails, never the writeback', () => {
    const w = makeWorld({ seed: 1, capacityBytes: 4 * 1024 * 1024 });
    const free = w.fs.stats().freeBlocks;
    const a = unwrap(w.fs.create('/a'));
    const chunk = new Uint8Array(64 * 4096).fill(1);
    let written = 0;
    for (let i = 0; i < 100; i++) {
      const r = w.fs.write(a, written, chunk);
      if (!r.ok) {
        expect(r.error.kind).toBe('no-space');
        break;
      }
      written += r.value;
    }
    expect(written).toBeGreaterThan((free - 70) * 4096);
    expect(written).toBeLessThanOrEqual(free * 4096);
    unwrap(w.fs.sync());
    expect(unwrap(w.fs.stat('/a')).diskSizeBytes).toBe(written);
    // Freed space comes back once the unlink commits (and checkpoints, for metadata blocks).
    unwrap(w.fs.unlink('/a'));
    const b = unwrap(w.fs.create('/b'));
    unwrap(w.fs.write(b, 0, new Uint8Array(written)));
    unwrap(w.fs.sync());
    unwrap(w.fs.unmount());
    expect(fsck(w.disk).state).toBe('clean');
  });

  it('inodes run out with a typed error', () => {
    const w = makeWorld({ seed: 1, mkfs: { inodeCount: 40 } });
    let created = 0;
    for (let i = 0; i < 50; i++) {
      const r = w.fs.create(`/f${i}`);
      if (!r.ok) {
        expect(r.error).toEqual({ kind: 'no-inodes' });
        break;
      }
      created++;
    }
    expect(created).toBe(39);
  });
});

describe('durability points', () => {
  it('a power loss keeps fsynced and write-through data, loses buffered data', () => {
    const w = makeWorld({ seed: 1 });
    const synced = unwrap(w.fs.create('/synced'));
    unwrap(w.fs.write(synced, 0, pattern(1, 9000)));
    unwrap(w.fs.fsync(synced));
    const direct = unwrap(w.fs.create('/direct', { writeThrough: true }));
    unwrap(w.fs.write(direct, 0, pattern(2, 7000)));
    unwrap(w.fs.write(direct, 3000, pattern(3, 100))); // an in-place overwrite: FUA, no commit needed
    const lost = unwrap(w.fs.create('/buffered'));
    unwrap(w.fs.write(lost, 0, pattern(4, 5000)));
    unwrap(w.fs.write(synced, 0, pattern(5, 100))); // a later buffered overwrite of a synced file
    powerLoss(w, 0);
    const image = unwrap(openImage(w.disk));
    expectBytes(unwrap(image.readFile('/synced')), pattern(1, 9000), 'synced');
    const expected = pattern(2, 7000);
    expected.set(pattern(3, 100), 3000);
    expectBytes(unwrap(image.readFile('/direct')), expected, 'write-through');
    expect(image.stat('/buffered')).toMatchObject({ ok: false, error: { kind: 'not-found' } });
  });

  it('the periodic commit runs every 5 s and the linux flusher writes a page 30 s after it was dirtied', () => {
    const w = withHistory(1);
    const h = unwrap(w.fs.create('/f'));
    unwrap(w.fs.write(h, 0, pattern(1, 100)));
    w.sim.runUntil(sToUs(40));
    const events = w.history.events().filter((e) => e.kind.startsWith('fs.') && e.kind !== 'fs.mount').map((e) => [e.kind, e.timeUs / 1e6]);
    expect(events).toEqual([['fs.commit', 5], ['fs.writeback', 30], ['fs.commit', 30]]);
  });

  it('the windows lazy writer (approximation) writes a page about 8 s after it was dirtied', () => {
    const w = withHistory(1, { writeback: WINDOWS_WRITEBACK, commitIntervalUs: 0 });
    const h = unwrap(w.fs.create('/f'));
    w.sim.runUntil(sToUs(0.5));
    unwrap(w.fs.write(h, 0, pattern(1, 100)));
    w.sim.runUntil(sToUs(12));
    const writebacks = w.history.events().filter((e) => e.kind === 'fs.writeback').map((e) => e.timeUs / 1e6);
    expect(writebacks).toEqual([9]);
  });

  it('stats report dirty pages, reservations, and journal use', () => {
    const w = makeWorld({ seed: 1, mount: { commitIntervalUs: 0 } });
    const h = unwrap(w.fs.create('/f'));
    unwrap(w.fs.write(h, 0, new Uint8Array(3 * 4096 + 1)));
    // Running transaction: the new inode's table block, the root's first directory block, the bitmap.
    expect(w.fs.stats()).toMatchObject({ dirtyPages: 4, dirtyBytes: 4 * 4096, reservedBlocks: 5, runningTransactionBlocks: 3, journalUsedBlocks: 0, commits: 0, frozen: false });
    unwrap(w.fs.fsync(h));
    const stats = w.fs.stats();
    expect(stats).toMatchObject({ dirtyPages: 0, reservedBlocks: 0, runningTransactionBlocks: 0, commits: 1 });
    expect(stats.journalUsedBlocks).toBeGreaterThan(2);
    expect(stats.checkpointPendingBlocks).toBeGreaterThan(0);
  });

  it('commits fill the journal and lazy checkpoints make room; the result remounts', () => {
    const w = makeWorld({ seed: 1, mkfs: { journalBlocks: 32 } });
    for (let i = 0; i < 60; i++) {
      unwrap(w.fs.mkdir(`/d${i}`));
      unwrap(w.fs.sync());
    }
    expect(w.fs.stats().checkpoints).toBeGreaterThan(5);
    powerLoss(w, 0);
    remount(w);
    expect(unwrap(w.fs.readdir('/')).length).toBe(60);
  });
});

describe('freeze', () => {
  it('holds mutations until thaw, lets reads and sync through, and wakes waiters after thaw', () => {
    const w = makeWorld({ seed: 1 });
    const h = unwrap(w.fs.create('/f'));
    unwrap(w.fs.write(h, 0, pattern(1, 5000)));
    unwrap(w.fs.freeze());
    expect(w.fs.isFrozen).toBe(true);
    expect(fsck(w.disk.durableReader())).toMatchObject({ state: 'clean', cleanFlag: true });
    expect(w.fs.write(h, 0, new Uint8Array(1))).toMatchObject({ ok: false, error: { kind: 'frozen' } });
    expect(w.fs.mkdir('/d')).toMatchObject({ ok: false, error: { kind: 'frozen' } });
    expect(w.fs.truncate(h, 0)).toMatchObject({ ok: false, error: { kind: 'frozen' } });
    expect(w.fs.freeze()).toMatchObject({ ok: false, error: { kind: 'already-frozen' } });
    expect(w.fs.unmount()).toMatchObject({ ok: false, error: { kind: 'frozen' } });
    expectBytes(unwrap(w.fs.read(h, 0, 5000)), pattern(1, 5000));
    unwrap(w.fs.sync());
    const woken: number[] = [];
    w.fs.onThaw(() => {
      woken.push(w.sim.clock.nowUs());
      unwrap(w.fs.write(h, 0, new Uint8Array([9])));
    });
    w.sim.runUntil(sToUs(60)); // timers run while frozen: nothing is written
    expect(woken).toEqual([]);
    expect(fsck(w.disk.durableReader()).state).toBe('clean');
    unwrap(w.fs.thaw());
    expect(w.fs.thaw()).toMatchObject({ ok: false, error: { kind: 'not-frozen' } });
    w.sim.runUntil(sToUs(60));
    expect(woken).toEqual([sToUs(60)]);
    expect(unwrap(w.fs.read(h, 0, 1))).toEqual(new Uint8Array([9]));
  });
});

describe('crash and lifecycle', () => {
  it('crash kills the object and its timers; the file system is guest memory for the power grid', () => {
    const w = makeWorld({ seed: 1 });
    const memory: GuestMemory = w.fs;
    expect(w.sim.queue.pending).toBe(2); // flusher and commit timer
    memory.crash();
    expect(w.sim.queue.pending).toBe(0);
    expect(w.fs.isDead).toBe(true);
    expect(() => w.fs.mkdir('/a')).toThrow(/after crash or unmount/);
    memory.crash(); // idempotent
  });

  it('unmount writes everything back, checkpoints, and marks the volume clean', () => {
    const w = makeWorld({ seed: 1 });
    const h = unwrap(w.fs.create('/f'));
    unwrap(w.fs.write(h, 0, pattern(1, 20_000)));
    unwrap(w.fs.unmount());
    expect(w.sim.queue.pending).toBe(0);
    expect(fsck(w.disk.durableReader())).toMatchObject({ state: 'clean', cleanFlag: true, files: 1 });
    expect(FileSystem.mount(w.disk, w.mountOptions).ok).toBe(true);
  });

  it('the same seed gives the same history, byte for byte', () => {
    const digest = (seed: number): string => {
      const w = withHistory(seed);
      for (let i = 0; i < 20; i++) {
        const h = unwrap(w.fs.create(`/f${i}`));
        unwrap(w.fs.write(h, i * 1000, pattern(i, 9000)));
        w.sim.runUntil(w.sim.clock.nowUs() + sToUs(3));
      }
      unwrap(w.fs.sync());
      return w.history.digest();
    };
    expect(digest(5)).toBe(digest(5));
  });
});
