/**
 * PageCache against a reference model (fast-check modelRun). The backend is a fake that
 * records what was written back, so the model knows the durable content exactly: which
 * pages the flusher writes at each tick (dirty for at least the expiry), which ones
 * fsync/sync/throttling write, and that a crash loses every dirty page.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sToUs } from '../../../core/clock.js';
import { Simulation } from '../../../sim/kernel/simulation.js';
import { PAGE_BYTES, PageCache, type PageCacheBackend, type PageWrite, type WritebackReport } from '../../../sim/guest/page-cache.js';
import { LINUX_WRITEBACK, WINDOWS_WRITEBACK, type WritebackPolicy } from '../../../sim/guest/writeback-policy.js';

type Pages = Map<number, Map<number, Uint8Array>>;

class FakeBackend implements PageCacheBackend {
  readonly durable: Pages = new Map();
  readonly log: { key: number; index: number }[] = [];
  failKey: number | undefined;

  readPage(key: number, index: number): Uint8Array {
    return this.durable.get(key)?.get(index)?.slice() ?? new Uint8Array(PAGE_BYTES);
  }

  writePages(key: number, pages: readonly PageWrite[]): WritebackReport {
    if (key === this.failKey) return { writtenPages: 0, error: { kind: 'no-space', detail: 'test' } };
    let file = this.durable.get(key);
    if (file === undefined) {
      file = new Map();
      this.durable.set(key, file);
    }
    for (const p of pages) {
      file.set(p.index, p.data.slice());
      this.log.push({ key, index: p.index });
    }
    return { writtenPages: pages.length };
  }
}

const CAPACITY_PAGES = 16;
const DIRTY_LIMIT_PAGES = 6;

interface Real {
  readonly sim: Simulation;
  readonly backend: FakeBackend;
  cache: PageCache;
  readonly policy: WritebackPolicy;
}

interface DirtyPage {
  data: Uint8Array;
  readonly dirtiedAtUs: number;
}

class Model {
  readonly durable: Pages = new Map();
  readonly dirty = new Map<string, DirtyPage & { key: number; index: number }>();
  nowUs = 0;
  /** The flusher ticks at tickBaseUs + k * interval (k >= 1); a crash restarts it. */
  tickBaseUs = 0;

  constructor(readonly policy: WritebackPolicy) {}

  content(key: number, index: number): Uint8Array {
    return this.dirty.get(`${key}:${index}`)?.data ?? this.durable.get(key)?.get(index) ?? new Uint8Array(PAGE_BYTES);
  }

  writeBack(select: (p: { key: number; index: number; dirtiedAtUs: number }) => boolean): void {
    for (const [id, page] of [...this.dirty]) {
      if (!select(page)) continue;
      let file = this.durable.get(page.key);
      if (file === undefined) {
        file = new Map();
        this.durable.set(page.key, file);
      }
      file.set(page.index, page.data);
      this.dirty.delete(id);
    }
  }

  throttle(): void {
    while (this.dirty.size > DIRTY_LIMIT_PAGES) {
      let oldest: { key: number; dirtiedAtUs: number } | undefined;
      for (const p of this.dirty.values()) {
        if (oldest === undefined || p.dirtiedAtUs < oldest.dirtiedAtUs || (p.dirtiedAtUs === oldest.dirtiedAtUs && p.key < oldest.key)) oldest = p;
      }
      const key = (oldest as { key: number }).key;
      this.writeBack((p) => p.key === key);
    }
  }

  write(key: number, offsetBytes: number, data: Uint8Array): void {
    this.throttle();
    for (let pos = offsetBytes; pos < offsetBytes + data.length;) {
      const index = Math.floor(pos / PAGE_BYTES);
      const end = Math.min(offsetBytes + data.length, (index + 1) * PAGE_BYTES);
      const page = this.content(key, index).slice();
      page.set(data.subarray(pos - offsetBytes, end - offsetBytes), pos - index * PAGE_BYTES);
      const id = `${key}:${index}`;
      const existing = this.dirty.get(id);
      this.dirty.set(id, { key, index, data: page, dirtiedAtUs: existing?.dirtiedAtUs ?? this.nowUs });
      pos = end;
    }
  }

  advance(dtUs: number): void {
    const until = this.nowUs + dtUs;
    const interval = this.policy.flusherIntervalUs;
    let k = Math.floor((this.nowUs - this.tickBaseUs) / interval) + 1;
    for (; this.tickBaseUs + k * interval <= until; k++) {
      const tick = this.tickBaseUs + k * interval;
      this.writeBack((p) => p.dirtiedAtUs <= tick - this.policy.dirtyExpireUs);
    }
    this.nowUs = until;
  }
}

function sameDurable(real: Pages, model: Pages): void {
  const flat = (pages: Pages): Record<string, number[]> => {
    const out: Record<string, number[]> = {};
    for (const [key, file] of pages) for (const [index, data] of file) out[`${key}:${index}`] = [...data.subarray(0, 8), data.reduce((a, b) => (a * 31 + b) >>> 0, 7)];
    return out;
  };
  expect(flat(real)).toEqual(flat(model));
}

function newCache(sim: Simulation, backend: FakeBackend, policy: WritebackPolicy): PageCache {
  return new PageCache({ clock: sim.clock, queue: sim.queue, policy, backend, timerLabel: 'vm1:flusher', capacityPages: CAPACITY_PAGES, dirtyLimitPages: DIRTY_LIMIT_PAGES });
}

type Cmd = fc.Command<Model, Real>;

class WriteCmd implements Cmd {
  constructor(readonly key: number, readonly offsetBytes: number, readonly data: Uint8Array) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    m.write(this.key, this.offsetBytes, this.data);
    r.cache.throttle();
    for (let pos = this.offsetBytes; pos < this.offsetBytes + this.data.length;) {
      const index = Math.floor(pos / PAGE_BYTES);
      const end = Math.min(this.offsetBytes + this.data.length, (index + 1) * PAGE_BYTES);
      r.cache.write(this.key, index, pos - index * PAGE_BYTES, this.data.subarray(pos - this.offsetBytes, end - this.offsetBytes));
      pos = end;
    }
    expect(r.cache.dirtyPages).toBe(m.dirty.size);
    sameDurable(r.backend.durable, m.durable);
  }
  toString(): string { return `write(${this.key}, ${this.offsetBytes}, ${this.data.length})`; }
}

class ReadCmd implements Cmd {
  constructor(readonly key: number, readonly index: number) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    expect(r.cache.read(this.key, this.index)).toEqual(m.content(this.key, this.index));
  }
  toString(): string { return `read(${this.key}, ${this.index})`; }
}

class FsyncCmd implements Cmd {
  constructor(readonly key: number) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    m.writeBack((p) => p.key === this.key);
    expect(r.cache.writebackFile(this.key).error).toBeUndefined();
    expect(r.cache.dirtyIndexes(this.key)).toEqual([]);
    sameDurable(r.backend.durable, m.durable);
  }
  toString(): string { return `fsync(${this.key})`; }
}

class SyncCmd implements Cmd {
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    m.writeBack(() => true);
    r.cache.writebackAll();
    expect(r.cache.dirtyPages).toBe(0);
    sameDurable(r.backend.durable, m.durable);
  }
  toString(): string { return 'sync'; }
}

class AdvanceCmd implements Cmd {
  constructor(readonly dtUs: number) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    m.advance(this.dtUs);
    r.sim.runUntil(r.sim.clock.nowUs() + this.dtUs);
    expect(r.sim.clock.nowUs()).toBe(m.nowUs);
    expect(r.cache.dirtyPages).toBe(m.dirty.size);
    sameDurable(r.backend.durable, m.durable);
  }
  toString(): string { return `advance(${this.dtUs / 1e6}s)`; }
}

class CrashCmd implements Cmd {
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    r.cache.crash();
    m.dirty.clear();
    // After the power loss the durable content is exactly the model's.
    sameDurable(r.backend.durable, m.durable);
    r.cache = newCache(r.sim, r.backend, r.policy);
    m.tickBaseUs = m.nowUs;
    expect(r.cache.dirtyPages).toBe(0);
  }
  toString(): string { return 'crash'; }
}

const KEYS = [1, 2, 3];
const FILE_BYTES = 6 * PAGE_BYTES;

const commands = [
  fc.record({ key: fc.constantFrom(...KEYS), offset: fc.integer({ min: 0, max: FILE_BYTES - 1 }), length: fc.integer({ min: 1, max: 9000 }), seed: fc.integer({ min: 1, max: 255 }) })
    .map(({ key, offset, length, seed }) => new WriteCmd(key, offset, new Uint8Array(Math.min(length, FILE_BYTES - offset)).fill(seed))),
  fc.record({ key: fc.constantFrom(...KEYS), index: fc.integer({ min: 0, max: 5 }) }).map(({ key, index }) => new ReadCmd(key, index)),
  fc.constantFrom(...KEYS).map((key) => new FsyncCmd(key)),
  fc.constant(new SyncCmd()),
  fc.integer({ min: 1, max: 40_000 }).map((ms) => new AdvanceCmd(ms * 1000)),
  fc.constant(new CrashCmd()),
];

const policies: WritebackPolicy[] = [LINUX_WRITEBACK, WINDOWS_WRITEBACK, { name: 'fast', dirtyExpireUs: sToUs(3), flusherIntervalUs: sToUs(1) }];

describe('PageCache (model-based)', () => {
  it('matches the reference model: content, dirty set, flusher expiry, crash loses exactly the dirty pages', () => {
    fc.assert(
      fc.property(fc.constantFrom(...policies), fc.commands(commands, { maxCommands: 60 }), (policy, cmds) => {
        const sim = new Simulation({ seed: 1 });
        const backend = new FakeBackend();
        const real: Real = { sim, backend, cache: newCache(sim, backend, policy), policy };
        fc.modelRun(() => ({ model: new Model(policy), real }), cmds);
      }),
      { numRuns: 300 },
    );
  });
});

describe('PageCache (unit)', () => {
  it('the linux flusher writes a page 30 s after it was dirtied, at the next 5 s tick', () => {
    const sim = new Simulation({ seed: 1 });
    const backend = new FakeBackend();
    const cache = newCache(sim, backend, LINUX_WRITEBACK);
    sim.runUntil(sToUs(2));
    cache.write(1, 0, 0, new Uint8Array([1]));
    sim.runUntil(sToUs(31.9));
    expect(backend.log).toEqual([]);
    sim.runUntil(sToUs(35));
    expect(backend.log).toEqual([{ key: 1, index: 0 }]);
  });

  it('re-dirtying keeps the first dirtied time (a page written every second still goes out)', () => {
    const sim = new Simulation({ seed: 1 });
    const backend = new FakeBackend();
    const cache = newCache(sim, backend, WINDOWS_WRITEBACK);
    for (let s = 0; s < 10; s++) {
      cache.write(1, 0, 0, new Uint8Array([s]));
      sim.runUntil(sToUs(s + 1) - 1);
    }
    expect(backend.log.length).toBeGreaterThan(0);
  });

  it('a paused cache skips its flusher ticks; a failed writeback leaves pages dirty', () => {
    const sim = new Simulation({ seed: 1 });
    const backend = new FakeBackend();
    const cache = newCache(sim, backend, WINDOWS_WRITEBACK);
    cache.write(1, 0, 0, new Uint8Array([1]));
    cache.setPaused(true);
    sim.runUntil(sToUs(20));
    expect(cache.dirtyPages).toBe(1);
    cache.setPaused(false);
    backend.failKey = 1;
    sim.runUntil(sToUs(30));
    expect(cache.dirtyPages).toBe(1);
    expect(cache.writebackFile(1).error?.kind).toBe('no-space');
    backend.failKey = undefined;
    sim.runUntil(sToUs(31));
    expect(cache.dirtyPages).toBe(0);
  });

  it('evicts clean pages beyond the capacity, never dirty ones', () => {
    const sim = new Simulation({ seed: 1 });
    const backend = new FakeBackend();
    const cache = newCache(sim, backend, { name: 'none', dirtyExpireUs: 0, flusherIntervalUs: 0 });
    for (let i = 0; i < 5; i++) cache.write(1, i, 0, new Uint8Array([9]));
    for (let i = 0; i < 40; i++) cache.read(2, i);
    const stats = cache.stats();
    expect(stats.cachedPages).toBe(CAPACITY_PAGES);
    expect(stats.dirtyPages).toBe(5);
    expect(stats.dirtyBytes).toBe(5 * PAGE_BYTES);
    expect(cache.read(1, 3)[0]).toBe(9);
  });

  it('crash cancels the flusher timer and the dead cache refuses use', () => {
    const sim = new Simulation({ seed: 1 });
    const cache = newCache(sim, new FakeBackend(), LINUX_WRITEBACK);
    expect(sim.queue.pending).toBe(1);
    cache.crash();
    expect(sim.queue.pending).toBe(0);
    expect(() => cache.read(1, 0)).toThrow(/crash/);
  });
});
