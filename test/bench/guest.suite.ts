/**
 * Guest file system benchmarks (wall-clock cost of the simulation, not simulated time):
 * 4 KiB writes through PageCache + FileSystem (buffered, fsync every 10, write-through),
 * the cost of one fsync, fsck of a ~1,000-file image, and journal replay at mount.
 * The simulator has no I/O latency model, so an fsync takes no virtual time; its figure
 * here is what it costs to simulate.
 */

import { DiskId } from '../../core/ids.js';
import { unwrap } from '../../core/result.js';
import { FileSystem, type MountOptions } from '../../sim/guest/file-system.js';
import { mkfs } from '../../sim/guest/fs-format.js';
import { fsck } from '../../sim/guest/fsck.js';
import { openImage } from '../../sim/guest/image-reader.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { VirtualDisk } from '../../sim/storage/virtual-disk.js';
import { opsPerSecond, timeMs, type BenchSuite } from './harness.js';

const MiB = 1024 * 1024;

function mounted(seed: number, capacityBytes: number, writeCache: 'none' | 'write-back', mkfsOptions: Parameters<typeof mkfs>[1] = {}): { sim: Simulation; disk: VirtualDisk; fs: FileSystem; options: MountOptions } {
  const sim = new Simulation({ seed });
  const disk = new VirtualDisk({ id: DiskId('bench-0'), capacityBytes, writeCache, prng: sim.stream('disk'), clock: sim.clock });
  unwrap(mkfs(disk, mkfsOptions));
  const options: MountOptions = { clock: sim.clock, queue: sim.queue, label: 'bench:fs' };
  return { sim, disk, fs: unwrap(FileSystem.mount(disk, options)), options };
}

type WriteMode = 'buffered' | 'fsync-10' | 'write-through';

/**
 * 4 KiB writes, counted in batches of 256. 'append' always writes new blocks (delayed or
 * direct allocation, so commits carry bitmap and extent changes): a file grows to 16 MiB,
 * then the previous one is unlinked and the next begins. 'overwrite' rewrites the blocks of
 * an allocated 16 MiB file in place.
 */
function writeRate(mode: WriteMode, pattern: 'append' | 'overwrite'): number {
  const { fs } = mounted(1, 256 * MiB, 'write-back');
  const writeThrough = mode === 'write-through';
  const page = new Uint8Array(4096).fill(7);
  const filePages = 4096;
  let fileNo = 0;
  let h = unwrap(fs.create(`/bench-${fileNo}`, { writeThrough }));
  if (pattern === 'overwrite') {
    for (let i = 0; i < filePages; i++) unwrap(fs.write(h, i * 4096, page));
    unwrap(fs.sync());
  }
  let n = 0;
  return opsPerSecond(() => {
    for (let i = 0; i < 256; i++) {
      if (pattern === 'append' && n > 0 && n % filePages === 0) {
        if (fileNo > 0) unwrap(fs.unlink(`/bench-${fileNo - 1}`));
        fileNo++;
        h = unwrap(fs.create(`/bench-${fileNo}`, { writeThrough }));
      }
      unwrap(fs.write(h, (n % filePages) * 4096, page));
      n++;
      if (mode === 'fsync-10' && n % 10 === 0) unwrap(fs.fsync(h));
    }
    return 256;
  }, 700);
}

/** A clean image of `files` small files in 10 directories. */
function imageWithFiles(files: number): VirtualDisk {
  const { fs, disk } = mounted(2, 64 * MiB, 'none', { inodeCount: 4096 });
  for (let d = 0; d < 10; d++) unwrap(fs.mkdir(`/dir${d}`));
  for (let i = 0; i < files; i++) {
    const h = unwrap(fs.create(`/dir${i % 10}/file-${i}`));
    unwrap(fs.write(h, 0, new Uint8Array(((i % 3) + 1) * 4096 - 100).fill(i & 0xff)));
  }
  unwrap(fs.unmount());
  return disk;
}

/** A crashed volume with `commits` committed, never checkpointed transactions. */
function pendingJournal(commits: number): { disk: VirtualDisk; options: MountOptions; blocks: number } {
  const { fs, disk, options } = mounted(3, 64 * MiB, 'none', { inodeCount: 4096, journalBlocks: 4096 });
  for (let i = 0; i < commits; i++) {
    const h = unwrap(fs.create(`/f${i}`));
    unwrap(fs.write(h, 0, new Uint8Array(4096).fill(1)));
    unwrap(fs.fsync(h));
  }
  const blocks = fs.stats().journalUsedBlocks;
  fs.crash();
  return { disk, options, blocks };
}

export const suite: BenchSuite = {
  name: 'guest',
  run(report) {
    const notes: Record<WriteMode, string> = {
      buffered: 'page cache, throttling, delayed allocation',
      'fsync-10': 'fsync: writeback, commit, flush',
      'write-through': 'FUA data, commit when metadata changes',
    };
    for (const mode of ['buffered', 'fsync-10', 'write-through'] as const) {
      for (const pattern of ['append', 'overwrite'] as const) {
        report(`4 KiB writes, ${mode}, ${pattern}`, writeRate(mode, pattern), 'writes/s', notes[mode]);
      }
    }

    const { fs } = mounted(4, 64 * MiB, 'write-back');
    const h = unwrap(fs.create('/f'));
    const tenPages = new Uint8Array(10 * 4096).fill(3);
    let round = 0;
    const fsyncMs = timeMs(() => {
      for (let i = 0; i < 100; i++) {
        unwrap(fs.write(h, (round++ % 100) * tenPages.length, tenPages));
        unwrap(fs.fsync(h));
      }
    }, 5) / 100;
    report('fsync of 10 dirty pages (simulation cost)', fsyncMs * 1000, 'µs', 'virtual time: 0 (no I/O latency model)');

    const image = imageWithFiles(1000);
    const counted = fsck(image);
    report('fsck, 1,000-file image', timeMs(() => fsck(image), 7), 'ms', `${counted.files} files, ${counted.dirs} dirs, ${counted.state}`);
    report('image reader: open + walk + read 1,000 files', timeMs(() => {
      const view = unwrap(openImage(image));
      for (const e of unwrap(view.walk())) if (e.type === 'file') unwrap(view.readFile(e.path));
    }, 5), 'ms');

    const replay = pendingJournal(200);
    report('fsck with replay in overlay (200 transactions)', timeMs(() => fsck(replay.disk), 5), 'ms', `${replay.blocks} journal blocks`);
    const samples: number[] = [];
    for (let r = 0; r < 5; r++) {
      const pending = pendingJournal(200);
      const start = process.hrtime.bigint();
      const remounted = unwrap(FileSystem.mount(pending.disk, pending.options));
      samples.push(Number(process.hrtime.bigint() - start) / 1e6);
      remounted.crash();
    }
    samples.sort((a, b) => a - b);
    report('mount with journal replay (200 transactions)', samples[2] ?? 0, 'ms', 'replay home, flush, check, superblock');
  },
};
