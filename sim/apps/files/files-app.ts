/**
 * The `files` application: a program writing files with buffered I/O and an occasional
 * fsync, as a log shipper or a document store does. No VSS writer, no recovery of its
 * own: what survives is exactly what the file system kept, so it is the evidence for the
 * file-system level ("every file write that completed before the freeze is present").
 *
 * Workload: each operation appends one record to one of `STREAM_COUNT` streams under
 * `/files` on the last volume; a stream is a series of segment files
 * `data-<stream>-<segment>.rec` that rolls over at `SEGMENT_BYTES` (as logs rotate; it also
 * keeps each file's extent count small while streams interleave on disk). Every
 * `fsyncEvery`-th operation fsyncs the file it wrote (making it durable). A write is acknowledged when
 * `write` returns (durable: false, the data may sit in dirty pages); an fsync acknowledges
 * again every record of the file it made durable (durable: true).
 *
 * On-disk format (each file is a sequence of records, appended):
 *   u32 magic 0x51464c52 ('QFLR') | u32 id | u32 payloadBytes | u32 crc32(payload) | payload
 * little-endian. A reader takes the longest valid prefix: it stops at the first record
 * whose magic, length or CRC is wrong (a crash can leave a torn or stale tail).
 *
 * Un-write mode (`options.unwrite`, the backup suite draws it): the program also takes back
 * data an earlier point held, as real ones do, each step deterministic from the app's PRNG:
 * - log rotation with retention: segments are small (`segmentBytes`), a stream also rolls
 *   over early now and then (a time-based rotation), and the oldest segment beyond
 *   `keepSegments` per stream is deleted — shredded first (overwritten with zeros and
 *   fsync'ed) half the time;
 * - a retracted tail: the last records of a stream's current segment (all of them in half
 *   the cases: a recycled segment) are overwritten with zeros in place and fsync'ed, then
 *   half the time the file is truncated back to that record boundary; appends continue at
 *   the boundary. Only a tail is ever zeroed, so the valid prefix of every file stays
 *   exactly the records the app still holds;
 * - preallocation: a new segment is sometimes preallocated with zeros to 64-192 KiB (past
 *   one 128 KiB allocation window: several extents), and on rotation its unused tail is
 *   truncated away.
 * Every removal (a deleted segment's records, retracted records) is made durable (fsync,
 * which commits the journal) and then acknowledged in `removals()`.
 *
 * Leaves out: renames, zeroing a record in the middle of a file (the rest of the file would
 * stop parsing), several writers per file, a file system's discard/TRIM.
 */

import { assert } from '../../../core/assert.js';
import { crc32 } from '../../../core/crc32.js';
import type { AppId } from '../../../core/hypervisor-port.js';
import type { FileSystem, FileHandle } from '../../guest/file-system.js';
import type { AckRecord, AppHost, GuestApp, OpenReport, WorkloadSpec } from '../types.js';

export const FILES_DIR = '/files';
export const STREAM_COUNT = 4;
export const SEGMENT_BYTES = 256 * 1024;
/** Most segments the app keeps; the workload stops when every stream is full. */
export const MAX_SEGMENTS_PER_STREAM = 4096;
export const RECORD_MAGIC = 0x51464c52;
export const RECORD_HEADER_BYTES = 16;
const MAX_RECORD_PAYLOAD_BYTES = 1 << 20;

/** Un-write mode (see the header): how the program takes back what it wrote. */
export interface UnwriteOptions {
  /** Capacity of a new segment that is not preallocated, drawn in [min, max] bytes. */
  readonly segmentBytes: readonly [number, number];
  /** Older segments kept per stream beside the current one; rotation deletes the oldest beyond. */
  readonly keepSegments: number;
  /** Per operation, 1 in n: the stream rolls over before its segment is full (a time-based rotation). */
  readonly rotateOneIn: number;
  /** Per operation, 1 in n: the stream's tail is retracted (zeroed) instead of appended to. */
  readonly retractOneIn: number;
  /** Per new segment, 1 in n: preallocated with zeros to a size drawn in `preallocBytes`. */
  readonly preallocOneIn: number;
  readonly preallocBytes: readonly [number, number];
}

/**
 * The un-write mode the backup suite draws: 8-16 KiB segments, one older segment kept per
 * stream, a rotation every ~12 operations and a retraction every ~16, so a scenario's few
 * hundred operations delete, shred and truncate several segments between two backups.
 */
export const UNWRITE_OPTIONS: UnwriteOptions = {
  segmentBytes: [8 * 1024, 16 * 1024], keepSegments: 1, rotateOneIn: 12, retractOneIn: 16, preallocOneIn: 4, preallocBytes: [64 * 1024, 192 * 1024],
};

export interface FilesAppOptions {
  /** Fsync every n-th operation (0: never). */
  readonly fsyncEvery: number;
  /** Un-write mode; absent: the program only appends. */
  readonly unwrite?: UnwriteOptions;
}

export const DEFAULT_FILES_OPTIONS: FilesAppOptions = { fsyncEvery: 8 };

/** A record read back from a file. */
export interface FileRecord {
  readonly id: number;
  readonly offsetBytes: number;
  readonly payload: Uint8Array;
}

/** Parses the longest valid prefix of a records file (see the header for the format). */
export function parseRecords(bytes: Uint8Array): FileRecord[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: FileRecord[] = [];
  let pos = 0;
  while (pos + RECORD_HEADER_BYTES <= bytes.length) {
    if (view.getUint32(pos, true) !== RECORD_MAGIC) break;
    const id = view.getUint32(pos + 4, true);
    const length = view.getUint32(pos + 8, true);
    if (length > MAX_RECORD_PAYLOAD_BYTES || pos + RECORD_HEADER_BYTES + length > bytes.length) break;
    const payload = bytes.subarray(pos + RECORD_HEADER_BYTES, pos + RECORD_HEADER_BYTES + length);
    if (crc32(payload) !== view.getUint32(pos + 12, true)) break;
    out.push({ id, offsetBytes: pos, payload });
    pos += RECORD_HEADER_BYTES + length;
  }
  return out;
}

export function encodeRecord(id: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, RECORD_MAGIC, true);
  view.setUint32(4, id, true);
  view.setUint32(8, payload.length, true);
  view.setUint32(12, crc32(payload), true);
  out.set(payload, RECORD_HEADER_BYTES);
  return out;
}

function fileName(stream: number, segment: number): string {
  return `${FILES_DIR}/data-${stream}-${segment}.rec`;
}

const NAME_RE = /^data-(\d+)-(\d+)\.rec$/;
const GRAIN = 4096;

/** One stream's state: its current segment (open), the records it holds, the older segments kept. */
interface Stream {
  readonly index: number;
  segment: number;
  handle: FileHandle;
  /** End of the segment's valid prefix: where the next record goes. */
  sizeBytes: number;
  /** The file's size (past `sizeBytes` when preallocated). */
  fileBytes: number;
  /** The segment rolls over when the next record would end past this. */
  capacityBytes: number;
  /** Ids appended since the segment's last fsync. */
  unsynced: number[];
  /** The current segment's records, in file order. */
  records: { readonly id: number; readonly offsetBytes: number }[];
  /** Older segments still on disk, oldest first, with the ids each holds. */
  older: { readonly segment: number; readonly ids: readonly number[] }[];
}

type OpenedSegment = Pick<Stream, 'segment' | 'handle' | 'sizeBytes' | 'fileBytes' | 'unsynced' | 'records'>;

class FilesApp implements GuestApp {
  readonly appId: AppId = 'files';
  readonly writer = null;
  readonly scriptActions = {};
  readonly programs = {};
  private readonly fs: FileSystem;
  private readonly streams: Stream[] = [];
  private readonly acks: AckRecord[] = [];
  private readonly removed: AckRecord[] = [];
  private nextId = 1;
  private opCount = 0;
  private running = false;
  private workload: WorkloadSpec | undefined;
  private dead = false;
  private waitingForThaw = false;

  constructor(private readonly host: AppHost, private readonly options: FilesAppOptions) {
    const fs = host.volumes[host.volumes.length - 1];
    assert(fs !== undefined, 'the files app needs a volume');
    const u = options.unwrite;
    if (u !== undefined) {
      assert(u.segmentBytes[0] > RECORD_HEADER_BYTES && u.segmentBytes[0] <= u.segmentBytes[1] && u.segmentBytes[1] <= SEGMENT_BYTES, 'un-write segment sizes');
      assert(u.preallocBytes[0] >= GRAIN && u.preallocBytes[0] <= u.preallocBytes[1], 'un-write preallocation sizes');
      assert(u.keepSegments >= 0 && u.rotateOneIn >= 1 && u.retractOneIn >= 1 && u.preallocOneIn >= 1, 'un-write rates');
    }
    this.fs = fs;
  }

  open(): OpenReport {
    this.assertAlive();
    const dir = this.fs.stat(FILES_DIR);
    const created = !dir.ok;
    if (created) {
      const made = this.fs.mkdir(FILES_DIR);
      if (!made.ok) return { created: true, recoveryNeeded: false, ok: false, detail: `mkdir ${FILES_DIR}: ${made.error.kind}` };
    }
    const listed = this.fs.readdir(FILES_DIR);
    if (!listed.ok) return { created, recoveryNeeded: false, ok: false, detail: `readdir ${FILES_DIR}: ${listed.error.kind}` };
    const segments = Array.from({ length: STREAM_COUNT }, () => new Map<number, readonly number[]>());
    let maxId = 0;
    for (const file of this.scan(listed.value)) {
      maxId = Math.max(maxId, file.maxId);
      const m = NAME_RE.exec(file.name);
      const stream = Number(m?.[1]);
      if (stream < STREAM_COUNT) segments[stream]?.set(Number(m?.[2]), file.ids);
    }
    for (let i = 0; i < STREAM_COUNT; i++) {
      const found = [...(segments[i] ?? new Map<number, readonly number[]>()).entries()].sort((x, y) => x[0] - y[0]);
      const segment = found.length === 0 ? 0 : (found[found.length - 1] as [number, readonly number[]])[0];
      const opened = this.openSegment(i, segment);
      if (typeof opened === 'string') return { created, recoveryNeeded: false, ok: false, detail: opened };
      const capacityBytes = this.options.unwrite === undefined ? SEGMENT_BYTES : Math.max(opened.fileBytes, this.options.unwrite.segmentBytes[0]);
      const older = found.slice(0, -1).map(([s, ids]) => ({ segment: s, ids }));
      this.streams.push({ index: i, ...opened, capacityBytes, older });
    }
    this.nextId = maxId + 1;
    return { created, recoveryNeeded: false, ok: true, detail: created ? 'created /files' : `found ids up to ${maxId}` };
  }

  startWorkload(spec: WorkloadSpec): void {
    this.assertAlive();
    assert(spec.meanIntervalUs > 0, 'meanIntervalUs must be positive');
    this.workload = spec;
    this.running = true;
    this.scheduleNext();
  }

  stopWorkload(): void {
    this.running = false;
  }

  committed(): ReadonlySet<string> {
    this.assertAlive();
    const ids = new Set<string>();
    const listed = this.fs.readdir(FILES_DIR);
    if (!listed.ok) return ids;
    for (const file of this.scan(listed.value)) for (const id of file.ids) ids.add(`w${id}`);
    return ids;
  }

  /** Reads every segment file: the ids of its valid prefix. */
  private scan(names: readonly string[]): { name: string; ids: number[]; maxId: number }[] {
    const out: { name: string; ids: number[]; maxId: number }[] = [];
    for (const name of names) {
      if (!NAME_RE.test(name)) continue;
      const handle = this.fs.open(`${FILES_DIR}/${name}`);
      if (!handle.ok) continue;
      const size = this.fs.size(handle.value);
      const bytes = size.ok ? this.fs.read(handle.value, 0, size.value) : size;
      this.fs.close(handle.value);
      if (!bytes.ok) continue;
      const ids = parseRecords(bytes.value).map((r) => r.id);
      out.push({ name, ids, maxId: ids.reduce((m, id) => Math.max(m, id), 0) });
    }
    return out;
  }

  /** Opens (creating) a segment; appends continue after its valid prefix (a torn tail is overwritten). */
  private openSegment(stream: number, segment: number): OpenedSegment | string {
    const path = fileName(stream, segment);
    const handle = this.fs.open(path, { create: true });
    if (!handle.ok) return `open ${path}: ${handle.error.kind}`;
    const size = this.fs.size(handle.value);
    assert(size.ok, 'size of an open file');
    const bytes = this.fs.read(handle.value, 0, size.value);
    assert(bytes.ok, 'read of an open file');
    const records = parseRecords(bytes.value);
    const last = records[records.length - 1];
    return {
      segment, handle: handle.value, sizeBytes: last === undefined ? 0 : last.offsetBytes + RECORD_HEADER_BYTES + last.payload.length, fileBytes: size.value, unsynced: [],
      records: records.map((r) => ({ id: r.id, offsetBytes: r.offsetBytes })),
    };
  }

  acknowledged(): readonly AckRecord[] {
    return this.acks;
  }

  removals(): readonly AckRecord[] {
    return this.removed;
  }

  shutdown(): void {
    this.assertAlive();
    this.running = false;
    for (const st of this.streams) {
      this.fs.fsync(st.handle);
      this.fs.close(st.handle);
    }
    this.streams.length = 0;
    this.dead = true;
  }

  crash(): void {
    this.running = false;
    this.dead = true;
  }

  private scheduleNext(): void {
    const spec = this.workload;
    if (!this.running || spec === undefined || this.dead) return;
    if (spec.maxOps !== undefined && this.opCount >= spec.maxOps) return;
    const gapUs = this.host.prng.int(0, 2 * spec.meanIntervalUs);
    this.host.queue.after(gapUs, `${this.host.timerPrefix}:op`, () => { this.step(); });
  }

  private step(): void {
    if (!this.running || this.dead) return;
    if (this.fs.isFrozen) {
      // Writes are held: the program blocks in write() until the file system thaws.
      if (!this.waitingForThaw) {
        this.waitingForThaw = true;
        this.fs.onThaw(() => {
          this.waitingForThaw = false;
          this.step();
        });
      }
      return;
    }
    const spec = this.workload;
    assert(spec !== undefined, 'workload');
    const stream = this.streams[this.host.prng.int(0, STREAM_COUNT - 1)];
    assert(stream !== undefined, 'stream');
    if (this.options.unwrite !== undefined) {
      const done = this.unwriteStep(stream, this.options.unwrite);
      if (done === 'stopped') return;
      if (done === 'retracted') {
        this.opCount++;
        this.scheduleNext();
        return;
      }
    }
    const id = this.nextId;
    const payload = new Uint8Array(Math.min(spec.valueBytes ?? 512, SEGMENT_BYTES - RECORD_HEADER_BYTES));
    for (let i = 0; i < payload.length; i++) payload[i] = (id * 31 + i * 7) & 0xff;
    const record = encodeRecord(id, payload);
    if (stream.sizeBytes + record.length > stream.capacityBytes && !this.roll(stream)) return;
    const written = this.fs.write(stream.handle, stream.sizeBytes, record);
    if (!written.ok) {
      this.fail('write', written.error.kind);
      return;
    }
    this.nextId++;
    this.opCount++;
    stream.records.push({ id, offsetBytes: stream.sizeBytes });
    stream.sizeBytes += record.length;
    stream.fileBytes = Math.max(stream.fileBytes, stream.sizeBytes);
    this.ack(`w${id}`, false);
    stream.unsynced.push(id);
    if (this.options.fsyncEvery > 0 && this.opCount % this.options.fsyncEvery === 0) this.syncStream(stream);
    this.scheduleNext();
  }

  /** Out of space or similar: the program stops (it never acknowledges a failed operation). */
  private fail(op: string, error: string): void {
    this.host.history.record({ kind: 'app.error', subject: `${this.host.vmId}/files`, data: { op, error } });
    this.running = false;
  }

  /** Fsyncs the stream's segment; what it made durable is acknowledged again as durable. */
  private syncStream(stream: Stream): boolean {
    const synced = this.fs.fsync(stream.handle);
    if (!synced.ok) return false;
    for (const done of stream.unsynced) this.ack(`w${done}`, true);
    stream.unsynced.length = 0;
    return true;
  }

  /** Rolls the stream over to its next segment (the old one fsync'ed and closed, as a log rotation does). */
  private roll(stream: Stream): boolean {
    if (stream.segment + 1 >= MAX_SEGMENTS_PER_STREAM) {
      this.running = false;
      return false;
    }
    const u = this.options.unwrite;
    if (u !== undefined && stream.fileBytes > stream.sizeBytes) {
      // The preallocated tail nobody wrote goes: the file shrinks back to its last record.
      const cut = this.fs.truncate(stream.handle, stream.sizeBytes);
      if (!cut.ok) {
        this.fail('truncate', cut.error.kind);
        return false;
      }
      stream.fileBytes = stream.sizeBytes;
    }
    this.syncStream(stream);
    stream.unsynced.length = 0;
    this.fs.close(stream.handle);
    const old = { segment: stream.segment, ids: stream.records.map((r) => r.id) };
    const next = this.openSegment(stream.index, stream.segment + 1);
    if (typeof next === 'string') {
      this.fail('roll', next);
      return false;
    }
    Object.assign(stream, next);
    if (u === undefined) return true;
    stream.older.push(old);
    return this.preallocate(stream, u) && this.retire(stream, u);
  }

  /** Un-write mode, before an append: maybe retract the stream's tail, maybe rotate early. */
  private unwriteStep(stream: Stream, u: UnwriteOptions): 'append' | 'retracted' | 'stopped' {
    const retract = this.host.prng.int(1, u.retractOneIn) === 1;
    const rotate = this.host.prng.int(1, u.rotateOneIn) === 1;
    if (retract && stream.records.length > 0) return this.retract(stream) ? 'retracted' : 'stopped';
    if (rotate && stream.records.length > 0 && !this.roll(stream)) return 'stopped';
    return 'append';
  }

  /**
   * Takes back the last records of the stream's segment (all of them half the time): their
   * bytes are overwritten with zeros in place and fsync'ed, and half the time the file is
   * then truncated back to the record boundary and fsync'ed again.
   */
  private retract(stream: Stream): boolean {
    const n = stream.records.length;
    assert(n > 0, 'a retraction needs a record');
    const k = this.host.prng.bool() ? n : this.host.prng.int(1, n);
    const boundary = (stream.records[n - k] as { offsetBytes: number }).offsetBytes;
    const truncate = this.host.prng.bool();
    assert(boundary < stream.sizeBytes, 'a retraction takes at least one record');
    const zeroed = this.fs.write(stream.handle, boundary, new Uint8Array(stream.sizeBytes - boundary));
    if (!zeroed.ok) {
      this.fail('zero', zeroed.error.kind);
      return false;
    }
    const gone = stream.records.splice(n - k).map((r) => r.id);
    const goneSet = new Set(gone);
    stream.unsynced = stream.unsynced.filter((id) => !goneSet.has(id));
    stream.sizeBytes = boundary;
    let durable = this.syncStream(stream);
    if (truncate) {
      const cut = this.fs.truncate(stream.handle, boundary);
      if (!cut.ok) {
        this.fail('truncate', cut.error.kind);
        return false;
      }
      stream.fileBytes = boundary;
      durable = this.syncStream(stream) && durable;
    }
    for (const id of gone) this.remove(`w${id}`, durable, truncate ? 'retract+truncate' : 'retract');
    return true;
  }

  /** A new, empty segment: preallocated with zeros (1 in `preallocOneIn`), else given a small capacity. */
  private preallocate(stream: Stream, u: UnwriteOptions): boolean {
    assert(stream.sizeBytes === 0 || stream.fileBytes > 0, 'a segment holding records has a size');
    if (this.host.prng.int(1, u.preallocOneIn) !== 1 || stream.fileBytes > 0) {
      stream.capacityBytes = Math.max(stream.fileBytes, this.host.prng.int(u.segmentBytes[0], u.segmentBytes[1]));
      return true;
    }
    const bytes = Math.floor(this.host.prng.int(u.preallocBytes[0], u.preallocBytes[1]) / GRAIN) * GRAIN;
    const written = this.fs.write(stream.handle, 0, new Uint8Array(bytes));
    if (!written.ok) {
      this.fail('preallocate', written.error.kind);
      return false;
    }
    stream.fileBytes = bytes;
    stream.capacityBytes = bytes;
    return true;
  }

  /** Retention: the oldest segments beyond `keepSegments` are deleted, shredded first half the time. */
  private retire(stream: Stream, u: UnwriteOptions): boolean {
    while (stream.older.length > u.keepSegments) {
      const victim = stream.older.shift();
      assert(victim !== undefined, 'a segment to retire');
      const path = fileName(stream.index, victim.segment);
      const shred = this.host.prng.bool();
      if (shred) {
        const shredded = this.shred(path);
        if (shredded !== null) {
          this.fail('shred', shredded);
          return false;
        }
      }
      const gone = this.fs.unlink(path);
      if (!gone.ok) {
        this.fail('unlink', gone.error.kind);
        return false;
      }
      // An unlink is durable once the journal commits: an fsync of any file commits it.
      const durable = this.syncStream(stream);
      for (const id of victim.ids) this.remove(`w${id}`, durable, shred ? 'shred+delete' : 'delete');
    }
    return true;
  }

  /** Overwrites a whole file with zeros and fsyncs it (as `shred -n0 -z` does); an error's kind, or null. */
  private shred(path: string): string | null {
    const handle = this.fs.open(path);
    if (!handle.ok) return handle.error.kind;
    const size = this.fs.size(handle.value);
    assert(size.ok, 'size of an open file');
    const written = size.value === 0 ? { ok: true as const } : this.fs.write(handle.value, 0, new Uint8Array(size.value));
    const synced = written.ok ? this.fs.fsync(handle.value) : written;
    this.fs.close(handle.value);
    return synced.ok ? null : synced.error.kind;
  }

  private ack(id: string, durable: boolean): void {
    this.acks.push({ app: 'files', id, timeUs: this.host.clock.nowUs(), durable });
    this.host.history.record({ kind: 'app.commit', subject: `${this.host.vmId}/files`, data: { id, durable } });
  }

  private remove(id: string, durable: boolean, how: string): void {
    this.removed.push({ app: 'files', id, timeUs: this.host.clock.nowUs(), durable });
    this.host.history.record({ kind: 'app.remove', subject: `${this.host.vmId}/files`, data: { id, durable, how } });
  }

  private assertAlive(): void {
    assert(!this.dead, 'the files app is dead (crashed or shut down)');
  }
}

export function filesAppFactory(options: FilesAppOptions = DEFAULT_FILES_OPTIONS): (host: AppHost) => GuestApp {
  return (host) => new FilesApp(host, options);
}

export const createFilesApp = filesAppFactory();
