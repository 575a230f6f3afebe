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
  /** Exactly `lengthBytes` bytes at `offsetBytes`, or why not. */
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
  for (let i = 0; i < steps; i++) {
    const offsetBytes = range.offsetBytes + i * stepBytes;
    const lengthBytes = Math.min(stepBytes, endOf(range) - offsetBytes);
    const bytes = await source.read(offsetBytes, lengthBytes);
    if (!bytes.ok) return err({ kind: 'source-read', offsetBytes, reason: bytes.error });
    assert(bytes.value.length === lengthBytes, `the source returned ${bytes.value.length} bytes for ${lengthBytes}`);
    const written = await writer.writeExtent(diskId, offsetBytes, bytes.value);
    if (!written.ok) return written;
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
