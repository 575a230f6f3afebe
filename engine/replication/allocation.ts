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
 * - every bitmap block image the journal area holds: a transaction committed to the journal
 *   but not yet checkpointed may allocate a block whose data was already written in place
 *   (the bitmap on disk still says free; the journal's replay on the replica's first boot
 *   will say used). Reading the journal's images without checking which transactions are
 *   live over-approximates, which only ever copies more.
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
import { BITS_PER_BITMAP_BLOCK, BLOCK_BYTES, checkHeader, decodeSuperblock, HEADER_BYTES, type Geometry } from '../restore/guestfs/format.js';

export interface Area {
  readonly startBytes: number;
  readonly lengthBytes: number;
}

/** Reads `count` blocks from block `first` of the snapshot's disk, or null when the port refuses. */
async function readBlocks(port: HypervisorPort, vmId: VmId, snapshotId: SnapshotId, diskId: VmDiskInfo['diskId'], first: number, count: number): Promise<Uint8Array | null> {
  const bytes = await port.readSnapshotDisk(vmId, snapshotId, diskId, first * BLOCK_BYTES, count * BLOCK_BYTES);
  return bytes.ok ? bytes.value : null;
}

/** The newest valid superblock's geometry, or null. */
function geometryOf(head: Uint8Array, capacityBlocks: number): Geometry | null {
  let best: { seq: number; g: Geometry } | null = null;
  for (const copy of [0, 1]) {
    const sb = decodeSuperblock(head.subarray(copy * BLOCK_BYTES, (copy + 1) * BLOCK_BYTES), copy, capacityBlocks);
    if (sb.ok && (best === null || sb.value.seq > best.seq)) best = { seq: sb.value.seq, g: sb.value.geometry };
  }
  return best?.g ?? null;
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
export async function usedAreas(port: HypervisorPort, vmId: VmId, snapshotId: SnapshotId, disk: VmDiskInfo): Promise<Area[] | null> {
  assert(disk.capacityBytes > 0, `disk ${disk.diskId} has no capacity`);
  const capacityBlocks = Math.floor(disk.capacityBytes / BLOCK_BYTES);
  if (capacityBlocks < 2) return null;
  const head = await readBlocks(port, vmId, snapshotId, disk.diskId, 0, 2);
  if (head === null) return null;
  const g = geometryOf(head, capacityBlocks);
  if (g === null) return null;
  const used = new Uint8Array(g.totalBlocks);
  used.fill(1, 0, g.dataStart);
  const bitmap = await readBlocks(port, vmId, snapshotId, disk.diskId, g.bitmapStart, g.bitmapBlocks);
  if (bitmap === null) return null;
  for (let i = 0; i < g.bitmapBlocks; i++) {
    if (!orBitmap(g, i, bitmap.subarray(i * BLOCK_BYTES, (i + 1) * BLOCK_BYTES), used)) return null;
  }
  const journal = await readBlocks(port, vmId, snapshotId, disk.diskId, g.journalStart, g.journalBlocks);
  if (journal === null) return null;
  for (let j = 0; j < g.journalBlocks; j++) {
    const image = journal.subarray(j * BLOCK_BYTES, (j + 1) * BLOCK_BYTES);
    const own = new DataView(image.buffer, image.byteOffset, image.byteLength).getUint32(8, true);
    if (own >= g.bitmapStart && own < g.bitmapStart + g.bitmapBlocks) orBitmap(g, own - g.bitmapStart, image, used);
  }
  return areasOf(used, disk.capacityBytes);
}

/** Bytes of `areas`. */
export function areaBytes(areas: readonly Area[]): number {
  return areas.reduce((n, a) => n + a.lengthBytes, 0);
}
