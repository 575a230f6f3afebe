/**
 * Journal replay for reading: finds the committed transactions from the superblock's tail
 * and maps every block they carry to its newest journal copy. The map is the replay; the
 * image is never written (a RecoveryPoint is read-only, and a crash-consistent point
 * needs the replay to show the tree the guest would see after its own mount).
 *
 * Rules (the format's): transactions follow each other from the tail with consecutive
 * sequence numbers; one is committed when its commit record carries the same sequence,
 * the same count and the CRC32 of the descriptor block and every image. The scan stops at
 * the first descriptor that is missing or of another sequence (the end of the log), at a
 * transaction without a valid commit (a crash during commit: it and all after it are
 * ignored), or after the whole journal was read once. A committed transaction naming a
 * block outside the bitmap, inode table or data area is corruption (an error naming the
 * descriptor's block), since applying it would put garbage where no metadata lives.
 *
 * Bounds: every transaction takes at least three journal blocks, so the loop runs at most
 * journalBlocks / 3 + 1 times, and no transaction may be larger than the journal.
 */

import { crc32 } from '../../../core/crc32.js';
import { err, ok, type Result } from '../../../core/result.js';
import type { BlockReader, SourceError } from './block-reader.js';
import { decodeCommit, decodeDescriptor, type Corrupt, type Superblock } from './format.js';

export interface JournalReplay {
  /** Home block -> absolute journal block of its newest committed image. */
  readonly overlay: ReadonlyMap<number, number>;
  readonly transactions: number;
  /** Why the scan stopped (informational). */
  readonly stopReason: 'end' | 'uncommitted' | 'wrapped';
}

export type JournalError = SourceError | ({ readonly kind: 'corrupt' } & Corrupt);

export async function scanJournal(reader: BlockReader, sb: Superblock): Promise<Result<JournalReplay, JournalError>> {
  const g = sb.geometry;
  const size = g.journalBlocks;
  const abs = (pos: number): number => g.journalStart + (pos % size);
  const overlay = new Map<number, number>();
  let pos = sb.journalTailPos % size;
  let seq = sb.journalTailSeq;
  let used = 0;
  let transactions = 0;
  let stopReason: JournalReplay['stopReason'] = 'wrapped';
  const maxSteps = Math.floor(size / 3) + 1;
  for (let step = 0; step <= maxSteps; step++) {
    if (used + 3 > size) break;
    const descriptorAt = abs(pos);
    const descriptorBlock = await reader.raw(descriptorAt);
    if (!descriptorBlock.ok) return descriptorBlock;
    const descriptor = decodeDescriptor(descriptorBlock.value, descriptorAt);
    if (!descriptor.ok || descriptor.value.seq !== seq) {
      stopReason = 'end';
      break;
    }
    const targets = descriptor.value.targets;
    const n = targets.length;
    if (used + n + 2 > size) {
      stopReason = 'uncommitted';
      break;
    }
    let checksum = crc32(descriptorBlock.value);
    for (let i = 0; i < n; i++) {
      const image = await reader.raw(abs(pos + 1 + i));
      if (!image.ok) return image;
      checksum = crc32(image.value, checksum);
    }
    const commitAt = abs(pos + 1 + n);
    const commitBlock = await reader.raw(commitAt);
    if (!commitBlock.ok) return commitBlock;
    const commit = decodeCommit(commitBlock.value, commitAt);
    if (!commit.ok || commit.value.seq !== seq || commit.value.count !== n || commit.value.checksum !== checksum) {
      stopReason = 'uncommitted';
      break;
    }
    for (const target of targets) {
      if (target < g.bitmapStart || target >= g.totalBlocks) {
        return err({ kind: 'corrupt', block: descriptorAt, structure: 'journalDescriptor', reason: `committed transaction ${seq} targets block ${target} outside the metadata regions` });
      }
    }
    targets.forEach((target, i) => { overlay.set(target, abs(pos + 1 + i)); });
    transactions++;
    pos = (pos + n + 2) % size;
    used += n + 2;
    seq++;
  }
  return ok({ overlay, transactions, stopReason });
}
