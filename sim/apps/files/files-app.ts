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
 * Leaves out: overwrites in place, renames, deletes (the storage matrix covers those
 * paths of the file system), several writers per file.
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

export interface FilesAppOptions {
  /** Fsync every n-th operation (0: never). */
  readonly fsyncEvery: number;
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

class FilesApp implements GuestApp {
  readonly appId: AppId = 'files';
  readonly writer = null;
  readonly scriptActions = {};
  readonly programs = {};
  private readonly fs: FileSystem;
  /** Per stream: its current segment, open handle, size and ids appended since its last fsync. */
  private readonly streams: { segment: number; handle: FileHandle; sizeBytes: number; unsynced: number[] }[] = [];
  private readonly acks: AckRecord[] = [];
  private nextId = 1;
  private opCount = 0;
  private running = false;
  private workload: WorkloadSpec | undefined;
  private dead = false;
  private waitingForThaw = false;

  constructor(private readonly host: AppHost, private readonly options: FilesAppOptions) {
    const fs = host.volumes[host.volumes.length - 1];
    assert(fs !== undefined, 'the files app needs a volume');
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
    const lastSegment = new Array<number>(STREAM_COUNT).fill(0);
    for (const name of listed.value) {
      const m = NAME_RE.exec(name);
      if (m === null) continue;
      const stream = Number(m[1]);
      if (stream < STREAM_COUNT) lastSegment[stream] = Math.max(lastSegment[stream] ?? 0, Number(m[2]));
    }
    let maxId = 0;
    for (const ids of this.scan(listed.value)) maxId = Math.max(maxId, ids.maxId);
    for (let i = 0; i < STREAM_COUNT; i++) {
      const segment = lastSegment[i] ?? 0;
      const opened = this.openSegment(i, segment);
      if (typeof opened === 'string') return { created, recoveryNeeded: false, ok: false, detail: opened };
      this.streams.push(opened);
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
  private openSegment(stream: number, segment: number): { segment: number; handle: FileHandle; sizeBytes: number; unsynced: number[] } | string {
    const path = fileName(stream, segment);
    const handle = this.fs.open(path, { create: true });
    if (!handle.ok) return `open ${path}: ${handle.error.kind}`;
    const size = this.fs.size(handle.value);
    assert(size.ok, 'size of an open file');
    const bytes = this.fs.read(handle.value, 0, size.value);
    assert(bytes.ok, 'read of an open file');
    const records = parseRecords(bytes.value);
    const last = records[records.length - 1];
    return { segment, handle: handle.value, sizeBytes: last === undefined ? 0 : last.offsetBytes + RECORD_HEADER_BYTES + last.payload.length, unsynced: [] };
  }

  acknowledged(): readonly AckRecord[] {
    return this.acks;
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
    const id = this.nextId;
    const payload = new Uint8Array(Math.min(spec.valueBytes ?? 512, SEGMENT_BYTES - RECORD_HEADER_BYTES));
    for (let i = 0; i < payload.length; i++) payload[i] = (id * 31 + i * 7) & 0xff;
    const record = encodeRecord(id, payload);
    if (stream.sizeBytes + record.length > SEGMENT_BYTES) {
      if (stream.segment + 1 >= MAX_SEGMENTS_PER_STREAM) {
        this.running = false;
        return;
      }
      // Roll over: the old segment is fsync'ed and closed, as a log rotation does.
      const synced = this.fs.fsync(stream.handle);
      if (synced.ok) for (const done of stream.unsynced) this.ack(`w${done}`, true);
      stream.unsynced.length = 0;
      this.fs.close(stream.handle);
      const next = this.openSegment(this.streams.indexOf(stream), stream.segment + 1);
      if (typeof next === 'string') {
        this.host.history.record({ kind: 'app.error', subject: `${this.host.vmId}/files`, data: { op: 'roll', error: next } });
        this.running = false;
        return;
      }
      Object.assign(stream, next);
    }
    const written = this.fs.write(stream.handle, stream.sizeBytes, record);
    if (!written.ok) {
      // Out of space or similar: the program stops (it never acknowledges a failed write).
      this.host.history.record({ kind: 'app.error', subject: `${this.host.vmId}/files`, data: { op: 'write', error: written.error.kind } });
      this.running = false;
      return;
    }
    this.nextId++;
    this.opCount++;
    stream.sizeBytes += record.length;
    this.ack(`w${id}`, false);
    stream.unsynced.push(id);
    if (this.options.fsyncEvery > 0 && this.opCount % this.options.fsyncEvery === 0) {
      const synced = this.fs.fsync(stream.handle);
      if (synced.ok) {
        for (const done of stream.unsynced) this.ack(`w${done}`, true);
        stream.unsynced.length = 0;
      }
    }
    this.scheduleNext();
  }

  private ack(id: string, durable: boolean): void {
    this.acks.push({ app: 'files', id, timeUs: this.host.clock.nowUs(), durable });
    this.host.history.record({ kind: 'app.commit', subject: `${this.host.vmId}/files`, data: { id, durable } });
  }

  private assertAlive(): void {
    assert(!this.dead, 'the files app is dead (crashed or shut down)');
  }
}

export function filesAppFactory(options: FilesAppOptions = DEFAULT_FILES_OPTIONS): (host: AppHost) => GuestApp {
  return (host) => new FilesApp(host, options);
}

export const createFilesApp = filesAppFactory();
