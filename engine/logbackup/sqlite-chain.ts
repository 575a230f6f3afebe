/**
 * SQLite log chains and roll-forward plans: which shipped WAL frames to apply on top of a
 * base point, in order, to reach a target, or a refusal that names the break — never a
 * partial plan. Everything is checked again from the stored facts and blobs (the
 * shipper's `continuity` labels are not trusted): each segment's frames must carry valid
 * salts and cumulative checksums from the checksum its record starts at, and end exactly
 * where and with the checksum its record says.
 *
 * Chain rules (records of one base, in `seq` order, after its anchor):
 * - Start: the first segment with frames starts a generation (offset 32). When the base's
 *   own WAL has a header, the generation must be that one (all of checkpoint sequence and
 *   salts) and the segment's running checksum where the base's WAL ends must equal the
 *   base's (so the base's frames are the segment's first frames); otherwise it must be
 *   the anchor's expected generation.
 * - Continue: same generation, starting at the previous end with the previous end's
 *   checksum. A later start is a missing segment (gap); an earlier one, a mismatch.
 * - New generation: only after a checkpoint record that seals the current generation at
 *   the current end; the next segment must start the generation one restart later
 *   (checkpoint sequence + 1, salt-1 + 1).
 * - Anything else is a break: another generation without such a checkpoint, or an empty
 *   WAL in the middle of a generation, means someone else checkpointed and frames
 *   committed after the last shipment may be lost; an expected generation that is unknown
 *   cannot be checked and is refused too.
 * A break (or a damaged or missing blob) only matters when the target lies beyond it.
 *
 * Targets: `transaction` k — the k-th commit (k >= 1) in the segments after the base
 * (commits already in the base's WAL are the base's); `time` T — every commit in segments
 * shipped at or before T (the WAL carries no commit times, so a commit made after the last
 * shipment before T is not included: the precision is the shipping interval), refused when
 * no record at or after T proves the chain reaches T, or when the first record after T
 * shows frames missing in front of it (a segment was lost, and it may have been shipped
 * at or before T); `latest` — every commit of the chain.
 */

import type { TimeUs } from '../../core/clock.js';
import { err, ok, type Result } from '../../core/result.js';
import { describeLogStoreError, type LogStoreError } from './log-store.js';
import { describeRef, laterGeneration, matchesRef, type GenerationRef, type SqliteAnchorRecord, type SqliteSegmentRecord, type SqliteWalRecord } from './sqlite-shipper.js';
import {
  WAL_HEADER_BYTES, describeGeneration, encodeWalHeader, frameBytesOf, parseWalHeader, sameChecksum, sameGeneration, scanWalFrames,
  type WalChecksum, type WalGeneration, type WalHeader, type WalScan,
} from './sqlite-wal.js';

export type SqliteTarget =
  | { readonly kind: 'transaction'; readonly index: number }
  | { readonly kind: 'time'; readonly timeUs: TimeUs }
  | { readonly kind: 'latest' };

export type SqliteChainRefusal =
  | { readonly kind: 'no-chain'; readonly reason: string }
  | { readonly kind: 'invalid-target'; readonly reason: string }
  | { readonly kind: 'target-before-base'; readonly baseAtUs: TimeUs; readonly reason: string }
  | { readonly kind: 'start-not-anchored'; readonly recordId: string; readonly reason: string }
  | { readonly kind: 'gap'; readonly afterRecord: string; readonly recordId: string; readonly reason: string }
  | { readonly kind: 'foreign-checkpoint'; readonly afterRecord: string; readonly recordId: string; readonly reason: string }
  | { readonly kind: 'base-mismatch'; readonly recordId: string; readonly reason: string }
  | { readonly kind: 'corrupt-segment'; readonly recordId: string; readonly reason: string }
  | { readonly kind: 'missing-blob'; readonly recordId: string; readonly reason: string }
  /** The log store could not give the blob (I/O, or it found the stored bytes damaged). */
  | { readonly kind: 'unreadable-blob'; readonly recordId: string; readonly error: LogStoreError; readonly reason: string }
  | { readonly kind: 'target-beyond-chain'; readonly commitsAvailable: number; readonly chainEndUs: TimeUs | null; readonly reason: string };

/** The base point's own WAL, scanned (null: absent, empty or without a valid header). */
export interface BaseWal {
  readonly header: WalHeader;
  readonly scan: WalScan;
}

export interface PlannedSegment {
  readonly record: SqliteSegmentRecord;
  /** The verified blob: the WAL header, then the frames from record.startOffset. */
  readonly blob: Uint8Array;
  readonly header: WalHeader;
  readonly scan: WalScan;
  /** Apply the frames whose file offset is in [fromOffset, toOffset): after the base, up to the last commit taken. */
  readonly fromOffset: number;
  readonly toOffset: number;
  readonly commits: number;
}

export interface SqlitePlan {
  readonly anchor: SqliteAnchorRecord;
  readonly segments: readonly PlannedSegment[];
  /** Commits applied after the base. */
  readonly commits: number;
  /** Segment records walked (verified), applied or not, and their blob bytes. */
  readonly segmentsWalked: number;
  readonly blobBytes: number;
  /** The last record the plan covers (its ship time bounds what a time target holds). */
  readonly lastRecordId: string | null;
  readonly lastRecordAtUs: TimeUs | null;
}

export type BlobLoader = (id: string) => Promise<Result<Uint8Array, LogStoreError>>;

type State =
  | { readonly kind: 'start'; readonly expected: GenerationRef | null; readonly exact: WalGeneration | null; readonly after: string; readonly afterWhat: string }
  | { readonly kind: 'in'; readonly header: WalHeader; readonly endOffset: number; readonly checksum: WalChecksum; readonly lastFrame: Uint8Array | undefined; readonly after: string };

function bySeq(a: SqliteWalRecord, b: SqliteWalRecord): number {
  return a.seq - b.seq;
}

function sameHeader(a: WalHeader, b: WalHeader): boolean {
  return a.magic === b.magic && a.version === b.version && a.pageBytes === b.pageBytes && sameGeneration(a, b) && sameChecksum(a.checksum, b.checksum);
}

/** Checks a segment's blob against its record; returns its scan or why it is damaged. */
export function verifySegment(record: SqliteSegmentRecord, blob: Uint8Array, previousFrame: Uint8Array | undefined): Result<{ header: WalHeader; scan: WalScan }, string> {
  if (record.header === null) return err('a segment without a header has no blob');
  const header = parseWalHeader(blob);
  if (!header.ok) return err(`its WAL header: ${header.error.kind}`);
  if (!sameHeader(header.value, record.header)) return err('its WAL header differs from the record');
  const expectedBytes = WAL_HEADER_BYTES + record.endOffset - record.startOffset;
  if (blob.length !== expectedBytes) return err(`${blob.length} bytes, the record says ${expectedBytes}`);
  if (record.startOffset === WAL_HEADER_BYTES && !sameChecksum(record.startChecksum, header.value.checksum)) return err('a generation start whose checksum is not the header\'s');
  const scan = scanWalFrames(blob.subarray(WAL_HEADER_BYTES), header.value, {
    fileOffset: record.startOffset, checksum: record.startChecksum, ...previousFrame === undefined ? {} : { previousFrame },
  });
  if (!scan.ok) return err(scan.error.kind === 'bad-start' ? scan.error.reason : scan.error.kind);
  const s = scan.value;
  if (s.stop.kind !== 'end') return err(`the frame at offset ${s.stop.offset} is not valid (${s.stop.kind})`);
  if (s.uncommittedFrames !== 0 || s.committedEnd !== record.endOffset) return err('it does not end with a whole commit where the record says');
  if (s.frames.length !== record.frames || s.commits.length !== record.commits) return err(`${s.frames.length} frames and ${s.commits.length} commits, the record says ${record.frames} and ${record.commits}`);
  if (!sameChecksum(s.committedChecksum, record.endChecksum)) return err('its end checksum differs from the record');
  return ok({ header: header.value, scan: s });
}

function lastFrameOf(blob: Uint8Array, header: WalHeader): Uint8Array | undefined {
  const frameBytes = frameBytesOf(header);
  return blob.length >= WAL_HEADER_BYTES + frameBytes ? blob.subarray(blob.length - frameBytes) : undefined;
}

/**
 * Whether frames are missing in front of `r` (a record shipped after a time target): it is
 * in the generation the chain stands in (or the one it expects next) but does not start
 * where the chain ends. Then something shipped between the last record taken and `r` is
 * gone, and whether it was shipped at or before the target cannot be told, so the target
 * is refused. Another generation (someone else checkpointed after the last shipment) is no
 * such gap: what that lost came after the last shipment, beyond a time target's precision.
 */
function gapBefore(state: State, r: SqliteWalRecord): SqliteChainRefusal | null {
  const gap = (standsAt: string): SqliteChainRefusal => ({
    kind: 'gap', afterRecord: state.after, recordId: r.id,
    reason: `${r.id}, the first record after the target, does not continue the chain (${standsAt}): a segment shipped before it is missing, so the chain cannot be shown to reach the target`,
  });
  if (state.kind === 'in') {
    if (r.kind === 'checkpoint' && r.sealed !== null && matchesRef(state.header, r.sealed) && r.sealedOffset !== state.endOffset) {
      return gap(`it checkpointed at offset ${r.sealedOffset}, the chain ends at ${state.endOffset} of ${describeGeneration(state.header)}`);
    }
    if (r.kind === 'segment' && r.header !== null && sameGeneration(state.header, r.header) && (r.startOffset !== state.endOffset || !sameChecksum(r.startChecksum, state.checksum))) {
      return gap(`it starts at offset ${r.startOffset}, the chain ends at ${state.endOffset} of ${describeGeneration(state.header)}`);
    }
    return null;
  }
  const expected = state.expected;
  if (expected === null) return null;
  if (r.kind === 'checkpoint' && r.sealed !== null && matchesRef(r.sealed, expected) && r.sealedOffset !== 0) {
    return gap(`it checkpointed ${describeRef(expected)} at offset ${r.sealedOffset}, of which nothing was shipped`);
  }
  if (r.kind === 'segment' && r.header !== null && matchesRef(r.header, expected) && r.startOffset !== WAL_HEADER_BYTES) {
    return gap(`it starts at offset ${r.startOffset} of ${describeRef(expected)}, whose first frames are in no stored segment`);
  }
  return null;
}

/**
 * The segments to apply, in order, to roll `basePointId` forward to `target`, with every
 * segment on the way verified; or the refusal. `records` are the VM's records (any base).
 */
export async function planSqliteRollForward(
  records: readonly SqliteWalRecord[], base: { readonly basePointId: string; readonly dbPath: string; readonly wal: BaseWal | null },
  target: SqliteTarget, load: BlobLoader,
): Promise<Result<SqlitePlan, SqliteChainRefusal>> {
  if (target.kind === 'transaction' && (!Number.isSafeInteger(target.index) || target.index < 1)) return err({ kind: 'invalid-target', reason: `transaction index ${target.index}: the first commit after the base is 1` });
  if (target.kind === 'time' && !Number.isFinite(target.timeUs)) return err({ kind: 'invalid-target', reason: `time ${target.timeUs}` });
  const chain = records.filter((r) => r.basePointId === base.basePointId && r.dbPath === base.dbPath).slice().sort(bySeq);
  const anchor = chain[0];
  if (anchor?.kind !== 'anchor') return err({ kind: 'no-chain', reason: `no log chain starts at base ${base.basePointId}: a backup alone cannot be rolled forward` });
  if (target.kind === 'time' && anchor.baseAtUs !== null && target.timeUs < anchor.baseAtUs) {
    return err({ kind: 'target-before-base', baseAtUs: anchor.baseAtUs, reason: `the target is before the base (taken at ${anchor.baseAtUs} us)` });
  }
  const baseWal = base.wal;
  const baseEnd = baseWal === null ? WAL_HEADER_BYTES : baseWal.scan.committedEnd;
  let baseVerified = baseWal === null || baseEnd === WAL_HEADER_BYTES;
  let state: State = baseWal === null
    ? { kind: 'start', expected: anchor.expected, exact: null, after: anchor.id, afterWhat: 'the base (anchor)' }
    : { kind: 'start', expected: { checkpointSeq: baseWal.header.checkpointSeq, salt1: baseWal.header.salt1 }, exact: baseWal.header, after: anchor.id, afterWhat: 'the base\'s own WAL' };
  const planned: PlannedSegment[] = [];
  let commits = 0;
  let walked = 0;
  let blobBytes = 0;
  let lastRecord: SqliteWalRecord | null = null;
  // A time target needs a record at or after it: the proof that nothing shipped before it is missing.
  let covered = target.kind !== 'time' || anchor.atUs >= target.timeUs;
  let reached = false;
  for (const r of chain.slice(1)) {
    if (target.kind === 'time' && r.atUs > target.timeUs) {
      // The first record after T is the proof that the chain reaches T: it must continue it.
      const gap = gapBefore(state, r);
      if (gap !== null) return err(gap);
      covered = true;
      break;
    }
    if (target.kind === 'time' && r.atUs === target.timeUs) covered = true;
    if (r.kind === 'anchor' || r.kind === 'observation') continue;
    if (r.kind === 'checkpoint') {
      if (state.kind === 'in') {
        if (r.sealed === null || !matchesRef(state.header, r.sealed) || r.sealedOffset !== state.endOffset) {
          return err({ kind: 'gap', afterRecord: state.after, recordId: r.id, reason: `checkpoint ${r.id} ended ${describeRef(r.sealed)} at offset ${r.sealedOffset}, but the chain stands at offset ${state.endOffset} of ${describeGeneration(state.header)}: a segment is missing` });
        }
        state = { kind: 'start', expected: laterGeneration(r.sealed, 1), exact: null, after: r.id, afterWhat: `checkpoint ${r.id}` };
      } else {
        if (state.expected === null) return err({ kind: 'start-not-anchored', recordId: r.id, reason: `checkpoint ${r.id} follows ${state.afterWhat}, whose generation is unknown` });
        if (r.sealed === null || !matchesRef(r.sealed, state.expected) || r.sealedOffset !== 0) {
          return err({ kind: 'gap', afterRecord: state.after, recordId: r.id, reason: `checkpoint ${r.id} ended ${describeRef(r.sealed)} at offset ${r.sealedOffset}, but after ${state.afterWhat} nothing of ${describeRef(state.expected)} was shipped: a segment is missing` });
        }
        state = { kind: 'start', expected: laterGeneration(r.sealed, 1), exact: null, after: r.id, afterWhat: `checkpoint ${r.id}` };
      }
      lastRecord = r;
      continue;
    }
    // A segment.
    if (r.header === null) {
      if (state.kind === 'in') {
        return err({ kind: 'foreign-checkpoint', afterRecord: state.after, recordId: r.id, reason: `the WAL was empty at ${r.id} although ${describeGeneration(state.header)} was being shipped: someone else checkpointed, commits after ${state.after} may be lost` });
      }
      lastRecord = r;
      continue;
    }
    if (state.kind === 'start') {
      if (r.startOffset !== WAL_HEADER_BYTES) {
        return err({ kind: 'gap', afterRecord: state.after, recordId: r.id, reason: `${r.id} starts at offset ${r.startOffset} of ${describeGeneration(r.header)}: the generation's first frames are in no stored segment` });
      }
      if (state.expected === null) return err({ kind: 'start-not-anchored', recordId: r.id, reason: `${r.id} follows ${state.afterWhat}, whose WAL generation is unknown: nothing proves no commit was lost before it` });
      if (!matchesRef(r.header, state.expected) || (state.exact !== null && !sameGeneration(state.exact, r.header))) {
        return err({ kind: 'foreign-checkpoint', afterRecord: state.after, recordId: r.id, reason: `${r.id} is in ${describeGeneration(r.header)}, not ${describeRef(state.expected)} as expected after ${state.afterWhat}: the WAL was checkpointed by someone else, commits may be lost` });
      }
    } else {
      if (!sameGeneration(state.header, r.header)) {
        return err({ kind: 'foreign-checkpoint', afterRecord: state.after, recordId: r.id, reason: `${r.id} is in ${describeGeneration(r.header)} but the chain was in ${describeGeneration(state.header)} at offset ${state.endOffset} with no checkpoint of the shipper's between: someone else checkpointed, commits may be lost` });
      }
      if (r.startOffset !== state.endOffset || !sameChecksum(r.startChecksum, state.checksum)) {
        return err({ kind: 'gap', afterRecord: state.after, recordId: r.id, reason: `${r.id} starts at offset ${r.startOffset} of ${describeGeneration(r.header)}, the chain ends at ${state.endOffset}${r.startOffset === state.endOffset ? ' with another checksum' : ''}: a segment is missing` });
      }
    }
    const previousFrame: Uint8Array | undefined = state.kind === 'in' ? state.lastFrame : undefined;
    let scan: WalScan;
    let header: WalHeader;
    let blob: Uint8Array;
    if (r.frames === 0) {
      // No blob: the record's header must still be a valid one (its own checksum).
      const reparsed = parseWalHeader(encodeWalHeader(r.header));
      if (!reparsed.ok || r.endOffset !== r.startOffset || !sameChecksum(r.startChecksum, r.endChecksum)) return err({ kind: 'corrupt-segment', recordId: r.id, reason: 'an empty segment whose record is not consistent' });
      header = reparsed.value;
      blob = encodeWalHeader(r.header);
      const empty = scanWalFrames(new Uint8Array(0), header, { fileOffset: r.startOffset, checksum: r.startChecksum });
      if (!empty.ok) return err({ kind: 'corrupt-segment', recordId: r.id, reason: empty.error.kind });
      scan = empty.value;
    } else {
      const read = await load(r.id);
      if (!read.ok) {
        return read.error.kind === 'not-found'
          ? err({ kind: 'missing-blob', recordId: r.id, reason: `the frames of ${r.id} are not in the store` })
          : err({ kind: 'unreadable-blob', recordId: r.id, error: read.error, reason: describeLogStoreError(read.error) });
      }
      const loaded = read.value;
      const verified = verifySegment(r, loaded, previousFrame);
      if (!verified.ok) return err({ kind: 'corrupt-segment', recordId: r.id, reason: `${r.id}: ${verified.error}` });
      ({ scan, header } = verified.value);
      blob = loaded;
      blobBytes += loaded.length;
    }
    walked++;
    // The base's own frames: the segment must pass through the base's WAL end with the same checksum.
    const inBaseGeneration = baseWal !== null && sameGeneration(baseWal.header, header);
    if (!baseVerified && baseWal !== null && inBaseGeneration && baseEnd <= r.endOffset) {
      const at = scan.frames.find((f) => f.offset + frameBytesOf(header) === baseEnd);
      if (at === undefined || !sameChecksum(at.checksum, baseWal.scan.committedChecksum)) {
        return err({ kind: 'base-mismatch', recordId: r.id, reason: `${r.id} does not pass through the end of the base's WAL (offset ${baseEnd}) with its checksum: the shipped frames are not the base's` });
      }
      baseVerified = true;
    }
    const fromOffset = inBaseGeneration ? Math.max(r.startOffset, baseEnd) : r.startOffset;
    let toOffset = fromOffset;
    let taken = 0;
    for (const c of scan.commits) {
      if (inBaseGeneration && c.endOffset <= baseEnd) continue; // already in the base
      commits++;
      taken++;
      toOffset = c.endOffset;
      if (target.kind === 'transaction' && commits === target.index) {
        reached = true;
        break;
      }
    }
    if (taken > 0) planned.push({ record: r, blob, header, scan, fromOffset, toOffset, commits: taken });
    lastRecord = r;
    if (reached) break;
    state = { kind: 'in', header, endOffset: r.endOffset, checksum: r.endChecksum, lastFrame: r.frames === 0 ? previousFrame : lastFrameOf(blob, header), after: r.id };
  }
  if (target.kind === 'transaction' && !reached) {
    return err({ kind: 'target-beyond-chain', commitsAvailable: commits, chainEndUs: lastRecord?.atUs ?? null, reason: `the chain holds ${commits} commits after the base, the target is commit ${target.index}` });
  }
  if (!covered) {
    return err({ kind: 'target-beyond-chain', commitsAvailable: commits, chainEndUs: lastRecord?.atUs ?? null, reason: `no shipment at or after the target time: the chain ends at ${lastRecord === null ? 'the base' : `${lastRecord.id} (${lastRecord.atUs} us)`}` });
  }
  return ok({
    anchor, segments: planned, commits, segmentsWalked: walked, blobBytes,
    lastRecordId: lastRecord?.id ?? null, lastRecordAtUs: lastRecord?.atUs ?? null,
  });
}
