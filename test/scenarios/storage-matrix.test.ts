import { describe, expect, it } from 'vitest';
import { runStorageMatrix, runStorageScenario, STORAGE_CELLS } from '../../scenarios/storage-matrix.js';

describe('storage crash matrix', () => {
  it('every cell passes, and one seed gives one results object', () => {
    const a = runStorageMatrix({ seed: 7, runsPerCell: 4, version: 'test' });
    expect(a.summary).toEqual({ cells: STORAGE_CELLS.length, passed: STORAGE_CELLS.length, failed: 0 });
    expect(JSON.stringify(runStorageMatrix({ seed: 7, runsPerCell: 4, version: 'test' }))).toBe(JSON.stringify(a));
    expect(JSON.stringify(runStorageMatrix({ seed: 8, runsPerCell: 4, version: 'test' }))).not.toBe(JSON.stringify(a));
  });

  it('tells crash from filesystem: only the frozen snapshot reaches filesystem', () => {
    const frozen = { capture: 'snapshot-frozen', writeCache: 'write-back', flush: 'honest', dataMode: 'ordered' } as const;
    const plain = { ...frozen, capture: 'snapshot' } as const;
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
    expect(seeds.map((s) => runStorageScenario(frozen, s).level)).toEqual(seeds.map(() => 'filesystem'));
    const plainLevels = seeds.map((s) => runStorageScenario(plain, s));
    expect(plainLevels.filter((o) => o.level === 'crash').length).toBeGreaterThan(4);
    expect(plainLevels.every((o) => o.syncedBytesLost === 0)).toBe(true);
  });

  it('names the lost writes and why (training evidence)', () => {
    const plain = { capture: 'snapshot', writeCache: 'write-back', flush: 'honest', dataMode: 'ordered' } as const;
    const lossy = [1, 2, 3, 4, 5, 6].map((s) => runStorageScenario(plain, s)).find((o) => o.completedBytesLost > 0);
    expect(lossy).toBeDefined();
    expect(lossy?.reasons.some((r) => /^lost: write #\d+ to \/data\/file-\d\.log at [\d.]+s, bytes \d+\.\.\d+: dirty in the guest page cache/.test(r))).toBe(true);
  });

  it('catches a lying flush: fsync\'ed data lost, reported as inconsistent', () => {
    const lying = { capture: 'power-loss', writeCache: 'write-back', flush: 'lying', dataMode: 'ordered' } as const;
    const honest = { ...lying, flush: 'honest' } as const;
    const seeds = Array.from({ length: 12 }, (_, i) => i + 100);
    const lied = seeds.map((s) => runStorageScenario(lying, s));
    expect(lied.some((o) => o.level === 'inconsistent' && o.syncedBytesLost > 0)).toBe(true);
    expect(seeds.map((s) => runStorageScenario(honest, s)).every((o) => o.syncedBytesLost === 0 && !o.corrupt)).toBe(true);
  });
});
