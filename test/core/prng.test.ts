import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPrng } from '../../core/prng.js';

const draw = (seed: number, name: string, n: number): number[] => {
  const p = createPrng(seed).fork(name);
  return Array.from({ length: n }, () => p.int(0, 1_000_000));
};

describe('Prng', () => {
  it('one seed gives one sequence', () => {
    fc.assert(fc.property(fc.integer(), fc.string({ minLength: 1 }).filter((s) => !s.includes('/')), (seed, name) => {
      expect(draw(seed, name, 20)).toEqual(draw(seed, name, 20));
    }));
  });

  it('forks are independent of draw order and of sibling streams', () => {
    const root = createPrng(7);
    const a1 = root.fork('a');
    a1.int(0, 10);
    root.int(0, 10); // drawing from the parent must not shift a child
    const b = root.fork('b');
    const bFresh = createPrng(7).fork('b');
    expect(Array.from({ length: 10 }, () => b.int(0, 1e6))).toEqual(Array.from({ length: 10 }, () => bFresh.int(0, 1e6)));
  });

  it('different names and seeds give different streams', () => {
    expect(draw(1, 'disk', 8)).not.toEqual(draw(1, 'fs', 8));
    expect(draw(1, 'disk', 8)).not.toEqual(draw(2, 'disk', 8));
  });

  it('int stays in range; bool honours the extremes; pick and shuffle use every item', () => {
    const p = createPrng(3);
    for (let i = 0; i < 1000; i++) {
      const v = p.int(-3, 3);
      expect(v).toBeGreaterThanOrEqual(-3);
      expect(v).toBeLessThanOrEqual(3);
      expect(p.bool(0)).toBe(false);
      expect(p.bool(1)).toBe(true);
    }
    const seen = new Set(Array.from({ length: 200 }, () => p.pick(['x', 'y', 'z'])));
    expect([...seen].sort()).toEqual(['x', 'y', 'z']);
    expect(p.shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('bool(0.25) is true about a quarter of the time', () => {
    const p = createPrng(11);
    let hits = 0;
    for (let i = 0; i < 20_000; i++) if (p.bool(0.25)) hits++;
    expect(hits / 20_000).toBeGreaterThan(0.23);
    expect(hits / 20_000).toBeLessThan(0.27);
  });

  it('rejects bad arguments as programmer errors', () => {
    expect(() => createPrng(1).int(5, 4)).toThrow(/bad range/);
    expect(() => createPrng(1).fork('a/b')).toThrow(/stream name/);
    expect(() => createPrng(1.5)).toThrow(/seed/);
  });
});
