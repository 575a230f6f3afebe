/**
 * Property 16 (backup suite): file-level and SQL Server row restores from the first and
 * last good points hold for quiescelab's engine, and fail for the restore mutants at
 * --runs 10: a file restore that drops each file's last partial block, and an item restore
 * whose block cache is not keyed by point (a later point answered from an earlier one's pages).
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { findCell } from '../../scenarios/cells.js';
import { findMutant } from '../../scenarios/mutants/index.js';
import { runCell } from '../../scenarios/runner.js';
import type { EngineUnderTest } from '../../scenarios/scenario/engine.js';
import { BACKUP_SUITE } from '../../scenarios/suites/backup-suite.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';

const FILES = 'linux/esx41/files/default';
const SQL = 'win2019/esx41/sqlserver/default';

async function p16(id: string, engine?: EngineUnderTest) {
  const cell = findCell(id);
  if (cell === undefined) throw new Error(id);
  const r = await runCell(cell, { runs: 10, seed: 1, suites: [BACKUP_SUITE], shrinkBudget: 5, ...(engine === undefined ? {} : { engine }) });
  const p = r.properties.find((x) => x.id === 'P16');
  if (p === undefined) throw new Error('no P16');
  return p;
}

function mutant(id: string): EngineUnderTest {
  const m = findMutant(id);
  if (m === undefined) throw new Error(id);
  return m.engine;
}

describe('property 16: file and item restores', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it.each([FILES, SQL])('holds for quiescelab on %s, judging every run', async (id) => {
    const p = await p16(id);
    expect(p.status, p.evidence ?? '').toBe('pass');
    expect(p.judged).toBe(10);
  });

  it('fails for file-restore-drops-last-block (the files\' tails read as zeros)', async () => {
    const p = await p16(FILES, mutant('file-restore-drops-last-block'));
    expect(p.status).toBe('fail');
    expect(p.evidence).toMatch(/file-level restore of \/files: \d+ of \d+ files equal/);
  });

  it('fails for item-restore-stale-page (a later point\'s row read from an earlier point\'s pages)', async () => {
    const p = await p16(SQL, mutant('item-restore-stale-page'));
    expect(p.status).toBe('fail');
    expect(p.evidence).toMatch(/item restore\(s\) wrong; point \d+: SQL Server row/);
  });
});
