/**
 * Buffers for a writer's bytes on their way to packs (chunks, packs). A fresh large
 * buffer costs page faults and garbage collection (every byte of a full backup passes
 * through one); a BufferPool hands out buffers given back earlier instead. Used by the
 * writers that have chunk workers (pack-writer.ts), which give a buffer back only once
 * nothing refers to its bytes any more. Pooled buffers are ArrayBuffers, moved to a worker
 * and back (SharedArrayBuffers were measured: fewer scavenges on the writer's thread, but
 * no less CPU in all, and no detaching to catch a buffer used while a worker has it).
 *
 * Leaves out: shrinking (a pool keeps at most POOL_MAX_FREE buffers) and zeroing (a buffer
 * handed out holds garbage: its user writes every byte it reads).
 */

/** A buffer of at least `minBytes` bytes (its length is the capacity; its contents are garbage). */
export type Allocate = (minBytes: number) => Uint8Array;

/** A fresh buffer of its own (never Node's shared pool, whose buffer holds other people's bytes). */
export const allocateUnpooled: Allocate = (minBytes) => Buffer.allocUnsafeSlow(minBytes);

/** Requests smaller than this are not pooled. */
const POOLED_MIN_BYTES = 1024 * 1024;
/** Pooled buffers are sized in steps of this (so a buffer fits the next request of about its size). */
const POOLED_STEP_BYTES = 4 * 1024 * 1024;
const POOL_MAX_FREE = 24;

export class BufferPool {
  private readonly free: ArrayBuffer[] = [];

  readonly allocate: Allocate = (minBytes) => {
    if (minBytes < POOLED_MIN_BYTES) return allocateUnpooled(minBytes);
    // The smallest free buffer that fits.
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const size = (this.free[i] as ArrayBuffer).byteLength;
      if (size >= minBytes && (best < 0 || size < (this.free[best] as ArrayBuffer).byteLength)) best = i;
    }
    if (best >= 0) return new Uint8Array(this.free.splice(best, 1)[0] as ArrayBuffer);
    return allocateUnpooled(Math.ceil(minBytes / POOLED_STEP_BYTES) * POOLED_STEP_BYTES);
  };

  /** Gives a buffer back (only those it handed out are kept): no view of it may be used afterwards. */
  give(buffer: ArrayBufferLike): void {
    if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < POOLED_MIN_BYTES || this.free.length >= POOL_MAX_FREE || this.free.includes(buffer)) return;
    this.free.push(buffer);
  }
}
