/**
 * Acceptance: restoring point k of a chain equals image k, byte for byte, for random
 * sparse images and chains of full, full-reread (dedup) and CBT (changed extents only)
 * backups, with disks that grow and shrink. Every earlier point still restores after
 * later ones are written (manifests are self-contained).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { endOf, type ByteRange } from '../../engine/repository/extent-map.js';
import type { RecoveryPointId } from '../../engine/repository/hash.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import {
  backupPoint, chainArb, equalBytes, ManualClock, newRepo, nextImage, restoreBoth, type PointSpec,
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
