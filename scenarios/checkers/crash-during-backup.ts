/**
 * Property 9: a crash of the engine during a backup leaves every earlier RecoveryPoint
 * restorable and no partial point visible.
 *
 * Judged from what the scenario recorded (scenarios/suites/repository-suite.ts): each
 * earlier point's disk digests read back before the crash, the crashed backup (its point
 * as it would have been, had the writer lived), where the crash struck, and, after a
 * restart on what the crash left, the points listed with their read-back digests and
 * verify's report. Passes when:
 * - every earlier point is listed and reads back to the same digests as before the crash;
 * - every other listed point is the crashed backup's and reads back whole (its digests);
 * - a point the engine had acknowledged before the crash (the crash struck the writer's
 *   close, after the backup returned) is listed;
 * - verify names no damage. Garbage (packs and index entries no manifest needs, temps) is
 *   what a crash may leave, by the repository's rules (engine/repository/verify.ts).
 *
 * Does not check: that the points equal their VmSnapshots (property 5), the level they
 * claim (2), that the repository takes backups again after the crashed writer's lock goes
 * stale, or that prune removes the garbage (engine tests: test/engine/crash.test.ts).
 */

import { fail, pass, unknown, type Verdict } from '../verdict.js';

/** A point read back through the engine: one digest per disk, or why it could not be read. */
export interface PointDigests {
  readonly pointId: string;
  readonly digests: readonly string[] | null;
  readonly error: string | null;
}

export interface CrashRecord {
  /** The points stored before the crashed backup, read back before the crash. */
  readonly earlier: readonly PointDigests[];
  /** The crashed backup's point as it was once complete (null: the backup failed). */
  readonly crashed: PointDigests | null;
  /** Mutating store calls of the window (the backup, then the writer's close). */
  readonly windowCalls: number;
  /** Calls the backup made before it returned (later ones are the close's). */
  readonly callsBeforeAck: number;
  /** Where the crash struck, or null when the window made no store write. */
  readonly crash: { readonly call: number; readonly operation: string; readonly name: string; readonly mode: string } | null;
  /** The restart: opening the repository failed (why), or null. */
  readonly reopenError: string | null;
  readonly listed: readonly PointDigests[];
  readonly verify: {
    readonly error: string | null;
    readonly damages: readonly string[];
    readonly garbage: { readonly unindexedPacks: number; readonly unreferencedChunks: number; readonly tempObjects: number };
  };
}

function same(a: readonly string[] | null, b: readonly string[] | null): boolean {
  return a !== null && b !== null && a.length === b.length && a.every((d, i) => d === b[i]);
}

const short = (id: string): string => id.slice(0, 12);

export function checkCrashDuringBackup(r: CrashRecord): Verdict {
  const crash = r.crash;
  if (crash === null) return unknown(`the crashed backup made no store write (${r.crashed === null ? 'it failed' : 'nothing new'}): nothing to crash`);
  const where = `crash (${crash.mode}) at store call ${crash.call} of ${r.windowCalls} (${crash.operation} ${crash.name})`;
  const unreadable = r.earlier.find((p) => p.digests === null);
  if (unreadable !== undefined) return unknown(`point ${short(unreadable.pointId)} did not read back even before the crash: ${unreadable.error ?? ''}`);
  if (r.reopenError !== null) return fail(`${where}: the repository does not open after the restart: ${r.reopenError}`);
  const listed = new Map(r.listed.map((p) => [p.pointId, p]));
  for (const p of r.earlier) {
    const after = listed.get(p.pointId);
    if (after === undefined) return fail(`${where}: earlier point ${short(p.pointId)} is no longer listed`);
    if (after.digests === null) return fail(`${where}: earlier point ${short(p.pointId)} no longer reads back: ${after.error ?? ''}`);
    if (!same(after.digests, p.digests)) return fail(`${where}: earlier point ${short(p.pointId)} reads back different bytes than before the crash`);
  }
  const earlier = new Set(r.earlier.map((p) => p.pointId));
  let newVisible = false;
  for (const p of r.listed) {
    if (earlier.has(p.pointId)) continue;
    if (r.crashed === null || p.pointId !== r.crashed.pointId) return fail(`${where}: point ${short(p.pointId)} is listed, but no backup committed it`);
    if (p.digests === null) return fail(`${where}: the crashed backup's point ${short(p.pointId)} is listed but partial: ${p.error ?? 'unreadable'}`);
    if (!same(p.digests, r.crashed.digests)) return fail(`${where}: the crashed backup's point ${short(p.pointId)} is listed but reads back other bytes than the complete point`);
    newVisible = true;
  }
  if (r.crashed !== null && crash.call > r.callsBeforeAck && !newVisible) {
    return fail(`${where}: the backup had returned its point ${short(r.crashed.pointId)} before the crash, and the point is gone`);
  }
  if (r.verify.error !== null) return fail(`${where}: verify failed: ${r.verify.error}`);
  if (r.verify.damages.length > 0) return fail(`${where}: verify names damage: ${r.verify.damages.slice(0, 3).join(' | ')}${r.verify.damages.length > 3 ? ` (+${r.verify.damages.length - 3} more)` : ''}`);
  const g = r.verify.garbage;
  return pass(`${where}: ${r.earlier.length} earlier point(s) listed and read back unchanged; the crashed backup's point ${newVisible ? 'is visible and whole' : 'is not visible'}; verify clean (garbage: ${g.unindexedPacks} unindexed packs, ${g.unreferencedChunks} unreferenced chunks, ${g.tempObjects} temps)`);
}
