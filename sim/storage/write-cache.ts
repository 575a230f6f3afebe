/**
 * The volatile write-back cache of a virtual disk.
 *
 * Models: acknowledged-but-not-durable writes as an ordered log of copied writes, plus a
 * read overlay of whole-grain images (durable bytes with every pending write applied), so
 * reads see acknowledged data at once. Flush persists the log in order; when the cache is
 * over capacity the oldest writes destage on their own, like real hardware. A FUA write
 * goes straight to the platter and supersedes the bytes it covers in older pending writes,
 * so persisting those later cannot bring stale bytes back. A power loss persists an
 * independent random subset of the log (in log order) and may tear one write inside one
 * sector.
 *
 * Overlay images live in slabs and retired write copies are reused, because allocating a
 * 4 KiB buffer per write costs more than the rest of the write path together.
 *
 * Leaves out: reordering of destage (it is strictly oldest first), cache line replacement
 * policies, timing. Cache space is charged per 4 KiB line touched, so a 512-byte write
 * costs one line, and the overlay never holds more grains than the cache has lines.
 */

import { assert } from '../../core/assert.js';
import type { Prng } from '../../core/prng.js';
import { GrainPool, slotOffset, type GrainOverlay } from './grain-store.js';
import { GRAIN_BYTES, type PowerLossPlan } from './types.js';

/** What the cache needs from the durable store below it. */
export interface DurableBackend {
  /** Copies the durable image of grain `grain` into `out` at `outOffset`. */
  readDurableGrain(grain: number, out: Uint8Array, outOffset: number): void;
  writeDurable(offsetBytes: number, data: Uint8Array): void;
}

interface Piece {
  readonly offsetBytes: number;
  readonly data: Uint8Array;
}

interface Entry {
  /** The copy of the write, recycled once the entry retires. */
  readonly copy: Uint8Array;
  /** The bytes still to persist: the write minus what later FUA writes superseded. */
  pieces: Piece[];
  readonly firstGrain: number;
  readonly lastGrain: number;
  readonly chargeBytes: number;
  live: boolean;
}

export interface PowerLossOutcome {
  readonly dropped: number;
  readonly persisted: number;
  readonly torn: number;
  /** Where the torn write's new bytes end (strictly inside a sector), when one tore. */
  readonly tornAtBytes?: number;
}

export class WriteCache {
  /** Live entries in log order from `head`, with killed ones interleaved until compaction. */
  private entries: Entry[] = [];
  private head = 0;
  private liveCount = 0;
  private usedBytes = 0;
  /** grain -> slot in `overlayPool`: slabs, not one buffer per grain (allocation dominates). */
  private readonly overlaySlots = new Map<number, number>();
  private readonly overlayPool = new GrainPool();
  readonly overlay: GrainOverlay = { slots: this.overlaySlots, pool: this.overlayPool };
  /** Retired copies by length, reused for new writes; at most the cache's size is kept. */
  private readonly spareCopies = new Map<number, Uint8Array[]>();
  private spareBytes = 0;
  /** Live entries touching each grain: the overlay grain goes when its count reaches 0. */
  private readonly refs = new Map<number, number>();
  /** Every live entry charges at least one line, so this bounds the log. */
  private readonly maxEntries: number;

  constructor(
    private readonly capacityBytes: number,
    private readonly sectorSizeBytes: number,
    private readonly backend: DurableBackend,
  ) {
    assert(Number.isSafeInteger(capacityBytes) && capacityBytes >= GRAIN_BYTES, `cache capacity ${capacityBytes} below one line`);
    this.maxEntries = Math.floor(capacityBytes / GRAIN_BYTES) + 1;
  }

  get pendingWrites(): number {
    return this.liveCount;
  }

  get cachedBytes(): number {
    return this.usedBytes;
  }

  /** Memory held for the overlay and the recycled write copies. */
  get memoryBytes(): number {
    return this.overlayPool.slabBytes + this.spareBytes;
  }

  /** Caches a write: acknowledged and readable at once, durable later. */
  write(offsetBytes: number, data: Uint8Array): void {
    const copy = this.takeCopy(data.length);
    copy.set(data);
    const firstGrain = Math.floor(offsetBytes / GRAIN_BYTES);
    const lastGrain = Math.floor((offsetBytes + data.length - 1) / GRAIN_BYTES);
    this.applyToOverlay(offsetBytes, copy, true);
    for (let g = firstGrain; g <= lastGrain; g++) this.refs.set(g, (this.refs.get(g) ?? 0) + 1);
    const chargeBytes = (lastGrain - firstGrain + 1) * GRAIN_BYTES;
    this.entries.push({ copy, pieces: [{ offsetBytes, data: copy }], firstGrain, lastGrain, chargeBytes, live: true });
    this.liveCount++;
    this.usedBytes += chargeBytes;
    // Destage oldest first until the cache fits; a write larger than the cache destages itself.
    while (this.usedBytes > this.capacityBytes) {
      const oldest = this.nextLive();
      assert(oldest !== undefined, 'cache over capacity with no live entry');
      this.persist(oldest, undefined);
      this.retire(oldest);
    }
    this.compact();
    assert(this.liveCount <= this.maxEntries, `write cache log over its bound ${this.maxEntries}`);
  }

  /**
   * A FUA write: durable on return. Older pending writes lose the bytes it covers, so a
   * later flush or power loss cannot persist stale data over it.
   */
  writeThrough(offsetBytes: number, data: Uint8Array): void {
    const endBytes = offsetBytes + data.length;
    const firstGrain = Math.floor(offsetBytes / GRAIN_BYTES);
    const lastGrain = Math.floor((endBytes - 1) / GRAIN_BYTES);
    let overlaps = false;
    for (let g = firstGrain; g <= lastGrain && !overlaps; g++) overlaps = this.refs.has(g);
    if (overlaps) {
      for (let i = this.head; i < this.entries.length; i++) {
        const entry = this.entries[i];
        if (entry?.live !== true || entry.lastGrain < firstGrain || entry.firstGrain > lastGrain) continue;
        entry.pieces = trimPieces(entry.pieces, offsetBytes, endBytes);
        if (entry.pieces.length === 0) this.retire(entry);
      }
      this.compact();
      this.applyToOverlay(offsetBytes, data, false);
    }
    this.backend.writeDurable(offsetBytes, data);
  }

  /** Persists every pending write in log order and empties the cache. Returns how many. */
  flush(): number {
    let count = 0;
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i];
      if (entry?.live !== true) continue;
      this.persist(entry, undefined);
      count++;
    }
    assert(count === this.liveCount, 'flush count differs from the live count');
    this.clear();
    return count;
  }

  /** Forgets every pending write (a revert discards the state they belonged to). */
  drop(): number {
    const count = this.liveCount;
    this.clear();
    return count;
  }

  /**
   * Power loss: without a plan every pending write is lost. With one, each write persists
   * with `persistFraction` (draws in log order), and with `tearOneSector` one persisted
   * write (chosen by `prng`) lands only up to a byte strictly inside one of its sectors.
   */
  powerLoss(plan: PowerLossPlan | undefined, prng: Prng): PowerLossOutcome {
    const live: Entry[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i];
      if (entry?.live === true) live.push(entry);
    }
    assert(live.length === this.liveCount, 'power loss sees a different live count');
    if (plan === undefined) {
      this.clear();
      return { dropped: live.length, persisted: 0, torn: 0 };
    }
    assert(plan.persistFraction >= 0 && plan.persistFraction <= 1, `persistFraction ${plan.persistFraction} out of [0, 1]`);
    const persisted = live.filter(() => prng.bool(plan.persistFraction));
    let torn: Entry | undefined;
    let cutBytes = 0;
    if (plan.tearOneSector && persisted.length > 0) {
      torn = prng.pick(persisted);
      let liveBytes = 0;
      for (const piece of torn.pieces) liveBytes += piece.data.length;
      assert(liveBytes > 0 && liveBytes % this.sectorSizeBytes === 0, 'a pending write holds whole sectors');
      const sector = prng.int(0, liveBytes / this.sectorSizeBytes - 1);
      // Cut is a position counted in the entry's live bytes: sector start + 1..sector-1.
      cutBytes = sector * this.sectorSizeBytes + prng.int(1, this.sectorSizeBytes - 1);
    }
    let tornAtBytes: number | undefined;
    for (const entry of persisted) {
      if (entry === torn) tornAtBytes = this.persist(entry, cutBytes);
      else this.persist(entry, undefined);
    }
    this.clear();
    const outcome = { dropped: live.length - persisted.length, persisted: persisted.length, torn: torn === undefined ? 0 : 1 };
    return tornAtBytes === undefined ? outcome : { ...outcome, tornAtBytes };
  }

  private nextLive(): Entry | undefined {
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head];
      if (entry?.live === true) return entry;
      this.head++;
    }
    return undefined;
  }

  /**
   * Writes the entry's pieces to the durable store; with `cutBytes`, only its first
   * `cutBytes` live bytes (a torn write). Returns the absolute offset where a cut fell.
   */
  private persist(entry: Entry, cutBytes: number | undefined): number | undefined {
    let budget = cutBytes ?? Number.POSITIVE_INFINITY;
    for (const piece of entry.pieces) {
      if (budget >= piece.data.length) {
        this.backend.writeDurable(piece.offsetBytes, piece.data);
        budget -= piece.data.length;
        continue;
      }
      if (budget > 0) this.backend.writeDurable(piece.offsetBytes, piece.data.subarray(0, budget));
      return piece.offsetBytes + budget;
    }
    return undefined;
  }

  /** Removes a live entry from the accounting (after it persisted, or was fully superseded). */
  private retire(entry: Entry): void {
    assert(entry.live, 'retiring a dead entry');
    entry.live = false;
    this.liveCount--;
    this.usedBytes -= entry.chargeBytes;
    for (let g = entry.firstGrain; g <= entry.lastGrain; g++) {
      const count = this.refs.get(g) ?? 0;
      assert(count > 0, `grain ${g} has no cache reference`);
      if (count === 1) {
        // No pending write touches this grain any more: durable equals acknowledged.
        this.refs.delete(g);
        const slot = this.overlaySlots.get(g);
        assert(slot !== undefined, `referenced grain ${g} has no overlay image`);
        this.overlaySlots.delete(g);
        this.overlayPool.release(slot);
      } else {
        this.refs.set(g, count - 1);
      }
    }
    this.recycle(entry.copy);
  }

  private takeCopy(lengthBytes: number): Uint8Array {
    const spare = this.spareCopies.get(lengthBytes)?.pop();
    if (spare === undefined) return new Uint8Array(lengthBytes);
    this.spareBytes -= lengthBytes;
    return spare;
  }

  private recycle(copy: Uint8Array): void {
    if (this.spareBytes + copy.length > this.capacityBytes) return;
    let list = this.spareCopies.get(copy.length);
    if (list === undefined) {
      list = [];
      this.spareCopies.set(copy.length, list);
    }
    list.push(copy);
    this.spareBytes += copy.length;
  }

  /** Keeps the log array within twice the live entries, so killed entries cannot pile up. */
  private compact(): void {
    const stored = this.entries.length - this.head;
    if (stored > 64 && stored > 2 * this.liveCount) {
      this.entries = this.entries.slice(this.head).filter((e) => e.live);
      this.head = 0;
    }
  }

  /** Copies `data` into the overlay; `create` makes missing grains from the durable image. */
  private applyToOverlay(offsetBytes: number, data: Uint8Array, create: boolean): void {
    const end = offsetBytes + data.length;
    const pool = this.overlayPool;
    let pos = offsetBytes;
    let src = 0;
    while (pos < end) {
      const grain = Math.floor(pos / GRAIN_BYTES);
      const inGrain = pos - grain * GRAIN_BYTES;
      const n = Math.min(GRAIN_BYTES - inGrain, end - pos);
      let slot = this.overlaySlots.get(grain);
      if (slot === undefined && create) {
        slot = pool.allocate();
        // A whole-grain write overwrites every byte: no need to read the durable image.
        if (n !== GRAIN_BYTES) this.backend.readDurableGrain(grain, pool.slab(slot), slotOffset(slot));
        this.overlaySlots.set(grain, slot);
      }
      if (slot !== undefined) {
        const at = slotOffset(slot) + inGrain;
        if (n === data.length) pool.slab(slot).set(data, at);
        else pool.slab(slot).set(data.subarray(src, src + n), at);
      }
      pos += n;
      src += n;
    }
  }

  private clear(): void {
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i];
      if (entry?.live === true) this.recycle(entry.copy);
    }
    for (const slot of this.overlaySlots.values()) this.overlayPool.release(slot);
    this.overlaySlots.clear();
    this.entries = [];
    this.head = 0;
    this.liveCount = 0;
    this.usedBytes = 0;
    this.refs.clear();
  }
}

/** The parts of `pieces` outside [startBytes, endBytes). */
function trimPieces(pieces: readonly Piece[], startBytes: number, endBytes: number): Piece[] {
  const out: Piece[] = [];
  for (const piece of pieces) {
    const pieceEnd = piece.offsetBytes + piece.data.length;
    if (pieceEnd <= startBytes || piece.offsetBytes >= endBytes) {
      out.push(piece);
      continue;
    }
    if (piece.offsetBytes < startBytes) {
      out.push({ offsetBytes: piece.offsetBytes, data: piece.data.subarray(0, startBytes - piece.offsetBytes) });
    }
    if (pieceEnd > endBytes) {
      out.push({ offsetBytes: endBytes, data: piece.data.subarray(endBytes - piece.offsetBytes) });
    }
  }
  return out;
}
