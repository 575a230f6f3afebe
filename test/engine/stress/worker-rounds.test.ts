/**
 * Issue 14's acceptance: the repository in the configuration `backup-image` runs (a local
 * folder, chunk workers on, the default chunking and pack size), backing up 30 rounds of
 * random edits of a 64 MiB text-like image, into a zstd and into a brotli repository.
 * Every round: the backup re-reads the whole image (an incremental that reuses most
 * chunks, the path that stored raw length 0 for every new chunk on zstd workers),
 * `verify` finds no damage, and the new point restores byte for byte (every chunk checked
 * end to end); in round 2 (the first incremental) and every tenth round, verify reads
 * every pack and every point so far restores byte for byte.
 *
 * The edits un-write as well as write: scattered 32-byte random writes, new text over a
 * range, a range zeroed (a hole where data was), text shifted by a few bytes (every later
 * chunk boundary moves) and a tail cut to zeros.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPrng, type Prng } from '../../../core/prng.js';
import { ok, unwrap } from '../../../core/result.js';
import { writerThreads } from '../../../engine/repository/chunk-workers.js';
import type { CodecSettings } from '../../../engine/repository/compression.js';
import { sha256Hex, type RecoveryPointId } from '../../../engine/repository/hash.js';
import { backupImage, type ImageSource } from '../../../engine/repository/image-backup.js';
import { Repository } from '../../../engine/repository/repository.js';
import { describeDamage, verifyRepository } from '../../../engine/repository/verify.js';
import { LocalDirStore } from '../../../engine/store/local-dir-store.js';
import { DISK, ManualClock, meta } from '../support.js';

const IMAGE_BYTES = 64 * 1024 * 1024;
const ROUNDS = 30;
const dirs: string[] = [];
afterAll(async () => { await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))); });

/** Text-like bytes: words of a random vocabulary, compressible about as well as logs. */
function textFill(prng: Prng, out: Uint8Array): void {
  const words = Array.from({ length: 4000 }, () => Array.from({ length: prng.int(2, 9) }, () => String.fromCharCode(97 + prng.int(0, 25))).join(''));
  const block = Buffer.from(Array.from({ length: 120_000 }, () => prng.pick(words)).join(' '));
  for (let at = 0; at < out.length;) {
    const from = prng.int(0, block.length - 4097);
    const n = Math.min(out.length - at, prng.int(512, 4096));
    out.set(block.subarray(from, from + n), at);
    at += n;
  }
}

/** One round's edits, drawn from `prng`; returns a word naming each. */
function edit(prng: Prng, image: Buffer): string[] {
  const done: string[] = [];
  for (let i = 0; i < 20; i++) prng.fill(image.subarray(prng.int(0, IMAGE_BYTES - 32)).subarray(0, 32));
  done.push('scatter');
  if (prng.bool(0.5)) {
    const at = prng.int(0, IMAGE_BYTES - (4 << 20));
    textFill(prng, image.subarray(at, at + prng.int(1, 4 << 20)));
    done.push('rewrite');
  }
  if (prng.bool(0.4)) {
    const at = prng.int(0, IMAGE_BYTES - (2 << 20));
    image.fill(0, at, at + prng.int(4096, 2 << 20));
    done.push('zero');
  }
  if (prng.bool(0.3)) {
    const at = prng.int(0, IMAGE_BYTES - (8 << 20));
    const shift = prng.int(1, 64);
    image.copyWithin(at + shift, at, at + (8 << 20) - shift);
    done.push('shift');
  }
  if (prng.bool(0.15)) {
    image.fill(0, IMAGE_BYTES - prng.int(1, 3 << 20));
    done.push('truncate');
  }
  return done;
}

function memorySource(image: Buffer): ImageSource {
  const copy = Buffer.from(image);
  return { capacityBytes: copy.length, read: (offsetBytes, lengthBytes) => Promise.resolve(ok(copy.subarray(offsetBytes, offsetBytes + lengthBytes))) };
}

async function restored(repo: Repository, id: RecoveryPointId): Promise<string> {
  const out = Buffer.alloc(IMAGE_BYTES);
  unwrap(await repo.restoreDisk(id, DISK, (offsetBytes, bytes) => { out.set(bytes, offsetBytes); return Promise.resolve(); }));
  return sha256Hex(out);
}

async function rounds(compression: CodecSettings, seed: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ql-stress-'));
  dirs.push(dir);
  const store = unwrap(await LocalDirStore.open(dir, { create: true, tempTag: 'stress' }));
  const clock = new ManualClock();
  unwrap(await Repository.init(store, { clock, compression }));
  const prng = createPrng(seed);
  const image = Buffer.alloc(IMAGE_BYTES);
  textFill(prng, image);
  const points: { id: RecoveryPointId; hash: string; edits: string }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const edits = round === 1 ? 'first' : edit(prng, image).join('+');
    const repo = unwrap(await Repository.open(store, { clock, writer: { owner: 'stress' }, compressionInFlight: writerThreads(availableParallelism()) }));
    const parent = points.at(-1)?.id;
    const { id } = unwrap(await backupImage(repo, memorySource(image), { diskId: DISK, meta: meta(), ...(parent === undefined ? {} : { parent }) }));
    points.push({ id, hash: sha256Hex(image), edits });
    const where = `round ${round} (${edits}, seed ${seed})`;
    // verify every round: the metadata each time, every pack's bytes every tenth round
    // (reading all packs each round made the test quadratic: 6 min); the new point is
    // read end to end (CRC32, decompression, SHA-256 of each chunk) every round.
    const full = round % 10 === 0 || round === 2;
    const report = unwrap(await verifyRepository(store, { readData: full }));
    expect(report.damages.map(describeDamage), where).toEqual([]);
    expect(await restored(repo, id), `${where}: the new point`).toBe(points.at(-1)?.hash);
    if (full) {
      for (const p of points) expect(await restored(repo, p.id), `${where}: point of ${p.edits}`).toBe(p.hash);
    }
    unwrap(await repo.close());
    clock.advance(1_000_000);
  }
}

describe('30 rounds of random edits of a 64 MiB image, chunk workers on', () => {
  it('zstd (workers hash, checksum and compress): verify clean and every point restores, every round', { timeout: 600_000 }, async () => {
    await rounds({ codec: 'zstd', level: 4 }, 14);
  });
  it('brotli (compression on the thread pool): the same', { timeout: 600_000 }, async () => {
    await rounds({ codec: 'brotli', level: 1 }, 15);
  });
});
