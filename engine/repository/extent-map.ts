/**
 * A disk's map: sorted, non-overlapping extents, each a byte range of the disk backed by a
 * range of one chunk (`chunkOffsetBytes` is non-zero when an incremental kept only part
 * of a parent's chunk). Ranges not in the map read as zeros (unallocated or all zero).
 *
 * Pure functions over sorted arrays; each runs in one merge pass, O(n + m), so an
 * incremental of a large disk costs what changed plus one walk of the parent's map.
 */

import { assert } from '../../core/assert.js';
import type { ChunkId } from './hash.js';

export interface MappedExtent {
  readonly offsetBytes: number;
  readonly lengthBytes: number;
  readonly chunkId: ChunkId;
  readonly chunkOffsetBytes: number;
}

export interface ByteRange {
  readonly offsetBytes: number;
  readonly lengthBytes: number;
}

export const endOf = (r: ByteRange): number => r.offsetBytes + r.lengthBytes;

/** `entry` cut down to [from, to), which must lie inside it. */
export function sliceExtent(entry: MappedExtent, from: number, to: number): MappedExtent {
  assert(from >= entry.offsetBytes && to <= endOf(entry) && from < to, `slice [${from}, ${to}) outside extent at ${entry.offsetBytes}+${entry.lengthBytes}`);
  return { offsetBytes: from, lengthBytes: to - from, chunkId: entry.chunkId, chunkOffsetBytes: entry.chunkOffsetBytes + (from - entry.offsetBytes) };
}

/** Sorted, with overlapping and touching ranges merged, empty ones dropped. */
export function normaliseRanges(ranges: readonly ByteRange[]): ByteRange[] {
  const sorted = ranges.filter((r) => r.lengthBytes > 0).sort((a, b) => a.offsetBytes - b.offsetBytes);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.offsetBytes <= endOf(last)) {
      out[out.length - 1] = { offsetBytes: last.offsetBytes, lengthBytes: Math.max(endOf(last), endOf(r)) - last.offsetBytes };
    } else {
      out.push(r);
    }
  }
  return out;
}

/** The parts of `entries` inside `ranges` (normalised). */
export function clipToRanges(entries: readonly MappedExtent[], ranges: readonly ByteRange[]): MappedExtent[] {
  const out: MappedExtent[] = [];
  let j = 0;
  for (const e of entries) {
    while (j < ranges.length && endOf(ranges[j] as ByteRange) <= e.offsetBytes) j++;
    for (let k = j; k < ranges.length; k++) {
      const r = ranges[k] as ByteRange;
      if (r.offsetBytes >= endOf(e)) break;
      out.push(sliceExtent(e, Math.max(e.offsetBytes, r.offsetBytes), Math.min(endOf(e), endOf(r))));
    }
  }
  return out;
}

/** The parts of `entries` outside `ranges` (normalised). */
export function subtractRanges(entries: readonly MappedExtent[], ranges: readonly ByteRange[]): MappedExtent[] {
  const out: MappedExtent[] = [];
  let j = 0;
  for (const e of entries) {
    while (j < ranges.length && endOf(ranges[j] as ByteRange) <= e.offsetBytes) j++;
    let at = e.offsetBytes;
    for (let k = j; k < ranges.length && at < endOf(e); k++) {
      const r = ranges[k] as ByteRange;
      if (r.offsetBytes >= endOf(e)) break;
      if (r.offsetBytes > at) out.push(sliceExtent(e, at, r.offsetBytes));
      at = Math.max(at, endOf(r));
    }
    if (at < endOf(e)) out.push(sliceExtent(e, at, endOf(e)));
  }
  return out;
}

/** Two sorted maps whose extents do not overlap each other, merged. */
export function mergeMaps(a: readonly MappedExtent[], b: readonly MappedExtent[]): MappedExtent[] {
  const out: MappedExtent[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && x.offsetBytes < y.offsetBytes)) {
      out.push(x as MappedExtent);
      i++;
    } else {
      out.push(y);
      j++;
    }
  }
  return out;
}

/** Undefined when the map is well formed within `capacityBytes`, else what is wrong. */
export function mapProblem(entries: readonly MappedExtent[], capacityBytes: number): string | undefined {
  let end = 0;
  for (const [i, e] of entries.entries()) {
    if (!Number.isSafeInteger(e.offsetBytes) || !Number.isSafeInteger(e.lengthBytes) || !Number.isSafeInteger(e.chunkOffsetBytes)) return `extent ${i}: not whole numbers`;
    if (e.lengthBytes <= 0 || e.chunkOffsetBytes < 0) return `extent ${i}: empty or negative`;
    if (e.offsetBytes < end) return `extent ${i} at ${e.offsetBytes} overlaps or is out of order`;
    end = endOf(e);
    if (end > capacityBytes) return `extent ${i} ends at ${end}, past the capacity ${capacityBytes}`;
  }
  return undefined;
}

/** Index of the first extent that ends after `offsetBytes` (binary search). */
export function firstExtentEndingAfter(entries: readonly MappedExtent[], offsetBytes: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (endOf(entries[mid] as MappedExtent) <= offsetBytes) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
