/**
 * Test helpers for the guest file system: a Map-backed device without a volatile cache,
 * a world (simulation + disk + mounted file system), and deterministic byte patterns.
 */

import { expect } from 'vitest';
import { DiskId } from '../../../core/ids.js';
import type { Prng } from '../../../core/prng.js';
import { unwrap } from '../../../core/result.js';
import { Simulation } from '../../../sim/kernel/simulation.js';
import { mkfs, type MkfsOptions } from '../../../sim/guest/fs-format.js';
import { FileSystem, type FileHandle, type MountOptions } from '../../../sim/guest/file-system.js';
import { fsck, type FsckState } from '../../../sim/guest/fsck.js';
import { openImage } from '../../../sim/guest/image-reader.js';
import { VirtualDisk } from '../../../sim/storage/virtual-disk.js';
import type { BlockDevice, BlockReader } from '../../../sim/storage/types.js';
import { xorshiftBytes } from '../../support/bytes.js';

/** A device whose every write is durable at once (no cache): flush does nothing. */
export class MemDevice implements BlockDevice {
  readonly sectorSizeBytes = 512 as const;
  private readonly blocks = new Map<number, Uint8Array>();
  writes = 0;
  flushes = 0;

  constructor(readonly capacityBytes: number) {}

  read(offsetBytes: number, lengthBytes: number): Uint8Array {
    if (offsetBytes < 0 || offsetBytes + lengthBytes > this.capacityBytes) throw new Error(`read out of range ${offsetBytes}+${lengthBytes}`);
    const out = new Uint8Array(lengthBytes);
    for (let pos = offsetBytes; pos < offsetBytes + lengthBytes;) {
      const b = Math.floor(pos / 4096);
      const inBlock = pos - b * 4096;
      const n = Math.min(4096 - inBlock, offsetBytes + lengthBytes - pos);
      const block = this.blocks.get(b);
      if (block !== undefined) out.set(block.subarray(inBlock, inBlock + n), pos - offsetBytes);
      pos += n;
    }
    return out;
  }

  write(offsetBytes: number, data: Uint8Array): void {
    if (offsetBytes < 0 || offsetBytes + data.length > this.capacityBytes) throw new Error(`write out of range ${offsetBytes}+${data.length}`);
    this.writes++;
    for (let pos = offsetBytes; pos < offsetBytes + data.length;) {
      const b = Math.floor(pos / 4096);
      const inBlock = pos - b * 4096;
      const n = Math.min(4096 - inBlock, offsetBytes + data.length - pos);
      let block = this.blocks.get(b);
      if (block === undefined) {
        block = new Uint8Array(4096);
        this.blocks.set(b, block);
      }
      block.set(data.subarray(pos - offsetBytes, pos - offsetBytes + n), inBlock);
      pos += n;
    }
  }

  flush(): void {
    this.flushes++;
  }

  /** A frozen copy of the current image. */
  clone(): MemDevice {
    const copy = new MemDevice(this.capacityBytes);
    for (const [b, block] of this.blocks) copy.blocks.set(b, block.slice());
    return copy;
  }
}

export const MiB = 1024 * 1024;

/** Thrown by CutDevice when power is cut before the chosen device operation. */
export class PowerCut extends Error {
  constructor(readonly atOp: number) {
    super(`power cut before device operation ${atOp}`);
  }
}

/**
 * Forwards to a device and counts writes and flushes; with `cutAt` set, throws PowerCut
 * instead of performing operation number `cutAt` (1-based). That is a power loss at an
 * exact point inside a commit, a checkpoint or a replay: what the disk holds then is
 * what the operations before it left, durable or still in its volatile cache.
 */
export class CutDevice implements BlockDevice {
  ops = 0;
  cutAt: number | undefined;
  /** Operation numbers of the flushes so far (where a cut finds the most in the volatile cache). */
  readonly flushOps: number[] = [];

  constructor(readonly inner: BlockDevice) {}

  get capacityBytes(): number {
    return this.inner.capacityBytes;
  }

  get sectorSizeBytes(): 512 | 4096 {
    return this.inner.sectorSizeBytes;
  }

  read(offsetBytes: number, lengthBytes: number): Uint8Array {
    return this.inner.read(offsetBytes, lengthBytes);
  }

  write(offsetBytes: number, data: Uint8Array, options?: { readonly fua?: boolean }): void {
    this.tick();
    this.inner.write(offsetBytes, data, options);
  }

  flush(): void {
    this.tick();
    this.flushOps.push(this.ops);
    this.inner.flush();
  }

  private tick(): void {
    this.ops++;
    if (this.cutAt !== undefined && this.ops >= this.cutAt) throw new PowerCut(this.ops);
  }
}

/** Bytes derived from (seed, offset): equal inputs give equal bytes, others differ. */
export function pattern(seed: number, lengthBytes: number): Uint8Array {
  return xorshiftBytes(seed * 2654435761, lengthBytes);
}

export interface World {
  readonly sim: Simulation;
  readonly disk: VirtualDisk;
  /** The disk as the file system sees it (counts operations, can cut power). */
  readonly device: CutDevice;
  fs: FileSystem;
  readonly mountOptions: MountOptions;
}

export interface WorldOptions {
  readonly seed: number;
  readonly capacityBytes?: number;
  readonly sectorSizeBytes?: 512 | 4096;
  readonly writeCache?: 'none' | 'write-back';
  readonly mkfs?: MkfsOptions;
  readonly mount?: Partial<Omit<MountOptions, 'clock' | 'queue'>>;
}

/** A simulation with one VirtualDisk, formatted and mounted. */
export function makeWorld(options: WorldOptions): World {
  const sim = new Simulation({ seed: options.seed });
  const disk = new VirtualDisk({
    id: DiskId('vm1-0'), capacityBytes: options.capacityBytes ?? 16 * MiB, sectorSizeBytes: options.sectorSizeBytes ?? 512,
    writeCache: options.writeCache ?? 'write-back', prng: sim.stream('disk'), clock: sim.clock,
  });
  unwrap(mkfs(disk, options.mkfs ?? {}));
  const mountOptions: MountOptions = { clock: sim.clock, queue: sim.queue, label: 'vm1:fs', ...options.mount };
  const device = new CutDevice(disk);
  const fs = unwrap(FileSystem.mount(device, mountOptions));
  return { sim, disk, device, fs, mountOptions };
}

/** Remounts after a crash (the FS object must be dead already). */
export function remount(world: World): void {
  world.fs = unwrap(FileSystem.mount(world.device, world.mountOptions));
}

/**
 * Fast byte comparison (vitest's deep equality walks typed arrays element by element):
 * throws with the first differing offset.
 */
export function expectBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  if (Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.length))) return;
  let i = 0;
  while (actual[i] === expected[i]) i++;
  throw new Error(`${what}: first difference at byte ${i} (page ${Math.floor(i / 4096)}): ${actual[i]} != ${expected[i]}`);
}

export const PAGE_BYTES = 4096;

/**
 * A tagged page: bytes 0-3 the file's tag, 4-7 the page index, 8-11 a version, the rest
 * pattern bytes. Lets a checker tell whose data a block holds after a crash.
 */
export function taggedPage(tag: number, index: number, version: number): Uint8Array {
  const page = pattern(tag * 7919 + index * 104729 + version, PAGE_BYTES);
  const dv = new DataView(page.buffer);
  dv.setUint32(0, tag, true);
  dv.setUint32(4, index, true);
  dv.setUint32(8, version, true);
  return page;
}

/** Problems with a file's pages: every non-zero page must carry one tag and its own index. */
export function tagProblems(path: string, content: Uint8Array): string[] {
  const problems: string[] = [];
  const tags = new Set<number>();
  for (let p = 0; (p + 1) * PAGE_BYTES <= content.length; p++) {
    const page = content.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES);
    if (page.every((b) => b === 0)) continue;
    const dv = new DataView(page.buffer, page.byteOffset, PAGE_BYTES);
    tags.add(dv.getUint32(0, true));
    if (dv.getUint32(4, true) !== p) problems.push(`${path}: page ${p} holds page ${dv.getUint32(4, true)}`);
  }
  if (tags.size > 1) problems.push(`${path}: pages of ${tags.size} different files: ${[...tags].join(', ')}`);
  return problems;
}

export interface FileRecord {
  readonly tag: number;
  content: Uint8Array;
  /** What a crash must leave in the file, when known (after fsync or a write-through write). */
  durable: Uint8Array | undefined;
  readonly handle: FileHandle;
  readonly writeThrough: boolean;
}

export interface WorkloadOptions {
  /** Paths the workload must not touch (files synced earlier and checked after the crash). */
  readonly protect?: ReadonlySet<string>;
  readonly writeThroughShare?: number;
  readonly fsyncShare?: number;
  readonly syncShare?: number;
  /** Most virtual time between two operations. */
  readonly maxGapMs?: number;
  /** Prefix of the names this workload creates (two workloads on one volume differ in it). */
  readonly namePrefix?: string;
}

/**
 * A random file workload driven by a PRNG stream: creates, page-aligned tagged writes,
 * page-aligned truncates, unlinks, mkdirs, renames, fsyncs and syncs, with virtual time
 * passing between them (so flusher, periodic commit and checkpoints run).
 */
export class Workload {
  readonly files = new Map<string, FileRecord>();
  readonly dirs: string[] = ['/'];
  private nextTag = 1;
  private nextName = 1;
  private version = 1;
  ops = 0;
  /** The file the operation under way works on: a power cut leaves it in an unknown state. */
  inFlight: string | undefined;

  constructor(private readonly world: World, private readonly prng: Prng, private readonly options: WorkloadOptions = {}) {}

  private writable(): string[] {
    return [...this.files.keys()].filter((p) => this.options.protect?.has(p) !== true).sort();
  }

  /** Runs operations until virtual time `untilUs`. */
  runUntil(untilUs: number, maxOps = 10_000): void {
    for (let i = 0; i < maxOps; i++) {
      const gapUs = this.prng.int(0, (this.options.maxGapMs ?? 1500) * 1000);
      if (this.world.sim.clock.nowUs() + gapUs > untilUs) break;
      this.world.sim.runUntil(this.world.sim.clock.nowUs() + gapUs);
      this.step();
    }
    this.world.sim.runUntil(untilUs);
  }

  step(): void {
    const fs = this.world.fs;
    const prng = this.prng;
    this.ops++;
    const roll = prng.int(0, 999) / 1000;
    const files = this.writable();
    if (files.length < 2 || roll < 0.15) {
      const dir = prng.pick(this.dirs);
      const path = `${dir === '/' ? '' : dir}/${this.options.namePrefix ?? ''}f${this.nextName++}`;
      const writeThrough = prng.bool(this.options.writeThroughShare ?? 0.15);
      const handle = unwrap(fs.create(path, { writeThrough }));
      this.files.set(path, { tag: this.nextTag++, content: new Uint8Array(0), durable: writeThrough ? new Uint8Array(0) : undefined, handle, writeThrough });
      return;
    }
    const path = prng.pick(files);
    const file = this.files.get(path) as FileRecord;
    this.inFlight = path;
    this.stepOn(path, file, roll);
    this.inFlight = undefined;
  }

  /** After a power cut: what the interrupted operation touched has no known durable state. */
  forgetInFlight(): void {
    const file = this.inFlight === undefined ? undefined : this.files.get(this.inFlight);
    if (file !== undefined) file.durable = undefined;
    this.inFlight = undefined;
  }

  private stepOn(path: string, file: FileRecord, roll: number): void {
    const fs = this.world.fs;
    const prng = this.prng;
    const fsyncShare = this.options.fsyncShare ?? 0.1;
    const syncShare = this.options.syncShare ?? 0.02;
    if (roll < 0.55) {
      const first = prng.int(0, 15);
      const pages = prng.int(1, 8);
      const data = new Uint8Array(pages * PAGE_BYTES);
      for (let i = 0; i < pages; i++) data.set(taggedPage(file.tag, first + i, this.version++), i * PAGE_BYTES);
      const end = (first + pages) * PAGE_BYTES;
      const result = fs.write(file.handle, first * PAGE_BYTES, data);
      if (!result.ok) {
        expect(result.error.kind).toBe('no-space');
        return;
      }
      if (end > file.content.length) {
        const grown = new Uint8Array(end);
        grown.set(file.content);
        file.content = grown;
      }
      file.content.set(data, first * PAGE_BYTES);
      file.durable = file.writeThrough ? file.content.slice() : undefined;
    } else if (roll < 0.63) {
      const size = prng.int(0, 16) * PAGE_BYTES;
      unwrap(fs.truncate(file.handle, size));
      const next = new Uint8Array(size);
      next.set(file.content.subarray(0, Math.min(size, file.content.length)));
      file.content = next;
      file.durable = file.writeThrough ? file.content.slice() : undefined;
    } else if (roll < 0.68) {
      unwrap(fs.unlink(path));
      this.files.delete(path);
    } else if (roll < 0.71 && this.dirs.length < 12) {
      const parent = prng.pick(this.dirs.filter((d) => d.split('/').length < 4));
      const dir = `${parent === '/' ? '' : parent}/${this.options.namePrefix ?? ''}d${this.nextName++}`;
      unwrap(fs.mkdir(dir));
      this.dirs.push(dir);
    } else if (roll < 0.75) {
      const dir = prng.pick(this.dirs);
      const to = `${dir === '/' ? '' : dir}/${this.options.namePrefix ?? ''}f${this.nextName++}`;
      unwrap(fs.rename(path, to));
      this.files.delete(path);
      this.files.set(to, { ...file, durable: undefined });
    } else if (roll < 0.75 + fsyncShare) {
      unwrap(fs.fsync(file.handle));
      file.durable = file.content.slice();
    } else if (roll < 0.75 + fsyncShare + syncShare) {
      unwrap(fs.sync());
      for (const f of this.files.values()) f.durable = f.content.slice();
    } else {
      const got = unwrap(fs.read(file.handle, 0, file.content.length));
      expectBytes(got, file.content, `read of ${path}`);
    }
  }
}

/** fsck, then the image reader over every file. Returns the fsck state and the files read. */
export function checkImage(reader: BlockReader): { state: FsckState; problems: readonly string[]; files: Map<string, Uint8Array> } {
  const report = fsck(reader);
  const files = new Map<string, Uint8Array>();
  if (report.state === 'corrupt') return { state: report.state, problems: report.problems, files };
  const image = openImage(reader);
  if (!image.ok) throw new Error(`fsck says ${report.state} but the image reader fails: ${JSON.stringify(image.error)}`);
  const entries = image.value.walk();
  if (!entries.ok) throw new Error(`fsck says ${report.state} but walk fails: ${JSON.stringify(entries.error)}`);
  for (const entry of entries.value) {
    if (entry.type !== 'file') continue;
    const data = image.value.readFile(entry.path);
    if (!data.ok) throw new Error(`fsck says ${report.state} but ${entry.path} cannot be read: ${JSON.stringify(data.error)}`);
    if (data.value.length !== entry.sizeBytes) throw new Error(`${entry.path}: read ${data.value.length} of ${entry.sizeBytes} bytes`);
    files.set(entry.path, data.value);
  }
  return { state: report.state, problems: report.problems, files };
}
