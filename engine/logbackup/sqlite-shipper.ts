/**
 * SQLite log shipping, Litestream-style, with the engine controlling checkpoints. The
 * engine reads the WAL's new bytes through guest operations (`sqlite3 <db> wal-frames
 * <offset>`), keeps whole commits only (a torn or unfinished tail waits for the next
 * round), and stores them as a segment. A controlled checkpoint ships everything first,
 * then has the guest read the tail that grew since and checkpoint in one step (`sqlite3
 * <db> checkpoint <offset>`: no commit can land between the read and the checkpoint, as
 * Litestream holds SQLite's write lock for it), ships that tail, and records the
 * checkpoint with the WAL's length at that instant. Each round is also a time stamp: a
 * round with nothing new stores an empty segment, which proves "no commit up to here".
 *
 * Records (one store per repository, `SqliteWalStore`; ordered by `seq` per VM):
 * - anchor: starts the chain of a base point. It names the WAL generation the first
 *   segment must be in when the base's own WAL is empty (an application-consistent base
 *   taken after checkpoint-and-lock): the generation the shipper last saw before the
 *   backup, plus one if the backup's freeze script checkpointed (every checkpoint that
 *   restarts the WAL adds one to its checkpoint sequence and salt-1; sqlite-wal.ts).
 * - segment: the frames [startOffset, endOffset) of one generation (whole commits), with
 *   the WAL header, the running checksum before and after, the commit count and the ship
 *   time (the virtual instant the WAL was read: every commit in it happened at or before).
 *   The blob is the 32-byte WAL header followed by the frames; no blob when no frame.
 * - checkpoint: the shipper checkpointed; the generation it ended and the WAL's length
 *   then (equal to the shipped end unless frames were lost to it).
 * - observation: the WAL's generation seen with no base yet (before the first backup).
 *
 * Position (what the next round reads): after an anchor, a checkpoint or an empty WAL, the
 * WAL from offset 0 (a generation start); inside a generation, from the last shipped frame
 * (re-read: its salts and checksum prove the WAL was not restarted since, as Litestream's
 * verify does). A restart the shipper did not do, or a generation that is not the expected
 * one, is reported as a break (`continuity: 'break'`): frames committed after the last
 * shipment may be lost, so the chain cannot be trusted across it (the restore refuses to
 * cross it; a new full backup starts a new chain). The records are facts; the restore
 * decides from them and the blobs again (sqlite-chain.ts), not from `continuity`.
 *
 * Rounds run on seed 003's schedule through sqlite-job.ts; records and blobs persist in
 * the repository (repository/log-store.ts), which also compresses them and prunes them
 * with their base point. Leaves out: several databases per VM in one chain, WALs larger
 * than one guest read.
 */

import { assert } from '../../core/assert.js';
import type { Clock, TimeUs } from '../../core/clock.js';
import type { HypervisorPort, PortError, QuiesceOutcome } from '../../core/hypervisor-port.js';
import type { VmId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import {
  WAL_HEADER_BYTES, describeGeneration, encodeWalHeader, frameBytesOf, parseWalHeader, sameChecksum, scanWalFrames,
  type WalChecksum, type WalGeneration, type WalHeader, type WalScan,
} from './sqlite-wal.js';
import { MemoryRecordStore, type LogRecordStore, type LogStoreError } from './log-store.js';

/** What identifies a generation in advance (salt-2 is random, so it is not predictable). */
export interface GenerationRef {
  readonly checkpointSeq: number;
  readonly salt1: number;
}

export function generationRef(g: WalGeneration): GenerationRef {
  return { checkpointSeq: g.checkpointSeq, salt1: g.salt1 };
}

/** The generation `restarts` WAL restarts after `g`. */
export function laterGeneration(g: GenerationRef, restarts: number): GenerationRef {
  return { checkpointSeq: (g.checkpointSeq + restarts) >>> 0, salt1: (g.salt1 + restarts) >>> 0 };
}

export function matchesRef(g: WalGeneration | GenerationRef, ref: GenerationRef): boolean {
  return g.checkpointSeq === ref.checkpointSeq && g.salt1 === ref.salt1;
}

export function describeRef(ref: GenerationRef | null): string {
  return ref === null ? 'an unknown generation' : `gen ${ref.checkpointSeq} (salt-1 ${ref.salt1.toString(16)})`;
}

interface RecordCommon {
  readonly id: string;
  readonly vmId: string;
  readonly dbPath: string;
  /** Order among the VM's records. */
  readonly seq: number;
  /** The virtual instant of the observation (the WAL read, the checkpoint, the anchor). */
  readonly atUs: TimeUs;
  /** The generation the WAL holds or will hold next, as far as the shipper knows (null: unknown). */
  readonly nextGeneration: GenerationRef | null;
}

export type Continuity = 'chain-start' | 'continued' | 'new-generation' | 'idle' | 'break';

export interface SqliteSegmentRecord extends RecordCommon {
  readonly kind: 'segment';
  readonly basePointId: string;
  /** The generation's WAL header; null when the WAL was empty (no frames). */
  readonly header: WalHeader | null;
  /** File offsets of the shipped frames, whole commits; equal when nothing was new (0 with no header). */
  readonly startOffset: number;
  readonly endOffset: number;
  readonly startChecksum: WalChecksum;
  readonly endChecksum: WalChecksum;
  readonly frames: number;
  readonly commits: number;
  /** Blob bytes (header and frames); 0 when no frame (no blob). */
  readonly bytes: number;
  readonly startedUs: TimeUs;
  readonly endedUs: TimeUs;
  /** What the shipper saw; informational (the restore checks the facts itself). */
  readonly continuity: Continuity;
  readonly note: string | null;
}

export interface SqliteCheckpointRecord extends RecordCommon {
  readonly kind: 'checkpoint';
  readonly basePointId: string;
  /** The generation the checkpoint ended (null: unknown) and the WAL's length right before it (0: empty). */
  readonly sealed: GenerationRef | null;
  readonly sealedOffset: number;
}

export interface SqliteAnchorRecord extends RecordCommon {
  readonly kind: 'anchor';
  readonly basePointId: string;
  /** When the base's snapshot was taken, if the caller said (time targets before it are refused). */
  readonly baseAtUs: TimeUs | null;
  /** WAL restarts the backup did (1: the freeze script checkpointed). */
  readonly restarts: number;
  /** The generation the first segment must be in when the base's WAL is empty (null: unknown). */
  readonly expected: GenerationRef | null;
  readonly reason: string;
}

export interface SqliteObservationRecord extends RecordCommon {
  readonly kind: 'observation';
  readonly basePointId: null;
  readonly header: WalHeader | null;
  readonly walBytes: number;
}

export type SqliteWalRecord = SqliteSegmentRecord | SqliteCheckpointRecord | SqliteAnchorRecord | SqliteObservationRecord;

/** Where shipped WAL records go (log-store.ts has the contract; one store per repository). */
export type SqliteWalStore = LogRecordStore<SqliteWalRecord>;

/** The in-memory twin of the repository's store. */
export class MemorySqliteWalStore extends MemoryRecordStore<SqliteWalRecord> {}

export type ShipError =
  | { readonly kind: 'port'; readonly step: string; readonly error: PortError }
  | { readonly kind: 'guest'; readonly step: string; readonly exitCode: number; readonly stderr: string }
  | { readonly kind: 'bad-wal'; readonly reason: string }
  | { readonly kind: 'no-chain'; readonly reason: string }
  | { readonly kind: 'chain-exists'; readonly reason: string }
  | { readonly kind: 'log-store'; readonly error: LogStoreError };

async function listRecords(env: ShipEnv, vmId: VmId): Promise<Result<readonly SqliteWalRecord[], ShipError>> {
  const listed = await env.store.list(vmId);
  return listed.ok ? listed : err({ kind: 'log-store', error: listed.error });
}

async function putRecord(env: ShipEnv, record: SqliteWalRecord, blob: Uint8Array | null): Promise<Result<void, ShipError>> {
  const put = await env.store.put(record, blob);
  return put.ok ? put : err({ kind: 'log-store', error: put.error });
}

export interface ShipEnv {
  readonly port: HypervisorPort;
  readonly clock: Clock;
  readonly store: SqliteWalStore;
}

export interface ShipRequest {
  readonly vmId: VmId;
  /** The database's path in the guest, as the `sqlite3` program takes it (its WAL is `<dbPath>-wal`). */
  readonly dbPath: string;
  readonly basePointId: string;
}

export interface ShipReport {
  readonly record: SqliteSegmentRecord;
  readonly continuity: Continuity;
  /** Why a round is a break, or what stopped the scan early. */
  readonly reason: string | null;
  /** The WAL's length as read (0: empty). */
  readonly walBytes: number;
}

function bySeq(a: SqliteWalRecord, b: SqliteWalRecord): number {
  return a.seq - b.seq;
}

function recordId(vmId: string, seq: number): string {
  return `${vmId}/sqlite-wal/${seq}`;
}

async function guest(env: ShipEnv, vmId: VmId, step: string, args: readonly string[]): Promise<Result<{ readonly stdout: Uint8Array; readonly exitCode: number; readonly stderr: string }, ShipError>> {
  const run = await env.port.runInGuest(vmId, 'sqlite3', args);
  if (!run.ok) return err({ kind: 'port', step, error: run.error });
  return ok(run.value);
}

type WalReader = (fromBytes: number) => Promise<Result<Uint8Array, ShipError>>;

async function readWal(env: ShipEnv, request: { readonly vmId: VmId; readonly dbPath: string }, fromBytes: number): Promise<Result<Uint8Array, ShipError>> {
  const step = `wal-frames ${fromBytes}`;
  const run = await guest(env, request.vmId, step, [request.dbPath, 'wal-frames', String(fromBytes)]);
  if (!run.ok) return run;
  if (run.value.exitCode !== 0) return err({ kind: 'guest', step, exitCode: run.value.exitCode, stderr: run.value.stderr });
  return ok(run.value.stdout);
}

type Position =
  | { readonly kind: 'start'; readonly expected: GenerationRef | null; readonly after: 'anchor' | 'checkpoint' | 'empty' }
  | { readonly kind: 'in'; readonly header: WalHeader; readonly endOffset: number; readonly endChecksum: WalChecksum };

/** Where the shipper stands after its last record of a chain (it trusts its own store). */
function positionAfter(last: SqliteAnchorRecord | SqliteSegmentRecord | SqliteCheckpointRecord): Position {
  switch (last.kind) {
    case 'anchor': return { kind: 'start', expected: last.expected, after: 'anchor' };
    case 'checkpoint': return { kind: 'start', expected: last.nextGeneration, after: 'checkpoint' };
    case 'segment':
      return last.header === null
        ? { kind: 'start', expected: last.nextGeneration, after: 'empty' }
        : { kind: 'in', header: last.header, endOffset: last.endOffset, endChecksum: last.endChecksum };
  }
}

function latestRecord(records: readonly SqliteWalRecord[], dbPath: string): SqliteWalRecord | undefined {
  return records.filter((r) => r.dbPath === dbPath).slice().sort(bySeq).at(-1);
}

function nextSeq(records: readonly SqliteWalRecord[]): number {
  return records.reduce((m, r) => Math.max(m, r.seq), 0) + 1;
}

function describeStop(scan: WalScan): string | null {
  if (scan.stop.kind === 'end') return null;
  if (scan.stop.kind === 'partial-frame') return `a partial frame of ${scan.stop.bytes} bytes at offset ${scan.stop.offset} waits for the next round`;
  return `the scan stopped at offset ${scan.stop.offset} (${scan.stop.kind}); frames after it wait`;
}

interface Shipped {
  readonly header: WalHeader | null;
  readonly scan: WalScan | null;
  /** The file bytes the scan ran over and the file offset of their first byte. */
  readonly bytes: Uint8Array;
  readonly bytesOffset: number;
}

/** Scans a whole WAL read from offset 0 (empty: no header). */
function scanFromStart(bytes: Uint8Array): Result<Shipped, ShipError> {
  if (bytes.length === 0) return ok({ header: null, scan: null, bytes, bytesOffset: 0 });
  const header = parseWalHeader(bytes);
  // A header being written (fewer than 32 bytes) or not valid yet: SQLite itself ignores such a WAL.
  if (!header.ok) return header.error.kind === 'short' ? ok({ header: null, scan: null, bytes, bytesOffset: 0 }) : err({ kind: 'bad-wal', reason: `WAL header: ${header.error.kind}` });
  const scan = scanWalFrames(bytes.subarray(WAL_HEADER_BYTES), header.value, { fileOffset: WAL_HEADER_BYTES, checksum: header.value.checksum });
  if (!scan.ok) return err({ kind: 'bad-wal', reason: scan.error.kind });
  return ok({ header: header.value, scan: scan.value, bytes: bytes.subarray(WAL_HEADER_BYTES), bytesOffset: WAL_HEADER_BYTES });
}

/**
 * One shipping round for the chain of `basePointId` (started with startSqliteChain): reads
 * the WAL's new bytes, stores the whole commits among them as a segment (an empty segment
 * when nothing is new) and says how the segment continues the chain.
 */
export function shipSqliteWal(env: ShipEnv, request: ShipRequest): Promise<Result<ShipReport, ShipError>> {
  return shipRound(env, request, (from) => readWal(env, request, from), false);
}

/**
 * A round over `read` (the WAL from an offset). `checkpointing`: the first read is the
 * checkpoint's (the WAL is empty after it), so frames after the last whole commit are lost.
 */
async function shipRound(env: ShipEnv, request: ShipRequest, read: WalReader, checkpointing: boolean): Promise<Result<ShipReport, ShipError>> {
  const listed = await listRecords(env, request.vmId);
  if (!listed.ok) return listed;
  const all = listed.value;
  const chain = all.filter((r) => r.basePointId === request.basePointId && r.dbPath === request.dbPath).slice().sort(bySeq);
  const last = chain.at(-1);
  if (last === undefined || last.kind === 'observation') return err({ kind: 'no-chain', reason: `no chain for base ${request.basePointId}: call startSqliteChain after its backup` });
  const position = positionAfter(last);
  const startedUs = env.clock.nowUs();
  let shipped: Shipped;
  let continuity: Continuity;
  let reason: string | null = null;
  let walBytes = 0;
  /** The whole WAL from its start (a generation start, or after a restart the shipper did not do). */
  const readFromStart = async (): Promise<Result<Shipped, ShipError>> => {
    const fresh = await read(0);
    if (!fresh.ok) return fresh;
    walBytes = fresh.value.length;
    return scanFromStart(fresh.value);
  };
  if (position.kind === 'in') {
    const frameBytes = frameBytesOf(position.header);
    // Re-read the last shipped frame (or the header when none was shipped) to prove the WAL was not restarted.
    const from = position.endOffset > WAL_HEADER_BYTES ? position.endOffset - frameBytes : 0;
    const first = await read(from);
    if (!first.ok) return first;
    const bytes = first.value;
    walBytes = from + bytes.length;
    let same = false;
    if (from === 0) {
      const header = parseWalHeader(bytes);
      same = header.ok && header.value.salt1 === position.header.salt1 && header.value.salt2 === position.header.salt2
        && header.value.checkpointSeq === position.header.checkpointSeq && sameChecksum(header.value.checksum, position.endChecksum);
    } else if (bytes.length >= frameBytes) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      same = view.getUint32(8) === position.header.salt1 && view.getUint32(12) === position.header.salt2
        && sameChecksum({ s0: view.getUint32(16), s1: view.getUint32(20) }, position.endChecksum);
    }
    if (same) {
      const skip = from === 0 ? WAL_HEADER_BYTES : frameBytes;
      const scan = scanWalFrames(bytes.subarray(skip), position.header, {
        fileOffset: position.endOffset, checksum: position.endChecksum, ...from === 0 ? {} : { previousFrame: bytes.subarray(0, frameBytes) },
      });
      if (!scan.ok) return err({ kind: 'bad-wal', reason: scan.error.kind });
      shipped = { header: position.header, scan: scan.value, bytes: bytes.subarray(skip), bytesOffset: position.endOffset };
      continuity = scan.value.commits.length === 0 ? 'idle' : 'continued';
      reason = describeStop(scan.value);
    } else {
      const scanned = await readFromStart();
      if (!scanned.ok) return scanned;
      shipped = scanned.value;
      continuity = 'break';
      reason = `the WAL was restarted by a checkpoint the shipper did not do (after offset ${position.endOffset} of ${describeGeneration(position.header)}; now ${shipped.header === null ? 'empty' : describeGeneration(shipped.header)}): commits after the last shipment may be lost`;
    }
  } else {
    const scanned = await readFromStart();
    if (!scanned.ok) return scanned;
    shipped = scanned.value;
    if (shipped.header === null) {
      continuity = 'idle';
    } else if (position.expected !== null && matchesRef(shipped.header, position.expected)) {
      continuity = position.after === 'anchor' ? 'chain-start' : 'new-generation';
    } else {
      continuity = 'break';
      reason = `the WAL is in ${describeGeneration(shipped.header)}, not ${describeRef(position.expected)} as expected after the ${position.after}: it was checkpointed by someone else, commits may be lost`;
    }
    if (continuity !== 'break' && shipped.scan !== null) reason = describeStop(shipped.scan);
  }
  if (checkpointing && continuity !== 'break' && shipped.scan !== null && (shipped.scan.stop.kind !== 'end' || shipped.scan.uncommittedFrames > 0)) {
    continuity = 'break';
    reason = `the checkpoint took WAL bytes after the last whole commit (${describeStop(shipped.scan) ?? `${shipped.scan.uncommittedFrames} uncommitted frames`}): they are in no segment`;
  }
  const endedUs = env.clock.nowUs();
  const seq = nextSeq(all);
  const header = shipped.header;
  const scan = shipped.scan;
  const zero = { s0: 0, s1: 0 };
  const startOffset = header === null ? 0 : shipped.bytesOffset;
  const endOffset = scan === null ? startOffset : scan.committedEnd;
  const frames = scan === null ? 0 : scan.frames.filter((f) => f.offset < endOffset).length;
  const blob = header === null || frames === 0 ? null : concat(encodeWalHeader(header), shipped.bytes.subarray(0, endOffset - startOffset));
  const startChecksum = header === null ? zero : startOffset === WAL_HEADER_BYTES ? header.checksum : position.kind === 'in' ? position.endChecksum : zero;
  const record: SqliteSegmentRecord = {
    kind: 'segment', id: recordId(request.vmId, seq), vmId: request.vmId, dbPath: request.dbPath, basePointId: request.basePointId, seq,
    // The read ran at startedUs: every commit it holds was acknowledged at or before that instant.
    atUs: startedUs,
    nextGeneration: header !== null ? generationRef(header) : continuity === 'break' ? null : position.kind === 'start' ? position.expected : null,
    header, startOffset, endOffset, startChecksum, endChecksum: scan === null ? startChecksum : scan.committedChecksum,
    frames, commits: scan === null ? 0 : scan.commits.length, bytes: blob === null ? 0 : blob.length,
    startedUs, endedUs, continuity, note: reason,
  };
  const put = await putRecord(env, record, blob);
  if (!put.ok) return put;
  return ok({ record, continuity, reason, walBytes });
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export interface CheckpointReport {
  /** The round before the checkpoint and the round of the tail read with it. */
  readonly shipped: readonly ShipReport[];
  readonly checkpoint: SqliteCheckpointRecord;
}

/**
 * The engine's checkpoint: ship everything, then let the guest read the tail from the
 * shipped end and checkpoint in the same step, ship that tail, and record the checkpoint
 * (the generation it ended and the WAL's length then). The next segment starts the next
 * generation. A commit made in between is in the tail, so none is lost.
 */
export async function checkpointSqliteWal(env: ShipEnv, request: ShipRequest): Promise<Result<CheckpointReport, ShipError>> {
  const before = await shipSqliteWal(env, request);
  if (!before.ok) return before;
  let checkpointed = false;
  const readAndCheckpoint: WalReader = async (from) => {
    // After the checkpoint the WAL is empty (TRUNCATE): a second read finds nothing.
    if (checkpointed) return ok(new Uint8Array(0));
    checkpointed = true;
    const step = `checkpoint ${from}`;
    const run = await guest(env, request.vmId, step, [request.dbPath, 'checkpoint', String(from)]);
    if (!run.ok) return run;
    if (run.value.exitCode !== 0) return err({ kind: 'guest', step, exitCode: run.value.exitCode, stderr: run.value.stderr });
    return ok(run.value.stdout);
  };
  const tail = await shipRound(env, request, readAndCheckpoint, true);
  if (!tail.ok) return tail;
  assert(checkpointed, 'a round reads the WAL');
  const record = tail.value.record;
  const listed = await listRecords(env, request.vmId);
  if (!listed.ok) return listed;
  const seq = nextSeq(listed.value);
  // An empty WAL still restarts: the generation that would have come next is ended too.
  const sealed = record.header !== null ? generationRef(record.header) : record.nextGeneration;
  const checkpoint: SqliteCheckpointRecord = {
    kind: 'checkpoint', id: recordId(request.vmId, seq), vmId: request.vmId, dbPath: request.dbPath, basePointId: request.basePointId, seq,
    atUs: record.atUs, nextGeneration: sealed === null ? null : laterGeneration(sealed, 1), sealed, sealedOffset: tail.value.walBytes,
  };
  const put = await putRecord(env, checkpoint, null);
  if (!put.ok) return put;
  return ok({ shipped: [before.value, tail.value], checkpoint });
}

/**
 * Records the WAL's generation when there is no chain yet (before the first backup), so
 * the first base can be anchored. Reads the whole WAL.
 */
export async function observeSqliteWal(env: ShipEnv, request: { readonly vmId: VmId; readonly dbPath: string }): Promise<Result<SqliteObservationRecord, ShipError>> {
  const atUs = env.clock.nowUs();
  const read = await readWal(env, request, 0);
  if (!read.ok) return read;
  const scanned = scanFromStart(read.value);
  if (!scanned.ok) return scanned;
  const listed = await listRecords(env, request.vmId);
  if (!listed.ok) return listed;
  const all = listed.value;
  const seq = nextSeq(all);
  const header = scanned.value.header;
  const record: SqliteObservationRecord = {
    kind: 'observation', id: recordId(request.vmId, seq), vmId: request.vmId, dbPath: request.dbPath, basePointId: null, seq, atUs,
    nextGeneration: header !== null ? generationRef(header) : latestRecord(all, request.dbPath)?.nextGeneration ?? null,
    header, walBytes: read.value.length,
  };
  const put = await putRecord(env, record, null);
  if (!put.ok) return put;
  return ok(record);
}

export interface StartChainRequest {
  readonly vmId: VmId;
  readonly dbPath: string;
  readonly basePointId: string;
  /** The backup's freeze script checkpointed the WAL (see freezeScriptSucceeded). */
  readonly baseCheckpointed: boolean;
  readonly baseAtUs?: TimeUs;
}

/**
 * Starts the chain of a new base point; call it right after the backup, having shipped
 * (or observed) right before it. The anchor expects the generation the shipper last knew
 * of, plus the backup's restart: a checkpoint by anyone else in between shows as a break.
 */
export async function startSqliteChain(env: ShipEnv, request: StartChainRequest): Promise<Result<SqliteAnchorRecord, ShipError>> {
  const listed = await listRecords(env, request.vmId);
  if (!listed.ok) return listed;
  const all = listed.value;
  if (all.some((r) => r.basePointId === request.basePointId && r.dbPath === request.dbPath)) return err({ kind: 'chain-exists', reason: `base ${request.basePointId} already has a chain` });
  const before = latestRecord(all, request.dbPath);
  const restarts = request.baseCheckpointed ? 1 : 0;
  const known = before?.nextGeneration ?? null;
  const expected = known === null ? null : laterGeneration(known, restarts);
  const reason = before === undefined
    ? 'no earlier observation of the WAL: the generation after the base is unknown'
    : `${describeRef(known)} as of ${before.kind} ${before.id}${restarts > 0 ? ', plus the restart of the backup\'s checkpoint' : ''}`;
  const seq = nextSeq(all);
  const anchor: SqliteAnchorRecord = {
    kind: 'anchor', id: recordId(request.vmId, seq), vmId: request.vmId, dbPath: request.dbPath, basePointId: request.basePointId, seq,
    atUs: env.clock.nowUs(), nextGeneration: expected, baseAtUs: request.baseAtUs ?? null, restarts, expected, reason,
  };
  const put = await putRecord(env, anchor, null);
  if (!put.ok) return put;
  return ok(anchor);
}

/** True when the freeze script at `scriptPath` ran on freeze and succeeded (checkpoint-and-lock did its checkpoint). */
export function freezeScriptSucceeded(quiesce: QuiesceOutcome, scriptPath: string): boolean {
  return quiesce.scripts.some((s) => s.path === scriptPath && s.argument === 'freeze' && s.exitCode === 0);
}
