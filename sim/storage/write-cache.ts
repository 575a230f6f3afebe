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
 * Memory: a write of whole grains (every write the guest file system makes) is copied once,
 * into slots of the disk's own grain pool; the overlay shows that slot while the write is
 * the newest for its grain, and persisting it hands the slot to the durable store instead
 * of copying it again. Other writes keep a private copy (retired copies are reused) and
 * give their grains an overlay slot of the overlay's own. Copying 4 KiB buffers is most of
 * what a write costs, so this is what keeps the write path cheap.
 *
 * Leaves out: reordering of destage (it is strictly oldest first), cache line replacement
 * policies, timing. Cache space is charged per 4 KiB line touched, so a 512-byte write
 * costs one line, and the overlay never holds more grains than the cache has lines.
 */

import { assert } from '../../core/assert.js';
import type { Prng } from '../../core/prng.js';
import { slotOffset, type GrainOverlay, type GrainPool, type OverlayGrain } from './grain-store.js';
import { GRAIN_BYTES, type PowerLossPlan } from './types.js';

/** What the cache needs from the durable store below it. */
export interface DurableBackend {
  /** The store's slot pool: whole-grain writes are cached in its slots. */
  readonly pool: GrainPool;
  /** Copies the durable image of grain `grain` into `out` at `outOffset`. */
  readDurableGrain(grain: number, out: Uint8Array, outOffset: number): void;
  writeDurable(offsetBytes: number, data: Uint8Array): void;
  /** Makes pool slot `slot` the durable image of grain `grain` (the store owns the slot from now on). */
  adoptDurableGrain(grain: number, slot: number): void;
}

interface Piece {
  readonly offsetBytes: number;
  readonly data: Uint8Array;
}

interface Entry {
  /** A write of whole grains: the pool slot holding each (firstGrain first); null otherwise. */
  readonly slots: readonly number[] | null;
  /** Any other write: its copy, recycled once the entry retires; null for a whole-grain write. */
  readonly copy: Uint8Array | null;
  readonly offsetBytes: number;
  /**
   * The bytes still to persist once later FUA writes superseded some (the write minus
   * those); null while nothing was superseded: the whole write at `offsetBytes`.
   */
  pieces: Piece[] | null;
  readonly firstGrain: number;
  readonly lastGrain: number;
  readonly chargeBytes: number;
  live: boolean;
  /** The slots were handed to the durable store when the entry persisted. */
  adopted: boolean;
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
  /** grain -> its overlay image (a slot of the store's pool) and the live entries touching it. */
  private readonly grains = new Map<number, OverlayGrain>();
  /** Retired overlay grain records, reused (a flush retires every one). */
  private readonly spareGrains: OverlayGrain[] = [];
  private readonly pool: GrainPool;
  readonly overlay: GrainOverlay;
  /** Retired copies by length, reused for new writes; at most the cache's size is kept. */
  private readonly spareCopies = new Map<number, Uint8Array[]>();
  private spareBytes = 0;
  /** Every live entry charges at least one line, so this bounds the log. */
  private readonly maxEntries: number;

  constructor(
    private readonly capacityBytes: number,
    private readonly sectorSizeBytes: number,
    private readonly backend: DurableBackend,
  ) {
    assert(Number.isSafeInteger(capacityBytes) && capacityBytes >= GRAIN_BYTES, `cache capacity ${capacityBytes} below one line`);
    this.maxEntries = Math.floor(capacityBytes / GRAIN_BYTES) + 1;
    this.pool = backend.pool;
    this.overlay = { grains: this.grains, pool: this.pool };
  }

  get pendingWrites(): number {
    return this.liveCount;
  }

  get cachedBytes(): number {
    return this.usedBytes;
  }

  /** Memory held for recycled write copies (cached grains live in the store's slabs). */
  get memoryBytes(): number {
    return this.spareBytes;
  }

  /** Caches a write: acknowledged and readable at once, durable later. */
  write(offsetBytes: number, data: Uint8Array): void {
    const firstGrain = Math.floor(offsetBytes / GRAIN_BYTES);
    const lastGrain = Math.floor((offsetBytes + data.length - 1) / GRAIN_BYTES);
    const chargeBytes = (lastGrain - firstGrain + 1) * GRAIN_BYTES;
    if (offsetBytes % GRAIN_BYTES === 0 && data.length % GRAIN_BYTES === 0) {
      this.entries.push({ slots: this.cacheGrains(firstGrain, data), copy: null, offsetBytes, pieces: null, firstGrain, lastGrain, chargeBytes, live: true, adopted: false });
    } else {
      const copy = this.takeCopy(data.length);
      copy.set(data);
      this.applyToOverlay(offsetBytes, copy, true);
      this.entries.push({ slots: null, copy, offsetBytes, pieces: null, firstGrain, lastGrain, chargeBytes, live: true, adopted: false });
    }
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
    if (this.liveCount > this.maxEntries) assert(false, `write cache log over its bound ${this.maxEntries}`);
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
    for (let g = firstGrain; g <= lastGrain && !overlaps; g++) overlaps = this.grains.has(g);
    if (overlaps) {
      for (let i = this.head; i < this.entries.length; i++) {
        const entry = this.entries[i];
        if (entry?.live !== true || entry.lastGrain < firstGrain || entry.firstGrain > lastGrain) continue;
        entry.pieces = trimPieces(this.piecesOf(entry), offsetBytes, endBytes);
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
      for (const piece of this.piecesOf(torn)) liveBytes += piece.data.length;
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
   * Copies a write of whole grains into new pool slots (one each) and makes each the
   * overlay image of its grain (the newest write of a grain is what a read sees).
   */
  private cacheGrains(firstGrain: number, data: Uint8Array): number[] {
    const count = data.length / GRAIN_BYTES;
    const slots: number[] = [];
    for (let i = 0; i < count; i++) {
      const slot = this.pool.allocate();
      const slab = this.pool.slab(slot);
      if (count === 1) slab.set(data, slotOffset(slot));
      else slab.set(data.subarray(i * GRAIN_BYTES, (i + 1) * GRAIN_BYTES), slotOffset(slot));
      slots.push(slot);
      const g = firstGrain + i;
      const og = this.grains.get(g);
      if (og === undefined) {
        this.grains.set(g, this.newGrain(slot, 1, false));
      } else {
        if (og.owned) this.pool.release(og.slot);
        og.slot = slot;
        og.owned = false;
        og.refs++;
      }
    }
    return slots;
  }

  /** The bytes an entry still has to persist, as pieces in offset order. */
  private piecesOf(entry: Entry): Piece[] {
    if (entry.pieces !== null) return entry.pieces;
    if (entry.copy !== null) return [{ offsetBytes: entry.offsetBytes, data: entry.copy }];
    const slots = entry.slots as readonly number[];
    return slots.map((slot, i) => {
      const at = slotOffset(slot);
      return { offsetBytes: (entry.firstGrain + i) * GRAIN_BYTES, data: this.pool.slab(slot).subarray(at, at + GRAIN_BYTES) };
    });
  }

  /**
   * Writes the entry's pieces to the durable store; with `cutBytes`, only its first
   * `cutBytes` live bytes (a torn write). Returns the absolute offset where a cut fell.
   */
  private persist(entry: Entry, cutBytes: number | undefined): number | undefined {
    if (entry.pieces === null && cutBytes === undefined) {
      if (entry.copy !== null) {
        this.backend.writeDurable(entry.offsetBytes, entry.copy);
      } else {
        // The whole write persists as it is: its slots become the durable grains.
        const slots = entry.slots as readonly number[];
        for (let i = 0; i < slots.length; i++) this.backend.adoptDurableGrain(entry.firstGrain + i, slots[i] as number);
        entry.adopted = true;
      }
      return undefined;
    }
    let budget = cutBytes ?? Number.POSITIVE_INFINITY;
    for (const piece of this.piecesOf(entry)) {
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
    const slots = entry.slots;
    for (let g = entry.firstGrain; g <= entry.lastGrain; g++) {
      const og = this.grains.get(g);
      if (og === undefined || og.refs <= 0) assert(false, `grain ${g} has no cache reference`);
      og.refs--;
      if (og.refs === 0) {
        // No pending write touches this grain any more: durable equals acknowledged.
        this.grains.delete(g);
        if (og.owned) this.pool.release(og.slot);
        this.spareGrains.push(og);
      } else if (!og.owned && slots !== null && og.slot === slots[g - entry.firstGrain]) {
        // The overlay shows this entry's slot, which is about to be released or handed
        // over: other pending writes still touch the grain, so it keeps a copy of its own.
        this.privatize(og);
      }
    }
    this.release(entry);
  }

  private newGrain(slot: number, refs: number, owned: boolean): OverlayGrain {
    const og = this.spareGrains.pop();
    if (og === undefined) return { slot, refs, owned };
    og.slot = slot;
    og.refs = refs;
    og.owned = owned;
    return og;
  }

  /** Gives an overlay grain that shows an entry's slot a slot (and copy) of its own. */
  private privatize(og: OverlayGrain): void {
    const slot = this.pool.allocate();
    const from = slotOffset(og.slot);
    this.pool.slab(slot).set(this.pool.slab(og.slot).subarray(from, from + GRAIN_BYTES), slotOffset(slot));
    og.slot = slot;
    og.owned = true;
  }

  /** Returns an entry's memory: its slots (unless the store took them) or its copy. */
  private release(entry: Entry): void {
    if (entry.slots !== null) {
      if (!entry.adopted) for (const slot of entry.slots) this.pool.release(slot);
    } else if (entry.copy !== null) {
      this.recycle(entry.copy);
    }
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

  /**
   * Copies `data` into the overlay. With `create` (a new cached write that is not whole
   * grains) missing grains are made from the durable image and every grain touched counts
   * one more reference. An overlay grain that shows an entry's slot gets its own first.
   */
  private applyToOverlay(offsetBytes: number, data: Uint8Array, create: boolean): void {
    const end = offsetBytes + data.length;
    const pool = this.pool;
    let pos = offsetBytes;
    let src = 0;
    while (pos < end) {
      const grain = Math.floor(pos / GRAIN_BYTES);
      const inGrain = pos - grain * GRAIN_BYTES;
      const n = Math.min(GRAIN_BYTES - inGrain, end - pos);
      let og = this.grains.get(grain);
      if (og === undefined && create) {
        const slot = pool.allocate();
        // A whole-grain write overwrites every byte: no need to read the durable image.
        if (n !== GRAIN_BYTES) this.backend.readDurableGrain(grain, pool.slab(slot), slotOffset(slot));
        og = this.newGrain(slot, 0, true);
        this.grains.set(grain, og);
      }
      if (og !== undefined) {
        if (!og.owned) this.privatize(og);
        const at = slotOffset(og.slot) + inGrain;
        if (n === data.length) pool.slab(og.slot).set(data, at);
        else pool.slab(og.slot).set(data.subarray(src, src + n), at);
        if (create) og.refs++;
      }
      pos += n;
      src += n;
    }
  }

  private clear(): void {
    // Nothing cached (a flush after a flush): Map.clear would still allocate a new table.
    if (this.entries.length === 0 && this.grains.size === 0) return;
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i];
      if (entry?.live === true) this.release(entry);
    }
    for (const og of this.grains.values()) {
      if (og.owned) this.pool.release(og.slot);
      this.spareGrains.push(og);
    }
    this.grains.clear();
    this.entries.length = 0;
    this.head = 0;
    this.liveCount = 0;
    this.usedBytes = 0;
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
