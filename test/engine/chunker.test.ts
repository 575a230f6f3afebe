/**
 * The chunker: cut points depend on content only (not on how a run is split into pieces),
 * sizes stay within [min, max], and zero runs of the minimum length become holes
 * (compression: compression.test.ts).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Chunker } from '../../engine/repository/chunker.js';
import { StreamChunker, type CutChunk } from '../../engine/repository/stream-chunker.js';
import { applyWrites, equalBytes, writeArb } from './support.js';

const PARAMS = { minBytes: 1024, avgBytes: 4096, maxBytes: 16384, gearSeed: 7 };
const ZERO = { zeroBlockBytes: 512, zeroRunMinBytes: 4096 };

function chunkAll(data: Uint8Array, start: number, cuts: readonly number[]): CutChunk[] {
  const stream = new StreamChunker(new Chunker(PARAMS), ZERO, start);
  const out: CutChunk[] = [];
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const to = Math.min(data.length, cut);
    if (to <= at) continue;
    out.push(...stream.push(data.subarray(at, to)));
    at = to;
  }
  out.push(...stream.push(data.subarray(at)));
  out.push(...stream.finish());
  return out;
}

const image = fc.record({
  sizeBytes: fc.integer({ min: 0, max: 120_000 }),
  writes: fc.array(writeArb(120_000, 30_000), { maxLength: 6 }),
  start: fc.integer({ min: 0, max: 5000 }),
  cuts: fc.array(fc.integer({ min: 0, max: 120_000 }), { maxLength: 8 }),
}).map(({ sizeBytes, writes, start, cuts }) => {
  const data = new Uint8Array(sizeBytes);
  applyWrites(data, writes);
  return { data, start, cuts };
});

describe('content-defined chunking', () => {
  it('cuts do not depend on how the run is split into pieces; chunks cover exactly the non-hole bytes', () => {
    fc.assert(fc.property(image, ({ data, start, cuts }) => {
      const whole = chunkAll(data, start, []);
      const pieces = chunkAll(data, start, cuts);
      expect(pieces.map((c) => [c.offsetBytes, c.bytes.length])).toEqual(whole.map((c) => [c.offsetBytes, c.bytes.length]));
      // Rebuild: chunks at their offsets, zeros elsewhere, gives the data back.
      const rebuilt = new Uint8Array(data.length);
      let end = start;
      for (const c of whole) {
        expect(c.offsetBytes).toBeGreaterThanOrEqual(end);
        expect(c.bytes.length).toBeLessThanOrEqual(PARAMS.maxBytes);
        rebuilt.set(c.bytes, c.offsetBytes - start);
        end = c.offsetBytes + c.bytes.length;
      }
      expect(equalBytes(rebuilt, data)).toBe(true);
    }), { numRuns: 300 });
  });

  it('an aligned zero run of the minimum length is a hole; a shorter one stays in the chunk', () => {
    const data = new Uint8Array(20_000).fill(9);
    data.fill(0, 4096, 8192); // 4 KiB at an aligned offset: a hole
    data.fill(0, 12_288, 14_336); // 2 KiB: data
    const chunks = chunkAll(data, 0, []);
    const covered = chunks.reduce((s, c) => s + c.bytes.length, 0);
    expect(covered).toBe(20_000 - 4096);
    expect(chunks.some((c) => c.offsetBytes < 4096 && c.offsetBytes + c.bytes.length > 4096)).toBe(false);
  });

  it('a shifted copy of the same content is cut the same after the first cut (dedup across offsets)', () => {
    const data = new Uint8Array(200_000);
    applyWrites(data, [{ offsetBytes: 0, lengthBytes: 200_000, seed: 5, kind: 'random' }]);
    const shifted = new Uint8Array(200_777);
    shifted.set(data, 777);
    shifted.fill(3, 0, 777);
    const ids = (cs: CutChunk[]): Set<string> => new Set(cs.map((c) => Buffer.from(c.bytes).toString('base64')));
    const a = ids(chunkAll(data, 0, []));
    const b = ids(chunkAll(shifted, 0, []));
    const shared = [...a].filter((x) => b.has(x)).length;
    expect(shared).toBeGreaterThan(a.size - 3);
  });

  it('sizes cluster around the average (normalised chunking)', () => {
    const chunker = new Chunker(PARAMS);
    const data = new Uint8Array(2_000_000);
    applyWrites(data, [{ offsetBytes: 0, lengthBytes: data.length, seed: 11, kind: 'random' }]);
    const sizes: number[] = [];
    for (let at = 0; at < data.length;) {
      const n = chunker.cut(data, at, data.length, true);
      sizes.push(n);
      at += n;
    }
    const mean = data.length / sizes.length;
    expect(mean).toBeGreaterThan(PARAMS.avgBytes * 0.8);
    expect(mean).toBeLessThan(PARAMS.avgBytes * 1.6);
    expect(Math.min(...sizes.slice(0, -1))).toBeGreaterThanOrEqual(PARAMS.minBytes);
  });
});
