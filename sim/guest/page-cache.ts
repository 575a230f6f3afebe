/**
 * The guest page cache: 4 KiB pages per file, dirty tracking, and background writeback.
 *
 * Models: a read miss loads the page through the backend (the file system) and keeps it
 * clean; a write dirties the page and stamps it with the virtual time it was first
 * dirtied (re-dirtying a dirty page keeps the first stamp, like the kernel's
 * dirtied_when). The flusher, an EventQueue timer every `flusherIntervalUs`, writes back
 * every page dirty for at least `dirtyExpireUs` (see writeback-policy.ts), file by file in
 * key order and page by page in index order. `throttle` is balance_dirty_pages: a writer
 * that finds more than `dirtyLimitPages` dirty writes back whole files, oldest dirty page
 * first, until the count is within the limit. Clean pages are evicted least recently used
 * first once more than `capacityPages` are cached. Everything here is memory: `crash`
 * loses it all, timers included.
 *
 * Leaves out: readahead, mmap, per-device bandwidth, writeback errors kept per mapping
 * (a failed writeback leaves the pages dirty and reports the error to its caller),
 * huge pages, memory pressure from anything but this cache.
 */

import { assert } from '../../core/assert.js';
import type { Clock, TimeUs } from '../../core/clock.js';
import type { EventQueue, TimerHandle } from '../kernel/event-queue.js';
import { copyBytes } from '../kernel/bytes.js';
import type { WritebackPolicy } from './writeback-policy.js';

export const PAGE_BYTES = 4096;

export interface PageWrite {
  readonly index: number;
  readonly data: Uint8Array;
}

export interface WritebackFailure {
  readonly kind: 'no-space';
  readonly detail: string;
}

export interface WritebackReport {
  /** How many of the offered pages (a prefix, in order) reached the backend. */
  readonly writtenPages: number;
  readonly error?: WritebackFailure;
}

/** What the cache sits on: the file system (or a fake that records writebacks, in tests). */
export interface PageCacheBackend {
  /**
   * The stored content of page `index` of file `key` (zeros for a hole); `into`, when
   * given, is a page buffer the cache offers for reuse (the backend may fill and return it).
   */
  readPage(key: number, index: number, into?: Uint8Array): Uint8Array;
  /** Writes back pages of one file, ascending index; stops at the first failure. */
  writePages(key: number, pages: readonly PageWrite[]): WritebackReport;
}

export interface PageCacheOptions {
  readonly clock: Clock;
  readonly queue: EventQueue;
  readonly policy: WritebackPolicy;
  readonly backend: PageCacheBackend;
  /** The flusher's timer label (`<vmId>:...` so a VM power loss cancels it). */
  readonly timerLabel: string;
  /** Pages kept before clean ones are evicted (default 16384 = 64 MiB). */
  readonly capacityPages?: number;
  /** Dirty pages a writer may leave before it must write back (default capacity / 5). */
  readonly dirtyLimitPages?: number;
}

interface Page {
  readonly key: number;
  readonly index: number;
  data: Uint8Array;
  dirty: boolean;
  dirtiedAtUs: TimeUs;
  /** Neighbours in the LRU list (least recently used first). */
  prev: Page | null;
  next: Page | null;
}

/** The cached pages of one file and the dirty ones among them (fsync and the flusher visit only those). */
interface FilePages {
  readonly pages: Map<number, Page>;
  readonly dirty: Set<Page>;
}

export interface PageCacheStats {
  readonly cachedPages: number;
  readonly dirtyPages: number;
  readonly dirtyBytes: number;
  /** When the oldest dirty page was dirtied, or undefined when none is. */
  readonly oldestDirtyUs: TimeUs | undefined;
  readonly writtenBackPages: number;
}

export class PageCache {
  private readonly clock: Clock;
  private readonly queue: EventQueue;
  private readonly policy: WritebackPolicy;
  private readonly backend: PageCacheBackend;
  private readonly timerLabel: string;
  readonly capacityPages: number;
  readonly dirtyLimitPages: number;
  /** Files with cached pages (a file's entry goes with its last page). */
  private readonly files = new Map<number, FilePages>();
  /**
   * Every cached page, least recently used first: an intrusive doubly linked list, so a
   * hit moves its page to the end without touching a Map.
   */
  private lruHead: Page | null = null;
  private lruTail: Page | null = null;
  private cachedCount = 0;
  /** Buffers of removed pages, reused for new pages (their previous content is overwritten). */
  private readonly sparePages: Uint8Array[] = [];
  /**
   * Hard bound on cached pages: clean ones stop at the capacity and throttling keeps dirty
   * ones near the dirty limit, so only a writer that never throttles can reach it.
   */
  private readonly maxPages: number;
  private dirtyCount = 0;
  private writtenBack = 0;
  private paused = false;
  private dead = false;
  private timer: TimerHandle | undefined;

  constructor(options: PageCacheOptions) {
    this.clock = options.clock;
    this.queue = options.queue;
    this.policy = options.policy;
    this.backend = options.backend;
    this.timerLabel = options.timerLabel;
    this.capacityPages = options.capacityPages ?? 16_384;
    this.dirtyLimitPages = options.dirtyLimitPages ?? Math.floor(this.capacityPages / 5);
    assert(this.capacityPages >= 16, `page cache of ${this.capacityPages} pages`);
    assert(this.dirtyLimitPages >= 1 && this.dirtyLimitPages < this.capacityPages, `dirty limit ${this.dirtyLimitPages} must be below the capacity ${this.capacityPages}`);
    assert(this.policy.dirtyExpireUs >= 0 && this.policy.flusherIntervalUs >= 0, 'writeback policy times must not be negative');
    this.maxPages = 4 * this.capacityPages;
    if (this.policy.flusherIntervalUs > 0) this.schedule();
  }

  get dirtyPages(): number {
    return this.dirtyCount;
  }

  stats(): PageCacheStats {
    let oldest: TimeUs | undefined;
    if (this.dirtyCount > 0) {
      for (const file of this.files.values()) {
        for (const page of file.dirty) if (oldest === undefined || page.dirtiedAtUs < oldest) oldest = page.dirtiedAtUs;
      }
    }
    return { cachedPages: this.cachedCount, dirtyPages: this.dirtyCount, dirtyBytes: this.dirtyCount * PAGE_BYTES, oldestDirtyUs: oldest, writtenBackPages: this.writtenBack };
  }

  /** A copy of the page's content, loading it through the backend on a miss. */
  read(key: number, index: number): Uint8Array {
    this.assertLive();
    const data = this.page(key, index, true).data.slice();
    this.evict();
    return data;
  }

  /** The cached page's content without loading or touching it, or undefined. */
  peek(key: number, index: number): Uint8Array | undefined {
    return this.files.get(key)?.pages.get(index)?.data;
  }

  isDirty(key: number, index: number): boolean {
    return this.files.get(key)?.pages.get(index)?.dirty === true;
  }

  /** Dirty page indexes of one file, ascending. */
  dirtyIndexes(key: number): number[] {
    const out: number[] = [];
    for (const page of this.files.get(key)?.dirty ?? []) out.push(page.index);
    return out.sort((a, b) => a - b);
  }

  /** Copies `data` into the page at `offsetInPage` and marks it dirty. */
  write(key: number, index: number, offsetInPage: number, data: Uint8Array): void {
    this.assertLive();
    assert(Number.isSafeInteger(index) && index >= 0, `page index ${index}`);
    assert(offsetInPage >= 0 && offsetInPage + data.length <= PAGE_BYTES && data.length > 0, `write of ${data.length} bytes at ${offsetInPage} crosses the page`);
    const whole = offsetInPage === 0 && data.length === PAGE_BYTES;
    const page = whole ? this.insertIfMissing(key, index, data) : this.page(key, index, true);
    page.data.set(data, offsetInPage);
    if (!page.dirty) {
      page.dirty = true;
      page.dirtiedAtUs = this.clock.nowUs();
      this.dirtyCount++;
      this.markDirty(page);
    }
    this.evict();
  }

  /** Forgets pages `fromIndex` and later of a file, dirty or not (truncate). */
  truncate(key: number, fromIndex: number): void {
    const file = this.files.get(key);
    if (file === undefined) return;
    for (const page of [...file.pages.values()]) if (page.index >= fromIndex) this.remove(page);
  }

  dropPage(key: number, index: number): void {
    const page = this.files.get(key)?.pages.get(index);
    if (page !== undefined) this.remove(page);
  }

  /** Forgets every page of a file (unlink, or invalidation before direct I/O). */
  drop(key: number): void {
    this.truncate(key, 0);
  }

  /** Writes back every dirty page of one file. */
  writebackFile(key: number): WritebackReport {
    this.assertLive();
    const dirtySet = this.files.get(key)?.dirty;
    if (dirtySet === undefined || dirtySet.size === 0) return NOTHING_WRITTEN;
    const dirty = [...dirtySet];
    if (dirty.length > 1) dirty.sort((a, b) => a.index - b.index);
    return this.writeBack(key, dirty);
  }

  /** Writes back one page if it is dirty. */
  writebackPage(key: number, index: number): WritebackReport {
    this.assertLive();
    const page = this.files.get(key)?.pages.get(index);
    if (page?.dirty !== true) return { writtenPages: 0 };
    return this.writeBack(key, [page]);
  }

  /** Writes back every dirty page, file by file in key order. Reports the first failure. */
  writebackAll(): WritebackReport {
    this.assertLive();
    return this.writeBackWhere(() => true);
  }

  /** Writes back the pages dirty for at least the policy's expiry (what a flusher tick does). */
  writebackExpired(): WritebackReport {
    this.assertLive();
    const limitUs = this.clock.nowUs() - this.policy.dirtyExpireUs;
    return this.writeBackWhere((page) => page.dirtiedAtUs <= limitUs);
  }

  /**
   * Dirty throttling: while more than `dirtyLimitPages` are dirty, writes back the file
   * holding the oldest dirty page (lowest key on a tie). Bounded by the number of files.
   */
  throttle(): WritebackReport {
    this.assertLive();
    let total = 0;
    for (let round = 0; round <= this.files.size && this.dirtyCount > this.dirtyLimitPages; round++) {
      // The minimum of (dirtiedAtUs, key) over the dirty pages: independent of visiting order.
      let oldestKey: number | undefined;
      let oldestUs = Number.POSITIVE_INFINITY;
      for (const file of this.files.values()) {
        for (const page of file.dirty) {
          if (page.dirtiedAtUs < oldestUs || (page.dirtiedAtUs === oldestUs && oldestKey !== undefined && page.key < oldestKey)) {
            oldestUs = page.dirtiedAtUs;
            oldestKey = page.key;
          }
        }
      }
      if (oldestKey === undefined) break;
      const report = this.writebackFile(oldestKey);
      total += report.writtenPages;
      if (report.error !== undefined) return { writtenPages: total, error: report.error };
    }
    return { writtenPages: total };
  }

  /** While paused (a frozen file system) the flusher skips its ticks. */
  setPaused(paused: boolean): void {
    this.paused = paused;
  }

  /** Stops the flusher (unmount). The cache must hold no dirty page. */
  stop(): void {
    assert(this.dirtyCount === 0, `stopping a page cache with ${this.dirtyCount} dirty pages`);
    this.cancelTimer();
    this.dead = true;
  }

  /** Power loss of the guest: every page and the flusher's timer are gone. */
  crash(): void {
    this.cancelTimer();
    this.files.clear();
    this.lruHead = null;
    this.lruTail = null;
    this.cachedCount = 0;
    this.dirtyCount = 0;
    this.dead = true;
  }

  private assertLive(): void {
    assert(!this.dead, 'page cache used after crash or stop');
  }

  private schedule(): void {
    this.timer = this.queue.after(this.policy.flusherIntervalUs, this.timerLabel, () => {
      this.timer = undefined;
      if (this.dead) return;
      // Failures stay dirty and are retried at the next tick; fsync reports them.
      if (!this.paused) this.writebackExpired();
      this.schedule();
    });
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.queue.cancel(this.timer);
    this.timer = undefined;
  }

  private writeBackWhere(select: (page: Page) => boolean): WritebackReport {
    let total = 0;
    let firstError: WritebackFailure | undefined;
    if (this.dirtyCount === 0) return NOTHING_WRITTEN;
    const keys: number[] = [];
    for (const [key, file] of this.files) if (file.dirty.size > 0) keys.push(key);
    keys.sort((a, b) => a - b);
    for (const key of keys) {
      const dirty = this.files.get(key)?.dirty;
      if (dirty === undefined) continue;
      const chosen = [...dirty].filter((p) => select(p)).sort((a, b) => a.index - b.index);
      if (chosen.length === 0) continue;
      const report = this.writeBack(key, chosen);
      total += report.writtenPages;
      firstError ??= report.error;
    }
    return firstError === undefined ? { writtenPages: total } : { writtenPages: total, error: firstError };
  }

  private writeBack(key: number, pages: readonly Page[]): WritebackReport {
    if (pages.length === 0) return NOTHING_WRITTEN;
    // A Page is a PageWrite ({ index, data }): no copy of the list is needed.
    const report = this.backend.writePages(key, pages);
    assert(report.writtenPages >= 0 && report.writtenPages <= pages.length, `backend wrote ${report.writtenPages} of ${pages.length} pages`);
    for (let i = 0; i < report.writtenPages; i++) {
      const page = pages[i] as Page;
      if (page.dirty) {
        page.dirty = false;
        this.dirtyCount--;
        this.unmarkDirty(page);
      }
    }
    this.writtenBack += report.writtenPages;
    this.evict();
    return report;
  }

  private page(key: number, index: number, load: boolean): Page {
    const file = this.files.get(key);
    const found = file?.pages.get(index);
    if (found !== undefined) {
      this.touch(found);
      return found;
    }
    assert(load, 'page missing');
    const spare = this.sparePages.pop();
    const data = this.backend.readPage(key, index, spare);
    if (spare !== undefined && data !== spare) this.sparePages.push(spare);
    if (data.length !== PAGE_BYTES) assert(false, `backend returned ${data.length} bytes for a page`);
    return this.insert(file ?? this.newFile(key), key, index, data);
  }

  private insertIfMissing(key: number, index: number, data: Uint8Array): Page {
    const file = this.files.get(key);
    if (file?.pages.has(index) === true) return this.page(key, index, false);
    const spare = this.sparePages.pop();
    const copy = spare === undefined ? copyBytes(data) : spare;
    if (spare !== undefined) spare.set(data);
    return this.insert(file ?? this.newFile(key), key, index, copy);
  }

  private newFile(key: number): FilePages {
    const file: FilePages = { pages: new Map(), dirty: new Set() };
    this.files.set(key, file);
    return file;
  }

  /** Adds a new clean page as the most recently used. */
  private insert(file: FilePages, key: number, index: number, data: Uint8Array): Page {
    const page: Page = { key, index, data, dirty: false, dirtiedAtUs: 0, prev: this.lruTail, next: null };
    file.pages.set(index, page);
    if (this.lruTail === null) this.lruHead = page;
    else this.lruTail.next = page;
    this.lruTail = page;
    this.cachedCount++;
    if (this.cachedCount > this.maxPages) assert(false, `page cache over its hard bound of ${this.maxPages} pages: a writer skips throttle()`);
    return page;
  }

  /** Makes `page` the most recently used. */
  private touch(page: Page): void {
    if (page === this.lruTail) return;
    this.unlinkLru(page);
    page.prev = this.lruTail;
    if (this.lruTail === null) this.lruHead = page;
    else this.lruTail.next = page;
    this.lruTail = page;
  }

  private unlinkLru(page: Page): void {
    if (page.prev === null) this.lruHead = page.next;
    else page.prev.next = page.next;
    if (page.next === null) this.lruTail = page.prev;
    else page.next.prev = page.prev;
    page.prev = null;
    page.next = null;
  }

  private remove(page: Page): void {
    // The page's buffer is the cache's alone (backends copy what they are given): reuse it.
    if (this.sparePages.length < MAX_SPARE_PAGES) this.sparePages.push(page.data);
    const file = this.files.get(page.key);
    file?.pages.delete(page.index);
    if (page.dirty) {
      this.dirtyCount--;
      file?.dirty.delete(page);
    }
    if (file?.pages.size === 0) this.files.delete(page.key);
    this.unlinkLru(page);
    this.cachedCount--;
  }

  private markDirty(page: Page): void {
    this.files.get(page.key)?.dirty.add(page);
  }

  private unmarkDirty(page: Page): void {
    this.files.get(page.key)?.dirty.delete(page);
  }

  /** Evicts clean pages, least recently used first, down to the capacity (dirty ones stay). */
  private evict(): void {
    if (this.cachedCount <= this.capacityPages) return;
    let excess = this.cachedCount - this.capacityPages;
    // Bounded by the cached pages: each step moves one page along the list.
    for (let page = this.lruHead; page !== null && excess > 0;) {
      const next = page.next;
      if (!page.dirty) {
        this.remove(page);
        excess--;
      }
      page = next;
    }
  }
}

const NOTHING_WRITTEN: WritebackReport = { writtenPages: 0 };
/** Most removed page buffers kept for reuse (4 MiB). */
const MAX_SPARE_PAGES = 1024;
