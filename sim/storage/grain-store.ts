/**
 * Sparse grain storage for one virtual disk and its snapshot chain (VMware-like redo logs).
 *
 * Models: a disk image as a linear chain of layers L0 (base) .. Ln (top, writable); each
 * layer maps 4 KiB grain indexes to slots in a shared slab pool, so only written grains
 * cost memory (a 2 TiB disk costs nothing until written) and a write is one Map lookup and
 * one byte copy. A read walks the chain top-down. Consolidation moves slot numbers between
 * layer maps instead of copying bytes, so it costs the smaller map's size, never the disk's.
 * The volatile cache above fills slots of the same pool, and a whole grain it persists is
 * adopted (its slot becomes the top layer's) instead of copied again.
 *
 * Leaves out: on-disk grain tables and their metadata I/O, fragmentation, returning empty
 * slabs to the allocator (freed slots are reused, slabs are kept), trees of snapshots.
 */

import { assert } from '../../core/assert.js';
import { GRAIN_BYTES } from './types.js';

export const GRAINS_PER_SLAB = 256;
/** 1 MiB: large enough that allocation is rare, small enough that a sparse disk stays cheap. */
export const SLAB_BYTES = GRAINS_PER_SLAB * GRAIN_BYTES;
/** 64 GiB of written grains per disk: a runaway writer fails loudly instead of swapping. */
export const MAX_SLABS = 65_536;
/** VMware's limit on the depth of a snapshot chain; also bounds every top-down chain walk. */
export const MAX_CHAIN_LAYERS = 33;

/** Fixed-size grain slots carved from 1 MiB slabs, with a free list for reuse. */
export class GrainPool {
  private readonly slabList: Uint8Array[] = [];
  private readonly freeSlots: number[] = [];
  /** Slots from here to the end of the last slab were never handed out. */
  private freshSlot = 0;
  private live = 0;

  /** A slot whose bytes are unspecified: the caller fills the whole grain. */
  allocate(): number {
    this.live++;
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    if (this.freshSlot === this.slabList.length * GRAINS_PER_SLAB) {
      assert(this.slabList.length < MAX_SLABS, `grain pool exhausted (${MAX_SLABS} slabs)`);
      this.slabList.push(new Uint8Array(SLAB_BYTES));
    }
    return this.freshSlot++;
  }

  release(slot: number): void {
    assert(this.live > 0, 'release without a live slot');
    this.live--;
    this.freeSlots.push(slot);
  }

  /** The slab holding `slot`; the grain starts at `slotOffset(slot)`. */
  slab(slot: number): Uint8Array {
    const slab = this.slabList[slot >>> 8];
    if (slab === undefined) assert(false, `slot ${slot} outside the pool`);
    return slab;
  }

  get liveSlots(): number {
    return this.live;
  }

  get slabBytes(): number {
    return this.slabList.length * SLAB_BYTES;
  }
}

export function slotOffset(slot: number): number {
  return (slot & (GRAINS_PER_SLAB - 1)) * GRAIN_BYTES;
}

/** An overlay grain: its image's slot in the pool, the live cached writes touching it, and whether the overlay owns the slot (else the newest write does). */
export interface OverlayGrain {
  slot: number;
  refs: number;
  owned: boolean;
}

/** Whole-grain images that win over the chain (the volatile cache's acknowledged data). */
export interface GrainOverlay {
  readonly grains: ReadonlyMap<number, OverlayGrain>;
  readonly pool: GrainPool;
}

/** One redo log: the grains written while it was the top of the chain. */
export class Layer {
  /** grain index -> pool slot. Replaced wholesale when a larger upper layer is merged in. */
  grains = new Map<number, number>();
  /** A delta that existed when CBT was enabled (fact 20's enable-with-snapshots bug). */
  preExistingDelta = false;
}

/** The chain of layers of one disk over one pool. Depth `d` means the view of layers 0..d-1. */
export class GrainStore {
  readonly pool = new GrainPool();
  private readonly chain: Layer[] = [new Layer()];

  get depth(): number {
    return this.chain.length;
  }

  layer(index: number): Layer {
    const layer = this.chain[index];
    if (layer === undefined) assert(false, `no layer ${index} (depth ${this.chain.length})`);
    return layer;
  }

  /** Freezes the current top by pushing a new empty writable layer. */
  pushLayer(): Layer {
    assert(this.chain.length < MAX_CHAIN_LAYERS, `snapshot chain deeper than ${MAX_CHAIN_LAYERS - 1}`);
    const layer = new Layer();
    this.chain.push(layer);
    return layer;
  }

  /** The slot holding grain `grain` in the view of layers 0..depth-1, or undefined (zeros). */
  findSlot(depth: number, grain: number): number | undefined {
    for (let i = depth - 1; i >= 0; i--) {
      const slot = this.layer(i).grains.get(grain);
      if (slot !== undefined) return slot;
    }
    return undefined;
  }

  isAllocated(depth: number, grain: number): boolean {
    return this.findSlot(depth, grain) !== undefined;
  }

  /** Copies the whole grain `grain` of view `depth` into `out` at `outOffset`. */
  readGrain(depth: number, grain: number, out: Uint8Array, outOffset: number): void {
    const slot = this.findSlot(depth, grain);
    if (slot === undefined) {
      out.fill(0, outOffset, outOffset + GRAIN_BYTES);
      return;
    }
    const base = slotOffset(slot);
    out.set(this.pool.slab(slot).subarray(base, base + GRAIN_BYTES), outOffset);
  }

  /** A fresh copy of one whole grain of view `depth` (the common 4 KiB read, one copy). */
  copyGrain(depth: number, grain: number): Uint8Array {
    const slot = this.findSlot(depth, grain);
    if (slot === undefined) return new Uint8Array(GRAIN_BYTES);
    const base = slotOffset(slot);
    return this.pool.slab(slot).slice(base, base + GRAIN_BYTES);
  }

  /**
   * Reads `out.length` bytes from `offsetBytes` of view `depth`. Grains present in
   * `overlay` (whole-grain images of the volatile cache) win over the chain. Unwritten
   * grains are left as they are in `out` (zeros in a fresh buffer) unless `zeroUnwritten`.
   */
  readInto(depth: number, offsetBytes: number, out: Uint8Array, overlay: GrainOverlay | undefined, zeroUnwritten = false): void {
    const end = offsetBytes + out.length;
    let pos = offsetBytes;
    let dst = 0;
    // At most out.length / GRAIN_BYTES + 2 iterations: each one consumes the rest of a grain.
    while (pos < end) {
      const grain = Math.floor(pos / GRAIN_BYTES);
      const inGrain = pos - grain * GRAIN_BYTES;
      const n = Math.min(GRAIN_BYTES - inGrain, end - pos);
      const cached = overlay?.grains.get(grain);
      if (overlay !== undefined && cached !== undefined) {
        const base = slotOffset(cached.slot) + inGrain;
        out.set(overlay.pool.slab(cached.slot).subarray(base, base + n), dst);
      } else {
        const slot = this.findSlot(depth, grain);
        // Unwritten grains read as zeros: a fresh `out` is zeros already, a reused one is filled.
        if (slot !== undefined) {
          const base = slotOffset(slot) + inGrain;
          out.set(this.pool.slab(slot).subarray(base, base + n), dst);
        } else if (zeroUnwritten) {
          out.fill(0, dst, dst + n);
        }
      }
      pos += n;
      dst += n;
    }
  }

  /** Writes `data` at `offsetBytes` into the top layer (read-modify-write of partial grains). */
  writeTop(offsetBytes: number, data: Uint8Array): void {
    const depth = this.chain.length;
    const top = this.layer(depth - 1).grains;
    const pool = this.pool;
    if (data.length === GRAIN_BYTES && offsetBytes % GRAIN_BYTES === 0) {
      // One whole grain (the common write): no read of the layers below.
      const grain = offsetBytes / GRAIN_BYTES;
      let slot = top.get(grain);
      if (slot === undefined) {
        slot = pool.allocate();
        top.set(grain, slot);
      }
      pool.slab(slot).set(data, slotOffset(slot));
      return;
    }
    const end = offsetBytes + data.length;
    let pos = offsetBytes;
    let src = 0;
    while (pos < end) {
      const grain = Math.floor(pos / GRAIN_BYTES);
      const inGrain = pos - grain * GRAIN_BYTES;
      const n = Math.min(GRAIN_BYTES - inGrain, end - pos);
      let slot = top.get(grain);
      if (slot === undefined) {
        slot = pool.allocate();
        // A partial write keeps the rest of the grain as the chain below shows it.
        if (n !== GRAIN_BYTES) this.readGrain(depth - 1, grain, pool.slab(slot), slotOffset(slot));
        top.set(grain, slot);
      }
      const at = slotOffset(slot) + inGrain;
      if (n === data.length) pool.slab(slot).set(data, at);
      else pool.slab(slot).set(data.subarray(src, src + n), at);
      pos += n;
      src += n;
    }
  }

  /**
   * Makes pool slot `slot` (filled by the caller) the image of grain `grain` in the top
   * layer, releasing the slot it replaces: a whole-grain write without a copy.
   */
  adoptTop(grain: number, slot: number): void {
    const top = this.layer(this.chain.length - 1).grains;
    const old = top.get(grain);
    top.set(grain, slot);
    if (old !== undefined) this.pool.release(old);
  }

  /**
   * Consolidates: merges layer `lowerIndex + 1` into layer `lowerIndex` (upper wins) and
   * removes it from the chain. Costs the smaller of the two maps: when the upper delta is
   * the larger, the lower's surviving grains move up and the lower adopts the upper's map.
   */
  mergeDown(lowerIndex: number): void {
    assert(lowerIndex >= 0 && lowerIndex + 1 < this.chain.length, `no layer above ${lowerIndex} to merge`);
    const lower = this.layer(lowerIndex);
    const upper = this.layer(lowerIndex + 1);
    if (upper.grains.size <= lower.grains.size) {
      for (const [grain, slot] of upper.grains) {
        const old = lower.grains.get(grain);
        if (old !== undefined) this.pool.release(old);
        lower.grains.set(grain, slot);
      }
    } else {
      for (const [grain, slot] of lower.grains) {
        if (upper.grains.has(grain)) this.pool.release(slot);
        else upper.grains.set(grain, slot);
      }
      lower.grains = upper.grains;
    }
    upper.grains = new Map();
    this.chain.splice(lowerIndex + 1, 1);
  }

  /** Discards every layer from `depth` up (a revert), freeing their slots. */
  truncate(depth: number): void {
    assert(depth >= 1 && depth <= this.chain.length, `cannot truncate the chain to ${depth}`);
    for (let i = this.chain.length - 1; i >= depth; i--) {
      for (const slot of this.layer(i).grains.values()) this.pool.release(slot);
    }
    this.chain.length = depth;
  }

  /** Every grain allocated in view `depth`, sorted ascending, each once. */
  allocatedGrains(depth: number): Float64Array {
    let total = 0;
    for (let i = 0; i < depth; i++) total += this.layer(i).grains.size;
    const all = new Float64Array(total);
    let n = 0;
    for (let i = 0; i < depth; i++) {
      for (const grain of this.layer(i).grains.keys()) all[n++] = grain;
    }
    return sortedUnique(all);
  }
}

/** Sorts `values` in place numerically and returns the prefix view without duplicates. */
export function sortedUnique(values: Float64Array): Float64Array {
  values.sort();
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (n === 0 || v !== values[n - 1]) values[n++] = v;
  }
  return values.subarray(0, n);
}
