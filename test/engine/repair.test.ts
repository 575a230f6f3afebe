/**
 * Acceptance of repair (engine/repository/repair.ts): after each kind of damage — a
 * flipped bit in a blob or in a trailer, a truncated pack, garbage appended to a pack, a
 * deleted or garbage index file, garbage in the config, a manifest or locks/writer —
 * repair leaves a repository verify passes, says exactly which points lost what, keeps
 * every point that lost nothing byte for byte, and a rewritten point restores as its image
 * with the lost ranges zeroed. A crash at any store call of a repair loses no intact point
 * and shows no partial one, and the next repair ends in the same repository state as an
 * uncrashed one.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.js';
import type { RecoveryPointId } from '../../engine/repository/hash.js';
import { prune } from '../../engine/repository/prune.js';
import { repairLostData, repairRepository, type PointRepair, type RepairReport } from '../../engine/repository/repair.js';
import { Repository } from '../../engine/repository/repository.js';
import { verifyRepository } from '../../engine/repository/verify.js';
import type { ByteStore } from '../../engine/store/byte-store.js';
import { LOCK_NAME } from '../../engine/store/lock.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { backupChain, crashAtRandomCall, equalBytes, ManualClock, newRepo, restoreBoth, type PointSpec } from './support.js';

const SPECS: PointSpec[] = [
  { writes: [{ offsetBytes: 0, lengthBytes: 60_000, seed: 3, kind: 'random' }, { offsetBytes: 60_000, lengthBytes: 80_000, seed: 4, kind: 'text' }], resizeBytes: undefined, mode: 'full', readStepBytes: 65_536 },
  { writes: [{ offsetBytes: 10_000, lengthBytes: 5_000, seed: 5, kind: 'random' }], resizeBytes: undefined, mode: 'reread', readStepBytes: 65_536 },
  { writes: [{ offsetBytes: 100_000, lengthBytes: 30_000, seed: 6, kind: 'text' }], resizeBytes: undefined, mode: 'cbt', readStepBytes: 10_000 },
];

interface Fixture {
  readonly store: MemoryStore;
  readonly clock: ManualClock;
  readonly ids: RecoveryPointId[];
  readonly images: Uint8Array[];
}

async function fixture(): Promise<Fixture> {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const repo = await newRepo(store, clock);
  const { ids, images } = await backupChain(repo, SPECS, 160_000);
  unwrap(await repo.close());
  return { store, clock, ids, images };
}

const names = async (store: ByteStore, prefix: string): Promise<string[]> => [...unwrap(await store.list(prefix))];
const bytesOf = async (store: ByteStore, name: string): Promise<Uint8Array> => unwrap(await store.get(name));

async function flipByte(store: ByteStore, name: string, at: (length: number) => number): Promise<void> {
  const b = new Uint8Array(await bytesOf(store, name));
  const i = at(b.length);
  b[i] = (b[i] as number) ^ 0x10;
  unwrap(await store.put(name, b));
}

const repairOf = (store: ByteStore, clock: ManualClock, owner = 'repair-1'): Promise<ReturnType<typeof unwrap<RepairReport, unknown>>> =>
  repairRepository(store, { clock, owner, isStale: (r) => r.owner !== owner }).then((r) => unwrap(r));

/** Every listed point restores: an original as its image; a rewritten one as its image with the lost ranges zeroed. */
async function expectRestorable(f: Fixture, report: RepairReport): Promise<void> {
  const repo = unwrap(await Repository.open(f.store, { clock: f.clock }));
  const rewritten = new Map<RecoveryPointId, Extract<PointRepair, { kind: 'rewritten' }>>();
  for (const p of report.points.repaired) if (p.kind === 'rewritten') rewritten.set(p.newId, p);
  for (const p of unwrap(await repo.listPoints())) {
    const original = rewritten.get(p.id)?.id ?? p.id;
    const image = f.images[f.ids.indexOf(original)];
    expect(image, `point ${p.id} is one of the fixture's`).toBeDefined();
    const expected = new Uint8Array(image as Uint8Array);
    for (const d of rewritten.get(p.id)?.disks ?? []) for (const [a, b] of d.ranges) expected.fill(0, a, b);
    const restored = await restoreBoth(repo, p.id);
    expect(restored.ok && equalBytes(restored.value, expected), `point ${p.id} restores`).toBe(true);
  }
}

async function expectSound(store: ByteStore): Promise<void> {
  const v = unwrap(await verifyRepository(store));
  expect(v.damages).toEqual([]);
  expect(v.garbage.unindexedPacks).toEqual([]);
  expect(v.garbage.tempObjects).toEqual([]);
  expect(await names(store, 'index/')).toHaveLength(1);
}

describe('repair', () => {
  it('a sound repository: nothing lost, the index files merged into one; a second repair writes nothing', async () => {
    const f = await fixture();
    expect((await names(f.store, 'index/')).length).toBeGreaterThan(1);
    const r = await repairOf(f.store, f.clock);
    expect(repairLostData(r)).toBe(false);
    expect(r.packs.damaged).toEqual([]);
    expect(r.index.written).toBe(true);
    await expectSound(f.store);
    await expectRestorable(f, r);
    const before = f.store.allNames();
    const again = await repairOf(f.store, f.clock);
    expect(again.index.written).toBe(false);
    expect(f.store.allNames()).toEqual(before);
  });

  const damages: readonly [string, (f: Fixture) => Promise<void>, { lost: boolean }][] = [
    ['a flipped bit in a blob', async (f) => flipByte(f.store, (await names(f.store, 'packs/'))[0] as string, () => 20), { lost: true }],
    ['a flipped bit in a pack trailer (the index still knows the blobs)', async (f) => flipByte(f.store, (await names(f.store, 'packs/'))[0] as string, (n) => n - 30), { lost: false }],
    ['a truncated pack', async (f) => {
      const name = (await names(f.store, 'packs/'))[1] as string;
      const b = await bytesOf(f.store, name);
      unwrap(await f.store.put(name, b.subarray(0, Math.floor(b.length / 2))));
    }, { lost: true }],
    ['garbage appended to a pack (rebuilt under its own name)', async (f) => {
      const name = (await names(f.store, 'packs/'))[0] as string;
      unwrap(await f.store.put(name, Buffer.concat([await bytesOf(f.store, name), Buffer.from('garbage')])));
    }, { lost: false }],
    ['a deleted index file', async (f) => { unwrap(await f.store.delete((await names(f.store, 'index/'))[0] as string)); }, { lost: false }],
    ['every index file deleted', async (f) => { for (const n of await names(f.store, 'index/')) unwrap(await f.store.delete(n)); }, { lost: false }],
    ['garbage in an index file', async (f) => { unwrap(await f.store.put((await names(f.store, 'index/'))[0] as string, Buffer.from('{"garbage'))); }, { lost: false }],
    ['garbage in the config', async (f) => { unwrap(await f.store.put('config', Buffer.from('garbage\n'))); }, { lost: false }],
    ['a flipped bit in the config', async (f) => flipByte(f.store, 'config', () => 5), { lost: false }],
    ['garbage in a manifest', async (f) => { unwrap(await f.store.put(`points/${f.ids[1] as string}`, Buffer.from('garbage'))); }, { lost: true }],
    ['garbage in locks/writer', async (f) => { unwrap(await f.store.put(LOCK_NAME, Buffer.from('\u0000garbage'))); }, { lost: false }],
    ['a pack deleted', async (f) => { unwrap(await f.store.delete((await names(f.store, 'packs/'))[2] as string)); }, { lost: true }],
  ];

  it.each(damages)('%s: verify passes after repair, and repair says which points lost what', async (_label, damage, expected) => {
    const f = await fixture();
    await damage(f);
    const r = await repairOf(f.store, f.clock);
    expect(repairLostData(r)).toBe(expected.lost);
    await expectSound(f.store);
    await expectRestorable(f, r);
    // Every original point is listed, rewritten (named) or reported unreadable (named).
    const listed = new Set(unwrap(await unwrap(await Repository.open(f.store, { clock: f.clock })).listPoints()).map((p) => p.id));
    for (const id of f.ids) {
      const fate = r.points.repaired.find((p) => (p.kind === 'rewritten' ? p.id === id : p.object === `points/${id}`));
      expect(listed.has(id) || fate !== undefined, `point ${id} is accounted for`).toBe(true);
      if (fate?.kind === 'rewritten') expect(fate.disks.reduce((s, d) => s + d.chunks, 0)).toBeGreaterThan(0);
    }
    // Damaged objects were moved aside, not deleted; the repository takes backups and prunes again.
    for (const d of r.packs.damaged) expect(await f.store.exists(d.movedTo ?? '')).toEqual({ ok: true, value: true });
    const repo = unwrap(await Repository.open(f.store, { clock: f.clock, writer: { owner: 'after' } }));
    await backupChain(repo, SPECS.slice(0, 1), 160_000);
    unwrap(await prune(repo, { keepAll: true }));
    unwrap(await repo.close());
    expect(unwrap(await verifyRepository(f.store)).damages).toEqual([]);
  });

  it('a second repair of a repaired repository finds nothing more', async () => {
    const f = await fixture();
    await flipByte(f.store, (await names(f.store, 'packs/'))[0] as string, () => 20);
    await repairOf(f.store, f.clock);
    const again = await repairOf(f.store, f.clock);
    expect(repairLostData(again)).toBe(false);
    expect(again.packs.damaged).toEqual([]);
  });

  it('a crash at any store call of a repair loses no intact point, shows no partial one, and the next repair ends where an uncrashed one does', async () => {
    const base = await fixture();
    await flipByte(base.store, (await names(base.store, 'packs/'))[0] as string, () => 20);
    const uncrashed = base.store.clone();
    const clean = await repairOf(uncrashed, base.clock);
    const finalIds = (await names(uncrashed, 'points/')).sort();
    const intact = base.ids.filter((id) => !clean.points.repaired.some((p) => p.kind === 'rewritten' && p.id === id));
    await fc.assert(fc.asyncProperty(fc.nat(), fc.nat(), async (callPick, seed) => {
      const store = base.store.clone();
      const f: Fixture = { ...base, store };
      const crashed = await crashAtRandomCall(store, (s) => repairRepository(s, { clock: base.clock, owner: 'repair-1' }), { callPick, seed });
      // After the crash: the intact points restore; every listed point is an original or a whole rewrite.
      const repo = unwrap(await Repository.open(store, { clock: base.clock }));
      for (const id of intact) expect((await restoreBoth(repo, id)).ok, `${id} after a crash ${crashed}`).toBe(true);
      for (const p of unwrap(await repo.listPoints())) expect(base.ids.includes(p.id) || finalIds.includes(`points/${p.id}`), crashed).toBe(true);
      const next = await repairOf(store, base.clock, 'repair-2');
      await expectSound(store);
      await expectRestorable(f, { ...next, points: clean.points });
      expect((await names(store, 'points/')).sort(), crashed).toEqual(finalIds);
    }), { numRuns: 40 });
  });
});
