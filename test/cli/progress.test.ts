import { describe, expect, it } from 'vitest';
import { PLAIN_EVERY_MS, progressReporter } from '../../cli/progress.js';

function fakeStream(isTTY: boolean): { isTTY: boolean; out: string[]; write: (s: string) => boolean } {
  const out: string[] = [];
  return { isTTY, out, write: (s: string) => { out.push(s); return true; } };
}

describe('progressReporter', () => {
  it('off a terminal: a plain line per tenth advanced, at most one per interval', () => {
    const stream = fakeStream(false);
    let t = 1_000_000;
    const p = progressReporter('305 cells x 100 runs', stream, () => t);
    // 100 tasks, 10 s each: tenths are 100 s apart, so each one prints.
    for (let done = 1; done <= 100; done++) {
      t += 10_000;
      p.update(done, 100, `cell-${done}`);
    }
    p.done();
    expect(stream.out).toHaveLength(10);
    expect(stream.out[0]).toBe('quiescelab: 10/100 305 cells x 100 runs (10%), 100 s, ~900 s left\n');
    expect(stream.out[9]).toMatch(/^quiescelab: 100\/100 .* \(100%\), 1000 s, ~0 s left\n$/);
    expect(stream.out.every((l) => !l.includes('\r'))).toBe(true);
  });

  it('off a terminal: a short run prints little (the interval gates the tenths)', () => {
    const stream = fakeStream(false);
    let t = 0;
    const p = progressReporter('x', stream, () => t);
    for (let done = 1; done <= 100; done++) {
      t += 600; // a 60 s run
      p.update(done, 100, '');
    }
    expect(stream.out.length).toBe(Math.floor(60_000 / PLAIN_EVERY_MS));
  });

  it('on a terminal: one line redrawn in place, ended by done', () => {
    const stream = fakeStream(true);
    let t = 0;
    const p = progressReporter('x', stream, () => t);
    for (let done = 1; done <= 3; done++) {
      t += 1000;
      p.update(done, 3, `c${done}`);
    }
    p.done();
    expect(stream.out).toHaveLength(4);
    expect(stream.out.slice(0, 3).every((l) => l.startsWith('\r['))).toBe(true);
    expect(stream.out[2]).toContain('3/3 x, 3 s, ~0 s left');
    expect(stream.out[3]).toBe('\n');
  });
});
