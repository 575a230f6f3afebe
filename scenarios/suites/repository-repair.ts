/**
 * Property 19's part of the repository suite (repository-suite.ts): on a copy of the
 * repository the backups left, damaged one of three ways (drawn from the spec: P10's
 * flipped byte, one pack deleted, or one pack truncated), the engine under test runs
 * `quiescelab repair` as the CLI does (cli/repo.ts: `repairRepository(store, { clock,
 * owner, attributes: { host, pid }, isStale })`; through the engine interface, `repair(store,
 * clock, { owner, attributes })`, the engine deriving the stale-lock rule from host and pid);
 * then a restarted engine lists the points, reads each back and verify reads every pack.
 *
 * What the damage should cost is worked out here from the store before and after the
 * damage, by the repository's formats (index files, pack bytes, manifests: white-box, as P19
 * may for an engine declaring 'repository-format:quiescelab/1'), not from
 * repair's report: a chunk is expected lost when its stored bytes in the damaged pack
 * changed (or were cut off, or the pack is gone) and no other pack holds it; a point is
 * expected to lose data when it references such a chunk, and to be lost whole when its
 * own manifest was the damaged object. The checker (scenarios/checkers/repair-saves.ts)
 * compares that with what repair did.
 *
 * Leaves out: a crash during repair (test/engine/repair.test.ts), log records (the suite
 * stores none), damage to two objects at once.
 */

import { assert } from '../../core/assert.js';
import { decodeIndex } from '../../engine/repository/index-file.js';
import { decodeManifest } from '../../engine/repository/manifest.js';
import type { Result } from '../../core/result.js';
import type { RepairReport } from '../../engine/repository/repair.js';
import type { PointSummary } from '../../engine/repository/repository.js';
import { describeDamage } from '../../engine/repository/verify.js';
import { describeStoreError } from '../../engine/store/byte-store.js';
import { LOCK_NAME } from '../../engine/store/lock.js';
import type { MemoryStore } from '../../engine/store/memory-store.js';
import type { ExpectedPoint, ListedAfter, PointReadBack, RepairRecord, ReportedRepair } from '../checkers/repair-saves.js';
import type { EngineFailure } from '../engine-api.js';
import type { PointRun, Scenario } from '../scenario/run.js';
import { SparseImage } from '../scenario/sparse-image.js';

export type RepairDamage = 'flip' | 'delete-pack' | 'truncate-pack';

export interface RepairPlan {
  /** flip: the store P10 flipped; else the pack objectPick % packs (in name order), deleted or cut to offsetPick % its size bytes. */
  readonly damage: RepairDamage;
}

/** The damage done: which object, its bytes after (null: deleted). */
export interface DamageDone {
  readonly object: string;
  readonly after: Uint8Array | null;
}

/**
 * The sim's `quiescelab repair` process: the owner and attributes cli/repo.ts passes
 * (cliWriter). The engine takes a holder on this host whose process is gone (another pid:
 * no other process runs here) for stale, as the CLI's holderIsDead does.
 */
const LAB_HOST = 'lab-repair-host';
const LAB_PID = 4242;
export const LAB_REPAIR = { owner: `${LAB_HOST}:${LAB_PID}`, attributes: { host: LAB_HOST, pid: LAB_PID } } as const;

export async function objectsOf(store: MemoryStore): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const name of store.allNames()) {
    const bytes = await store.get(name);
    assert(bytes.ok, `object ${name} reads`);
    out.set(name, bytes.value);
  }
  return out;
}

/** Deletes or truncates one pack of `store` (the plan's), and says which (white-box: pack names of 'repository-format:quiescelab/1'). */
export async function damagePack(store: MemoryStore, damage: 'delete-pack' | 'truncate-pack', pick: { readonly objectPick: number; readonly offsetPick: number }): Promise<DamageDone | null> {
  const packs = store.allNames().filter((n) => n.startsWith('packs/')).sort();
  if (packs.length === 0) return null;
  const object = packs[pick.objectPick % packs.length] as string;
  if (damage === 'delete-pack') {
    const removed = await store.delete(object);
    assert(removed.ok, `pack ${object} deleted`);
    return { object, after: null };
  }
  const bytes = await store.get(object);
  assert(bytes.ok, `pack ${object} reads`);
  const after = bytes.value.slice(0, pick.offsetPick % bytes.value.length);
  const put = await store.put(object, after);
  assert(put.ok, `pack ${object} truncated`);
  return { object, after };
}

const sameRange = (a: Uint8Array, b: Uint8Array | null, from: number, length: number): boolean =>
  b !== null && b.length >= from + length && Buffer.compare(a.subarray(from, from + length), b.subarray(from, from + length)) === 0;

/**
 * The chunks the damage costs: stored in the damaged pack, their bytes changed, held by no other pack.
 * White-box: decodes the index files, as P19 may for an engine declaring 'repository-format:quiescelab/1'.
 */
function expectedLostChunks(before: ReadonlyMap<string, Uint8Array>, damage: DamageDone | null): Set<string> {
  const lost = new Set<string>();
  if (damage === null || !damage.object.startsWith('packs/')) return lost;
  const original = before.get(damage.object);
  assert(original !== undefined, `the damaged pack ${damage.object} was in the store`);
  const elsewhere = new Set<string>();
  for (const [name, bytes] of before) {
    if (!name.startsWith('index/')) continue;
    const packs = decodeIndex(bytes);
    if (!packs.ok) continue;
    for (const p of packs.value) {
      const inDamaged = `packs/${p.packId.slice(0, 2)}/${p.packId}` === damage.object;
      for (const b of p.blobs) {
        if (!inDamaged) elsewhere.add(b.chunkId);
        else if (!sameRange(original, damage.after, b.offsetBytes, b.storedBytes)) lost.add(b.chunkId);
      }
    }
  }
  for (const c of elsewhere) lost.delete(c);
  return lost;
}

/**
 * Every point before the damage, with what the damage should cost it.
 * White-box: decodes the manifests, as P19 may for an engine declaring 'repository-format:quiescelab/1'.
 */
function expectedPoints(before: ReadonlyMap<string, Uint8Array>, damage: DamageDone | null, lost: ReadonlySet<string>, runs: readonly PointRun[]): ExpectedPoint[] {
  const out: ExpectedPoint[] = [];
  for (const [name, bytes] of before) {
    if (!name.startsWith('points/')) continue;
    const m = decodeManifest(bytes);
    assert(m.ok, `manifest ${name} decodes before the damage`);
    const pointId = name.slice('points/'.length);
    const lostRanges = m.value.disks.map((d) => d.extents.filter((e) => lost.has(e.chunkId)).map((e) => [e.offsetBytes, e.offsetBytes + e.lengthBytes] as const));
    const lostChunks = new Set(m.value.disks.flatMap((d) => d.extents.filter((e) => lost.has(e.chunkId)).map((e) => e.chunkId)));
    const perDisk = m.value.disks.reduce((n, d) => n + new Set(d.extents.filter((e) => lost.has(e.chunkId)).map((e) => e.chunkId)).size, 0);
    const run = runs.find((r) => r.pointId === pointId);
    out.push({
      pointId, runIndex: run?.index ?? null, lostWhole: damage?.object === name,
      lostChunks: lostChunks.size, lostDiskChunks: perDisk, lostBytes: lostRanges.flat().reduce((s, [a, b]) => s + b - a, 0), lostRanges,
    });
  }
  return out;
}

/** A point read back through `reader` against its VmSnapshot image, `zeroRanges` (per disk) expected to read as zeros. */
async function readBackAgainst(s: Scenario, reader: string, listedId: string, expected: ExpectedPoint): Promise<PointReadBack> {
  const base = { pointId: expected.pointId, listedId };
  const ref = expected.runIndex === null ? null : s.tap.snapshotOf(expected.runIndex)?.images ?? null;
  if (ref === null) return { ...base, difference: 'no VmSnapshot image to compare with' };
  const read = await s.readBack(reader, listedId);
  if (!read.ok) return { ...base, difference: `does not read back: ${read.error}` };
  if (read.value.images.length !== ref.length) return { ...base, difference: `${read.value.images.length} disks, the VmSnapshot has ${ref.length}` };
  for (const [i, image] of read.value.images.entries()) {
    const want = ref[i] as SparseImage;
    for (const [a, b] of expected.lostRanges[i] ?? []) {
      if (image.read(a, b - a).some((x) => x !== 0)) return { ...base, difference: `disk ${i}: the lost range [${a}, ${b}) does not read as zeros` };
      image.write(a, want.read(a, b - a));
    }
    const grain = SparseImage.firstDifference(image, want);
    if (grain >= 0) return { ...base, difference: `disk ${i} differs first at grain ${grain}${(expected.lostRanges[i] ?? []).length > 0 ? ' (outside the lost ranges)' : ''}` };
  }
  return { ...base, difference: null };
}

function listedAfter(points: Result<readonly PointSummary[], EngineFailure>): ListedAfter[] {
  if (!points.ok) return [];
  return points.value.map((p) => {
    const mark = p.meta.attributes.repair;
    const repair = mark !== null && typeof mark === 'object' && !Array.isArray(mark) ? mark as Readonly<Record<string, unknown>> : null;
    return {
      id: p.id, claimedLevel: p.meta.claimedLevel,
      repair: repair === null ? null : { originalId: String(repair.originalId), lostChunks: Number(repair.lostChunks), lostBytes: Number(repair.lostBytes) },
    };
  });
}

function reportedOf(report: Result<RepairReport, EngineFailure>): ReportedRepair | null {
  if (!report.ok) return null;
  const r = report.value;
  return {
    rewritten: r.points.repaired.flatMap((p) => (p.kind === 'rewritten' ? [{ id: p.id, newId: p.newId, chunks: p.disks.reduce((s, d) => s + d.chunks, 0), bytes: p.disks.reduce((s, d) => s + d.bytes, 0) }] : [])),
    unreadable: r.points.repaired.flatMap((p) => (p.kind === 'unreadable' ? [p.object] : [])),
  };
}

/** repair on `store` (a damaged copy: `damage` says how), then what a restarted engine finds. */
export async function repairDamaged(s: Scenario, store: MemoryStore, before: ReadonlyMap<string, Uint8Array>, damage: DamageDone | null, runs: readonly PointRun[], plan: RepairPlan): Promise<RepairRecord> {
  const engine = s.engine;
  // White-box: the writer lock's object name in the repository format ('repository-format:quiescelab/1').
  if (store.allNames().includes(LOCK_NAME)) {
    // The writer that held the copy's lock is gone (a crashed process), as after P15's copy.
    const dropped = await store.delete(LOCK_NAME);
    assert(dropped.ok, 'the copy\'s writer lock is dropped');
  }
  const lost = expectedLostChunks(before, damage);
  const expected = expectedPoints(before, damage, lost, runs);
  const base = { damage: plan.damage, damaged: damage === null ? null : { object: damage.object, bytesAfter: damage.after?.length ?? null }, expectedLost: lost.size, expected, listed: [] as ListedAfter[], readBacks: [] as PointReadBack[], objectsAfter: new Map<string, Uint8Array>(), before };
  const repaired = await engine.repair(store, s.hv.sim.clock, LAB_REPAIR);
  const reported = reportedOf(repaired);
  if (!repaired.ok) return { ...base, error: `repair: ${repaired.error}`, reported, verify: { error: null, damages: [] } };
  s.note('restore', `repair after ${plan.damage} of ${damage?.object ?? 'nothing'}: ${reported?.rewritten.length ?? 0} point(s) rewritten, ${reported?.unreadable.length ?? 0} lost whole; ${lost.size} chunk(s) expected lost`);
  const objectsAfter = await objectsOf(store);
  const report = await engine.verify(store);
  const verify = report.ok ? { error: null, damages: report.value.damages.map(describeDamage) } : { error: describeStoreError(report.error), damages: [] };
  const reader = await engine.openRepository(store, s.hv.sim.clock, {});
  if (!reader.ok) return { ...base, objectsAfter, reported, verify, error: `reopen after repair: ${reader.error}` };
  const points = await engine.listPoints(reader.value);
  if (!points.ok) return { ...base, objectsAfter, reported, verify, error: `listing the points after repair: ${points.error}` };
  const listed = listedAfter(points);
  const readBacks: PointReadBack[] = [];
  for (const e of expected) {
    const as = listed.find((l) => l.id === e.pointId) ?? listed.find((l) => l.repair?.originalId === e.pointId);
    if (as !== undefined) readBacks.push(await readBackAgainst(s, reader.value, as.id, e));
  }
  return { ...base, objectsAfter, reported, verify, listed, readBacks, error: null };
}

/** Property 19's step: damage a copy as the plan says (flip: `flipped`, the copy P10 flipped), repair it, judge it later. */
export async function damageAndRepair(s: Scenario, clean: MemoryStore, flipped: { readonly store: MemoryStore; readonly object: string | null }, runs: readonly PointRun[], plan: RepairPlan, pick: { readonly objectPick: number; readonly offsetPick: number }): Promise<RepairRecord> {
  const before = await objectsOf(clean);
  let store: MemoryStore;
  let damage: DamageDone | null;
  if (plan.damage === 'flip') {
    store = flipped.store;
    const after = flipped.object === null ? null : await store.get(flipped.object);
    assert(after === null || after.ok, 'the flipped object reads');
    damage = flipped.object === null || after === null || !after.ok ? null : { object: flipped.object, after: after.value };
  } else {
    store = clean.clone();
    damage = await damagePack(store, plan.damage, pick);
  }
  return repairDamaged(s, store, before, damage, runs, plan);
}
