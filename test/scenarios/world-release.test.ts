/**
 * A scenario lets go of its world when it ends. A SQLite guest's connection lives in the
 * process's one wasm module and its VFS registration points back into the world, so a
 * world dropped with SQLite running is never collected: about 7 MB a scenario, enough to
 * sink a 100-run matrix. Every suite's run ends with SimHypervisor.dispose(); the count of
 * registered guest VFS instances shows it.
 */

import { builtinEngine } from '../../scenarios/engine-builtin.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { findCell } from '../../scenarios/cells.js';
import { runCell, SUITES } from '../../scenarios/runner.js';
import { Scenario } from '../../scenarios/scenario/run.js';
import { PLAIN_JOB } from '../../scenarios/scenario/spec.js';
import { registeredVfsCount } from '../../sim/apps/sqlite/guest-vfs.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';

beforeAll(async () => {
  await prepareDefaultApps();
});

describe('a scenario releases its world', () => {
  it('a SQLite world left running keeps its VFS registered until dispose()', async () => {
    const cell = findCell('win2019/esx41/sqlite/default');
    expect(cell).toBeDefined();
    if (cell === undefined) return;
    const before = registeredVfsCount();
    const s = new Scenario({ cellId: 'win2019/esx41/sqlite/default', seed: 5, workload: { meanIntervalMs: 20, opsPerTxn: 2, valueBytes: 100 }, warmupMs: 300, backupGapsMs: [100], fault: { kind: 'none' }, cbtPageAreas: 1024, disks: 1, unwrite: false, job: PLAIN_JOB }, cell, builtinEngine(), undefined);
    await s.warmUp();
    expect(registeredVfsCount()).toBeGreaterThan(before);
    s.hv.dispose();
    expect(registeredVfsCount()).toBe(before);
  });

  it.each(['linux/esx41/sqlite/script', 'win2019/esx41/sqlite/default'])('every suite that runs %s leaves no VFS registered', async (id) => {
    const cell = findCell(id);
    expect(cell).toBeDefined();
    if (cell === undefined) return;
    for (const suite of SUITES.filter((x) => x.appliesTo(cell))) {
      const before = registeredVfsCount();
      const result = await runCell(cell, { runs: 3, seed: 9, suites: [suite] });
      expect(result.pass, `${suite.id} on ${id}`).toBe(true);
      expect(registeredVfsCount(), `${suite.id} on ${id}`).toBe(before);
    }
  }, 60_000);
});
