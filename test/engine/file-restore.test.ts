/**
 * File-level restore (engine/restore/file-restore.ts) and its writers.
 *
 * - The sanitising rule: a table of hostile names and what they become; for any bytes the
 *   result is a safe component (no separator, not '.'/'..', no NUL, at most 255 bytes)
 *   and a fixed point; a directory's names come out unique (case-insensitively) whatever
 *   the input order.
 * - A crafted image whose directory entries are named '../../etc/passwd', '/abs', '..',
 *   'a/b', 'C:\x', NUL bytes, bytes that are not UTF-8, device names and duplicates
 *   (directory blocks written with the simulator's encoder, CRCs fixed) restores every
 *   file, with its bytes, strictly inside the target root of the real local-directory
 *   writer (checked with path.resolve over everything in a temp dir), reports every
 *   renamed entry, and restores alike through the in-memory twin. The containment check
 *   itself catches a naive layout that joins the guest names.
 * - Writers refuse unsafe components and symlinks planted in the target.
 * - Selection by paths: a file, a directory, overlapping and missing paths.
 */

import { lstat, mkdtemp, readdir, readFile, rm, symlink, mkdir as fsMkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.js';
import { restoreFiles, type FileRestoreReport } from '../../engine/restore/file-restore.js';
import { componentProblem, MemoryFileWriter, sanitiseDirectory, sanitiseName } from '../../engine/restore/file-writer.js';
import { LocalDirFileWriter } from '../../engine/restore/file-writer-local.js';
import type { PointSource } from '../../engine/restore/source.js';
import { BLOCK_BYTES, blockCrc, decodeDirBlock, encodeDirBlock } from '../../sim/guest/fs-format.js';
import { openVolume } from '../../sim/guest/fs-volume.js';
import { openImage } from '../../sim/guest/image-reader.js';
import type { BlockReader } from '../../sim/storage/types.js';
import { sourceOf } from '../support/memory-target.js';
import { makeWorld, pattern } from '../sim/guest/helpers.js';

const DISK = 'd0';
const enc = new TextEncoder();
const temps: string[] = [];

afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ql-file-restore-'));
  temps.push(dir);
  return dir;
}

function pointOf(image: Uint8Array): PointSource {
  return sourceOf({ id: 'rp-test', parent: null, disks: new Map([[DISK, image]]), meta: null });
}

function readerOf(image: Uint8Array): BlockReader {
  return { capacityBytes: image.length, sectorSizeBytes: 512, read: (o, n) => image.slice(o, o + n) };
}

function sanitised(name: string | number[]): string {
  return sanitiseName(typeof name === 'string' ? enc.encode(name) : Uint8Array.from(name)).name;
}

describe('the sanitising rule', () => {
  it('maps hostile names to safe ones (table)', () => {
    const table: [string | number[], string][] = [
      ['plain.txt', 'plain.txt'],
      ['../../etc/passwd', '.._.._etc_passwd'],
      ['/abs', '_abs'],
      ['..', '_'],
      ['.', '_'],
      ['...', '_'],
      ['', '_'],
      ['   ', '_'],
      ['a/b', 'a_b'],
      ['C:\\x', 'C__x'],
      ['C:', 'C_'],
      ['\\\\server\\share', '__server_share'],
      ['nul\0byte', 'nul_byte'],
      ['line\nbreak', 'line_break'],
      ['CON', '_CON'],
      ['nul.txt', '_nul.txt'],
      ['com1', '_com1'],
      ['LPT9.log', '_LPT9.log'],
      ['console', 'console'],
      ['trail. ', 'trail'],
      ['stream:ads', 'stream_ads'],
      ['q?*<>|"', 'q______'],
      ['héllo wörld', 'héllo wörld'],
      ['%FF', '%FF'],
      [[0xff, 0xfe, 0x2f, 0x2e, 0x2e], '%FF%FE_'], // trailing dots go
      [[0xc0, 0xaf], '%C0%AF'], // an overlong '/'
      [[0xed, 0xa0, 0x80], '%ED%A0%80'], // an encoded surrogate
      [[0x61, 0xe6, 0x97], 'a%E6%97'], // a truncated sequence
    ];
    for (const [input, expected] of table) expect(sanitised(input), JSON.stringify(input)).toBe(expected);
    // Too long: cut at a character boundary, with a hash of the raw name.
    const long = sanitised('é'.repeat(200));
    expect(enc.encode(long).length).toBeLessThanOrEqual(255);
    expect(long).toMatch(/^(é)+~[0-9a-f]{8}$/);
    expect(sanitised('é'.repeat(201))).not.toBe(long);
  });

  it('any bytes give a safe, idempotent component', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (raw) => {
      const { name, reasons } = sanitiseName(raw);
      expect(componentProblem(name)).toBeUndefined();
      expect(name === '.' || name === '..' || name === '').toBe(false);
      expect(/[/\\\0]/.test(name)).toBe(false);
      expect(enc.encode(name).length).toBeLessThanOrEqual(255);
      expect(sanitised(name)).toBe(name);
      // Unchanged exactly when no reason was given.
      const same = new TextDecoder().decode(raw) === name && reasons.length === 0;
      expect(same).toBe(reasons.length === 0);
    }), { numRuns: 2000 });
  });

  it('a directory gets unique names, independent of listing order; unchanged names are kept', () => {
    const nameArb = fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.constantFrom(...['a', 'A', 'a_b', 'a/b', 'a\\b', '..', '.', '_', '_~2', 'x.txt', 'X.TXT', 'x.txt.', 'con'].map((s) => enc.encode(s))));
    fc.assert(fc.property(fc.array(nameArb, { maxLength: 30 }), fc.nat(), (names, rot) => {
      const named = sanitiseDirectory(names, (n) => n);
      const keys = named.map((n) => n.name.normalize('NFC').toLowerCase());
      expect(new Set(keys).size).toBe(names.length);
      for (const n of named) expect(componentProblem(n.name)).toBeUndefined();
      const rotated = [...names.slice(rot % (names.length || 1)), ...names.slice(0, rot % (names.length || 1))];
      const again = sanitiseDirectory(rotated, (n) => n);
      const byName = (list: typeof named) => list.map((n) => `${Buffer.from(n.entry).toString('hex')}=${n.name}`).sort();
      // The same multiset of raw names gives the same mapping.
      expect(byName(again)).toEqual(byName(named));
      // A name the rule leaves alone keeps it, unless an identical (case-folded) one came first.
      for (const n of named) if (n.reasons.length === 0) expect(n.name).toBe(new TextDecoder().decode(n.entry));
    }), { numRuns: 1000 });
  });

  it('many identical names stay cheap (each clash resumes at the last suffix) and come out unique', () => {
    const names = Array.from({ length: 20_000 }, (_, i) => enc.encode(i % 2 === 0 ? 'same' : 'SAME'));
    const named = sanitiseDirectory([...names, enc.encode('same~3')], (n) => n);
    expect(new Set(named.map((n) => n.name.toLowerCase())).size).toBe(names.length + 1);
    expect(named.filter((n) => n.name === 'same~3')).toHaveLength(1); // the guest's own 'same~3' keeps its name
  });
});

// ---------------------------------------------------------------------------------------
// A crafted image with hostile names

/** Hostile names for the entries of /h (raw bytes or UTF-8 text). */
const HOSTILE: readonly (string | number[])[] = [
  '../../etc/passwd', '/abs', '..', '.', 'a/b', 'a\\b', 'a_b', 'C:\\x', 'C:', 'nul\0byte', '\\\\server\\share', 'CON', 'nul.txt',
  'trail. ', 'A', 'a', 'dup', 'dup', 'line\nbreak', '../', '...', ' ', 'x'.repeat(59), 'ok-name',
  [0xff, 0xfe, 0x2f, 0x2e, 0x2e], [0xc0, 0xaf], new Array<number>(59).fill(0xff),
];

interface Crafted {
  readonly image: Uint8Array;
  /** Every file of the image: its guest names (display form) and contents. */
  readonly files: { names: string[]; content: Uint8Array }[];
}

function rawOf(name: string | number[]): Uint8Array {
  return typeof name === 'string' ? enc.encode(name) : Uint8Array.from(name);
}

function displayOf(name: string | number[]): string {
  if (typeof name === 'string') return name;
  return [...name].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('').replace('%2F', '/').replace(/%2E/g, '.');
}

/**
 * Rewrites the entries of directory block `blockNo` named in `renames` (by their current
 * names): re-encoded with the simulator's encoder, then raw bytes patched in and the CRC fixed.
 */
function renameEntries(image: Uint8Array, blockNo: number, renames: ReadonlyMap<string, Uint8Array>): void {
  const at = blockNo * BLOCK_BYTES;
  const decoded = unwrap(decodeDirBlock(blockNo, image.slice(at, at + BLOCK_BYTES)));
  const placeholder = decoded.slots.map((s) => (s === undefined ? undefined : { ino: s.ino, name: s.name }));
  const block = encodeDirBlock(blockNo, decoded.ownerIno, placeholder);
  decoded.slots.forEach((slot, i) => {
    const raw = slot === undefined ? undefined : renames.get(slot.name);
    if (raw === undefined) return;
    const o = 16 + 8 + i * 64;
    block.fill(0, o + 4, o + 64);
    block[o + 4] = raw.length;
    block.set(raw, o + 5);
  });
  new DataView(block.buffer, block.byteOffset).setUint32(12, blockCrc(block), true);
  image.set(block, at);
}

/**
 * A clean image: /h holds one file per hostile name plus a directory renamed '..' holding
 * a file named '../x'; /h itself is renamed '..', and a root file '../../escape'.
 */
function craftedImage(): Crafted {
  const w = makeWorld({ seed: 19, capacityBytes: 16 * 1024 * 1024, mkfs: { inodeCount: 256, journalBlocks: 64 } });
  const fs = w.fs;
  unwrap(fs.mkdir('/h'));
  unwrap(fs.mkdir('/h/sub'));
  const files: { names: string[]; content: Uint8Array }[] = [];
  HOSTILE.forEach((name, i) => {
    const content = pattern(100 + i, 50 + i * 37);
    unwrap(fs.write(unwrap(fs.create(`/h/p${i}`)), 0, content));
    files.push({ names: ['..', displayOf(name)], content });
  });
  const q = pattern(7, 4096 * 3 + 5);
  unwrap(fs.write(unwrap(fs.create('/h/sub/q')), 0, q));
  files.push({ names: ['..', '..', '../x'], content: q });
  const r = pattern(8, 1000);
  unwrap(fs.write(unwrap(fs.create('/r0')), 0, r));
  files.push({ names: ['../../escape'], content: r });
  unwrap(fs.freeze());
  const image = w.disk.durableReader().read(0, w.disk.capacityBytes);
  const volume = unwrap(openVolume(readerOf(image))).volume;
  const view = unwrap(openImage(readerOf(image)));
  const blockOf = (path: string): number => {
    const blocks = volume.dirs.get(unwrap(view.stat(path)).ino) ?? [];
    expect(blocks).toHaveLength(1);
    return blocks[0]?.block ?? -1;
  };
  const hBlock = blockOf('/h');
  const subBlock = blockOf('/h/sub');
  const rootBlock = blockOf('/');
  renameEntries(image, hBlock, new Map([...HOSTILE.map((name, i) => [`p${i}`, rawOf(name)] as const), ['sub', enc.encode('..')]]));
  renameEntries(image, subBlock, new Map([['q', enc.encode('../x')]]));
  renameEntries(image, rootBlock, new Map([['h', enc.encode('..')], ['r0', enc.encode('../../escape')]]));
  return { image, files };
}

/** Every path below `dir` (files and directories), absolute. */
async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    out.push(full);
    if (entry.isDirectory()) out.push(...await listTree(full));
  }
  return out;
}

/** Paths that are not strictly inside `root` once resolved. */
function escaping(root: string, paths: readonly string[]): string[] {
  return paths.filter((p) => !resolve(p).startsWith(root + sep));
}

describe('restoring a crafted image with hostile names', () => {
  it('the crafted names are really in the image (the simulator refuses to read it)', () => {
    const { image } = craftedImage();
    const view = openImage(readerOf(image));
    expect(view.ok ? null : view.error.kind).toBe('corrupt');
  });

  it('every file lands strictly inside the target root with its bytes, and every rename is reported', async () => {
    const { image, files } = craftedImage();
    const base = await tempDir();
    const root = join(base, 'target');
    const writer = unwrap(await LocalDirFileWriter.create(root));
    const report = unwrap(await restoreFiles(pointOf(image), DISK, { all: true }, writer));
    expect(report.failed).toEqual([]);
    expect(report.filesRestored).toBe(files.length);
    expect(report.bytesRestored).toBe(files.reduce((s, f) => s + f.content.length, 0));
    // Containment: everything under the temp dir is the target root or strictly inside it.
    expect(await readdir(base)).toEqual(['target']);
    const tree = await listTree(writer.root);
    expect(escaping(writer.root, tree)).toEqual([]);
    for (const p of tree) expect((await lstat(p)).isSymbolicLink()).toBe(false);
    // Contents: each guest file's bytes are at exactly one restored path.
    const restored = new Map<string, Buffer>();
    for (const p of tree) if ((await lstat(p)).isFile()) restored.set(p, await readFile(p));
    expect(restored.size).toBe(files.length);
    for (const f of files) {
      const where = [...restored].filter(([, bytes]) => Buffer.compare(bytes, f.content) === 0).map(([p]) => p);
      expect(where, f.names.join(' / ')).toHaveLength(1);
    }
    // Every hostile entry is reported as renamed (all but 'ok-name', 'A', 'a_b', 59 x's and the first 'dup').
    const renamedNames = report.renamed.map((r) => JSON.stringify(r.guestNames));
    for (const f of files) {
      const unchanged = ['ok-name', 'A', 'a_b', 'dup', 'x'.repeat(59)].includes(f.names.at(-1) ?? '') && f.names.length === 2;
      if (!unchanged) expect(renamedNames, f.names.join(' / ')).toContain(JSON.stringify(f.names));
    }
    expect(renamedNames).toContain(JSON.stringify(['..']));
    for (const r of report.renamed) {
      expect(r.reasons.length).toBeGreaterThan(0);
      expect(escaping(writer.root, [resolve(writer.root, ...r.restoredParts)])).toEqual([]);
    }
    // A few exact placements.
    const rel = (p: string): string => p.slice(writer.root.length + 1).split(sep).join('/');
    const names = [...restored.keys()].map(rel).sort();
    expect(names).toContain('.._.._escape');
    expect(names).toContain('_/.._.._etc_passwd');
    expect(names).toContain('_/_abs');
    expect(names).toContain('_/_CON');
    expect(names).toContain('_/%FF%FE_');
    expect(names).toContain('_/A');
    expect(names).toContain('_/a~2');
    expect(names).toContain('_/dup');
    expect(names).toContain('_/dup~2');
    // ' ', '.', '..', '...' (files) and the directory '..' all sanitise to '_': byte order decides the
    // suffixes, and slot order between the two raw '..' (the directory's entry came first).
    expect(names.filter((n) => n === '_/_' || n.startsWith('_/_~'))).toEqual(['_/_', '_/_~2', '_/_~3/.._x', '_/_~4', '_/_~5']);
    expect(names).toContain('_/a_b');
    expect(names).toContain('_/a_b~2');
    expect(names).toContain('_/a_b~3');
  });

  it('the in-memory twin restores the same tree and bytes', async () => {
    const { image } = craftedImage();
    const base = await tempDir();
    const local = unwrap(await LocalDirFileWriter.create(join(base, 't')));
    const memory = new MemoryFileWriter();
    const a = unwrap(await restoreFiles(pointOf(image), DISK, { all: true }, local));
    const b = unwrap(await restoreFiles(pointOf(image), DISK, { all: true }, memory));
    const strip = (r: FileRestoreReport) => ({ ...r, simulatedDurationUs: 0 });
    expect(strip(a)).toEqual(strip(b));
    const onDisk = new Map<string, Buffer>();
    for (const p of await listTree(local.root)) if ((await lstat(p)).isFile()) onDisk.set(p.slice(local.root.length + 1).split(sep).join('/'), await readFile(p));
    const inMemory = memory.files();
    expect([...inMemory.keys()].sort()).toEqual([...onDisk.keys()].sort());
    for (const [path, bytes] of inMemory) expect(Buffer.compare(bytes, onDisk.get(path) ?? Buffer.alloc(0)), path).toBe(0);
    expect(memory.directories().sort()).toEqual(['_', '_/_~3']);
  });

  it('the containment check can fail: a naive layout joining the guest names escapes', () => {
    const root = resolve('/tmp/some-target');
    const naive = HOSTILE.map((name) => join(root, '..', displayOf(name))); // '/h' renamed '..', joined as is
    expect(escaping(root, naive).length).toBeGreaterThan(HOSTILE.length / 2);
    expect(escaping(root, [join(root, '../../etc/passwd'), resolve(root, '/abs'), join(root, 'a', '..', '..', 'b')])).toHaveLength(3);
  });
});

describe('writers refuse what is not safe', () => {
  it('unsafe components are refused by both writers, nothing is created', async () => {
    const base = await tempDir();
    const local = unwrap(await LocalDirFileWriter.create(join(base, 't')));
    const memory = new MemoryFileWriter();
    const bad: string[][] = [['..'], ['.'], [''], ['a/b'], ['..', 'x'], ['/abs'], ['C:'], ['nul\0'], ['x.'], ['CON'], ['a'.repeat(256)], ['\ud800']];
    for (const parts of bad) {
      for (const writer of [local, memory]) {
        const made = await writer.mkdir(parts);
        expect(made.ok ? null : made.error.kind, JSON.stringify(parts)).toBe('unsafe-name');
        const file = await writer.createFile(parts, 1);
        expect(file.ok ? null : file.error.kind, JSON.stringify(parts)).toBe('unsafe-name');
      }
    }
    expect(await readdir(local.root)).toEqual([]);
    expect(memory.files().size + memory.directories().length).toBe(0);
  });

  it('a symlink planted in the target is neither followed as a directory nor written through', async () => {
    const base = await tempDir();
    const outside = join(base, 'outside');
    await fsMkdir(outside);
    const local = unwrap(await LocalDirFileWriter.create(join(base, 't')));
    await symlink(outside, join(local.root, 'link'));
    await symlink(join(outside, 'file'), join(local.root, 'flink'));
    const made = await local.mkdir(['link']);
    expect(made.ok ? null : made.error.kind).toBe('exists');
    const file = await local.createFile(['flink'], 3);
    expect(file.ok ? null : file.error.kind).toBe('exists');
    expect(await readdir(outside)).toEqual([]);
  });
});

describe('selection by paths', () => {
  function simpleImage(): Uint8Array {
    const w = makeWorld({ seed: 23, capacityBytes: 16 * 1024 * 1024, mkfs: { inodeCount: 256, journalBlocks: 64 } });
    unwrap(w.fs.mkdir('/a'));
    unwrap(w.fs.mkdir('/a/b'));
    unwrap(w.fs.write(unwrap(w.fs.create('/a/b/f')), 0, pattern(1, 5000)));
    unwrap(w.fs.write(unwrap(w.fs.create('/a/g')), 0, pattern(2, 10)));
    unwrap(w.fs.write(unwrap(w.fs.create('/top')), 0, pattern(3, 70_000)));
    unwrap(w.fs.sync()); // committed, not checkpointed: the restore must replay
    return w.disk.durableReader().read(0, w.disk.capacityBytes);
  }

  it('a file, a directory, an overlap and a missing path', async () => {
    const image = simpleImage();
    const memory = new MemoryFileWriter();
    const report = unwrap(await restoreFiles(pointOf(image), DISK, { paths: ['/a/b/f', '/a/b', '/top', '/missing', '/a/b/f'] }, memory));
    expect(report.replayedTransactions).toBeGreaterThan(0);
    expect([...memory.files().keys()].sort()).toEqual(['a/b/f', 'top']);
    expect(memory.directories().sort()).toEqual(['a', 'a/b']);
    expect(report.filesRestored).toBe(2);
    expect(report.bytesRestored).toBe(75_000);
    expect(report.failed).toEqual([{ guestNames: ['missing'], error: { kind: 'not-found', path: '/missing' } }]);
    expect(report.bytesRead).toBeGreaterThan(75_000);
    expect(report.simulatedDurationUs).toBeGreaterThan(0);
    expect(Buffer.compare(memory.files().get('top') ?? new Uint8Array(0), pattern(3, 70_000))).toBe(0);
    const refused = unwrap(await restoreFiles(pointOf(image), DISK, { paths: ['relative', '/a/../top'] }, new MemoryFileWriter()));
    expect(refused.failed.map((f) => f.error.kind)).toEqual(['invalid-path', 'invalid-path']);
  });

  it('without replay the volume is refused; an unknown disk too', async () => {
    const image = simpleImage();
    const stale = await restoreFiles(pointOf(image), DISK, { all: true }, new MemoryFileWriter(), { replay: false });
    expect(stale.ok ? null : stale.error.kind).toBe('needs-replay');
    const none = await restoreFiles(pointOf(image), 'nope', { all: true }, new MemoryFileWriter());
    expect(none.ok ? null : none.error).toEqual({ kind: 'no-disk', diskId: 'nope' });
  });
});
