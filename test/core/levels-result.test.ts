import { describe, expect, it } from 'vitest';
import { assert, assertInt, AssertionError } from '../../core/assert.js';
import { formatTimeUs, sToUs } from '../../core/clock.js';
import { atLeast, compareLevels, isLevel, LEVELS, minLevel } from '../../core/levels.js';
import { err, ok, unwrap } from '../../core/result.js';

describe('consistency levels', () => {
  it('are ordered inconsistent < crash < filesystem < application < transaction', () => {
    expect(LEVELS).toEqual(['inconsistent', 'crash', 'filesystem', 'application', 'transaction']);
    expect(compareLevels('crash', 'filesystem')).toBeLessThan(0);
    expect(compareLevels('application', 'filesystem')).toBeGreaterThan(0);
    expect(minLevel('application', 'crash')).toBe('crash');
    expect(atLeast('filesystem', 'crash')).toBe(true);
    expect(atLeast('crash', 'filesystem')).toBe(false);
    expect(isLevel('filesystem')).toBe(true);
    expect(isLevel('fs')).toBe(false);
  });
});

describe('assert and Result', () => {
  it('assert throws AssertionError with the message', () => {
    expect(() => { assert(false, 'disk offset unaligned'); }).toThrow(AssertionError);
    expect(() => { assert(false, 'disk offset unaligned'); }).toThrow('disk offset unaligned');
    expect(() => assertInt(3.5, 0, 10, 'sizeBytes')).toThrow(/sizeBytes/);
    expect(assertInt(3, 0, 10, 'x')).toBe(3);
  });

  it('Result carries values and typed errors', () => {
    expect(unwrap(ok(3))).toBe(3);
    const failed = err({ kind: 'not-found', path: '/a' });
    expect(failed.ok).toBe(false);
    expect(() => unwrap(failed)).toThrow(/not-found/);
  });

  it('formats virtual time', () => {
    expect(formatTimeUs(sToUs(12.5) + 3)).toBe('12.500003s');
    expect(formatTimeUs(0)).toBe('0.000000s');
  });
});
