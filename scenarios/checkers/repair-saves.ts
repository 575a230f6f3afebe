/**
 * Property 19: repair saves what can be saved.
 *
 * Judged from what the repository suite recorded (scenarios/suites/repository-repair.ts):
 * a copy of the repository the backups left is damaged (a flipped byte of any object, a
 * deleted pack or a truncated one), the engine under test repairs it as `quiescelab
 * repair` does, then a restarted engine lists and reads back every point and verify reads
 * every pack. What the damage should cost was worked out from the store before and after
 * the damage (a chunk is lost when its stored bytes changed and no other pack holds it),
 * not from repair's report. Passes when, as engine/repository/repair.ts's header promises:
 * - repair succeeded and verify (reading every pack) finds no damage left;
 * - every point that lost nothing is listed under its own id, unmarked, and reads back
 *   byte for byte equal to its VmSnapshot's image;
 * - every point that needed a lost chunk is listed no more under its id but as a rewrite
 *   marked by repair (attributes.repair naming the original, the chunks and bytes it
 *   lost; claim `inconsistent`), repair's report names it with the same loss, the lost
 *   ranges read as zeros and every other byte equals its VmSnapshot's image;
 * - a point whose manifest was the damaged object is lost whole: not listed, named
 *   unreadable by the report;
 * - no other point was rewritten or lost, and nothing intact was deleted: every pack and
 *   manifest but the damaged one and the rewritten manifests is still there, byte for
 *   byte; the damaged pack or manifest and each rewritten manifest's original are kept
 *   under damaged/.
 *
 * Does not check: repair's crash safety (test/engine/repair.test.ts), log records (the
 * suite stores none), a garbage lock, how salvaged blobs are grouped into packs, the
 * report's wording.
 */

import { Findings, fail, unknown, type Verdict } from '../verdict.js';

export interface ExpectedPoint {
  readonly pointId: string;
  /** The survey's backup the point holds (its VmSnapshot), or null when none matches. */
  readonly runIndex: number | null;
  /** Its manifest was the damaged object. */
  readonly lostWhole: boolean;
  /** Chunks and bytes it references that the damage cost, and those byte ranges per disk. */
  readonly lostChunks: number;
  /** The lost chunks counted per disk, summed (a chunk two disks use counts twice, as repair's report counts them). */
  readonly lostDiskChunks: number;
  readonly lostBytes: number;
  readonly lostRanges: readonly (readonly (readonly [number, number])[])[];
}

export interface ListedAfter {
  readonly id: string;
  readonly claimedLevel: string;
  /** attributes.repair of the listed point (null: not marked). */
  readonly repair: { readonly originalId: string; readonly lostChunks: number; readonly lostBytes: number } | null;
}

export interface PointReadBack {
  readonly pointId: string;
  readonly listedId: string;
  /** Null: equal to its VmSnapshot's image (the lost ranges zeros); else what differs. */
  readonly difference: string | null;
}

export interface ReportedRepair {
  /** chunks: summed over the point's disks (DiskLoss.chunks). */
  readonly rewritten: readonly { readonly id: string; readonly newId: string; readonly chunks: number; readonly bytes: number }[];
  /** Manifest objects repair found unreadable. */
  readonly unreadable: readonly string[];
}

export interface RepairRecord {
  readonly damage: string;
  /** The damaged object and its size after (null: deleted); null when nothing was damaged. */
  readonly damaged: { readonly object: string; readonly bytesAfter: number | null } | null;
  readonly expectedLost: number;
  readonly expected: readonly ExpectedPoint[];
  /** repair, the reopen or the listing failed (why), or null. */
  readonly error: string | null;
  readonly reported: ReportedRepair | null;
  readonly verify: { readonly error: string | null; readonly damages: readonly string[] };
  readonly listed: readonly ListedAfter[];
  readonly readBacks: readonly PointReadBack[];
  /** Every object of the store before the damage and after repair. */
  readonly before: ReadonlyMap<string, Uint8Array>;
  readonly objectsAfter: ReadonlyMap<string, Uint8Array>;
}

const short = (id: string): string => id.slice(0, 12);
const DAMAGED = 'damaged/';

function keptAside(r: RepairRecord, object: string): boolean {
  return [...r.objectsAfter.keys()].some((n) => n === `${DAMAGED}${object}` || n.startsWith(`${DAMAGED}${object}.`));
}

/** A point the damage should not touch: listed as it was, unmarked, equal to its VmSnapshot. */
function judgeIntact(r: RepairRecord, e: ExpectedPoint, f: Findings): void {
  const listed = r.listed.find((l) => l.id === e.pointId);
  const rewrite = r.listed.find((l) => l.repair?.originalId === e.pointId);
  if (listed === undefined) f.fail(`point ${short(e.pointId)} lost nothing but is not listed after repair${rewrite === undefined ? '' : ` (rewritten as ${short(rewrite.id)}, marked with ${rewrite.repair?.lostChunks ?? 0} lost chunk(s))`}`, 3, [e.pointId]);
  else if (listed.repair !== null) f.fail(`point ${short(e.pointId)} lost nothing but is marked damaged by repair`, 2, [e.pointId]);
}

/** A point that needed a lost chunk: rewritten, marked with what it lost, reported. */
function judgeRewritten(r: RepairRecord, e: ExpectedPoint, f: Findings): void {
  if (r.listed.some((l) => l.id === e.pointId)) f.fail(`point ${short(e.pointId)} needs ${e.lostChunks} lost chunk(s) yet is still listed unchanged (it cannot read)`, 3, [e.pointId]);
  const rewrite = r.listed.find((l) => l.repair?.originalId === e.pointId);
  if (rewrite === undefined) {
    f.fail(`point ${short(e.pointId)} lost ${e.lostChunks} chunk(s) and is not listed as a rewrite marked by repair`, 3, [e.pointId]);
    return;
  }
  const mark = rewrite.repair as NonNullable<ListedAfter['repair']>;
  if (rewrite.claimedLevel !== 'inconsistent') f.fail(`point ${short(e.pointId)}'s rewrite ${short(rewrite.id)} still claims ${rewrite.claimedLevel}`, 2, [e.pointId]);
  if (mark.lostChunks !== e.lostChunks || mark.lostBytes !== e.lostBytes) f.fail(`point ${short(e.pointId)}'s rewrite is marked with ${mark.lostChunks} chunk(s), ${mark.lostBytes} bytes lost; the damage cost it ${e.lostChunks}, ${e.lostBytes}`, 2, [e.pointId]);
  const said = r.reported?.rewritten.find((p) => p.id === e.pointId);
  if (said === undefined) f.fail(`repair's report does not name point ${short(e.pointId)}, which lost ${e.lostChunks} chunk(s)`, 2, [e.pointId]);
  else if (said.newId !== rewrite.id || said.chunks !== e.lostDiskChunks || said.bytes !== e.lostBytes) f.fail(`repair reports point ${short(e.pointId)} as ${short(said.newId)} losing ${said.chunks} chunk(s) over its disks, ${said.bytes} bytes; listed as ${short(rewrite.id)}, the damage cost it ${e.lostDiskChunks}, ${e.lostBytes}`, 2, [e.pointId]);
  if (!keptAside(r, `points/${e.pointId}`)) f.fail(`point ${short(e.pointId)}'s original manifest is not kept under ${DAMAGED}`, 1, [e.pointId]);
}

function judgeLostWhole(r: RepairRecord, e: ExpectedPoint, f: Findings): void {
  if (r.listed.some((l) => l.id === e.pointId || l.repair?.originalId === e.pointId)) f.fail(`point ${short(e.pointId)}'s manifest was damaged, yet it is listed after repair`, 2, [e.pointId]);
  if (!(r.reported?.unreadable.includes(`points/${e.pointId}`) ?? false)) f.fail(`repair's report does not name point ${short(e.pointId)}'s damaged manifest as lost`, 2, [e.pointId]);
}

/** Every pack and manifest the damage did not touch and repair had no reason to rewrite is still there. */
function judgeNothingIntactDeleted(r: RepairRecord, f: Findings): void {
  const rewritten = new Set(r.expected.filter((e) => e.lostChunks > 0 || e.lostWhole).map((e) => `points/${e.pointId}`));
  for (const [name, bytes] of r.before) {
    if (!name.startsWith('packs/') && !name.startsWith('points/')) continue;
    if (name === r.damaged?.object || rewritten.has(name)) continue;
    const after = r.objectsAfter.get(name);
    if (after === undefined) f.fail(`intact object ${name} was deleted by repair${keptAside(r, name) ? ' (moved to damaged/)' : ''}`, 3, [name]);
    else if (Buffer.compare(after, bytes) !== 0) f.fail(`intact object ${name} was rewritten by repair`, 3, [name]);
  }
  const d = r.damaged;
  if (d !== null && d.bytesAfter !== null && (d.object.startsWith('packs/') || d.object.startsWith('points/')) && !keptAside(r, d.object)) f.fail(`the damaged ${d.object} is not kept under ${DAMAGED} (it is user data)`, 1, [d.object]);
}

export function checkRepairSaves(r: RepairRecord): Verdict {
  const what = `${r.damage} of ${r.damaged?.object ?? 'nothing'}`;
  if (r.damaged === null || r.expected.length === 0) return unknown(`repair after ${what}: no point to judge`);
  if (r.error !== null) return fail(`repair after ${what}: ${r.error}`);
  const f = new Findings();
  if (r.verify.error !== null) f.fail(`verify after repair failed: ${r.verify.error}`, 3);
  for (const d of r.verify.damages) f.fail(`verify after repair still names damage: ${d}`, 3);
  for (const e of r.expected) {
    f.count(e.lostWhole ? 'lostWhole' : e.lostChunks > 0 ? 'lostData' : 'intact');
    if (e.lostWhole) judgeLostWhole(r, e, f);
    else if (e.lostChunks > 0) judgeRewritten(r, e, f);
    else judgeIntact(r, e, f);
  }
  const expectedIds = new Set(r.expected.map((e) => e.pointId));
  for (const l of r.listed) if (l.repair !== null && !expectedIds.has(l.repair.originalId)) f.fail(`repair marked a point ${short(l.id)} from an unknown original ${short(l.repair.originalId)}`, 2, [l.id]);
  for (const p of r.reported?.rewritten ?? []) if (!r.expected.some((e) => e.pointId === p.id && e.lostChunks > 0)) f.fail(`repair reports point ${short(p.id)} lost ${p.chunks} chunk(s), but the damage cost it none`, 3, [p.id]);
  for (const b of r.readBacks) if (b.difference !== null) f.fail(`point ${short(b.pointId)} (listed as ${short(b.listedId)}) after repair: ${b.difference}`, 3, [b.pointId]);
  const listedExpected = r.expected.filter((e) => !e.lostWhole && r.listed.some((l) => l.id === e.pointId || l.repair?.originalId === e.pointId)).length;
  if (r.readBacks.length !== listedExpected) f.fail(`${r.readBacks.length} point(s) read back after repair, ${listedExpected} listed`, 1);
  judgeNothingIntactDeleted(r, f);
  const lostData = r.expected.filter((e) => e.lostChunks > 0).length;
  const lostWhole = r.expected.filter((e) => e.lostWhole).length;
  return f.verdict(`repair after ${what}: ${r.expectedLost} chunk(s) lost; ${r.expected.length - lostData - lostWhole} point(s) intact read back equal to their VmSnapshots, ${lostData} rewritten marked with their loss (lost ranges zeros, the rest equal), ${lostWhole} lost whole; verify clean; nothing intact deleted`);
}
