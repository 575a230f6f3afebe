/**
 * The hot-path helpers the file system, the disk and the app formats rely on: CRC32 algebra
 * (sim/kernel/crc32-combine.ts) must equal zlib's CRC of the bytes it stands for, and the
 * byte helpers (sim/kernel/bytes.ts) must equal TextEncoder / JSON.stringify exactly.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../../core/crc32.js';
import { allocBytes, ByteBuilder, jsonNumberLength, jsonStringUtf8Length, utf8Bytes, utf8Length } from '../../../sim/kernel/bytes.js';
import { crc32Combine, crc32OfSealed, crc32XorUpdate, crc32ZeroExtend, crc32ZeroTail } from '../../../sim/kernel/crc32-combine.js';

const bytes = (maxLength: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength });
const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

describe('CRC32 algebra', () => {
  it('combine, zero extension and zero tails equal the CRC of the bytes', () => {
    fc.assert(fc.property(bytes(300), bytes(5000), fc.nat(5000), (a, b, zeros) => {
      expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(concat(a, b)));
      expect(crc32ZeroExtend(crc32(a), zeros)).toBe(crc32(concat(a, new Uint8Array(zeros))));
      const padded = concat(a, new Uint8Array(zeros));
      expect(crc32ZeroTail(padded, a.length, padded.length)).toBe(crc32(padded));
    }));
  });

  it('an update from the changed range equals the CRC of the changed message', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 64, maxLength: 4096 }), fc.nat(), bytes(64), (message, at, delta) => {
      const offset = at % (message.length - delta.length + 1);
      const before = crc32(message);
      const after = message.slice();
      for (let i = 0; i < delta.length; i++) after[offset + i] = (after[offset + i] as number) ^ (delta[i] as number);
      expect(crc32XorUpdate(before, delta, offset, message.length)).toBe(crc32(after));
    }));
  });

  it("a sealed block's whole CRC follows from its seal", () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 4096, maxLength: 4096 }), (block) => {
      const sealed = block.slice();
      sealed.fill(0, 12, 16);
      const seal = crc32(sealed);
      new DataView(sealed.buffer).setUint32(12, seal, true);
      expect(crc32OfSealed(seal, 12, 4096)).toBe(crc32(sealed));
    }));
  });

  it('fails on a wrong answer: a combine with the wrong length differs', () => {
    const a = new Uint8Array([1, 2, 3]);
    const b = new Uint8Array([4, 5, 6, 7]);
    expect(crc32Combine(crc32(a), crc32(b), b.length - 1)).not.toBe(crc32(concat(a, b)));
  });
});

describe('byte helpers', () => {
  const encoder = new TextEncoder();
  // Quotes, backslashes, controls, DEL, non-ASCII, surrogate pairs and lone surrogates.
  const tricky = fc.array(fc.constantFrom('a', '"', '\\', '\n', '\b', '\u0001', '\u001f', '\u007f', '\u00e9', '\u20ac', '\u2028', '\ud83d\ude00', '\ud800', '\udc00', '/'), { maxLength: 40 }).map((parts) => parts.join(''));

  it('UTF-8 lengths and encodings equal TextEncoder; JSON lengths equal JSON.stringify', () => {
    fc.assert(fc.property(fc.oneof(tricky, fc.string({ maxLength: 200 })), (text) => {
      expect(utf8Bytes(text)).toEqual(encoder.encode(text));
      expect(utf8Length(text)).toBe(encoder.encode(text).length);
      expect(jsonStringUtf8Length(text)).toBe(encoder.encode(JSON.stringify(text)).length);
    }));
    for (const n of [0, -0, 7, -12, 1.5, 1e21, 123456789, Number.NaN, Number.POSITIVE_INFINITY]) expect(jsonNumberLength(n)).toBe(JSON.stringify(n).length);
  });

  it('carved arrays are zeroed and never overlap', () => {
    const a = allocBytes(100);
    const b = allocBytes(100);
    expect(a.every((x) => x === 0) && b.every((x) => x === 0)).toBe(true);
    a.fill(1);
    expect(b.every((x) => x === 0)).toBe(true);
  });

  it('a ByteBuilder holds what was appended, across growth and reset', () => {
    const builder = new ByteBuilder(4);
    builder.append(new Uint8Array([1, 2, 3]));
    builder.append(new Uint8Array([4, 5, 6]));
    expect([...builder.bytes()]).toEqual([1, 2, 3, 4, 5, 6]);
    builder.reset();
    builder.append(new Uint8Array([9]));
    expect([...builder.bytes()]).toEqual([9]);
  });
});
