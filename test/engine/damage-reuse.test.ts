/**
 * Issue 14: damage must not spread. A backup reuses a stored chunk only where a read would
 * find it intact; a chunk whose pack is missing, short, or damaged (a flipped bit, garbage
 * in its trailer) is stored again, so the next point restores byte for byte whatever was
 * damaged before. verify still names the old damage (until repair), never the new point;
 * prune keeps the intact copy of a chunk stored twice;
 * and it names garbage in the writer lock, which stops every backup.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.js';
import { prune } from '../../engine/repository/prune.js';
import { Repository } from '../../engine/repository/repository.js';
import { describeDamage, verifyRepository } from '../../engine/repository/verify.js';
import { LOCK_NAME } from '../../engine/store/lock.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { asWriter, backupPoint, equalBytes, ManualClock, newRepo, restoreBoth, xorshiftFill } from './support.js';

type Damage = 'delete' | 'truncate' | 'flip' | 'trailer';

async function damagePack(store: MemoryStore, name: string, how: Damage, pick: number): Promise<void> {
  if (how === 'delete') {
    unwrap(await store.delete(name));
    return;
  }
  const bytes = unwrap(await store.get(name));
  if (how === 'truncate') {
    unwrap(await store.put(name, bytes.subarray(0, pick % bytes.length)));
    return;
  }
  // A flip among the blobs (past the 16-byte header, before the 68-byte last entry and footer), or in the trailer.
  const at = how === 'flip' ? 16 + (pick % (bytes.length - 16 - 68)) : bytes.length - 1 - (pick % 68);
  bytes[at] = (bytes[at] as number) ^ 0x20;
  unwrap(await store.put(name, bytes));
}

const damageCase = fc.record({
  how: fc.constantFrom<Damage>('delete', 'truncate', 'flip', 'trailer'),
  packPick: fc.nat(),
  bytePick: fc.nat(),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

describe('a backup after damage stores what it cannot reuse again', () => {
  it('any pack deleted, truncated or flipped: the next backup of the same image restores byte for byte, and verify blames only the old damage', async () => {
    await fc.assert(fc.asyncProperty(damageCase, async ({ how, packPick, bytePick, seed }) => {
      const store = new MemoryStore();
      const clock = new ManualClock();
      const image = new Uint8Array(160 * 1024);
      xorshiftFill(image, seed, 'text');
      const spec = { mode: 'full', writes: [], resizeBytes: undefined, readStepBytes: 64 * 1024 } as const;
      const repo = await newRepo(store, clock);
      const first = await backupPoint(repo, image, spec, undefined);
      unwrap(await repo.close());
      const packs = store.allNames().filter((n) => n.startsWith('packs/'));
      await damagePack(store, packs[packPick % packs.length] as string, how, bytePick);
      // A new process: the index still names the damaged chunks.
      const second = await asWriter(store, clock, 'writer-2', (r) => backupPoint(r, image, spec, first));
      const reader = unwrap(await Repository.open(store, { clock }));
      const back = unwrap(await restoreBoth(reader, second));
      expect(equalBytes(back, image)).toBe(true);
      const report = unwrap(await verifyRepository(store));
      const lines = report.damages.map(describeDamage);
      expect(lines.some((l) => l.includes(second)), lines.join('\n')).toBe(false);
      // prune keeps the intact copy of a chunk stored twice (or refuses), never the damaged one alone
      const pruned = await asWriter(store, clock, 'pruner', (r) => prune(r, { keepAll: true }));
      if (!pruned.ok) expect(pruned.error.kind).toBe('damaged');
      const after = unwrap(await Repository.open(store, { clock }));
      expect(equalBytes(unwrap(await restoreBoth(after, second)), image)).toBe(true);
    }), { numRuns: 60 });
  });

  it('verify names garbage in the writer lock; the next writer breaks it as stale and backs up', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    unwrap(await (await newRepo(store, clock)).close());
    unwrap(await store.put(LOCK_NAME, new TextEncoder().encode('\u0000garbage{')));
    const report = unwrap(await verifyRepository(store));
    expect(report.damages.map(describeDamage)).toEqual([expect.stringMatching(/^locks\/writer: unreadable .*breaks it as stale/)]);
    const image = new Uint8Array(64 * 1024);
    xorshiftFill(image, 3, 'text');
    const spec = { mode: 'full', writes: [], resizeBytes: undefined, readStepBytes: 64 * 1024 } as const;
    const id = await asWriter(store, clock, 'w', (r) => backupPoint(r, image, spec, undefined));
    expect(equalBytes(unwrap(await restoreBoth(unwrap(await Repository.open(store, { clock })), id)), image)).toBe(true);
    expect(unwrap(await verifyRepository(store)).damages).toEqual([]);
  });
});
