/**
 * Backs up one raw disk image into a RecoveryPoint: read in steps from an ImageSource,
 * streamed into a PointWriter. Two ways:
 *
 * - full read (no changedExtents): every byte is read, chunked and hashed; chunks already
 *   in the repository are reused, so an unchanged region costs a read and a hash, not a
 *   store. This is how `quiescelab backup-image` backs up a changed file (like restic).
 * - changed extents (CBT): with a parent, only the listed ranges are read; the rest of the
 *   disk is copied from the parent's map without reading it. The changed ranges are
 *   chunked on their own, so a 4 KiB change stores a 4 KiB chunk (not the 1 MiB chunk
 *   around it); the price is a map that slices the parent's chunks (see extent-map.ts).
 *
 * The source does the I/O (the CLI reads a file; the simulator reads a snapshot).
 */

import { assert, assertInt } from '../../core/assert.js';
import type { DiskId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import { endOf, normaliseRanges, type ByteRange } from './extent-map.js';
import type { RecoveryPointId } from './hash.js';
import type { RecoveryPointMeta } from './manifest.js';
import type { CommitResult, PointWriter } from './point-writer.js';
import type { Repository, RepoError } from './repository.js';

export interface ImageSource {
  readonly capacityBytes: number;
  /**
   * Exactly `lengthBytes` bytes at `offsetBytes`, or why not. The bytes need to stay as
   * they are only until the next read is asked for (a source may reuse one buffer); that
   * read starts while the writer still hashes and stores the previous step.
   */
  read(offsetBytes: number, lengthBytes: number): Promise<Result<Uint8Array, string>>;
}

export interface ImageBackupOptions {
  readonly diskId: DiskId;
  readonly meta: RecoveryPointMeta;
  readonly parent?: RecoveryPointId;
  /** Needs `parent`: the ranges that changed since it (changed block tracking). */
  readonly changedExtents?: readonly ByteRange[];
  /** Bytes per read (default 8 MiB). */
  readonly readStepBytes?: number;
  /** Called after the last read, before the commit: the metadata to publish (timings, a source that changed meanwhile). */
  readonly metaAtCommit?: (meta: RecoveryPointMeta) => Promise<RecoveryPointMeta>;
}

export const DEFAULT_READ_STEP_BYTES = 8 * 1024 * 1024;

async function copyRange(writer: PointWriter, source: ImageSource, diskId: DiskId, range: ByteRange, stepBytes: number): Promise<Result<void, RepoError>> {
  const steps = Math.ceil(range.lengthBytes / stepBytes);
  const offsetOf = (i: number): number => range.offsetBytes + i * stepBytes;
  const read = (i: number): Promise<Result<Uint8Array, string>> => source.read(offsetOf(i), Math.min(stepBytes, endOf(range) - offsetOf(i)));
  let next = steps > 0 ? read(0) : undefined;
  for (let i = 0; i < steps; i++) {
    const offsetBytes = offsetOf(i);
    const bytes = await (next as Promise<Result<Uint8Array, string>>);
    next = undefined;
    if (!bytes.ok) return err({ kind: 'source-read', offsetBytes, reason: bytes.error });
    assert(bytes.value.length === Math.min(stepBytes, endOf(range) - offsetBytes), `the source returned ${bytes.value.length} bytes for ${Math.min(stepBytes, endOf(range) - offsetBytes)}`);
    // writeExtent copies the bytes before it returns, so the next read (into the same
    // buffer, for a source that reuses one) runs while this step is hashed and stored.
    const written = writer.writeExtent(diskId, offsetBytes, bytes.value);
    if (i + 1 < steps) next = read(i + 1);
    const done = await written;
    if (!done.ok) {
      await next?.catch(() => undefined); // nothing is left reading after a failure
      return done;
    }
  }
  return ok(undefined);
}

export async function backupImage(repo: Repository, source: ImageSource, options: ImageBackupOptions): Promise<Result<CommitResult, RepoError>> {
  const stepBytes = assertInt(options.readStepBytes ?? DEFAULT_READ_STEP_BYTES, 4096, 256 * 1024 * 1024, 'readStepBytes');
  assert(options.changedExtents === undefined || options.parent !== undefined, 'changedExtents need a parent');
  const begun = await repo.beginPoint(options.meta, options.parent === undefined ? {} : { parent: options.parent });
  if (!begun.ok) return begun;
  const writer = begun.value;
  writer.writeDisk(options.diskId, source.capacityBytes);
  let ranges: ByteRange[];
  if (options.changedExtents === undefined) {
    ranges = [{ offsetBytes: 0, lengthBytes: source.capacityBytes }];
  } else {
    const parentCapacity = writer.parentCapacityBytes(options.diskId);
    assert(parentCapacity !== undefined, `the parent has no disk ${options.diskId}`);
    const shared = Math.min(parentCapacity, source.capacityBytes);
    writer.copyFromParent(options.diskId, 0, shared);
    const changed = options.changedExtents
      .map((r) => ({ offsetBytes: r.offsetBytes, lengthBytes: Math.max(0, Math.min(endOf(r), source.capacityBytes) - r.offsetBytes) }));
    // A disk that grew since the parent: the new tail is read whole.
    if (source.capacityBytes > shared) changed.push({ offsetBytes: shared, lengthBytes: source.capacityBytes - shared });
    ranges = normaliseRanges(changed);
  }
  for (const range of ranges) {
    const copied = await copyRange(writer, source, options.diskId, range, stepBytes);
    if (!copied.ok) {
      writer.abort();
      return copied;
    }
  }
  const finalMeta = options.metaAtCommit === undefined ? options.meta : await options.metaAtCommit(options.meta);
  return writer.commit({ meta: finalMeta });
}
