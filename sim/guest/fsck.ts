/**
 * fsck for qfs images: a pure, read-only check of a raw image (a disk, a snapshot's view,
 * a restored image). Replay happens in a read overlay, so the image is never modified.
 *
 * Models: e2fsck's passes in one sweep over the decoded volume: superblock (newest valid
 * copy), journal (committed transactions pending = needs replay), every metadata CRC and
 * header (fs-volume), extents inside the data area and within file sizes, no block owned
 * twice, the bitmap equal to the set of referenced blocks, directory entries naming in-use
 * inodes, parent pointers, link counts, and every in-use inode reachable from the root.
 * Verdict: 'corrupt' when any check fails (after replay, if replay was needed), else
 * 'needs-replay' when committed transactions were pending, else 'clean'.
 *
 * Leaves out: repair, checks of file data (qfs keeps no data checksums, so stale or
 * garbage data blocks are invisible here), free-inode counts (none are stored).
 */

import type { BlockReader } from '../storage/types.js';
import { openVolume, type Volume } from './fs-volume.js';

export type FsckState = 'clean' | 'needs-replay' | 'corrupt';

export interface FsckReport {
  readonly state: FsckState;
  readonly problems: readonly string[];
  /** Committed transactions that replay applied (in the overlay). */
  readonly replayedTransactions: number;
  /** The superblock's clean flag (set by unmount and freeze); informational. */
  readonly cleanFlag: boolean;
  readonly files: number;
  readonly dirs: number;
  readonly usedBlocks: number;
}

/** Most problems listed one by one; past it, one summary line says how many more. */
const MAX_LISTED_PROBLEMS = 100;

/**
 * The cross-structure checks over a decoded volume (fs-volume did the per-structure ones).
 * Returns problems; empty means consistent. Also used by mount to refuse a broken volume.
 */
export function volumeProblems(volume: Volume, rootIno: number): string[] {
  const problems: string[] = [];
  const g = volume.geometry;
  const { inodes, used, dirs } = volume;
  const root = inodes[rootIno];
  if (root?.type !== 'dir') {
    problems.push(`root inode ${rootIno} is not a directory`);
    return problems;
  }
  if (root.parentIno !== rootIno) problems.push(`root's parent is ${root.parentIno}`);

  // Block ownership: each data-area block belongs to at most one inode.
  const owner = new Uint32Array(g.totalBlocks);
  const claim = (blockNo: number, ino: number, what: string): void => {
    const previous = owner[blockNo] ?? 0;
    if (previous !== 0) problems.push(`block ${blockNo} owned twice: inode ${previous} and inode ${ino} (${what})`);
    else owner[blockNo] = ino;
  };
  for (let ino = 1; ino < inodes.length; ino++) {
    const inode = inodes[ino];
    if (inode === undefined || inode.type === 'free') continue;
    for (const e of inode.extents) for (let k = 0; k < e.length; k++) claim(e.physical + k, ino, 'extent');
    if (inode.extentBlock !== 0) claim(inode.extentBlock, ino, 'extent block');
  }

  // Bitmap equals the referenced set (metadata regions always in use).
  let leaked = 0;
  let unmarked = 0;
  for (let b = 0; b < g.totalBlocks; b++) {
    const isUsed = used[b] === 1;
    if (b < g.dataStart) {
      if (!isUsed) problems.push(`reserved block ${b} marked free`);
      continue;
    }
    const referenced = (owner[b] ?? 0) !== 0;
    if (isUsed && !referenced) {
      if (leaked++ < 10) problems.push(`block ${b} marked in use but not referenced`);
    } else if (!isUsed && referenced) {
      if (unmarked++ < 10) problems.push(`block ${b} referenced by inode ${owner[b]} but marked free`);
    }
  }
  if (leaked > 10) problems.push(`${leaked - 10} more blocks marked in use but not referenced`);
  if (unmarked > 10) problems.push(`${unmarked - 10} more referenced blocks marked free`);

  // Directory entries, parent pointers, link counts.
  const refs = new Uint32Array(inodes.length);
  const subdirs = new Uint32Array(inodes.length);
  for (const [dirIno, blocks] of dirs) {
    for (const block of blocks) {
      for (const entry of block.slots) {
        if (entry === undefined) continue;
        const child = inodes[entry.ino];
        if (child === undefined || child.type === 'free') {
          problems.push(`directory ${dirIno}: entry '${entry.name}' names free inode ${entry.ino}`);
          continue;
        }
        refs[entry.ino] = (refs[entry.ino] ?? 0) + 1;
        if (child.type === 'dir') {
          subdirs[dirIno] = (subdirs[dirIno] ?? 0) + 1;
          if (child.parentIno !== dirIno) problems.push(`directory ${entry.ino} ('${entry.name}') sits in ${dirIno} but names parent ${child.parentIno}`);
          if (entry.ino === rootIno) problems.push(`root directory linked as '${entry.name}' in ${dirIno}`);
        }
      }
    }
  }
  for (let ino = 1; ino < inodes.length; ino++) {
    const inode = inodes[ino];
    if (inode === undefined || inode.type === 'free') continue;
    const r = refs[ino] ?? 0;
    if (inode.type === 'file') {
      if (inode.linkCount !== r) problems.push(`inode ${ino}: link count ${inode.linkCount}, ${r} directory entries`);
    } else {
      if (ino !== rootIno && r !== 1) problems.push(`directory ${ino}: ${r} entries name it (must be 1)`);
      const expected = 2 + (subdirs[ino] ?? 0);
      if (inode.linkCount !== expected) problems.push(`directory ${ino}: link count ${inode.linkCount}, expected ${expected}`);
    }
  }

  // Reachability from the root (bounded: each inode is visited at most once).
  const seen = new Uint8Array(inodes.length);
  const queue: number[] = [rootIno];
  seen[rootIno] = 1;
  for (let head = 0; head < queue.length; head++) {
    const dirIno = queue[head] as number;
    for (const block of dirs.get(dirIno) ?? []) {
      for (const entry of block.slots) {
        if (entry === undefined || seen[entry.ino] === 1) continue;
        const child = inodes[entry.ino];
        if (child === undefined || child.type === 'free') continue;
        seen[entry.ino] = 1;
        if (child.type === 'dir') queue.push(entry.ino);
      }
    }
  }
  for (let ino = 1; ino < inodes.length; ino++) {
    const inode = inodes[ino];
    if (inode !== undefined && inode.type !== 'free' && seen[ino] !== 1) problems.push(`inode ${ino} (${inode.type}) is not reachable from the root`);
  }
  return problems;
}

function capped(problems: readonly string[]): string[] {
  if (problems.length <= MAX_LISTED_PROBLEMS) return [...problems];
  return [...problems.slice(0, MAX_LISTED_PROBLEMS), `${problems.length - MAX_LISTED_PROBLEMS} more problems`];
}

/** Checks the image `reader` shows. Never writes. */
export function fsck(reader: BlockReader): FsckReport {
  const opened = openVolume(reader, { replay: true });
  if (!opened.ok) {
    const problems = opened.error.kind === 'no-filesystem' ? opened.error.problems : ['journal replay refused'];
    return { state: 'corrupt', problems: capped(problems), replayedTransactions: 0, cleanFlag: false, files: 0, dirs: 0, usedBlocks: 0 };
  }
  const { volume, sb } = opened.value;
  const problems = [...opened.value.problems, ...volumeProblems(volume, sb.rootIno)];
  let files = 0;
  let dirs = 0;
  for (const inode of volume.inodes) {
    if (inode.type === 'file') files++;
    else if (inode.type === 'dir') dirs++;
  }
  let usedBlocks = 0;
  for (const u of volume.used) usedBlocks += u;
  const replayed = opened.value.replayedTransactions;
  const state: FsckState = problems.length > 0 ? 'corrupt' : replayed > 0 ? 'needs-replay' : 'clean';
  return { state, problems: capped(problems), replayedTransactions: replayed, cleanFlag: sb.clean, files, dirs, usedBlocks };
}
