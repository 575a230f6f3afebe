/**
 * Capabilities: an engine that declares it lacks one makes the properties (or whole suites)
 * needing it "not applicable" on the cell — shown as such, never a pass, no failure of the
 * cell; an engine that declares nothing a suite can use passes no cell. The scenario never
 * asks it for what it lacks (its restores, incrementals and copy backups are not called).
 */

import { describe, expect, it } from 'vitest';
import { findCell } from '../../scenarios/cells.js';
import type { Capability, Engine } from '../../scenarios/engine-api.js';
import { builtinEngine } from '../../scenarios/engine-builtin.js';
import { runCell } from '../../scenarios/runner.js';
import { BACKUP_SUITE } from '../../scenarios/suites/backup-suite.js';
import { LOGS_SUITE } from '../../scenarios/suites/logs-suite.js';
import { renderJunit } from '../../reports/junit.js';

/** The built-in engine declaring only `caps`, counting the calls it gets. */
function declaring(caps: readonly Capability[]): { engine: Engine; calls: Map<string, number> } {
  const inner = builtinEngine();
  const calls = new Map<string, number>();
  const engine = new Proxy(inner, {
    get(target, key: string) {
      const value: unknown = Reflect.get(target, key);
      if (key === 'initialize') return async (...args: Parameters<Engine['initialize']>) => ({ ...await inner.initialize(...args), name: 'partial', capabilities: caps });
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(key, (calls.get(key) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { engine, calls };
}

function mustCell(id: string) {
  const c = findCell(id);
  if (c === undefined) throw new Error(id);
  return c;
}

describe('capabilities', () => {
  it('what the engine lacks is not applicable, not asked of it, and neither passes nor fails the cell', async () => {
    const { engine, calls } = declaring(['backup', 'restore-vm']);
    const r = await runCell(mustCell('win2019/esx41/sqlserver/default'), { runs: 10, seed: 1, engine, suites: [BACKUP_SUITE, LOGS_SUITE], shrinkBudget: 5 });
    const status = Object.fromEntries(r.properties.map((p) => [p.id, p.status]));
    expect(status).toMatchObject({ P1: 'pass', P2: 'pass', P14: 'pass', P5: 'not-applicable', P16: 'not-applicable', P6: 'not-applicable', P7: 'not-applicable', P13: 'not-applicable' });
    const p5 = r.properties.find((p) => p.id === 'P5');
    expect(p5?.pass).toBe(false);
    expect(p5?.evidence).toBe('not applicable: the engine does not declare incremental');
    expect(r.properties.find((p) => p.id === 'P6')?.evidence).toContain('logs.sql');
    expect(r.pass).toBe(true);
    for (const asked of ['restoreFiles', 'restoreDisk', 'findSqlRow']) expect(calls.get(asked) ?? 0).toBe(0);
    expect(calls.get('restoreVm') ?? 0).toBeGreaterThan(0);
    const junit = renderJunit({ tool: 'quiescelab', version: 't', seed: 1, runsPerCell: 10, engine: 'partial', cells: [r], mutants: null } as never);
    expect(junit).toMatch(/P5 incremental equals full"[^>]*>\s*<skipped message="not applicable: the engine does not declare incremental"/);
  }, 300_000);

  it('an engine that declares nothing the suites use passes no cell', async () => {
    const { engine, calls } = declaring([]);
    const r = await runCell(mustCell('win2019/esx41/files/default'), { runs: 2, seed: 1, engine, suites: [BACKUP_SUITE] });
    expect(r.properties.length).toBeGreaterThan(0);
    expect(r.properties.every((p) => p.status === 'not-applicable')).toBe(true);
    expect(r.pass).toBe(false);
    expect(calls.get('backup') ?? 0).toBe(0);
  }, 60_000);
});
