/**
 * The truth white-space skipping is judged against: which 4 KiB blocks of a disk image the
 * guest file system uses — the metadata area, the bitmap on disk, and the bitmap after the
 * journal's committed transactions are replayed (a block allocated by a committed but not
 * yet checkpointed transaction is used: the replica's first boot replays it). Read with
 * the simulator's own decoder (sim/guest/fs-volume.ts), independent of the engine's.
 *
 * Leaves out: images without a file system (null: every block counts as used).
 */

import { BLOCK_BYTES } from '../../sim/guest/fs-format.js';
import { decodeVolume, openVolume, readSuperblock } from '../../sim/guest/fs-volume.js';
import type { BlockReader } from '../../sim/storage/types.js';

/** used[b] === 1 for each used block, or null when the image holds no readable file system. */
export function allocatedBlocks(image: BlockReader): Uint8Array | null {
  const choice = readSuperblock(image);
  if (!choice.ok) return null;
  const g = choice.value.sb.geometry;
  const used = new Uint8Array(Math.ceil(image.capacityBytes / BLOCK_BYTES));
  used.fill(1, 0, g.dataStart);
  const raw = decodeVolume(image, g).volume.used;
  for (let b = 0; b < raw.length; b++) if (raw[b] === 1) used[b] = 1;
  const replayed = openVolume(image, { replay: true });
  if (replayed.ok) {
    const after = replayed.value.volume.used;
    for (let b = 0; b < after.length; b++) if (after[b] === 1) used[b] = 1;
  }
  return used;
}
