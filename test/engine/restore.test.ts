/**
 * Acceptance: restoring point k of a chain equals image k, byte for byte, for random
 * sparse images and chains of full, full-reread (dedup) and CBT (changed extents only)
 * backups, with disks that grow and shrink. Every earlier point still restores after
 * later ones are written (manifests are self-contained). The image is read a step ahead,
 * from a source that reuses one buffer as the CLI's does.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { err, ok, unwrap } from '../../core/result.js';
import { endOf, type ByteRange } from '../../engine/repository/extent-map.js';
import type { RecoveryPointId } from '../../engine/repository/hash.js';
import { backupImage, type ImageSource } from '../../engine/repository/image-backup.js';
import { Repository } from '../../engine/repository/repository.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import {
  applyWrites, backupPoint, chainArb, DISK, equalBytes, ManualClock, meta, newRepo, nextImage, restoreBoth, smallInit, type PointSpec,
} from './support.js';

const MAX_SIZE_BYTES = 200_000;

async function chainRestoresExactly(
  firstSizeBytes: number, specs: readonly PointSpec[],
  mutateChanged?: (ranges: ByteRange[]) => ByteRange[],
): Promise<void> {
  const store = new MemoryStore();
  const repo = await newRepo(store, new ManualClock());
  const ids: RecoveryPointId[] = [];
  const images: Uint8Array[] = [];
  let image: Uint8Array = new Uint8Array(firstSizeBytes);
  for (const spec of specs) {
    image = nextImage(image, spec);
    ids.push(await backupPoint(repo, image, spec, ids[ids.length - 1], mutateChanged));
    images.push(image);
    // The newest point restores exactly.
    const restored = await restoreBoth(repo, ids[ids.length - 1] as RecoveryPointId);
    if (!restored.ok) throw new Error(restored.error);
    expect(equalBytes(restored.value, image)).toBe(true);
  }
  // And so does every earlier one, after all later points were written.
  for (const [k, id] of ids.entries()) {
    const restored = await restoreBoth(repo, id);
    if (!restored.ok) throw new Error(`point ${k}: ${restored.error}`);
    expect(equalBytes(restored.value, images[k] as Uint8Array), `point ${k}`).toBe(true);
  }
}

describe('restore equals the backed-up image (full and incremental chains)', () => {
  it('point k restores exactly image k, for random sparse images and chains', async () => {
    await fc.assert(fc.asyncProperty(chainArb(MAX_SIZE_BYTES, 5), async ({ firstSizeBytes, specs }) => {
      await chainRestoresExactly(firstSizeBytes, specs);
    }), { numRuns: 150 });
  });

  it('a CBT chain whose changed extents are all the writes restores every point', async () => {
    const cbtOnly = chainArb(MAX_SIZE_BYTES, 6).map(({ firstSizeBytes, specs }) => ({
      firstSizeBytes, specs: specs.map((s, i) => ({ ...s, mode: i === 0 ? 'full' as const : 'cbt' as const })),
    }));
    await fc.assert(fc.asyncProperty(cbtOnly, async ({ firstSizeBytes, specs }) => {
      await chainRestoresExactly(firstSizeBytes, specs);
    }), { numRuns: 100 });
  });

  it('the property can fail: a CBT list off by one byte (an engine mutant) is caught', async () => {
    const offByOne = (ranges: ByteRange[]): ByteRange[] =>
      ranges.map((r, i) => (i === ranges.length - 1 && r.lengthBytes > 1 ? { offsetBytes: r.offsetBytes, lengthBytes: endOf(r) - 1 - r.offsetBytes } : r));
    const cbtOnly = chainArb(MAX_SIZE_BYTES, 4).map(({ firstSizeBytes, specs }) => ({
      firstSizeBytes, specs: specs.map((s, i) => ({ ...s, mode: i === 0 ? 'full' as const : 'cbt' as const })),
    }));
    await expect(fc.assert(fc.asyncProperty(cbtOnly, async ({ firstSizeBytes, specs }) => {
      await chainRestoresExactly(firstSizeBytes, specs, offByOne);
    }), { numRuns: 200 })).rejects.toThrow(/Property failed/);
  });
});

describe('reading the image a step ahead (image-backup.ts)', () => {
  const image = new Uint8Array(300_000);
  applyWrites(image, [{ offsetBytes: 0, lengthBytes: 300_000, seed: 3, kind: 'text' }, { offsetBytes: 100_000, lengthBytes: 50_000, seed: 4, kind: 'random' }]);

  it('the next read may scribble over the one buffer at once: the writer took its copy before asking', async () => {
    for (const compressionInFlight of [0, 2]) {
      const buffer = new Uint8Array(image.length);
      const reads: number[] = [];
      const scribbling: ImageSource = {
        capacityBytes: image.length,
        read: async (at, n) => {
          reads.push(at);
          buffer.fill(0xee);
          await new Promise((resolve) => { setImmediate(resolve); });
          buffer.set(image.subarray(at, at + n));
          return ok(buffer.subarray(0, n));
        },
      };
      const store = new MemoryStore();
      const clock = new ManualClock();
      unwrap(await Repository.init(store, smallInit(clock)));
      const writer = unwrap(await Repository.open(store, { clock, writer: { owner: 'w' }, compressionInFlight }));
      const { id } = unwrap(await backupImage(writer, scribbling, { diskId: DISK, meta: meta(), readStepBytes: 16 * 1024 }));
      const restored = await restoreBoth(writer, id);
      expect(restored.ok && equalBytes(restored.value, image)).toBe(true);
      expect(reads).toEqual(Array.from({ length: Math.ceil(image.length / (16 * 1024)) }, (_, k) => k * 16 * 1024));
      unwrap(await writer.close());
    }
  });

  it('a read that fails names its offset, publishes nothing, and leaves no read running', async () => {
    const repo = await newRepo(new MemoryStore(), new ManualClock());
    const reads: number[] = [];
    const failing: ImageSource = {
      capacityBytes: image.length,
      read: (at, n) => {
        reads.push(at);
        return Promise.resolve(at === 64 * 1024 ? err('EIO') : ok(image.slice(at, at + n)));
      },
    };
    const result = await backupImage(repo, failing, { diskId: DISK, meta: meta(), readStepBytes: 16 * 1024 });
    expect(result).toEqual({ ok: false, error: { kind: 'source-read', offsetBytes: 64 * 1024, reason: 'EIO' } });
    expect(reads).toEqual([0, 16, 32, 48, 64].map((k) => k * 1024));
    expect(unwrap(await repo.listPoints())).toEqual([]);
  });
});
