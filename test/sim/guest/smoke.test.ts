import { describe, expect, it } from 'vitest';
import { unwrap } from '../../../core/result.js';
import { fsck } from '../../../sim/guest/fsck.js';
import { openImage } from '../../../sim/guest/image-reader.js';
import { makeWorld, pattern, remount } from './helpers.js';

describe('smoke', () => {
  it('write, fsync, crash, remount, read', () => {
    const w = makeWorld({ seed: 1 });
    unwrap(w.fs.mkdir('/d'));
    const h = unwrap(w.fs.create('/d/a'));
    unwrap(w.fs.write(h, 0, pattern(1, 10000)));
    unwrap(w.fs.fsync(h));
    expect(fsck(w.disk.durableReader()).state).toBe('needs-replay');
    w.fs.crash();
    w.disk.powerLoss();
    remount(w);
    const h2 = unwrap(w.fs.open('/d/a'));
    expect(unwrap(w.fs.read(h2, 0, 20000))).toEqual(pattern(1, 10000));
    unwrap(w.fs.freeze());
    const report = fsck(w.disk.durableReader());
    expect(report).toMatchObject({ state: 'clean' });
    const img = unwrap(openImage(w.disk.durableReader(), { replay: false }));
    expect(unwrap(img.readFile('/d/a'))).toEqual(pattern(1, 10000));
  });
});
