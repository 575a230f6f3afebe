/**
 * Property 15's part of the repository suite (repository-suite.ts): on a copy of the
 * repository the backups left, the engine under test runs `quiescelab forget --keep-last N
 * --prune` as the CLI does (cli/repo.ts: the repository opened as the writer with no
 * chunk workers, `forget(repo, { keepLast })`, then `prune(repo, { keepAll: true })`,
 * here through the engine interface: openRepository as the writer, forget, prune, closeRepository);
 * then a restarted engine lists the points, reads each kept one back and compares it with
 * its VmSnapshot's image (the tap's), and verify reads every pack. The picture of the
 * store before and after (index files, manifests, pack bytes) is read here, by the
 * repository's formats, so the checker (scenarios/checkers/prune-keeps.ts) does not take
 * prune's report for the truth.
 *
 * Leaves out: a crash during prune (test/engine/crash.test.ts), log records.
 */

import { assert } from '../../core/assert.js';
import { decodeIndex } from '../../engine/repository/index-file.js';
import { decodeManifest } from '../../engine/repository/manifest.js';
import { describeDamage } from '../../engine/repository/verify.js';
import { describeStoreError } from '../../engine/store/byte-store.js';
import { LOCK_NAME } from '../../engine/store/lock.js';
import type { MemoryStore } from '../../engine/store/memory-store.js';
import type { KeptReadBack, PruneRecord } from '../checkers/prune-keeps.js';
import type { PointRun, Scenario } from '../scenario/run.js';
import { SparseImage } from '../scenario/sparse-image.js';

export interface PrunePlan {
  /** keep-last N = 1 + keepPick % max(1, points - 1): at least one point is forgotten when two or more exist. */
  readonly keepPick: number;
}

/** What the store holds: chunk ids the index files list, chunk ids per manifest, pack bytes. */
interface Picture {
  readonly indexed: Set<string>;
  readonly manifests: Map<string, Set<string>>;
  readonly packBytes: number;
}

/** White-box: decodes index files and manifests, as P15 may for an engine declaring 'repository-format:quiescelab/1'. */
async function pictureOf(store: MemoryStore): Promise<Picture> {
  const indexed = new Set<string>();
  const manifests = new Map<string, Set<string>>();
  let packBytes = 0;
  for (const name of store.allNames()) {
    const bytes = await store.get(name);
    assert(bytes.ok, `object ${name} reads`);
    if (name.startsWith('packs/')) packBytes += bytes.value.length;
    if (name.startsWith('index/')) {
      const packs = decodeIndex(bytes.value);
      if (packs.ok) for (const p of packs.value) for (const b of p.blobs) indexed.add(b.chunkId);
    }
    if (name.startsWith('points/')) {
      const m = decodeManifest(bytes.value);
      if (m.ok) manifests.set(name.slice('points/'.length), new Set(m.value.disks.flatMap((d) => d.extents.map((e) => e.chunkId))));
    }
  }
  return { indexed, manifests, packBytes };
}

/** A point read back through `reader`, against the tap's image of its VmSnapshot. */
async function keptReadBack(s: Scenario, reader: string, pointId: string, runs: readonly PointRun[]): Promise<KeptReadBack> {
  const run = runs.find((r) => r.pointId === pointId);
  const ref = run === undefined ? null : s.tap.snapshotOf(run.index)?.images ?? null;
  if (ref === null) return { pointId, difference: 'no VmSnapshot image to compare with' };
  const read = await s.readBack(reader, pointId);
  if (!read.ok) return { pointId, difference: `does not read back: ${read.error}` };
  if (read.value.images.length !== ref.length) return { pointId, difference: `${read.value.images.length} disks, the VmSnapshot has ${ref.length}` };
  for (const [i, image] of read.value.images.entries()) {
    const grain = SparseImage.firstDifference(image, ref[i] as SparseImage);
    if (grain >= 0) return { pointId, difference: `disk ${i} differs first at grain ${grain}` };
  }
  return { pointId, difference: null };
}

const union = (sets: Iterable<Set<string>>): Set<string> => {
  const out = new Set<string>();
  for (const s of sets) for (const x of s) out.add(x);
  return out;
};

const NO_VERIFY: PruneRecord['verify'] = { error: null, damages: [], unreferencedChunks: 0, unindexedPacks: 0 };

/** forget --keep-last N and prune on `store` (a copy, its writer lock dropped), then the checks' picture. */
export async function forgetAndPrune(s: Scenario, store: MemoryStore, runs: readonly PointRun[], plan: PrunePlan): Promise<PruneRecord> {
  const engine = s.engine;
  const clock = s.hv.sim.clock;
  // White-box: the writer lock's object name in the repository format ('repository-format:quiescelab/1').
  const dropped = await store.delete(LOCK_NAME);
  assert(dropped.ok, 'the copy\'s writer lock is dropped');
  const before = await pictureOf(store);
  const base = { keepLast: 1, pointsBefore: [] as string[], forgotten: [] as string[], listedAfter: [] as string[], kept: [] as KeptReadBack[], verify: NO_VERIFY };
  const chunksOf = (before0: Picture, after: Picture | null, keptIds: readonly string[]): PruneRecord['chunks'] => {
    const kept = union(keptIds.map((id) => before0.manifests.get(id) ?? new Set<string>()));
    const all = union(before0.manifests.values());
    const only = [...all].filter((c) => !kept.has(c));
    return {
      keptReferenced: kept.size, missingAfter: after === null ? 0 : [...kept].filter((c) => !after.indexed.has(c)).length,
      onlyForgotten: only.length, leftAfter: after === null ? 0 : only.filter((c) => after.indexed.has(c)).length,
    };
  };
  const failed = (error: string, extra: Partial<PruneRecord> = {}): PruneRecord => ({
    ...base, ...extra, error, chunks: chunksOf(before, null, []), bytes: { packsBefore: before.packBytes, packsAfter: before.packBytes, reportedFreed: 0 },
  });
  const writer = await engine.openRepository(store, clock, { writer: 'quiescelab forget' });
  if (!writer.ok) return failed(`open as the writer: ${writer.error}`);
  const listed = await engine.listPoints(writer.value);
  if (!listed.ok) return failed(`listing the points: ${listed.error}`);
  const pointsBefore = listed.value.map((p) => p.id as string);
  const keepLast = 1 + plan.keepPick % Math.max(1, pointsBefore.length - 1);
  const forgot = await engine.forget(writer.value, { keepLast });
  if (!forgot.ok) return failed(`forget: ${forgot.error}`, { keepLast, pointsBefore });
  const forgotten = forgot.value.removed.map((id) => id as string);
  const pruned = await engine.prune(writer.value, { keepAll: true });
  await engine.closeRepository(writer.value);
  if (!pruned.ok) return failed(`prune: ${pruned.error}`, { keepLast, pointsBefore, forgotten });
  s.note('backup', `forget --keep-last ${keepLast}: ${forgotten.length} of ${pointsBefore.length} point(s) forgotten; prune frees ${pruned.value.bytesFreed} bytes`);
  const after = await pictureOf(store);
  const keptIds = pointsBefore.filter((id) => !forgotten.includes(id));
  const record = { keepLast, pointsBefore, forgotten, chunks: chunksOf(before, after, keptIds), bytes: { packsBefore: before.packBytes, packsAfter: after.packBytes, reportedFreed: pruned.value.bytesFreed } };
  const reader = await engine.openRepository(store, clock, {});
  if (!reader.ok) return { ...base, ...record, error: `reopen after prune: ${reader.error}` };
  const again = await engine.listPoints(reader.value);
  if (!again.ok) return { ...base, ...record, error: `listing the points after prune: ${again.error}` };
  const listedAfter = again.value.map((p) => p.id as string);
  const kept: KeptReadBack[] = [];
  for (const id of keptIds) kept.push(await keptReadBack(s, reader.value, id, runs));
  const report = await engine.verify(store);
  const verify = report.ok
    ? { error: null, damages: report.value.damages.map(describeDamage), unreferencedChunks: report.value.garbage.unreferencedChunks, unindexedPacks: report.value.garbage.unindexedPacks.length }
    : { ...NO_VERIFY, error: describeStoreError(report.error) };
  return { ...record, error: null, listedAfter, kept, verify };
}
