/**
 * The repository behind the engine's ports: a job writes through BackupTarget/PointSink
 * (full, incremental from the parent, a disk started over), a restore reads through
 * PointSource; what comes back is what was written.
 */

import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.js';
import { repositorySource, repositoryTarget } from '../../engine/repository/engine-ports.js';
import { RecoveryPointId } from '../../engine/repository/hash.js';
import { verifyRepository } from '../../engine/repository/verify.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { applyWrites, equalBytes, ManualClock, meta, newRepo } from './support.js';

const SIZE = 100_000;

describe('engine ports over the repository', () => {
  it('full, incremental and a restarted disk round-trip through BackupTarget and PointSource', async () => {
    const store = new MemoryStore();
    const repo = await newRepo(store, new ManualClock());
    const target = repositoryTarget(repo, { toMeta: (vmId, jobMeta) => ({ ...meta(vmId), reasons: [(jobMeta as { note: string }).note] }) });
    const v1 = new Uint8Array(SIZE);
    applyWrites(v1, [{ offsetBytes: 0, lengthBytes: 40_000, seed: 1, kind: 'text' }, { offsetBytes: 70_000, lengthBytes: 20_000, seed: 2, kind: 'random' }]);
    const full = await target.begin('vm1', null);
    const d1 = await full.disk('scsi0:0', SIZE, false);
    await d1.writeExtent(0, v1.subarray(0, 40_000));
    await d1.writeExtent(70_000, v1.subarray(70_000, 90_000));
    const id1 = unwrap(await full.commit({ note: 'first' }));

    const v2 = v1.slice();
    applyWrites(v2, [{ offsetBytes: 10_000, lengthBytes: 3000, seed: 9, kind: 'random' }]);
    const incr = await target.begin('vm1', { pointId: id1, vmId: 'vm1', changeIds: {} });
    const d2 = await incr.disk('scsi0:0', SIZE, true);
    await d2.writeExtent(10_000, v2.subarray(10_000, 13_000));
    const id2 = unwrap(await incr.commit({ note: 'second' }));

    // CBT refused halfway: the disk is started over and read in full.
    const restarted = await target.begin('vm1', { pointId: id2, vmId: 'vm1', changeIds: {} });
    const half = await restarted.disk('scsi0:0', SIZE, true);
    await half.writeExtent(50_000, new Uint8Array(100).fill(5));
    const again = await restarted.disk('scsi0:0', SIZE, false);
    await again.writeExtent(0, v2);
    const id3 = unwrap(await restarted.commit({ note: 'third' }));

    for (const [id, image] of [[id1, v1], [id2, v2], [id3, v2]] as const) {
      const source = unwrap(await repositorySource(repo, RecoveryPointId(id)));
      expect(source.disks()).toEqual([{ diskId: 'scsi0:0', capacityBytes: SIZE }]);
      expect(equalBytes(await source.read('scsi0:0', 0, SIZE), image)).toBe(true);
      const extents = await source.extents('scsi0:0');
      const rebuilt = new Uint8Array(SIZE);
      for (const e of extents) rebuilt.set(await source.read('scsi0:0', e.startBytes, e.lengthBytes), e.startBytes);
      expect(equalBytes(rebuilt, image)).toBe(true);
    }
    const m = unwrap(await repo.readManifest(RecoveryPointId(id2)));
    expect(m.meta.reasons).toEqual(['second']);
    expect(m.meta.attributes.job).toEqual({ note: 'second' });
    expect(unwrap(await verifyRepository(store)).damages).toEqual([]);
  });

  it('a failed or aborted point publishes nothing', async () => {
    const store = new MemoryStore();
    const repo = await newRepo(store, new ManualClock());
    const target = repositoryTarget(repo, { toMeta: (vmId) => meta(vmId) });
    const point = await target.begin('vm1', null);
    const disk = await point.disk('d', 10_000, false);
    await disk.writeExtent(0, new Uint8Array(10_000).fill(1));
    await point.abort();
    expect(unwrap(await repo.listPoints())).toEqual([]);
  });
});
