/**
 * Reading one key of an ESE-model database (Exchange mailbox databases, Active Directory's
 * ntds.dit) straight from a RecoveryPoint, as soft recovery would see it, in memory.
 *
 * Formats (sim/apps/exchange/ese-format.ts header, reimplemented here; engine/ never
 * imports sim/): little-endian u32s; a frame is `u32 payloadBytes | u32 crc32(payload) |
 * JSON`, payloadBytes 0 meaning "nothing here".
 * - Database: header slots at 0 and 4096 (magic "QESEDB01" then a frame { seq, state,
 *   checkpointGen, lastGen, dataEndBytes, logBase, backups }; the valid one with the
 *   highest seq counts); data records { k, v } (v null deletes) from 8192 to dataEndBytes,
 *   later records winning. Bytes past dataEndBytes are ignored.
 * - Log generation `<base><gen hex, fixed digits>.log`: header (magic "QESELOG1" then a
 *   frame { gen, base, sizeBytes }) in [0, 512); transactions { lsn, t, ops: [{ k, v }] }
 *   from 512 until payloadBytes 0, a frame { end: true }, the file's end, or (last
 *   generation only) a torn frame.
 * - Checkpoint file: two 512-byte slots, magic "QESECHK1" then { seq, checkpointGen,
 *   highestGen }.
 *
 * Resolution: a `clean` database's records are the whole database. A `dirty` one is
 * current up to its checkpoint generation: every generation from the header's
 * checkpointGen to the newest one known (the header's lastGen, the checkpoint file's
 * highestGen, and consecutive generations present after them) is replayed in order over
 * the key. A missing generation in that range, a bad generation header, a torn record in
 * any but the last generation, or a bad data record below dataEndBytes is 'damaged' naming
 * the file and record (byte offset): never a stale value.
 *
 * Leaves out: the backups stamps and signatures of the header, reading generations the
 * directory holds beyond a gap (the simulator's recovery refuses those too, as missing).
 */

import { crc32 } from '../../../core/crc32.js';
import { err, ok, type Result } from '../../../core/result.js';
import type { PointSource } from '../source.js';
import { isNat, isObject, parseJson, readGuestFile, type GuestFile, type ItemError, type Provenance } from './common.js';

const FRAME_HEADER_BYTES = 8;
const MAX_FRAME_PAYLOAD_BYTES = 1 << 20;
const MAGIC_BYTES = 8;
const DB_MAGIC = 'QESEDB01';
const DB_HEADER_SLOT_BYTES = 4096;
export const ESE_DATA_START_BYTES = 2 * DB_HEADER_SLOT_BYTES;
const LOG_MAGIC = 'QESELOG1';
const LOG_HEADER_BYTES = 512;
const CHK_MAGIC = 'QESECHK1';
const CHK_SLOT_BYTES = 512;
/** Most generations one lookup replays (a bound against a garbage header). */
const MAX_REPLAY_GENS = 4096;

export interface EseLayout {
  /** Which disk of the point holds the files. */
  readonly volume: 'first' | 'last';
  readonly dir: string;
  readonly databaseName: string;
  readonly checkpointName: string;
  readonly base: string;
  readonly genDigits: number;
}

export interface EseValue {
  /** The key's JSON value, untrusted (the caller checks its shape). */
  readonly value: unknown;
  readonly provenance: Provenance;
}

type Frame =
  | { readonly kind: 'frame'; readonly value: unknown; readonly end: number }
  | { readonly kind: 'empty' }
  | { readonly kind: 'bad'; readonly reason: string };

/** The frame at `pos`, not reaching past `limit` (everything untrusted). */
export function readFrame(bytes: Uint8Array, pos: number, limit: number): Frame {
  const lim = Math.min(limit, bytes.length);
  if (pos >= lim) return { kind: 'empty' };
  if (pos + FRAME_HEADER_BYTES > lim) return { kind: 'bad', reason: `frame header cut at ${pos}` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(pos, true);
  if (length === 0) return { kind: 'empty' };
  if (length > MAX_FRAME_PAYLOAD_BYTES || pos + FRAME_HEADER_BYTES + length > lim) return { kind: 'bad', reason: `length ${length} runs past ${lim}` };
  const payload = bytes.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length);
  if (crc32(payload) !== view.getUint32(pos + 4, true)) return { kind: 'bad', reason: 'CRC mismatch' };
  const value = parseJson(payload);
  if (value === undefined) return { kind: 'bad', reason: 'not JSON' };
  return { kind: 'frame', value, end: pos + FRAME_HEADER_BYTES + length };
}

function hasMagic(bytes: Uint8Array, pos: number, magic: string): boolean {
  if (pos + MAGIC_BYTES > bytes.length) return false;
  for (let i = 0; i < MAGIC_BYTES; i++) if (bytes[pos + i] !== magic.charCodeAt(i)) return false;
  return true;
}

function slot(bytes: Uint8Array, pos: number, slotBytes: number, magic: string): unknown {
  if (!hasMagic(bytes, pos, magic)) return undefined;
  const f = readFrame(bytes, pos + MAGIC_BYTES, pos + slotBytes);
  return f.kind === 'frame' ? f.value : undefined;
}

interface DbHeader {
  readonly seq: number;
  readonly state: 'clean' | 'dirty';
  readonly checkpointGen: number;
  readonly lastGen: number;
  readonly dataEndBytes: number;
}

function dbHeaderOf(v: unknown): DbHeader | undefined {
  if (!isObject(v)) return undefined;
  const { seq, state, checkpointGen, lastGen, dataEndBytes } = v;
  if (!isNat(seq) || (state !== 'clean' && state !== 'dirty') || !isNat(checkpointGen) || !isNat(lastGen) || !isNat(dataEndBytes)) return undefined;
  if (dataEndBytes < ESE_DATA_START_BYTES) return undefined;
  return { seq, state, checkpointGen, lastGen, dataEndBytes };
}

function newest<T extends { readonly seq: number }>(bytes: Uint8Array, slotBytes: number, magic: string, check: (v: unknown) => T | undefined): T | undefined {
  let best: T | undefined;
  for (const i of [0, 1]) {
    const got = check(slot(bytes, i * slotBytes, slotBytes, magic));
    if (got !== undefined && (best === undefined || got.seq > best.seq)) best = got;
  }
  return best;
}

/** One { k, v } operation (a data record or a log op), or undefined when malformed. */
function opOf(v: unknown): { readonly key: string; readonly value: unknown } | undefined {
  if (!isObject(v) || typeof v.k !== 'string' || !('v' in v)) return undefined;
  return { key: v.k, value: v.v };
}

export function logFileName(layout: EseLayout, gen: number): string {
  return `${layout.base}${gen.toString(16).toUpperCase().padStart(layout.genDigits, '0')}.log`;
}

type Found = { readonly value: unknown; readonly provenance: Provenance } | null | undefined;

/** The key's value in the data records (null: deleted, undefined: never written). */
function scanDatabase(db: GuestFile, header: DbHeader, key: string): Result<Found, ItemError> {
  let found: Found;
  let pos = ESE_DATA_START_BYTES;
  const maxRecords = Math.ceil((header.dataEndBytes - ESE_DATA_START_BYTES) / (FRAME_HEADER_BYTES + 1)) + 1;
  for (let n = 0; n < maxRecords && pos < header.dataEndBytes; n++) {
    const f = readFrame(db.bytes, pos, header.dataEndBytes);
    if (f.kind !== 'frame') {
      return err({ kind: 'damaged', file: db.path, record: `offset ${pos}`, reason: `data record: ${f.kind === 'bad' ? f.reason : 'empty frame inside the data area'}` });
    }
    const op = opOf(f.value);
    if (op === undefined) return err({ kind: 'damaged', file: db.path, record: `offset ${pos}`, reason: 'data record is not a {k, v} record' });
    if (op.key === key) found = op.value === null ? null : { value: op.value, provenance: { diskId: db.diskId, file: db.path, record: `offset ${pos}`, via: 'page' } };
    pos = f.end;
  }
  if (pos < header.dataEndBytes) return err({ kind: 'damaged', file: db.path, record: `offset ${pos}`, reason: 'data record scan did not reach dataEndBytes' });
  return ok(found);
}

/** Replays one generation's transactions over the key. */
function replayGeneration(log: GuestFile, gen: number, last: boolean, key: string, prior: Found): Result<Found, ItemError> {
  const head = slot(log.bytes, 0, LOG_HEADER_BYTES, LOG_MAGIC);
  if (!isObject(head) || head.gen !== gen) return err({ kind: 'damaged', file: log.path, record: 'offset 0', reason: `no valid header of generation ${gen}` });
  let found = prior;
  let pos = LOG_HEADER_BYTES;
  const maxRecords = Math.ceil(log.bytes.length / (FRAME_HEADER_BYTES + 1)) + 1;
  for (let n = 0; n < maxRecords; n++) {
    const f = readFrame(log.bytes, pos, log.bytes.length);
    if (f.kind === 'empty') return ok(found);
    const torn = (reason: string): Result<Found, ItemError> =>
      last ? ok(found) : err({ kind: 'damaged', file: log.path, record: `offset ${pos}`, reason: `torn record before the end of the log chain: ${reason}` });
    if (f.kind === 'bad') return torn(f.reason);
    const r = f.value;
    if (isObject(r) && r.end === true) return ok(found);
    if (!isObject(r) || !isNat(r.lsn) || !isNat(r.t) || !Array.isArray(r.ops)) return torn('not a transaction');
    const ops: { key: string; value: unknown }[] = [];
    for (const o of r.ops as unknown[]) {
      const op = opOf(o);
      if (op === undefined) return torn('not a transaction');
      ops.push(op);
    }
    for (const op of ops) {
      if (op.key !== key) continue;
      found = op.value === null ? null : { value: op.value, provenance: { diskId: log.diskId, file: log.path, record: `offset ${pos} lsn ${r.lsn}`, via: 'log' } };
    }
    pos = f.end;
  }
  return ok(found);
}

/** The committed value of `key` at the point, as soft recovery would make it. */
export async function findEseValue(source: PointSource, layout: EseLayout, key: string): Promise<Result<EseValue, ItemError>> {
  const dbRead = await readGuestFile(source, layout.volume, `${layout.dir}/${layout.databaseName}`);
  if (!dbRead.ok) return dbRead;
  const db = dbRead.value;
  const header = newest(db.bytes, DB_HEADER_SLOT_BYTES, DB_MAGIC, dbHeaderOf);
  if (header === undefined) return err({ kind: 'damaged', file: db.path, record: 'offset 0', reason: 'no valid database header' });
  if (header.dataEndBytes > db.bytes.length) return err({ kind: 'damaged', file: db.path, record: 'offset 0', reason: `header says data ends at ${header.dataEndBytes}, the file holds ${db.bytes.length} bytes` });
  const scanned = scanDatabase(db, header, key);
  if (!scanned.ok) return scanned;
  let found = scanned.value;

  if (header.state === 'dirty') {
    const chkRead = await readGuestFile(source, layout.volume, `${layout.dir}/${layout.checkpointName}`);
    const chk = chkRead.ok
      ? newest(chkRead.value.bytes, CHK_SLOT_BYTES, CHK_MAGIC, (v) => (isObject(v) && isNat(v.seq) && isNat(v.highestGen) ? { seq: v.seq, highestGen: v.highestGen } : undefined))
      : undefined;
    const from = header.checkpointGen;
    const known = Math.max(header.lastGen, chk?.highestGen ?? 0);
    if (from < 1 || known - from + 1 > MAX_REPLAY_GENS) {
      return err({ kind: 'damaged', file: db.path, record: 'offset 0', reason: `cannot replay generations ${from} to ${known}` });
    }
    // Generations up to the newest known must all be there; later consecutive ones are replayed too.
    const logs: { gen: number; file: GuestFile }[] = [];
    for (let g = from; g < from + MAX_REPLAY_GENS; g++) {
      const path = `${layout.dir}/${logFileName(layout, g)}`;
      const read = await readGuestFile(source, layout.volume, path);
      if (!read.ok) {
        if (g <= known) {
          if (read.error.kind === 'volume' && read.error.error.kind === 'not-found') {
            return err({ kind: 'damaged', file: path, reason: `log generation ${g} is missing (replay needs ${from} to ${known})` });
          }
          return read;
        }
        break;
      }
      logs.push({ gen: g, file: read.value });
    }
    for (let i = 0; i < logs.length; i++) {
      const entry = logs[i];
      if (entry === undefined) break;
      const replayed = replayGeneration(entry.file, entry.gen, i === logs.length - 1, key, found);
      if (!replayed.ok) return replayed;
      found = replayed.value;
    }
  }
  if (found === undefined || found === null) return err({ kind: 'not-found', what: key, file: db.path });
  return ok(found);
}
