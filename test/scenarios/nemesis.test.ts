/**
 * The nemesis (scenarios/nemesis/): one entry per fault kind. Each describes its fault in
 * the syntax `run --fault` parses (round trip), boots the world it needs, strikes at its
 * instant, and heals what it injected.
 */

import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.js';
import { FAULT_SCRIPT_PATH, nemesisOf, type NemesisTarget } from '../../scenarios/nemesis/index.js';
import { findCell, type Cell } from '../../scenarios/cells.js';
import { formatFault, parseFault } from '../../scenarios/scenario/fault-syntax.js';
import type { FaultPlan } from '../../scenarios/scenario/spec.js';
import { bootCellWorld } from '../../scenarios/scenario/world.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';

const FAULTS: readonly FaultPlan[] = [
  { kind: 'none' },
  { kind: 'writer', phase: 'freeze', error: 'TIMEOUT' },
  { kind: 'commit-timeout' },
  { kind: 'script', failure: 'exit' },
  { kind: 'script', failure: 'hang' },
  { kind: 'power-loss', atMs: 250, lyingCache: false },
  { kind: 'power-loss', atMs: 0, lyingCache: true },
];

describe('the nemesis', () => {
  it.each(FAULTS.map((f) => [formatFault(f), f] as const))('%s: describe is what --fault parses back', (text, fault) => {
    expect(unwrap(parseFault(text))).toEqual(fault);
  });

  it('boot: the script fault installs its script, a lying power loss lies; strikes at the warm-up\'s end or at the power loss', () => {
    expect(nemesisOf({ kind: 'script', failure: 'hang' }).boot({ kind: 'script', failure: 'hang' }).scripts.map((s) => s.path)).toEqual([FAULT_SCRIPT_PATH]);
    expect(nemesisOf(FAULTS[6] as FaultPlan).boot(FAULTS[6] as FaultPlan).lyingCache).toBe(true);
    expect(FAULTS.map((f) => nemesisOf(f).strikesAtUs(f, 1_000_000))).toEqual([1_000_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000, 250_000, 0]);
  });

  it('inject then heal: a writer fault and a commit timeout are on the VM, then gone; the fault script is removed', async () => {
    await prepareDefaultApps();
    const cell = findCell('win2019/esx41/sqlserver/default') as Cell;
    for (const fault of FAULTS.filter((f) => f.kind === 'writer' || f.kind === 'commit-timeout' || f.kind === 'script')) {
      const world = bootCellWorld(cell, { seed: 1, scripts: nemesisOf(fault).boot(fault).scripts });
      const notes: string[] = [];
      const target: NemesisTarget = {
        hv: world.hv, vmId: world.vm.vmId, cell, scripts: world.scripts,
        note: (_kind, detail) => { notes.push(detail); }, noteWrites: () => undefined, recoverFromPowerLoss: () => Promise.resolve(true),
      };
      await nemesisOf(fault).inject(target, fault, 0);
      expect(notes).toHaveLength(1);
      const vm = world.hv.vm(world.vm.vmId);
      if (fault.kind !== 'script') expect(vm.quiesceFaults).not.toEqual({});
      nemesisOf(fault).heal(target, fault);
      expect(vm.quiesceFaults).toEqual({});
      expect(vm.scripts.map((s) => s.path)).not.toContain(FAULT_SCRIPT_PATH);
      world.hv.dispose();
    }
  });
});
