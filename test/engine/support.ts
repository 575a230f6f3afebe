/**
 * Test support for engine/: a manual clock, a small repository configuration (chunks of
 * a few KiB, so a test image of a few hundred KiB spans many chunks and packs), sparse
 * image models and their byte images.
 */

import fc from 'fast-check';
import type { Clock } from '../../core/clock.js';
import { DiskId } from '../../core/ids.js';
import { err, ok, unwrap, type Result } from '../../core/result.js';
import type { ByteRange } from '../../engine/repository/extent-map.js';
import type { RecoveryPointId } from '../../engine/repository/hash.js';
import { backupImage, type ImageSource } from '../../engine/repository/image-backup.js';
import type { RecoveryPointMeta } from '../../engine/repository/manifest.js';
import { Repository, type InitOptions } from '../../engine/repository/repository.js';
import type { ByteStore } from '../../engine/store/byte-store.js';
import { CrashError, CrashingStore } from '../../engine/store/crash-store.js';
import type { MemoryStore } from '../../engine/store/memory-store.js';
import { createPrng } from '../../core/prng.js';

export class ManualClock implements Clock {
  constructor(private timeUs = 1_000_000) {}
  nowUs(): number {
    return this.timeUs;
  }
  advance(us: number): void {
    this.timeUs += us;
  }
}

export const DISK = DiskId('disk0');

/** Chunks 1..16 KiB around 4 KiB; zero runs of 8 KiB or more are holes; 32 KiB packs. */
export function smallInit(clock: Clock): InitOptions {
  return {
    clock,
    chunker: { minBytes: 1024, avgBytes: 4096, maxBytes: 16384, gearSeed: 7 },
    zero: { zeroBlockBytes: 512, zeroRunMinBytes: 8192 },
    packTargetBytes: 32 * 1024,
  };
}

export function meta(vmId = 'vm1', attributes: RecoveryPointMeta['attributes'] = {}): RecoveryPointMeta {
  return { vmId, claimedLevel: 'crash', reasons: ['test'], writerStates: {}, timingsUs: { readUs: 5 }, attributes };
}

export async function newRepo(store: ByteStore, clock: ManualClock, owner = 'writer-1'): Promise<Repository> {
  unwrap(await Repository.init(store, smallInit(clock)));
  return unwrap(await Repository.open(store, { clock, writer: { owner } }));
}

/** One writer's run as a fresh process would do it: open (lock, clean temps), `body`, close. */
export async function asWriter<T>(store: ByteStore, clock: Clock, owner: string, body: (repo: Repository) => Promise<T>): Promise<T> {
  const repo = unwrap(await Repository.open(store, { clock, writer: { owner } }));
  const value = await body(repo);
  unwrap(await repo.close());
  return value;
}

/**
 * Runs `run` on a copy of `memory` to count its mutating store calls, then on `memory`
 * itself with a crash at one of them (`callPick`, modulo the count; `seed` picks how the
 * call is left); returns what crashed, for messages. Throws when the run does not crash.
 */
export async function crashAtRandomCall(memory: MemoryStore, run: (store: ByteStore) => Promise<unknown>, pick: { readonly callPick: number; readonly seed: number }): Promise<string> {
  const rehearsal = new CrashingStore(memory.clone(), { crashAtCall: 0, prng: createPrng(0) });
  await run(rehearsal);
  const crashing = new CrashingStore(memory, { crashAtCall: 1 + (pick.callPick % rehearsal.mutatingCalls), prng: createPrng(pick.seed) });
  try {
    await run(crashing);
  } catch (error) {
    if (error instanceof CrashError) return `after ${JSON.stringify(crashing.crashed)}`;
    throw error;
  }
  throw new Error(`the run did not crash at mutating call ${1 + (pick.callPick % rehearsal.mutatingCalls)}`);
}

/** A write to an image model: bytes at an offset (`fill` repeats one byte, else pseudo-random from `seed`). */
export interface ImageWrite {
  readonly offsetBytes: number;
  readonly lengthBytes: number;
  readonly seed: number;
  /** 'random' | 'text' | 'zero' */
  readonly kind: 'random' | 'text' | 'zero';
}

export function xorshiftFill(out: Uint8Array, seed: number, kind: ImageWrite['kind']): void {
  if (kind === 'zero') {
    out.fill(0);
    return;
  }
  let x = seed >>> 0 || 1;
  const words = ['backup ', 'restore ', 'snapshot ', 'quiesce ', 'chunk ', 'pack ', 'index ', '\n', 'vm1 ', 'disk '];
  let i = 0;
  while (i < out.length) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (kind === 'random') {
      out[i++] = x & 0xff;
    } else {
      const w = words[x % words.length] as string;
      for (let k = 0; k < w.length && i < out.length; k++) out[i++] = w.charCodeAt(k);
    }
  }
}

/** Applies writes (in order) to `image`. */
export function applyWrites(image: Uint8Array, writes: readonly ImageWrite[]): void {
  for (const w of writes) {
    const end = Math.min(image.length, w.offsetBytes + w.lengthBytes);
    if (end <= w.offsetBytes) continue;
    xorshiftFill(image.subarray(w.offsetBytes, end), w.seed, w.kind);
  }
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/** One RecoveryPoint of a test chain: how the image changes, and how it is backed up. */
export interface PointSpec {
  readonly writes: readonly ImageWrite[];
  /** A new capacity (the disk grew or shrank), or undefined to keep it. */
  readonly resizeBytes: number | undefined;
  /** full: no parent, read all; reread: parent, read all (dedup); cbt: parent, read only the writes. */
  readonly mode: 'full' | 'reread' | 'cbt';
  readonly readStepBytes: number;
}

export function nextImage(previous: Uint8Array, spec: PointSpec): Uint8Array {
  const size = spec.resizeBytes ?? previous.length;
  const image = new Uint8Array(size);
  image.set(previous.subarray(0, Math.min(size, previous.length)));
  applyWrites(image, spec.writes);
  return image;
}

/**
 * Reads `image` into one buffer, reused, as the CLI's file source does: a writer that kept
 * the bytes of a read past the next read would back up wrong bytes.
 */
export function memorySource(image: Uint8Array): ImageSource {
  let buffer = new Uint8Array(0);
  return {
    capacityBytes: image.length,
    read: (offsetBytes, lengthBytes) => {
      if (buffer.length < lengthBytes) buffer = new Uint8Array(lengthBytes);
      const into = buffer.subarray(0, lengthBytes);
      into.set(image.subarray(offsetBytes, offsetBytes + lengthBytes));
      return Promise.resolve(ok(into));
    },
  };
}

/** How a chain's point k is backed up; `mutateChanged` lets a test break the CBT list. */
export async function backupPoint(
  repo: Repository, image: Uint8Array, spec: PointSpec, parent: RecoveryPointId | undefined,
  mutateChanged: (ranges: ByteRange[]) => ByteRange[] = (r) => r,
): Promise<RecoveryPointId> {
  const withParent = spec.mode !== 'full' && parent !== undefined;
  const changed = mutateChanged(spec.writes.map((w) => ({ offsetBytes: w.offsetBytes, lengthBytes: w.lengthBytes })));
  const result = await backupImage(repo, memorySource(image), {
    diskId: DISK, meta: meta(), readStepBytes: spec.readStepBytes,
    ...(withParent ? { parent } : {}),
    ...(withParent && spec.mode === 'cbt' ? { changedExtents: changed } : {}),
  });
  return unwrap(result).id;
}

/** Backs up the whole chain; returns each point's id and image. */
export async function backupChain(repo: Repository, specs: readonly PointSpec[], firstSizeBytes: number): Promise<{ ids: RecoveryPointId[]; images: Uint8Array[] }> {
  const ids: RecoveryPointId[] = [];
  const images: Uint8Array[] = [];
  let image: Uint8Array = new Uint8Array(firstSizeBytes);
  for (const spec of specs) {
    image = nextImage(image, spec);
    ids.push(await backupPoint(repo, image, spec, ids[ids.length - 1]));
    images.push(image);
  }
  return { ids, images };
}

/** The disk restored both ways (readDisk, and restoreDisk into zeros); an error when either fails or they disagree. */
export async function restoreBoth(repo: Repository, id: RecoveryPointId): Promise<Result<Uint8Array, string>> {
  const m = await repo.readManifest(id);
  if (!m.ok) return err(JSON.stringify(m.error));
  const disk = m.value.disks[0];
  if (disk === undefined) return err('no disk');
  const read = await repo.readDisk(id, DISK, 0, disk.capacityBytes);
  if (!read.ok) return err(JSON.stringify(read.error));
  const streamed = new Uint8Array(disk.capacityBytes);
  const restored = await repo.restoreDisk(id, DISK, (offsetBytes, bytes) => {
    streamed.set(bytes, offsetBytes);
    return Promise.resolve();
  });
  if (!restored.ok) return err(JSON.stringify(restored.error));
  if (!equalBytes(read.value, streamed)) return err('readDisk and restoreDisk disagree');
  return ok(read.value);
}

const KINDS = ['random', 'text', 'zero'] as const;

/** A write of up to `maxLengthBytes` somewhere in a disk of up to `maxSizeBytes`. */
export function writeArb(maxSizeBytes: number, maxLengthBytes: number): fc.Arbitrary<ImageWrite> {
  return fc.record({
    offsetBytes: fc.integer({ min: 0, max: maxSizeBytes - 1 }),
    lengthBytes: fc.integer({ min: 1, max: maxLengthBytes }),
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    kind: fc.constantFrom(...KINDS),
  });
}

export function pointSpecArb(maxSizeBytes: number): fc.Arbitrary<PointSpec> {
  return fc.record({
    writes: fc.array(writeArb(maxSizeBytes, 40_000), { minLength: 0, maxLength: 6 }),
    resizeBytes: fc.option(fc.integer({ min: 1, max: maxSizeBytes }), { nil: undefined, freq: 6 }),
    mode: fc.constantFrom('full', 'reread', 'cbt', 'cbt'),
    readStepBytes: fc.constantFrom(4096, 10_000, 65_536),
  });
}

/** A first size and a chain of 1..maxPoints points. */
export function chainArb(maxSizeBytes: number, maxPoints: number): fc.Arbitrary<{ firstSizeBytes: number; specs: PointSpec[] }> {
  return fc.record({
    firstSizeBytes: fc.integer({ min: 1, max: maxSizeBytes }),
    specs: fc.array(pointSpecArb(maxSizeBytes), { minLength: 1, maxLength: maxPoints }),
  });
}

/** The value type of an arbitrary. */
export type ArbValue<A> = A extends fc.Arbitrary<infer T> ? T : never;
