/**
 * A writable scratch view of a read-only image: reads fall through to the image, writes
 * land in memory (4 KiB grains). Mounting a snapshot's image here (journal replay, an
 * application's crash recovery) never changes the snapshot: this is the isolated lab in
 * which an image is inspected. No volatile cache: every write is durable at once.
 */

import { assert } from '../../core/assert.js';
import { GRAIN_BYTES, type BlockDevice, type BlockReader } from './types.js';

export class OverlayDevice implements BlockDevice {
  readonly capacityBytes: number;
  readonly sectorSizeBytes: BlockReader['sectorSizeBytes'];
  private readonly grains = new Map<number, Uint8Array>();

  constructor(private readonly base: BlockReader) {
    this.capacityBytes = base.capacityBytes;
    this.sectorSizeBytes = base.sectorSizeBytes;
  }

  get writtenGrains(): number {
    return this.grains.size;
  }

  read(offsetBytes: number, lengthBytes: number): Uint8Array {
    this.check(offsetBytes, lengthBytes);
    const out = this.base.read(offsetBytes, lengthBytes);
    if (this.grains.size === 0 || lengthBytes === 0) return out;
    const first = Math.floor(offsetBytes / GRAIN_BYTES);
    const last = Math.floor((offsetBytes + lengthBytes - 1) / GRAIN_BYTES);
    for (let g = first; g <= last; g++) {
      const grain = this.grains.get(g);
      if (grain === undefined) continue;
      const from = Math.max(offsetBytes, g * GRAIN_BYTES);
      const to = Math.min(offsetBytes + lengthBytes, (g + 1) * GRAIN_BYTES);
      out.set(grain.subarray(from - g * GRAIN_BYTES, to - g * GRAIN_BYTES), from - offsetBytes);
    }
    return out;
  }

  write(offsetBytes: number, data: Uint8Array): void {
    this.check(offsetBytes, data.length);
    for (let pos = offsetBytes; pos < offsetBytes + data.length;) {
      const g = Math.floor(pos / GRAIN_BYTES);
      const inGrain = pos - g * GRAIN_BYTES;
      const n = Math.min(GRAIN_BYTES - inGrain, offsetBytes + data.length - pos);
      let grain = this.grains.get(g);
      if (grain === undefined) {
        grain = this.base.read(g * GRAIN_BYTES, Math.min(GRAIN_BYTES, this.capacityBytes - g * GRAIN_BYTES));
        if (grain.length < GRAIN_BYTES) {
          const full = new Uint8Array(GRAIN_BYTES);
          full.set(grain);
          grain = full;
        }
        this.grains.set(g, grain);
      }
      grain.set(data.subarray(pos - offsetBytes, pos - offsetBytes + n), inGrain);
      pos += n;
    }
  }

  flush(): void {
    // Nothing volatile: writes are in memory and stay until the overlay is dropped.
  }

  private check(offsetBytes: number, lengthBytes: number): void {
    assert(offsetBytes >= 0 && lengthBytes >= 0 && offsetBytes + lengthBytes <= this.capacityBytes && offsetBytes % this.sectorSizeBytes === 0 && lengthBytes % this.sectorSizeBytes === 0,
      `overlay I/O of ${lengthBytes} bytes at ${offsetBytes}: not sector-aligned or outside [0, ${this.capacityBytes})`);
  }
}
