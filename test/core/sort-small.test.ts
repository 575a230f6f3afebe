import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sortSmall } from '../../core/sort-small.js';

describe('sortSmall', () => {
  it('sorts numbers by value, short or long (not as strings past 16 items)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 40 }), (xs) => {
      expect(sortSmall([...xs])).toEqual([...xs].sort((a, b) => a - b));
    }));
    expect(sortSmall([10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 100, 20, 30, 40, 50, 60, 70])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 100]);
  });

  it('sorts strings as Array.prototype.sort does, in place', () => {
    fc.assert(fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 40 }), (xs) => {
      const copy = [...xs];
      expect(sortSmall(copy)).toBe(copy);
      expect(copy).toEqual([...xs].sort());
    }));
  });
});
