/**
 * Where a backup job puts what it reads: the repository's side of a RecoveryPoint being
 * written. Kept as a small interface so the job does not depend on how the repository
 * chunks, compresses and packs (engine/repository implements it).
 */

import type { Result } from '../../core/result.js';

export interface DiskSink {
  /**
   * Stores `bytes` as the disk's content at `offsetBytes`. Zeros are data too: in an
   * incremental they override the parent's content.
   */
  writeExtent(offsetBytes: number, bytes: Uint8Array): Promise<void>;
}

export interface PointSink {
  /**
   * Opens a disk of the point. `fromParent`: start from the parent point's content of the
   * same disk (an incremental writes only what changed); otherwise the disk starts empty
   * (all zeros: a full backup skips unallocated and zero regions). Opening a disk again
   * starts it over (what was written to it before is dropped).
   */
  disk(diskId: string, capacityBytes: number, fromParent: boolean): Promise<DiskSink>;
  /** Publishes the point (its metadata last); returns its id. Nothing is visible before. */
  commit(meta: unknown): Promise<Result<string, string>>;
  /** Drops everything written (a failed job); idempotent. */
  abort(): Promise<void>;
}

/** A parent the next incremental starts from: its id and each disk's CBT change id. */
export interface ParentPoint {
  readonly pointId: string;
  readonly vmId: string;
  readonly changeIds: Readonly<Record<string, string>>;
}

export interface BackupTarget {
  begin(vmId: string, parent: ParentPoint | null): Promise<PointSink>;
}
