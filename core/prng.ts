/**
 * Seeded, splittable pseudo-random numbers (xoroshiro128+ from pure-rand, the generator
 * fast-check uses). `fork(name)` derives an independent stream from the parent's seed and
 * the name alone, so adding a subsystem or drawing more numbers in one stream never shifts
 * another stream: one seed -> the same world, whatever order subsystems are built in.
 */

import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { assert, assertInt } from './assert.js';

export interface Prng {
  /** The stream's name path from the root, e.g. `root/disk:vm1-0/faults`. */
  readonly path: string;
  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number;
  /** True with probability `pTrue` (0..1), resolved to 1/65536. */
  bool(pTrue?: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** A new array with the items in a random order (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[];
  /** Fills `out` with random bytes and returns it. */
  fill(out: Uint8Array): Uint8Array;
  /** An independent stream named `name` below this one. */
  fork(name: string): Prng;
}

/** FNV-1a over the UTF-16 code units, folded to 32 bits: a stable, cheap seed mixer. */
function hash32(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // Final avalanche (murmur3 fmix32) so near names give far seeds.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h | 0;
}

class XoroshiroPrng implements Prng {
  private readonly rng: ReturnType<typeof xoroshiro128plus>;

  constructor(
    private readonly seed: number,
    readonly path: string,
  ) {
    this.rng = xoroshiro128plus(seed);
  }

  int(min: number, max: number): number {
    assert(Number.isSafeInteger(min) && Number.isSafeInteger(max) && min <= max, `bad range [${min}, ${max}]`);
    return uniformInt(this.rng, min, max);
  }

  bool(pTrue = 0.5): boolean {
    assert(pTrue >= 0 && pTrue <= 1, `probability ${pTrue} out of [0, 1]`);
    return this.int(0, 65535) < Math.round(pTrue * 65536);
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from an empty list');
    return items[this.int(0, items.length - 1)] as T;
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }

  fill(out: Uint8Array): Uint8Array {
    let i = 0;
    for (; i + 4 <= out.length; i += 4) {
      const v = this.rng.next();
      out[i] = v & 0xff;
      out[i + 1] = (v >>> 8) & 0xff;
      out[i + 2] = (v >>> 16) & 0xff;
      out[i + 3] = (v >>> 24) & 0xff;
    }
    for (; i < out.length; i++) out[i] = this.int(0, 255);
    return out;
  }

  fork(name: string): Prng {
    assert(name.length > 0 && !name.includes('/'), `stream name must be non-empty without '/': ${name}`);
    return new XoroshiroPrng(hash32(name, this.seed), `${this.path}/${name}`);
  }
}

/** The root stream of a run. `seed` is any 32-bit integer (the CLI's --seed). */
export function createPrng(seed: number): Prng {
  assertInt(seed, -0x80000000, 0xffffffff, 'seed');
  return new XoroshiroPrng(seed | 0, 'root');
}
