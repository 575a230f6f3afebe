/**
 * Property 15: forget and prune keep what they keep, and free what only the forgotten
 * points used.
 *
 * Judged from what the repository suite recorded (scenarios/suites/repository-prune.ts):
 * on a copy of the repository the backups left, the engine under test forgets by a
 * keep-last policy and prunes as `quiescelab forget --keep-last N` and `quiescelab prune`
 * do; then a restarted engine lists the points, reads every kept one back and verifies the
 * repository (reading every pack). Passes when:
 * - forget removed exactly the points beyond keep-last (the oldest), and the listing after
 *   prune holds exactly the kept ones;
 * - every kept point reads back byte for byte equal to its VmSnapshot's image;
 * - verify names no damage and no garbage (no unreferenced chunk, no unindexed pack);
 * - the index after prune holds every chunk a kept point references and none that only
 *   forgotten points used;
 * - the pack bytes the store lost equal the bytes prune reported freed, and prune freed
 *   something when some chunk was used by forgotten points only.
 *
 * Does not check: prune's crash safety (test/engine/crash.test.ts), log records (the
 * suite stores none), explicit-id forget, a damaged repository (prune must refuse it:
 * test/engine/prune.test.ts), how prune groups blobs into new packs.
 */

import { fail, pass, type Verdict } from '../verdict.js';

export interface KeptReadBack {
  readonly pointId: string;
  /** Null: equal to its VmSnapshot's image; else what differs or why it did not read. */
  readonly difference: string | null;
}

export interface PruneRecord {
  readonly keepLast: number;
  /** Every point before forget, oldest first. */
  readonly pointsBefore: readonly string[];
  /** forget, prune, the reopen or the listing failed (why), or null. */
  readonly error: string | null;
  readonly forgotten: readonly string[];
  readonly listedAfter: readonly string[];
  readonly kept: readonly KeptReadBack[];
  readonly verify: { readonly error: string | null; readonly damages: readonly string[]; readonly unreferencedChunks: number; readonly unindexedPacks: number };
  readonly chunks: {
    /** Chunks the kept points reference, and of those the ones no index lists after prune. */
    readonly keptReferenced: number;
    readonly missingAfter: number;
    /** Chunks only forgotten points referenced, and of those the ones still indexed after prune. */
    readonly onlyForgotten: number;
    readonly leftAfter: number;
  };
  readonly bytes: { readonly packsBefore: number; readonly packsAfter: number; readonly reportedFreed: number };
}

const ids = (list: readonly string[]): string => (list.length === 0 ? 'none' : list.map((i) => i.slice(0, 12)).join(', '));

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  return sa.size === new Set(b).size && b.every((x) => sa.has(x));
}

export function checkPruneKeeps(r: PruneRecord): Verdict {
  if (r.error !== null) return fail(`forget --keep-last ${r.keepLast} and prune: ${r.error}`);
  const expectedGone = r.pointsBefore.slice(0, Math.max(0, r.pointsBefore.length - r.keepLast));
  const expectedKept = r.pointsBefore.slice(expectedGone.length);
  if (!sameSet(r.forgotten, expectedGone)) return fail(`forget --keep-last ${r.keepLast} of ${r.pointsBefore.length} points removed ${ids(r.forgotten)}; expected the oldest: ${ids(expectedGone)}`);
  const stillListed = r.listedAfter.filter((id) => expectedGone.includes(id));
  if (stillListed.length > 0) return fail(`forgotten points still listed after prune: ${ids(stillListed)}`);
  const lost = expectedKept.filter((id) => !r.listedAfter.includes(id));
  if (lost.length > 0) return fail(`kept points missing from the listing after prune: ${ids(lost)} (listed: ${ids(r.listedAfter)})`);
  const bad = r.kept.filter((k) => k.difference !== null);
  if (bad.length > 0) return fail(`${bad.length} of ${r.kept.length} kept point(s) no longer read back as their VmSnapshot: ${bad.slice(0, 3).map((k) => `${k.pointId.slice(0, 12)}: ${k.difference ?? ''}`).join(' | ')}`);
  if (r.kept.length !== expectedKept.length) return fail(`${r.kept.length} kept point(s) read back, ${expectedKept.length} kept`);
  const v = r.verify;
  if (v.error !== null) return fail(`verify after prune failed: ${v.error}`);
  if (v.damages.length > 0) return fail(`verify after prune names ${v.damages.length} damage(s): ${v.damages.slice(0, 3).join(' | ')}`);
  if (v.unreferencedChunks > 0 || v.unindexedPacks > 0) return fail(`verify after prune finds garbage: ${v.unreferencedChunks} unreferenced chunk(s), ${v.unindexedPacks} unindexed pack(s)`);
  const c = r.chunks;
  if (c.missingAfter > 0) return fail(`${c.missingAfter} of the ${c.keptReferenced} chunks kept points reference are in no index after prune`);
  if (c.leftAfter > 0) return fail(`${c.leftAfter} of the ${c.onlyForgotten} chunks only forgotten points used are still indexed after prune`);
  const b = r.bytes;
  const gone = b.packsBefore - b.packsAfter;
  if (gone !== b.reportedFreed) return fail(`prune reports ${b.reportedFreed} bytes freed; the packs went from ${b.packsBefore} to ${b.packsAfter} bytes (${gone})`);
  if (c.onlyForgotten > 0 && b.reportedFreed <= 0) return fail(`${c.onlyForgotten} chunks only forgotten points used, yet prune freed ${b.reportedFreed} bytes`);
  return pass(`forget --keep-last ${r.keepLast}: ${r.forgotten.length} of ${r.pointsBefore.length} points forgotten; prune freed ${b.reportedFreed} bytes (${c.onlyForgotten} chunks only they used); ${r.kept.length} kept point(s) read back equal to their VmSnapshots, verify clean`);
}
