/**
 * White-space skipping (seed 002: vReplicator's Active Block Mapping): the areas of a disk
 * that the guest file system uses, read from the snapshot's own allocation map, so that
 * a replica's first cycle copies only those. Blocks the file system does not use are
 * skipped; a used block is copied even when it holds only zeros (a preallocated or
 * shredded file's blocks are data).
 *
 * The map is the union of
 * - the metadata area (superblocks, journal, bitmap, inode table: always copied);
 * - the on-disk bitmap;
 * - the bitmap after the journal's replay: a transaction committed to the journal but not
 *   yet checkpointed may allocate a block whose data was already written in place (the
 *   bitmap on disk still says free; the replay on the replica's first boot will say used).
 *   Only the live transactions count (engine/restore/guestfs/journal.ts, the reader's own
 *   scan): a stale bitmap image left in the journal from before a file was deleted does
 *   not keep the deleted file's blocks.
 *
 * A disk whose file system cannot be read (no superblock, a corrupt bitmap) has no map:
 * the caller copies it whole (null), and says so.
 *
 * Leaves out: partition tables (a cell's volume starts at the disk's first byte), other
 * file systems than the simulator's qfs.
 */

import { assert } from '../../core/assert.js';
import type { HypervisorPort, VmDiskInfo } from '../../core/hypervisor-port.js';
import type { SnapshotId, VmId } from '../../core/ids.js';
import { BITS_PER_BITMAP_BLOCK, BLOCK_BYTES, checkHeader, decodeSuperblock, HEADER_BYTES, type Geometry, type Superblock } from '../restore/guestfs/format.js';
import { BlockReader } from '../restore/guestfs/block-reader.js';
import { scanJournal } from '../restore/guestfs/journal.js';
import type { PointSource } from '../restore/source.js';

export interface Area {
  readonly startBytes: number;
  readonly lengthBytes: number;
}

/** Reads `count` blocks from block `first` of the snapshot's disk, or null when the port refuses. */
async function readBlocks(port: HypervisorPort, vmId: VmId, snapshotId: SnapshotId, diskId: VmDiskInfo['diskId'], first: number, count: number): Promise<Uint8Array | null> {
  const bytes = await port.readSnapshotDisk(vmId, snapshotId, diskId, first * BLOCK_BYTES, count * BLOCK_BYTES);
  return bytes.ok ? bytes.value : null;
}

/** The newest valid superblock, or null. */
function superblockOf(head: Uint8Array, capacityBlocks: number): Superblock | null {
  let best: Superblock | null = null;
  for (const copy of [0, 1]) {
    const sb = decodeSuperblock(head.subarray(copy * BLOCK_BYTES, (copy + 1) * BLOCK_BYTES), copy, capacityBlocks);
    if (sb.ok && (best === null || sb.value.seq > best.seq)) best = sb.value;
  }
  return best;
}

/** The snapshot's disk as the guest-fs reader's source (a refused read throws: the caller gives up the map). */
function snapshotSource(port: HypervisorPort, vmId: VmId, snapshotId: SnapshotId, disk: VmDiskInfo): PointSource {
  return {
    pointId: snapshotId,
    disks: () => [{ diskId: disk.diskId, capacityBytes: disk.capacityBytes }],
    extents: () => Promise.resolve([{ startBytes: 0, lengthBytes: disk.capacityBytes }]),
    read: async (_diskId, offsetBytes, lengthBytes) => {
      const bytes = await port.readSnapshotDisk(vmId, snapshotId, disk.diskId, offsetBytes, lengthBytes);
      if (!bytes.ok) throw new Error(`readSnapshotDisk: ${bytes.error.kind}`);
      return bytes.value;
    },
  };
}

/** The live journal transactions' newest bitmap images (home block -> image), or null when the journal cannot be read. */
async function journalBitmaps(port: HypervisorPort, vmId: VmId, snapshotId: SnapshotId, disk: VmDiskInfo, sb: Superblock): Promise<Map<number, Uint8Array> | null> {
  const g = sb.geometry;
  try {
    const reader = new BlockReader(snapshotSource(port, vmId, snapshotId, disk), disk.diskId, disk.capacityBytes);
    const scan = await scanJournal(reader, sb);
    if (!scan.ok) return null;
    const out = new Map<number, Uint8Array>();
    for (const [home, at] of scan.value.overlay) {
      if (home < g.bitmapStart || home >= g.bitmapStart + g.bitmapBlocks) continue;
      const image = await readBlocks(port, vmId, snapshotId, disk.diskId, at, 1);
      if (image === null) return null;
      out.set(home, image);
    }
    return out;
  } catch {
    return null;
  }
}

/** ORs the bits of bitmap block `index` (its image `block`) into `used`; false when it is not a valid bitmap block. */
function orBitmap(g: Geometry, index: number, block: Uint8Array, used: Uint8Array): boolean {
  if (!checkHeader(block, 'bitmap', g.bitmapStart + index).ok) return false;
  const first = index * BITS_PER_BITMAP_BLOCK;
  const count = Math.min(g.totalBlocks, first + BITS_PER_BITMAP_BLOCK) - first;
  for (let bit = 0; bit < count; bit++) {
    if (((block[HEADER_BYTES + (bit >>> 3)] as number) >>> (bit & 7)) & 1) used[first + bit] = 1;
  }
  return true;
}

/** Runs of used blocks as byte areas, sorted, inside the disk. */
function areasOf(used: Uint8Array, capacityBytes: number): Area[] {
  const out: Area[] = [];
  for (let b = 0; b < used.length;) {
    if (used[b] !== 1) { b++; continue; }
    let e = b;
    while (e < used.length && used[e] === 1) e++;
    const start = b * BLOCK_BYTES;
    out.push({ startBytes: start, lengthBytes: Math.min(e * BLOCK_BYTES, capacityBytes) - start });
    b = e;
  }
  return out;
}

/** The areas of `disk` its guest file system uses in the snapshot (see the header), or null when it has no readable one. */
export async function usedAreas(port: HypervisorPort, vmId: VmId, snapshotId: SnapshotId, disk: VmDiskInfo, options: { readonly journal: boolean } = { journal: true }): Promise<Area[] | null> {
  assert(disk.capacityBytes > 0, `disk ${disk.diskId} has no capacity`);
  const capacityBlocks = Math.floor(disk.capacityBytes / BLOCK_BYTES);
  if (capacityBlocks < 2) return null;
  const head = await readBlocks(port, vmId, snapshotId, disk.diskId, 0, 2);
  if (head === null) return null;
  const sb = superblockOf(head, capacityBlocks);
  if (sb === null) return null;
  const g = sb.geometry;
  const used = new Uint8Array(g.totalBlocks);
  used.fill(1, 0, g.dataStart);
  const bitmap = await readBlocks(port, vmId, snapshotId, disk.diskId, g.bitmapStart, g.bitmapBlocks);
  if (bitmap === null) return null;
  for (let i = 0; i < g.bitmapBlocks; i++) {
    if (!orBitmap(g, i, bitmap.subarray(i * BLOCK_BYTES, (i + 1) * BLOCK_BYTES), used)) return null;
  }
  const replayed = options.journal ? await journalBitmaps(port, vmId, snapshotId, disk, sb) : new Map<number, Uint8Array>();
  if (replayed === null) return null;
  for (const [home, image] of replayed) orBitmap(g, home - g.bitmapStart, image, used);
  return areasOf(used, disk.capacityBytes);
}

/** Bytes of `areas`. */
export function areaBytes(areas: readonly Area[]): number {
  return areas.reduce((n, a) => n + a.lengthBytes, 0);
}
