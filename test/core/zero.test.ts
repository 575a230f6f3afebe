import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAllZero } from '../../core/zero.js';

describe('isAllZero', () => {
  it('agrees with a byte-by-byte check, at any offset and length (past the 64 KiB page too)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: 7 }), fc.array(fc.nat(), { maxLength: 3 }),
      (length, offset, marks) => {
        const backing = new Uint8Array(length + offset + 8);
        backing.fill(1, 0, offset); // non-zero bytes outside the view must not count
        backing.fill(1, offset + length);
        const view = backing.subarray(offset, offset + length);
        for (const m of marks) if (length > 0) view[m % length] = 1 + (m % 255);
        expect(isAllZero(view)).toBe(view.every((b) => b === 0));
      },
    ), { numRuns: 300 });
  });

  it('finds one non-zero byte anywhere in a large block', () => {
    const block = new Uint8Array(3 * 64 * 1024 + 100);
    expect(isAllZero(block)).toBe(true);
    for (const at of [1, 4095, 64 * 1024, 64 * 1024 + 1, 2 * 64 * 1024 + 7, block.length - 2]) {
      block[at] = 9;
      expect(isAllZero(block)).toBe(false);
      block[at] = 0;
    }
  });
});
