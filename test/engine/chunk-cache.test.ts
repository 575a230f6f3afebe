/**
 * The read side's two caches (engine/repository/chunk-cache.ts): a read session's decoded
 * chunks (least recently used out first, bounded in bytes), and the repository's memo of
 * chunks it checked end to end. The memo must never hand back bytes for stored bytes that
 * changed since they were checked — even when the change keeps the CRC32 valid, as a blob
 * damaged in memory before its CRC was taken would.
 */

import { describe, expect, it } from 'vitest';
import { crc32 } from '../../core/crc32.js';
import { unwrap } from '../../core/result.js';
import { ChunkCache, CheckedChunks } from '../../engine/repository/chunk-cache.js';
import { repositorySource } from '../../engine/repository/engine-ports.js';
import { ChunkId, packName } from '../../engine/repository/hash.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { backupPoint, DISK, ManualClock, newRepo, xorshiftFill } from './support.js';

const id = (n: number): ChunkId => ChunkId(n.toString(16).padStart(64, '0'));
const bytes = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill);

describe('ChunkCache', () => {
  it('keeps chunks within its byte budget, least recently used out first', () => {
    const cache = new ChunkCache(300);
    cache.put(id(1), bytes(100));
    cache.put(id(2), bytes(100));
    cache.put(id(3), bytes(100));
    expect(cache.get(id(1))).toBeDefined(); // 1 is now the most recent
    cache.put(id(4), bytes(100)); // over budget: 2 goes
    expect(cache.get(id(2))).toBeUndefined();
    expect([1, 3, 4].map((n) => cache.get(id(n)) !== undefined)).toEqual([true, true, true]);
    expect(cache.sizeBytes).toBe(300);
    expect(cache.hits).toBe(4);
    expect(cache.misses).toBe(1);
  });

  it('does not keep a chunk larger than the whole budget, and replaces one put twice', () => {
    const cache = new ChunkCache(150);
    cache.put(id(1), bytes(200));
    expect(cache.size).toBe(0);
    cache.put(id(2), bytes(100, 1));
    cache.put(id(2), bytes(120, 2));
    expect(cache.size).toBe(1);
    expect(cache.sizeBytes).toBe(120);
    expect(cache.get(id(2))?.[0]).toBe(2);
  });
});

describe('CheckedChunks', () => {
  it('answers only for the very stored bytes, under the same compression, that were checked', () => {
    const memo = new CheckedChunks(1 << 20);
    const stored = bytes(64, 7);
    const raw = bytes(256, 9);
    memo.remember(id(1), 'zstd', stored, raw);
    stored[0] = 0; // the caller's buffer changing later does not change what was remembered
    expect(memo.rawFor(id(1), 'zstd', bytes(64, 7))).toBe(raw);
    const flipped = bytes(64, 7);
    flipped[63] = 6;
    expect(memo.rawFor(id(1), 'zstd', flipped)).toBeUndefined();
    expect(memo.rawFor(id(1), 'zstd', bytes(63, 7))).toBeUndefined();
    expect(memo.rawFor(id(1), 'brotli', bytes(64, 7))).toBeUndefined();
    expect(memo.rawFor(id(2), 'zstd', bytes(64, 7))).toBeUndefined();
  });

  it('forgets the least recently used once over its budget', () => {
    const memo = new CheckedChunks(300);
    for (const n of [1, 2, 3]) memo.remember(id(n), 'raw', bytes(50, n), bytes(50, n));
    expect(memo.rawFor(id(1), 'raw', bytes(50, 1))).toBeDefined();
    memo.remember(id(4), 'raw', bytes(50, 4), bytes(50, 4));
    expect(memo.rawFor(id(2), 'raw', bytes(50, 2))).toBeUndefined();
    expect(memo.rawFor(id(1), 'raw', bytes(50, 1))).toBeDefined();
  });
});

describe('a repository that read a chunk once', () => {
  async function setUp(): Promise<{ store: MemoryStore; repo: Awaited<ReturnType<typeof newRepo>>; pointId: Awaited<ReturnType<typeof backupPoint>>; image: Uint8Array }> {
    const store = new MemoryStore();
    const repo = await newRepo(store, new ManualClock());
    const image = new Uint8Array(64 * 1024);
    xorshiftFill(image, 11, 'random'); // incompressible: blobs are stored raw
    const pointId = await backupPoint(repo, image, { mode: 'full', writes: [], resizeBytes: undefined, readStepBytes: 16 * 1024 }, undefined);
    return { store, repo, pointId, image };
  }

  it('still finds a blob damaged afterwards whose CRC32 was fixed up to match', async () => {
    const { store, repo, pointId, image } = await setUp();
    const first = unwrap(await repo.readDisk(pointId, DISK, 0, image.length));
    expect(Buffer.compare(first, image)).toBe(0);
    // Damage one blob in its pack and make the index's CRC32 agree with the damage.
    const [chunkId, loc] = [...repo.index.entries()][0] as [ChunkId, NonNullable<ReturnType<typeof repo.index.get>>];
    expect(loc.compression).toBe('raw');
    const pack = unwrap(await store.get(packName(loc.packId)));
    const at = loc.offsetBytes + Math.floor(loc.storedBytes / 2);
    pack[at] = (pack[at] as number) ^ 0x01;
    unwrap(await store.put(packName(loc.packId), pack));
    repo.index.set(chunkId, { ...loc, crc32: crc32(pack.subarray(loc.offsetBytes, loc.offsetBytes + loc.storedBytes)) });
    const again = await repo.readDisk(pointId, DISK, 0, image.length);
    expect(again.ok).toBe(false);
    if (!again.ok) expect(again.error).toMatchObject({ kind: 'chunk-damaged', chunkId, reason: 'SHA-256 mismatch' });
  });

  it('a point source reads every chunk once per session, and a new session sees later damage', async () => {
    const { store, repo, pointId, image } = await setUp();
    const source = unwrap(await repositorySource(repo, pointId));
    const gets = { n: 0 };
    const getRange = store.getRange.bind(store);
    store.getRange = (name, offset, length) => {
      if (name.startsWith('packs/')) gets.n++;
      return getRange(name, offset, length);
    };
    // Read in 1 KiB steps: many reads fall into each (about 4 KiB) chunk.
    const out = new Uint8Array(image.length);
    for (let off = 0; off < image.length; off += 1024) out.set(await source.read(DISK, off, 1024), off);
    expect(Buffer.compare(out, image)).toBe(0);
    expect(gets.n).toBe(repo.index.size);
    // Damage a blob (the CRC32 catches this one): the open session keeps what it checked;
    // a session opened afterwards reports the damage.
    const loc = [...repo.index.values()][0] as NonNullable<ReturnType<typeof repo.index.get>>;
    const pack = unwrap(await store.get(packName(loc.packId)));
    pack[loc.offsetBytes] = (pack[loc.offsetBytes] as number) ^ 0xff;
    unwrap(await store.put(packName(loc.packId), pack));
    const fresh = unwrap(await repositorySource(repo, pointId));
    await expect(fresh.read(DISK, 0, image.length)).rejects.toThrow(/damaged|CRC32/);
  });
});
