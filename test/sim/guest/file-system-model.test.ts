/**
 * FileSystem (with its PageCache) against a reference model, fast-check modelRun, on a
 * device without a volatile cache. Time never advances, so neither the flusher nor the
 * periodic commit runs: commits happen at fsync, sync and write-through operations only
 * (the test checks this through the history). After crash + remount, the namespace and
 * every file must equal the model's durable state: the state as of the last commit, where
 * a file's content is its pages as of their last writeback, up to its journaled size.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../../core/result.js';
import { mkfs } from '../../../sim/guest/fs-format.js';
import { FileSystem, type DataMode, type FileHandle, type FsError, type MountOptions } from '../../../sim/guest/file-system.js';
import { fsck } from '../../../sim/guest/fsck.js';
import { openImage } from '../../../sim/guest/image-reader.js';
import { NO_BACKGROUND_WRITEBACK } from '../../../sim/guest/writeback-policy.js';
import { Simulation } from '../../../sim/kernel/simulation.js';
import { expectBytes, MemDevice, MiB, pattern } from './helpers.js';

const PAGE = 4096;

type Node = { readonly kind: 'dir' } | { readonly kind: 'file'; readonly id: number };

/**
 * A data block. Shared by reference between the running state and the durable snapshot:
 * an in-place overwrite of a committed block is durable at once (the device has no cache),
 * while a page that gets a new block leaves the snapshot's block untouched.
 */
interface Block {
  data: Uint8Array;
}

interface MFile {
  live: Uint8Array;
  diskSize: number;
  diskPages: Map<number, Block>;
  dirty: Set<number>;
  readonly writeThrough: boolean;
}

interface Durable {
  readonly ns: Map<string, Node>;
  readonly files: Map<number, { diskSize: number; diskPages: Map<number, Block>; writeThrough: boolean }>;
}

function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i === 0 ? '/' : path.slice(0, i);
}

class Model {
  ns = new Map<string, Node>([['/', { kind: 'dir' }]]);
  files = new Map<number, MFile>();
  durable: Durable = { ns: new Map(this.ns), files: new Map() };
  nextId = 1;

  /** 'ok' when `dir` is an existing directory; else the error kind the file system gives. */
  dirState(dir: string): 'ok' | 'not-found' | 'not-a-directory' {
    if (dir === '/') return 'ok';
    const parts = dir.slice(1).split('/');
    let walked = '';
    for (const part of parts) {
      walked = `${walked}/${part}`;
      const node = this.ns.get(walked);
      if (node === undefined) return 'not-found';
      if (node.kind !== 'dir') return 'not-a-directory';
    }
    return 'ok';
  }

  page(f: MFile, p: number): Uint8Array {
    const out = new Uint8Array(PAGE);
    out.set(f.live.subarray(p * PAGE, Math.min(f.live.length, (p + 1) * PAGE)));
    return out;
  }

  /** Writeback of the dirty pages (or the given ones): home, and the on-disk size covers them. */
  writeBack(f: MFile, only?: readonly number[]): void {
    const dirty = [...(only ?? f.dirty)].sort((a, b) => a - b);
    if (dirty.length === 0) return;
    for (const p of dirty) this.writePage(f, p);
    const last = dirty[dirty.length - 1] as number;
    f.diskSize = Math.max(f.diskSize, Math.min(f.live.length, (last + 1) * PAGE));
    for (const p of dirty) f.dirty.delete(p);
  }

  /** Writes a page home: in place when it has a block, else into a new block. */
  writePage(f: MFile, p: number): void {
    const block = f.diskPages.get(p);
    if (block !== undefined) block.data = this.page(f, p);
    else f.diskPages.set(p, { data: this.page(f, p) });
  }

  /**
   * The block holding byte `from` (the end, about to move) is zeroed past it and, when it
   * has a block, written home in place at once (the page is then clean).
   */
  zeroTail(f: MFile, from: number): void {
    const p = Math.floor(from / PAGE);
    if (from % PAGE === 0 || !f.diskPages.has(p)) return;
    this.writeBack(f, [p]);
  }

  commit(): void {
    const files = new Map<number, { diskSize: number; diskPages: Map<number, Block>; writeThrough: boolean }>();
    for (const node of this.ns.values()) {
      if (node.kind !== 'file') continue;
      const f = this.files.get(node.id) as MFile;
      files.set(node.id, { diskSize: f.diskSize, diskPages: new Map(f.diskPages), writeThrough: f.writeThrough });
    }
    this.durable = { ns: new Map(this.ns), files };
  }

  /** The content a crash now would leave: pages as last written back, up to the journaled size. */
  static durableContent(d: { diskSize: number; diskPages: Map<number, Block> }): Uint8Array {
    const out = new Uint8Array(d.diskSize);
    for (const [p, { data }] of d.diskPages) out.set(data.subarray(0, Math.max(0, Math.min(PAGE, d.diskSize - p * PAGE))), p * PAGE);
    return out;
  }

  crash(): void {
    this.ns = new Map(this.durable.ns);
    this.files = new Map();
    for (const [id, d] of this.durable.files) {
      this.files.set(id, { live: Model.durableContent(d), diskSize: d.diskSize, diskPages: new Map(d.diskPages), dirty: new Set(), writeThrough: d.writeThrough });
    }
  }

  grow(f: MFile, size: number): void {
    if (size <= f.live.length) return;
    const live = new Uint8Array(size);
    live.set(f.live);
    f.live = live;
  }
}

interface Real {
  readonly device: MemDevice;
  readonly sim: Simulation;
  readonly options: MountOptions;
  fs: FileSystem;
  readonly handles: Map<number, FileHandle>;
  commitsOutsideSync: string[];
}

const DIRS = ['/d1', '/d2', '/d1/e'];
const PATHS = [...DIRS, ...['', '/d1', '/d2', '/d1/e'].flatMap((d) => ['a', 'b', 'w'].map((n) => `${d}/${n}`))];

function kindOf(result: { ok: boolean; error?: FsError }): string {
  return result.ok ? 'ok' : (result.error as FsError).kind;
}

function liveFiles(m: Model): [string, number][] {
  return [...m.ns].flatMap(([path, node]) => (node.kind === 'file' ? [[path, node.id] as [string, number]] : [])).sort((a, b) => a[1] - b[1]);
}

type Cmd = fc.Command<Model, Real>;

class MkdirCmd implements Cmd {
  constructor(readonly path: string) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    const state = m.dirState(parentPath(this.path));
    const expected = state !== 'ok' ? state : m.ns.has(this.path) ? 'exists' : 'ok';
    if (expected === 'ok') m.ns.set(this.path, { kind: 'dir' });
    expect(kindOf(r.fs.mkdir(this.path))).toBe(expected);
  }
  toString(): string { return `mkdir(${this.path})`; }
}

class CreateCmd implements Cmd {
  constructor(readonly path: string) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    const state = m.dirState(parentPath(this.path));
    const expected = state !== 'ok' ? state : m.ns.has(this.path) ? 'exists' : 'ok';
    const writeThrough = this.path.endsWith('/w');
    const result = r.fs.create(this.path, { writeThrough });
    expect(kindOf(result)).toBe(expected);
    if (expected !== 'ok' || !result.ok) return;
    const id = m.nextId++;
    m.ns.set(this.path, { kind: 'file', id });
    m.files.set(id, { live: new Uint8Array(0), diskSize: 0, diskPages: new Map(), dirty: new Set(), writeThrough });
    r.handles.set(id, result.value);
    if (writeThrough) m.commit();
  }
  toString(): string { return `create(${this.path})`; }
}

class WriteCmd implements Cmd {
  constructor(readonly pick: number, readonly offset: number, readonly length: number, readonly seed: number) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    const files = liveFiles(m);
    if (files.length === 0) return;
    const [, id] = files[this.pick % files.length] as [string, number];
    const f = m.files.get(id) as MFile;
    const data = pattern(this.seed, this.length);
    const end = this.offset + this.length;
    expect(unwrap(r.fs.write(r.handles.get(id) as FileHandle, this.offset, data))).toBe(this.length);
    if (this.offset > f.live.length) m.zeroTail(f, f.live.length);
    if (f.writeThrough) m.writeBack(f);
    m.grow(f, end);
    f.live.set(data, this.offset);
    for (let p = Math.floor(this.offset / PAGE); p * PAGE < end; p++) {
      if (f.writeThrough) m.writePage(f, p);
      else f.dirty.add(p);
    }
    if (f.writeThrough) {
      f.diskSize = Math.max(f.diskSize, end);
      m.commit();
    }
  }
  toString(): string { return `write(#${this.pick}, ${this.offset}, ${this.length})`; }
}

class TruncateCmd implements Cmd {
  constructor(readonly pick: number, readonly size: number) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    const files = liveFiles(m);
    if (files.length === 0) return;
    const [, id] = files[this.pick % files.length] as [string, number];
    const f = m.files.get(id) as MFile;
    unwrap(r.fs.truncate(r.handles.get(id) as FileHandle, this.size));
    if (this.size < f.live.length) {
      const keep = Math.ceil(this.size / PAGE);
      for (const p of [...f.dirty]) if (p >= keep) f.dirty.delete(p);
      for (const p of [...f.diskPages.keys()]) if (p >= keep) f.diskPages.delete(p);
      f.live = f.live.slice(0, this.size);
      m.zeroTail(f, this.size);
    } else {
      if (this.size > f.live.length) m.zeroTail(f, f.live.length);
      m.grow(f, this.size);
    }
    f.diskSize = this.size;
    if (f.writeThrough) m.commit();
    expect(unwrap(r.fs.size(r.handles.get(id) as FileHandle))).toBe(this.size);
  }
  toString(): string { return `truncate(#${this.pick}, ${this.size})`; }
}

class UnlinkCmd implements Cmd {
  constructor(readonly path: string) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    const state = m.dirState(parentPath(this.path));
    const node = m.ns.get(this.path);
    const expected = state !== 'ok' ? state : node === undefined ? 'not-found' : node.kind === 'dir' ? 'is-a-directory' : 'ok';
    expect(kindOf(r.fs.unlink(this.path))).toBe(expected);
    if (expected === 'ok' && node?.kind === 'file') {
      m.ns.delete(this.path);
      m.files.delete(node.id);
      r.handles.delete(node.id);
    }
  }
  toString(): string { return `unlink(${this.path})`; }
}

class RmdirCmd implements Cmd {
  constructor(readonly path: string) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    const state = m.dirState(parentPath(this.path));
    const node = m.ns.get(this.path);
    const nonEmpty = [...m.ns.keys()].some((p) => p.startsWith(`${this.path}/`));
    const expected = state !== 'ok' ? state : node === undefined ? 'not-found' : node.kind !== 'dir' ? 'not-a-directory' : nonEmpty ? 'not-empty' : 'ok';
    expect(kindOf(r.fs.rmdir(this.path))).toBe(expected);
    if (expected === 'ok') m.ns.delete(this.path);
  }
  toString(): string { return `rmdir(${this.path})`; }
}

class RenameCmd implements Cmd {
  constructor(readonly pick: number, readonly to: string) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    const files = liveFiles(m);
    if (files.length === 0) return;
    const [from, id] = files[this.pick % files.length] as [string, number];
    const state = m.dirState(parentPath(this.to));
    const target = m.ns.get(this.to);
    const expected = state !== 'ok' ? state : target?.kind === 'dir' ? 'is-a-directory' : 'ok';
    expect(kindOf(r.fs.rename(from, this.to))).toBe(expected);
    if (expected !== 'ok' || from === this.to) return;
    if (target?.kind === 'file') {
      m.files.delete(target.id);
      r.handles.delete(target.id);
    }
    m.ns.delete(from);
    m.ns.set(this.to, { kind: 'file', id });
  }
  toString(): string { return `rename(#${this.pick} -> ${this.to})`; }
}

class ReadCmd implements Cmd {
  constructor(readonly pick: number) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    const files = liveFiles(m);
    if (files.length === 0) return;
    const [, id] = files[this.pick % files.length] as [string, number];
    const f = m.files.get(id) as MFile;
    expectBytes(unwrap(r.fs.read(r.handles.get(id) as FileHandle, 0, f.live.length + 100)), f.live, 'read');
  }
  toString(): string { return `read(#${this.pick})`; }
}

class FsyncCmd implements Cmd {
  constructor(readonly pick: number) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    const files = liveFiles(m);
    if (files.length === 0) return;
    const [, id] = files[this.pick % files.length] as [string, number];
    m.writeBack(m.files.get(id) as MFile);
    m.commit();
    unwrap(r.fs.fsync(r.handles.get(id) as FileHandle));
  }
  toString(): string { return `fsync(#${this.pick})`; }
}

class SyncCmd implements Cmd {
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    for (const [, id] of liveFiles(m)) m.writeBack(m.files.get(id) as MFile);
    m.commit();
    unwrap(r.fs.sync());
    expect(r.fs.stats().dirtyPages).toBe(0);
  }
  toString(): string { return 'sync'; }
}

function walk(fs: FileSystem, dir: string, out: Map<string, 'dir' | 'file'>): void {
  for (const name of unwrap(fs.readdir(dir))) {
    const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
    const type = unwrap(fs.stat(path)).type;
    out.set(path, type);
    if (type === 'dir') walk(fs, path, out);
  }
}

class CrashCmd implements Cmd {
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    r.fs.crash();
    const report = fsck(r.device);
    expect(report.problems).toEqual([]);
    expect(report.state).not.toBe('corrupt');
    m.crash();
    r.fs = unwrap(FileSystem.mount(r.device, r.options));
    expect(fsck(r.device).state).toBe('clean');
    const tree = new Map<string, 'dir' | 'file'>();
    walk(r.fs, '/', tree);
    const expected = new Map<string, 'dir' | 'file'>();
    for (const [path, node] of m.ns) if (path !== '/') expected.set(path, node.kind);
    expect(tree).toEqual(expected);
    const image = unwrap(openImage(r.device));
    r.handles.clear();
    for (const [path, id] of liveFiles(m)) {
      const f = m.files.get(id) as MFile;
      const h = unwrap(r.fs.open(path, { writeThrough: f.writeThrough }));
      r.handles.set(id, h);
      expectBytes(unwrap(r.fs.read(h, 0, f.live.length + 100)), f.live, `${path} after remount`);
      expectBytes(unwrap(image.readFile(path)), f.live, `${path} in the image`);
    }
  }
  toString(): string { return 'crash+remount'; }
}

const pathArb = fc.constantFrom(...PATHS);
const dirArb = fc.constantFrom(...DIRS);
const writeArb = fc.tuple(fc.nat(20), fc.integer({ min: 0, max: 40_000 }), fc.integer({ min: 1, max: 12_000 }), fc.integer({ min: 1, max: 1e6 }))
  .map(([pick, offset, length, seed]) => new WriteCmd(pick, offset, length, seed));
const truncateArb = fc.tuple(fc.nat(20), fc.integer({ min: 0, max: 50_000 })).map(([pick, size]) => new TruncateCmd(pick, size));
/** Weighted by repetition: data operations and durability points dominate. */
const commands = [
  dirArb.map((p) => new MkdirCmd(p)),
  dirArb.map((p) => new MkdirCmd(p)),
  pathArb.map((p) => new MkdirCmd(p)),
  pathArb.map((p) => new CreateCmd(p)),
  pathArb.map((p) => new CreateCmd(p)),
  pathArb.map((p) => new CreateCmd(p)),
  writeArb, writeArb, writeArb, writeArb,
  truncateArb, truncateArb,
  pathArb.map((p) => new UnlinkCmd(p)),
  dirArb.map((p) => new RmdirCmd(p)),
  fc.tuple(fc.nat(20), pathArb).map(([pick, to]) => new RenameCmd(pick, to)),
  fc.nat(20).map((pick) => new ReadCmd(pick)),
  fc.nat(20).map((pick) => new ReadCmd(pick)),
  fc.nat(20).map((pick) => new FsyncCmd(pick)),
  fc.nat(20).map((pick) => new FsyncCmd(pick)),
  fc.constant(new SyncCmd()),
  fc.constant(new CrashCmd()),
];

function setup(dataMode: DataMode): Real {
  const device = new MemDevice(8 * MiB);
  unwrap(mkfs(device, { inodeCount: 256 }));
  const sim = new Simulation({ seed: 7 });
  const commitsOutsideSync: string[] = [];
  const options: MountOptions = {
    clock: sim.clock, queue: sim.queue, dataMode, writeback: NO_BACKGROUND_WRITEBACK, commitIntervalUs: 0,
    cacheCapacityPages: 4096, dirtyLimitPages: 2000, label: 'vm1:fs',
    history: {
      record(event) {
        const reason = event.data.reason;
        if (event.kind === 'fs.commit' && reason !== 'fsync' && reason !== 'sync' && reason !== 'write-through') commitsOutsideSync.push(JSON.stringify(reason));
      },
    },
  };
  return { device, sim, options, fs: unwrap(FileSystem.mount(device, options)), handles: new Map(), commitsOutsideSync };
}

describe('FileSystem (model-based, crash + remount)', () => {
  for (const dataMode of ['ordered', 'writeback'] as const) {
    it(`${dataMode} mode: after crash + remount the namespace and every file equal the model's durable state`, () => {
      fc.assert(
        fc.property(fc.commands(commands, { maxCommands: 80, size: 'max' }), (cmds) => {
          const real = setup(dataMode);
          const model = new Model();
          fc.modelRun(() => ({ model, real }), cmds);
          // Every run ends with a crash, so every run checks the durable state at least once.
          new CrashCmd().run(model, real);
          // The model's durable state assumes commits only at fsync, sync and write-through.
          expect(real.commitsOutsideSync).toEqual([]);
        }),
        { numRuns: 300 },
      );
    });
  }
});
