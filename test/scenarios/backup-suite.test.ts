/**
 * The backup suite end to end on real cells: every property holds for quiescelab's engine,
 * the levels counted are the matrix's, data loss of a files crash point names the writes
 * and why, and a replay token decodes and replays the same spec.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { findCell } from '../../scenarios/cells.js';
import { decodeReplayToken, encodeReplayToken } from '../../scenarios/replay-token.js';
import { runCell } from '../../scenarios/runner.js';
import { runScenario } from '../../scenarios/scenario/run.js';
import { PLAIN_JOB } from '../../scenarios/scenario/spec.js';
import { BACKUP_SUITE } from '../../scenarios/suites/backup-suite.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';

function cell(id: string) {
  const c = findCell(id);
  if (c === undefined) throw new Error(`no cell ${id}`);
  return c;
}

describe('the backup suite', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it.each(['win2019/esx41/sqlserver/default', 'linux/esx41/sqlite/script', 'win2003-x64/esx35u1/files/default'])('every property holds on %s', async (id) => {
    const r = await runCell(cell(id), { runs: 6, seed: 7, suites: [BACKUP_SUITE] });
    for (const p of r.properties) expect(p.failures, `${p.id}: ${p.evidence ?? ''}`).toBe(0);
    expect(r.pass).toBe(true);
    const counted = Object.entries(r.achieved);
    for (const [level] of counted) expect(level).toBe(r.expected);
  });

  it('a crash-consistent point of the files app names the lost writes and why', async () => {
    // win2003-x64 with Tools of ESX 3.5 U1: no quiescer, a crash-consistent snapshot.
    const outcome = await runScenario({
      cellId: 'win2003-x64/esx35u1/files/default', seed: 3, workload: { meanIntervalMs: 5, opsPerTxn: 1, valueBytes: 200 },
      warmupMs: 1000, backupGapsMs: [100], fault: { kind: 'none' }, cbtPageAreas: 1024, disks: 1, unwrite: false, job: PLAIN_JOB,
    });
    const files = outcome.points[0]?.restored?.verdict.apps.files;
    expect(files?.level).toBe('crash');
    expect(files?.lost.length).toBeGreaterThan(0);
    const { dataLossOf } = await import('../../scenarios/checkers/data-loss.js');
    const loss = dataLossOf('files', outcome);
    expect(loss.writesLost).toBe(files?.lost.length);
    expect(loss.examples[0]?.why).toMatch(/dirty in the page cache at the snapshot instant/);
  });

  it('replay tokens round-trip and name a bad field', () => {
    const t = { cell: 'linux/esx41/files/default', suite: 'backup', property: 'P5', seed: 9, runs: 3, path: '2:0:1', mutant: null };
    const decoded = decodeReplayToken(encodeReplayToken(t));
    expect(decoded.ok && decoded.value).toEqual(t);
    const bad = decodeReplayToken(encodeReplayToken({ ...t, path: 'x' }));
    expect(bad.ok ? '' : bad.error).toMatch(/^token\.path/);
    expect(decodeReplayToken('nope').ok).toBe(false);
  });
});
