/**
 * What a restore reads from: one RecoveryPoint's disks (the repository implements it).
 * `extents` lists where the point holds data (everything else reads as zeros), so a
 * restore writes only those.
 */

export interface PointDisk {
  readonly diskId: string;
  readonly capacityBytes: number;
}

export interface PointSource {
  readonly pointId: string;
  disks(): readonly PointDisk[];
  /** Data-holding extents of a disk, sorted, non-overlapping. */
  extents(diskId: string): Promise<readonly { readonly startBytes: number; readonly lengthBytes: number }[]>;
  read(diskId: string, offsetBytes: number, lengthBytes: number): Promise<Uint8Array>;
}
