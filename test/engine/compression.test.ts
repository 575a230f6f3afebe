/**
 * Compression: chunk workers hash, checksum and compress as the calling thread does, and a
 * writer stores the same bytes with or without them (zstd on workers, brotli on libuv's
 * pool); incompressible chunks are stored raw without trying; every stored form decodes;
 * damaged zstd frames are named; brotli (version 1) repositories keep their config bytes
 * and work end to end beside zstd ones.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.js';
import {
  COMPRESSION_CODES, compressChunk, compressedLimit, compressionFromCode, decompressBlob, DEFAULT_CODEC, looksIncompressible,
  type CodecSettings, type Compression,
} from '../../engine/repository/compression.js';
import { CONFIG_NAME, decodeConfig } from '../../engine/repository/config.js';
import { sha256Hex } from '../../engine/repository/hash.js';
import { Repository } from '../../engine/repository/repository.js';
import { verifyRepository } from '../../engine/repository/verify.js';
import { ChunkWorkers } from '../../engine/repository/chunk-workers.js';
import { zstdCompress } from '../../engine/repository/zstd-wasm.js';
import { crc32 } from '../../core/crc32.js';
import { LocalDirStore } from '../../engine/store/local-dir-store.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { applyWrites, backupChain, chainArb, equalBytes, ManualClock, restoreBoth, smallInit, type ImageWrite, type PointSpec } from './support.js';

function image(sizeBytes: number, writes: readonly Omit<ImageWrite, 'seed'>[], seed = 1): Uint8Array {
  const out = new Uint8Array(sizeBytes);
  applyWrites(out, writes.map((w, i) => ({ ...w, seed: seed + i })));
  return out;
}

const MiB = 1024 * 1024;
const TEXT = image(MiB, [{ offsetBytes: 0, lengthBytes: MiB, kind: 'text' }]);
const RANDOM = image(MiB, [{ offsetBytes: 0, lengthBytes: MiB, kind: 'random' }]);
/** Random but for 66 KiB of text at an offset no sample starts at: worth compressing. */
const MOSTLY_RANDOM = image(MiB, [{ offsetBytes: 0, lengthBytes: MiB, kind: 'random' }, { offsetBytes: 300_001, lengthBytes: 66 * 1024, kind: 'text' }]);
const CODECS: readonly CodecSettings[] = [{ codec: 'zstd', level: 4 }, { codec: 'zstd', level: 1 }, { codec: 'brotli', level: 1 }];

describe('compression', () => {
  it('random chunks look incompressible; text, mixed and short chunks do not', () => {
    expect(looksIncompressible(RANDOM)).toBe(true);
    expect(looksIncompressible(TEXT)).toBe(false);
    expect(looksIncompressible(MOSTLY_RANDOM)).toBe(false);
    expect(looksIncompressible(RANDOM.subarray(0, 128 * 1024 - 1))).toBe(false);
    expect(looksIncompressible(RANDOM.subarray(0, 128 * 1024))).toBe(true);
  });

  it('each codec: text is compressed, random stored raw, mixed compressed; every form decodes', () => {
    const shortRandom = RANDOM.subarray(0, 4096);
    for (const settings of CODECS) {
      const stored = new Map<Uint8Array, Compression>();
      for (const raw of [TEXT, RANDOM, MOSTLY_RANDOM, shortRandom]) {
        const blob = compressChunk(raw, settings);
        stored.set(raw, blob.compression);
        const back = unwrap(decompressBlob(blob.compression, blob.bytes, raw.length));
        expect(equalBytes(back, raw)).toBe(true);
      }
      expect([stored.get(TEXT), stored.get(RANDOM), stored.get(MOSTLY_RANDOM), stored.get(shortRandom)]).toEqual([settings.codec, 'raw', settings.codec, 'raw']);
    }
  });

  it('chunk workers hash, checksum and compress as this thread does, whatever their number and the order jobs end in; bytes move, never copied', async () => {
    const pieces = fc.sample(fc.record({ size: fc.integer({ min: 1, max: 300_000 }), text: fc.boolean(), seed: fc.nat() }), { numRuns: 24, seed: 5 })
      .map(({ size, text, seed }) => image(size, [{ offsetBytes: 0, lengthBytes: size, kind: text ? 'text' : 'random' }], seed));
    for (const count of [1, 3]) {
      const workers = new ChunkWorkers(count);
      try {
        // Jobs of two views sharing one buffer (as the chunker hands them out), all running at once.
        const jobs = pieces.map((raw, i) => {
          const buffer = new Uint8Array(raw.length + 100);
          buffer.set(raw, 50);
          const views = [buffer.subarray(0, 50), buffer.subarray(50, 50 + raw.length)];
          const level = i % 3 === 0 ? 0 : 1 + (i % 4);
          // Every other job asks for more than the view holds (a frame is kept only if it fits); the rest only one that saves 1/64.
          const limit = i % 2 === 0 ? raw.length * 2 : compressedLimit(raw.length);
          return { level, limit, buffer, run: workers.run({ views, hash: i % 5 !== 0, compressLevel: [0, level], compressLimit: [0, limit], crc: [i % 2 === 0, true] }) };
        });
        for (const [i, { level, limit, buffer, run }] of jobs.entries()) {
          const raw = pieces[i] as Uint8Array;
          expect(buffer.length).toBe(0); // moved, not copied
          const r = await run;
          expect(r.hexes).toEqual(i % 5 !== 0 ? [sha256Hex(new Uint8Array(50)), sha256Hex(raw)] : ['', '']);
          const frame = level === 0 ? null : zstdCompress(raw, level);
          const kept = frame !== null && frame.length <= Math.min(limit, raw.length) ? frame : null;
          expect(r.compressedBytes).toEqual([-1, kept === null ? -1 : kept.length]);
          // A kept frame is written over the view's start; otherwise the view is as it was.
          const view = r.views[1] as Uint8Array;
          expect(equalBytes(kept === null ? view : view.subarray(0, kept.length), kept ?? raw)).toBe(true);
          expect(r.crcs).toEqual([i % 2 === 0 ? crc32(new Uint8Array(50)) : 0, crc32(kept ?? raw)]);
        }
      } finally {
        await workers.close();
      }
    }
  });

  it.each([['zstd', DEFAULT_CODEC], ['brotli', { codec: 'brotli', level: 1 }]] as const)('%s: a writer stores the same bytes off its thread or not: every object of the store is identical', async (_name, compression) => {
    await fc.assert(fc.asyncProperty(chainArb(150_000, 3), async ({ firstSizeBytes, specs }) => {
      const contents: Map<string, Uint8Array>[] = [];
      for (const compressionInFlight of [0, 2]) {
        const store = new MemoryStore();
        const clock = new ManualClock();
        unwrap(await Repository.init(store, { ...smallInit(clock), compression }));
        const repo = unwrap(await Repository.open(store, { clock, writer: { owner: 'w' }, compressionInFlight }));
        await backupChain(repo, specs, firstSizeBytes);
        unwrap(await repo.close());
        const objects = new Map<string, Uint8Array>();
        for (const name of unwrap(await store.list(''))) objects.set(name, unwrap(await store.get(name)));
        contents.push(objects);
      }
      const [here, off] = contents as [Map<string, Uint8Array>, Map<string, Uint8Array>];
      expect([...off.keys()]).toEqual([...here.keys()]);
      for (const [name, bytes] of here) expect(equalBytes(off.get(name) as Uint8Array, bytes), name).toBe(true);
    }), { numRuns: 8 });
  });

  it('with full-size chunks (buffers pooled and reused, read-back and pack buffers too): the same objects as in process, every point restores', async () => {
    const size = 40 * MiB;
    const runs = (seed: number, count: number, maxBytes: number): ImageWrite[] => fc.sample(
      fc.record({ offsetBytes: fc.integer({ min: 0, max: size - 1 }), lengthBytes: fc.integer({ min: 4096, max: maxBytes }), seed: fc.nat(), kind: fc.constantFrom('random', 'text', 'text', 'zero') }),
      { numRuns: count, seed },
    );
    const specs: PointSpec[] = [
      { writes: runs(1, 40, 4 * MiB), resizeBytes: size, mode: 'full', readStepBytes: 8 * MiB },
      { writes: runs(2, 12, 64 * 1024), resizeBytes: undefined, mode: 'reread', readStepBytes: 8 * MiB },
      { writes: runs(3, 12, 64 * 1024), resizeBytes: undefined, mode: 'cbt', readStepBytes: 8 * MiB },
      { writes: runs(4, 20, 3 * MiB), resizeBytes: undefined, mode: 'reread', readStepBytes: 3 * MiB },
    ];
    const contents: Map<string, Uint8Array>[] = [];
    for (const compressionInFlight of [0, 2]) {
      const dir = mkdtempSync(join(tmpdir(), 'ql-pool-'));
      try {
        const store = unwrap(await LocalDirStore.open(dir, { create: false, tempTag: 't' }));
        const clock = new ManualClock();
        unwrap(await Repository.init(store, { clock, packTargetBytes: 4 * MiB }));
        const repo = unwrap(await Repository.open(store, { clock, writer: { owner: 'w' }, compressionInFlight }));
        const { ids, images } = await backupChain(repo, specs, 0);
        for (const [k, id] of ids.entries()) {
          const restored = await restoreBoth(repo, id);
          expect(restored.ok && equalBytes(restored.value, images[k] as Uint8Array), `point ${k}`).toBe(true);
        }
        unwrap(await repo.close());
        const objects = new Map<string, Uint8Array>();
        for (const name of unwrap(await store.list(''))) objects.set(name, unwrap(await store.get(name)));
        contents.push(objects);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const [here, off] = contents as [Map<string, Uint8Array>, Map<string, Uint8Array>];
    expect([...off.keys()]).toEqual([...here.keys()]);
    for (const [name, bytes] of here) expect(equalBytes(off.get(name) as Uint8Array, bytes), name).toBe(true);
  }, 60_000);

  it('a damaged or misdescribed zstd blob is an error naming zstd, never wrong bytes', () => {
    const blob = compressChunk(TEXT, { codec: 'zstd', level: 4 });
    expect(blob.compression).toBe('zstd');
    const flipped = new Uint8Array(blob.bytes);
    flipped[0] = (flipped[0] as number) ^ 0x40; // the frame's magic
    expect(decompressBlob('zstd', flipped, TEXT.length)).toEqual({ ok: false, error: expect.stringMatching(/^zstd: /) as unknown });
    expect(decompressBlob('zstd', blob.bytes.subarray(0, blob.bytes.length - 100), TEXT.length).ok).toBe(false);
    expect(decompressBlob('zstd', blob.bytes, TEXT.length - 1).ok).toBe(false);
    expect(decompressBlob('zstd', blob.bytes, TEXT.length + 1).ok).toBe(false);
  });

  it('the pack codes: raw 0, brotli 1, zstd 2, nothing else', () => {
    expect(COMPRESSION_CODES).toEqual({ raw: 0, brotli: 1, zstd: 2 });
    expect([0, 1, 2, 3, 255].map(compressionFromCode)).toEqual(['raw', 'brotli', 'zstd', undefined, undefined]);
  });
});

describe('brotli and zstd repositories', () => {
  it('a new repository is zstd (version 2); a brotli one is version 1 with the bytes of before zstd', async () => {
    const zstdStore = new MemoryStore();
    unwrap(await Repository.init(zstdStore, smallInit(new ManualClock())));
    const zstdLine = new TextDecoder().decode(unwrap(await zstdStore.get(CONFIG_NAME))).split('\n')[0];
    expect(zstdLine).toBe('{"format":"quiescelab-repository","version":2,"chunker":{"minBytes":1024,"avgBytes":4096,"maxBytes":16384,"gearSeed":7},'
      + '"zero":{"zeroBlockBytes":512,"zeroRunMinBytes":8192},"compression":"zstd","zstdLevel":4,"packTargetBytes":32768,"createdAtUs":1000000}');
    const brotliStore = new MemoryStore();
    unwrap(await Repository.init(brotliStore, { ...smallInit(new ManualClock()), compression: { codec: 'brotli', level: 1 } }));
    const brotliLine = new TextDecoder().decode(unwrap(await brotliStore.get(CONFIG_NAME))).split('\n')[0];
    expect(brotliLine).toBe('{"format":"quiescelab-repository","version":1,"chunker":{"minBytes":1024,"avgBytes":4096,"maxBytes":16384,"gearSeed":7},'
      + '"zero":{"zeroBlockBytes":512,"zeroRunMinBytes":8192},"compression":"brotli","brotliQuality":1,"packTargetBytes":32768,"createdAtUs":1000000}');
  });

  it('a config whose version and compression disagree, or whose level is out of range, is refused', () => {
    const common = {
      format: 'quiescelab-repository', chunker: { minBytes: 1024, avgBytes: 4096, maxBytes: 16384, gearSeed: 7 },
      zero: { zeroBlockBytes: 512, zeroRunMinBytes: 8192 }, packTargetBytes: 32768, createdAtUs: 1,
    };
    const configBytes = (value: object): Uint8Array => {
      const line = JSON.stringify({ ...common, ...value });
      return new TextEncoder().encode(`${line}\n${sha256Hex(new TextEncoder().encode(line))}\n`);
    };
    expect(decodeConfig(configBytes({ version: 2, compression: 'zstd', zstdLevel: 19 })).ok).toBe(true);
    expect(decodeConfig(configBytes({ version: 1, compression: 'brotli', brotliQuality: 11 })).ok).toBe(true);
    for (const bad of [
      { version: 1, compression: 'zstd', zstdLevel: 4 },
      { version: 2, compression: 'brotli', brotliQuality: 1 },
      { version: 2, compression: 'zstd', zstdLevel: 20 },
      { version: 2, compression: 'zstd', zstdLevel: 0 },
      { version: 2, compression: 'zstd', brotliQuality: 1 },
      { version: 1, compression: 'brotli', brotliQuality: 12 },
      { version: 3, compression: 'zstd', zstdLevel: 4 },
    ]) {
      expect(decodeConfig(configBytes(bad)).ok, JSON.stringify(bad)).toBe(false);
    }
  });

  it.each([
    ['zstd, in process', { codec: 'zstd', level: 4 }, 0],
    ['zstd, 2 workers', { codec: 'zstd', level: 4 }, 2],
    ['brotli q1, in process', { codec: 'brotli', level: 1 }, 0],
    ['brotli q1, libuv pool', { codec: 'brotli', level: 1 }, 2],
  ] as const)('%s: chains restore exactly, verify is clean', async (_name, compression, compressionInFlight) => {
    await fc.assert(fc.asyncProperty(chainArb(150_000, 3), async ({ firstSizeBytes, specs }) => {
      const store = new MemoryStore();
      const clock = new ManualClock();
      unwrap(await Repository.init(store, { ...smallInit(clock), compression }));
      const repo = unwrap(await Repository.open(store, { clock, writer: { owner: 'w' }, compressionInFlight }));
      const { ids, images } = await backupChain(repo, specs, firstSizeBytes);
      for (const [k, id] of ids.entries()) {
        const restored = await restoreBoth(repo, id);
        expect(restored.ok && equalBytes(restored.value, images[k] as Uint8Array)).toBe(true);
      }
      expect(unwrap(await verifyRepository(store)).damages).toEqual([]);
      unwrap(await repo.close());
    }), { numRuns: 5 });
  });
});
