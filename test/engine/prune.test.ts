/**
 * Acceptance: prune removes exactly what no kept point references — afterwards the chunks
 * in the packs are exactly the chunks the kept manifests name, each once, with no
 * unindexed pack, no temp and one index file — and the kept points restore and verify.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ok, unwrap, type Result } from '../../core/result.js';
import type { ChunkId, RecoveryPointId } from '../../engine/repository/hash.js';
import { parsePack } from '../../engine/repository/pack.js';
import { prune } from '../../engine/repository/prune.js';
import { Repository } from '../../engine/repository/repository.js';
import { verifyRepository } from '../../engine/repository/verify.js';
import type { StoreError } from '../../engine/store/byte-store.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { backupChain, chainArb, equalBytes, ManualClock, newRepo, restoreBoth, type ArbValue,
} from './support.js';

/** A mutant store whose delete does nothing. */
class NoDeleteStore extends MemoryStore {
  override delete(): Promise<Result<void, StoreError>> {
    return Promise.resolve(ok(undefined));
  }
}

const pruneCase = fc.record({
  chain: chainArb(120_000, 5),
  keepLast: fc.integer({ min: 0, max: 5 }),
  keepPicks: fc.array(fc.nat(), { maxLength: 2 }),
});

async function pruneRemovesExactlyUnreferenced(input: ArbValue<typeof pruneCase>, store: MemoryStore): Promise<void> {
  const clock = new ManualClock();
  const repo = await newRepo(store, clock);
  const { ids, images } = await backupChain(repo, input.chain.specs, input.chain.firstSizeBytes);
  // A crashed backup's garbage too: a pack no index lists and a temp.
  unwrap(await store.put('packs/00/00' + '0'.repeat(62), new Uint8Array(10)));
  store.writeTemp('tmp/crashed-1', new Uint8Array(5));
  const keepIds = input.keepPicks.map((p) => ids[p % ids.length] as RecoveryPointId);
  // Keep at least one point: with none kept everything goes, which the empty case below covers.
  const keepLast = keepIds.length === 0 ? Math.max(1, input.keepLast) : input.keepLast;
  unwrap(await prune(repo, { keepLast, keepIds }));
  const kept = new Set([...ids.slice(ids.length - Math.min(keepLast, ids.length)), ...keepIds]);

  const listed = unwrap(await repo.listPoints()).map((p) => p.id);
  expect(new Set(listed)).toEqual(kept);
  const referenced = new Set<ChunkId>();
  for (const id of listed) {
    const m = unwrap(await repo.readManifest(id));
    for (const d of m.disks) for (const e of d.extents) referenced.add(e.chunkId);
    const restored = await restoreBoth(repo, id);
    if (!restored.ok) throw new Error(restored.error);
    expect(equalBytes(restored.value, images[ids.indexOf(id)] as Uint8Array)).toBe(true);
  }
  const stored: ChunkId[] = [];
  for (const name of unwrap(await store.list('packs/'))) {
    for (const e of unwrap(parsePack(unwrap(await store.get(name))))) stored.push(e.chunkId);
  }
  expect(stored.length, 'each chunk stored once').toBe(new Set(stored).size);
  expect(new Set(stored)).toEqual(referenced);
  expect(unwrap(await store.list('index/')).length).toBe(referenced.size === 0 ? 0 : 1);
  const report = unwrap(await verifyRepository(store));
  expect(report.damages).toEqual([]);
  expect(report.garbage).toEqual({ unindexedPacks: [], unreferencedChunks: 0, tempObjects: [] });
}

describe('prune', () => {
  it('removes exactly what is unreferenced; the kept points restore and verify', async () => {
    await fc.assert(fc.asyncProperty(pruneCase, (input) => pruneRemovesExactlyUnreferenced(input, new MemoryStore())), { numRuns: 120 });
  });

  it('the property can fail: a store that does not delete is caught', async () => {
    await expect(fc.assert(fc.asyncProperty(pruneCase, (input) => pruneRemovesExactlyUnreferenced(input, new NoDeleteStore())), { numRuns: 120 }))
      .rejects.toThrow(/Property failed/);
  });

  it('refuses, changing nothing, when a kept point is damaged', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const repo = await newRepo(store, clock);
    const { ids } = await backupChain(repo, [
      { writes: [{ offsetBytes: 0, lengthBytes: 30_000, seed: 1, kind: 'text' }], resizeBytes: undefined, mode: 'full', readStepBytes: 65_536 },
      { writes: [{ offsetBytes: 0, lengthBytes: 30_000, seed: 2, kind: 'random' }], resizeBytes: undefined, mode: 'full', readStepBytes: 65_536 },
    ], 40_000);
    const index = unwrap(await store.list('index/'))[0] as string;
    const bytes = unwrap(await store.get(index));
    bytes[5] = (bytes[5] as number) ^ 1;
    unwrap(await store.put(index, bytes));
    const before = store.allNames();
    const refused = await prune(repo, { keepLast: 1 });
    expect(!refused.ok && refused.error.kind).toBe('damaged');
    expect(store.allNames()).toEqual(before);
    expect(ids).toHaveLength(2);
  });

  it('needs the writer lock', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    unwrap(await (await newRepo(store, clock)).close());
    const reader = unwrap(await Repository.open(store, { clock }));
    const refused = await prune(reader, { keepLast: 1 });
    expect(!refused.ok && refused.error.kind).toBe('read-only');
  });
});
