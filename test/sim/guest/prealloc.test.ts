/**
 * Inode preallocation windows: files appended in turn (four logs, each append fsync'ed)
 * stay in few extents instead of one extent per block, so long-running workloads do not
 * exhaust an inode's extent map; the volume stays consistent.
 */

import { describe, expect, it } from 'vitest';
import { unwrap } from '../../../core/result.js';
import { fsck } from '../../../sim/guest/fsck.js';
import { openVolume } from '../../../sim/guest/fs-volume.js';
import { makeWorld } from './helpers.js';

describe('inode preallocation windows', () => {
  it('keep interleaved appenders contiguous', () => {
    const w = makeWorld({ seed: 3, capacityBytes: 64 * 1024 * 1024, writeCache: 'none' });
    const fs = w.fs;
    const handles = [0, 1, 2, 3].map((i) => unwrap(fs.create(`/log-${i}`)));
    const sizes = [0, 0, 0, 0];
    const chunk = new Uint8Array(1000).fill(9);
    for (let op = 0; op < 4000; op++) {
      const i = op % 4;
      const h = handles[i];
      if (h === undefined) throw new Error('handle');
      unwrap(fs.write(h, sizes[i] ?? 0, chunk));
      sizes[i] = (sizes[i] ?? 0) + chunk.length;
      unwrap(fs.fsync(h)); // a log: every append is made durable
    }
    for (const [i, h] of handles.entries()) {
      unwrap(fs.fsync(h));
      const st = unwrap(fs.stat(`/log-${i}`));
      expect(st.sizeBytes).toBe(1_000_000);
      expect(st.allocatedBlocks).toBe(245);
    }
    unwrap(fs.unmount());
    expect(fsck(w.disk).state).toBe('clean');
    const volume = unwrap(openVolume(w.disk)).volume;
    const extents = volume.inodes.filter((n) => n.type === 'file').map((n) => n.extents.length);
    expect(extents).toHaveLength(4);
    // 245 blocks each in 32-block windows: at most ~8 extents; block by block it would be ~245.
    for (const count of extents) expect(count).toBeLessThanOrEqual(10);
  });
});
