/**
 * The storage contract the guest and the hypervisor model build on. A BlockReader reads a
 * fixed-size image (a disk, a snapshot's frozen view, a restored raw image); a BlockDevice
 * also writes and flushes. Offsets and lengths are bytes, sector-aligned for devices.
 */

import type { ChangeId, DiskId, SnapshotId } from '../../core/ids.js';
import type { Result } from '../../core/result.js';

export const GRAIN_BYTES = 4096;
export type SectorSizeBytes = 512 | 4096;

export interface BlockReader {
  readonly capacityBytes: number;
  readonly sectorSizeBytes: SectorSizeBytes;
  /** A fresh copy of `lengthBytes` from `offsetBytes`; never-written areas read as zeros. */
  read(offsetBytes: number, lengthBytes: number): Uint8Array;
}

export interface WriteOptions {
  /** Force Unit Access: this write is durable when it returns, cache or not. */
  readonly fua?: boolean;
}

export interface BlockDevice extends BlockReader {
  /**
   * Acknowledged on return; durable only after flush (or at once with FUA / no cache).
   * The device copies `data`: the caller may reuse the buffer once this returns.
   */
  write(offsetBytes: number, data: Uint8Array, options?: WriteOptions): void;
  /** Optional: what `read` returns, copied into `out` (all of it) instead of a fresh buffer. */
  readInto?(offsetBytes: number, out: Uint8Array): void;
  /** Makes every acknowledged write durable (unless the disk lies about flush). */
  flush(): void;
}

/** What survives a power loss of what sat in the volatile write cache. */
export interface PowerLossPlan {
  /** Each cached write independently reaches the platter with this probability (0..1). */
  readonly persistFraction: number;
  /** One of the persisted writes lands torn: a prefix ending inside one sector. */
  readonly tearOneSector: boolean;
}

/** The real CBT bugs of notes fact 20, each a switchable fault. */
export interface CbtFaults {
  /** Growing a disk across a 128 GiB boundary silently loses tracked changes. */
  readonly growPast128GiB?: boolean;
  /** Writes made while a snapshot consolidates are not tracked (ESXi 6.0). */
  readonly consolidationLosesChanges?: boolean;
  /** CBT enabled while snapshots exist loses the changes of those deltas when they consolidate. */
  readonly enableWithSnapshots?: boolean;
}

export interface DiskFaults {
  /** Lying hardware: flush returns success and makes nothing durable. */
  readonly ignoreFlush?: boolean;
  /** Applied at the next power loss; without it, everything volatile is dropped. */
  readonly powerLoss?: PowerLossPlan;
  readonly cbt?: CbtFaults;
}

export type { ChangedArea, ChangedAreasPage } from '../../core/hypervisor-port.js';
import type { ChangedAreasPage } from '../../core/hypervisor-port.js';

export type CbtError =
  | { readonly kind: 'cbt-disabled'; readonly diskId: DiskId }
  | { readonly kind: 'invalid-change-id'; readonly diskId: DiskId; readonly changeId: string; readonly reason: string }
  | { readonly kind: 'unknown-snapshot'; readonly diskId: DiskId; readonly snapshotId: SnapshotId }
  | { readonly kind: 'offset-out-of-range'; readonly diskId: DiskId; readonly startOffsetBytes: number };

export type CbtQuery = Result<ChangedAreasPage, CbtError>;

export interface ChangeTracking {
  /** Starts a new epoch; earlier change ids become invalid. Returns the current change id. */
  enableChangeTracking(): ChangeId;
  disableChangeTracking(): void;
  readonly changeTrackingEnabled: boolean;
  /** The change id of a snapshot, or undefined when CBT was off when it was taken. */
  snapshotChangeId(snapshotId: SnapshotId): ChangeId | undefined;
  /**
   * Areas changed between `changeId` and the snapshot (`'*'`: every allocated area of the
   * snapshot's view), from `startOffsetBytes` on. Paged: repeat from the returned end until
   * the capacity is covered.
   */
  queryChangedDiskAreas(snapshotId: SnapshotId, startOffsetBytes: number, changeId: ChangeId | '*'): CbtQuery;
}
