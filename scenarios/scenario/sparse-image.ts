/**
 * A disk image kept as its non-zero 4 KiB grains: the reference image of a VmSnapshot and
 * the image a restore reads back, compared by content (an all-zero grain equals an
 * unallocated one) and inspected in the lab as a BlockReader, without materialising the
 * whole disk. Leaves out: images larger than memory.
 */

import { createHash } from 'node:crypto';
import { assert } from '../../core/assert.js';
import { isAllZero } from '../../core/zero.js';
import { GRAIN_BYTES, type BlockReader, type SectorSizeBytes } from '../../sim/storage/types.js';

export class SparseImage implements BlockReader {
  private readonly grains = new Map<number, Uint8Array>();

  constructor(readonly capacityBytes: number, readonly sectorSizeBytes: SectorSizeBytes) {}

  /** Stores one whole grain (zeros are dropped). */
  putGrain(grain: number, bytes: Uint8Array): void {
    assert(bytes.length === GRAIN_BYTES, 'a whole grain');
    if (isAllZero(bytes)) this.grains.delete(grain);
    else this.grains.set(grain, bytes);
  }

  /** Writes `bytes` at any offset (copied once: whole grains are kept as views of the copy). */
  write(offsetBytes: number, data: Uint8Array): void {
    assert(offsetBytes >= 0 && offsetBytes + data.length <= this.capacityBytes, 'write within the image');
    const bytes = data.slice();
    let pos = 0;
    while (pos < bytes.length) {
      const at = offsetBytes + pos;
      const grain = Math.floor(at / GRAIN_BYTES);
      const within = at - grain * GRAIN_BYTES;
      const n = Math.min(GRAIN_BYTES - within, bytes.length - pos);
      if (n === GRAIN_BYTES) {
        this.putGrain(grain, bytes.subarray(pos, pos + n));
      } else {
        const target = this.grains.get(grain)?.slice() ?? new Uint8Array(GRAIN_BYTES);
        target.set(bytes.subarray(pos, pos + n), within);
        this.putGrain(grain, target);
      }
      pos += n;
    }
  }

  read(offsetBytes: number, lengthBytes: number): Uint8Array {
    const out = new Uint8Array(lengthBytes);
    const first = Math.floor(offsetBytes / GRAIN_BYTES);
    const last = Math.floor((offsetBytes + lengthBytes - 1) / GRAIN_BYTES);
    for (let g = first; g <= last && lengthBytes > 0; g++) {
      const bytes = this.grains.get(g);
      if (bytes === undefined) continue;
      const start = Math.max(offsetBytes, g * GRAIN_BYTES);
      const end = Math.min(offsetBytes + lengthBytes, (g + 1) * GRAIN_BYTES);
      out.set(bytes.subarray(start - g * GRAIN_BYTES, end - g * GRAIN_BYTES), start - offsetBytes);
    }
    return out;
  }

  get nonZeroGrains(): number {
    return this.grains.size;
  }

  /** SHA-256 of the content (capacity, then each non-zero grain by index): equal images, equal digests. */
  digest(): string {
    const h = createHash('sha256').update(`${this.capacityBytes}\n`);
    for (const g of [...this.grains.keys()].sort((a, b) => a - b)) h.update(`${g}\n`).update(this.grains.get(g) as Uint8Array);
    return h.digest('hex');
  }

  /** An image of a disk snapshot's grains (one buffer for them all: a copy each would be an allocation each). */
  static fromGrains(capacityBytes: number, sectorSizeBytes: SectorSizeBytes, view: { readonly grains: Float64Array; copyInto(grain: number, out: Uint8Array, at: number): void }): SparseImage {
    const image = new SparseImage(capacityBytes, sectorSizeBytes);
    const all = new Uint8Array(view.grains.length * GRAIN_BYTES);
    view.grains.forEach((grain, k) => {
      view.copyInto(grain, all, k * GRAIN_BYTES);
      image.putGrain(grain, all.subarray(k * GRAIN_BYTES, (k + 1) * GRAIN_BYTES));
    });
    return image;
  }

  /** The first grain whose content differs (among the grains `where` keeps, default all), or -1 when the images are equal there. */
  static firstDifference(a: SparseImage, b: SparseImage, where: (grain: number) => boolean = () => true): number {
    if (a.capacityBytes !== b.capacityBytes) return 0;
    let first = -1;
    const consider = (g: number): void => { if (where(g) && (first < 0 || g < first)) first = g; };
    for (const [g, bytes] of a.grains) {
      const other = b.grains.get(g);
      if (other === undefined || Buffer.compare(bytes, other) !== 0) consider(g);
    }
    for (const g of b.grains.keys()) if (!a.grains.has(g)) consider(g);
    return first;
  }
}
