/**
 * Un-write mode and the freeze window (P1/P2 "N file writes completed before the freeze
 * are missing" on VSS points of win2016/esx41/sqlserver and /ntds). The cut is the start
 * of the freeze window (the VSS writers' Freeze, the freeze scripts); the file system's own
 * freeze (flush-and-hold) comes later, and the `files` app, which no agent quiesces, goes
 * on in between: a retraction or a retention delete there takes back records acknowledged
 * before the cut, legitimately. The file system kept everything it was asked to (the
 * image holds every write not taken back by the capture); the classifier must not expect
 * those records, and still expects every other one and rejects stale data.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { findCell } from '../../scenarios/cells.js';
import { judgeLevel } from '../../scenarios/checkers/level.js';
import { AckLedger } from '../../scenarios/scenario/ledger.js';
import { bootCellWorld, startCellWorkload } from '../../scenarios/scenario/world.js';
import type { AckRecord } from '../../sim/apps/types.js';
import { GUEST_OS } from '../../sim/guest/catalog.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { inspectImage, type ImageInspection } from '../../sim/hypervisor/inspect.js';

const FILES_CELL = 'linux/esx41/files/default';

beforeAll(async () => { await prepareDefaultApps(); });

describe('a flushed freeze that comes after the cut (writers first)', () => {
  it('the image holds every write acknowledged before the cut but the ones taken back by the capture, and the classifier says filesystem', () => {
    const cell = findCell(FILES_CELL);
    if (cell === undefined) throw new Error(`no cell ${FILES_CELL}`);
    const world = bootCellWorld(cell, { seed: 1, unwrite: true });
    try {
      startCellWorkload(world, { meanIntervalMs: 5, opsPerTxn: 1, valueBytes: 16 });
      const ledger = new AckLedger();
      const guest = world.vm.guest;
      if (guest === null) throw new Error('the guest did not boot');
      const volumes = guest.volumes;
      let windowsWithRemovals = 0;
      for (let k = 0; k < 12; k++) {
        world.hv.runFor(40_000);
        const cutUs = world.hv.sim.clock.nowUs();
        // The writers' Freeze, as SQL Server's takes it (~10 ms): the files app goes on.
        world.hv.runFor(10_000);
        for (const v of volumes) expect(v.freeze().ok).toBe(true);
        const captureUs = world.hv.sim.clock.nowUs();
        const inspection = inspectImage(world.vm.disks.map((d) => d.disk), { os: GUEST_OS[cell.os], apps: world.vm.apps, factories: world.factories });
        ledger.collect(world.vm);
        const acks = ledger.acks().files ?? [];
        const removals = ledger.removals().files ?? [];
        const found = inspection.apps.files?.committed ?? new Set<string>();
        // The truth, from the file system alone.
        const takenBack = new Set(removals.filter((r) => r.timeUs <= captureUs).map((r) => r.id));
        const removedBeforeCut = new Set(removals.filter((r) => r.timeUs < cutUs).map((r) => r.id));
        const expected = acks.filter((a) => a.timeUs < cutUs && !takenBack.has(a.id)).map((a) => a.id);
        expect(expected.filter((id) => !found.has(id)), `freeze ${k}: acknowledged, not taken back, missing`).toEqual([]);
        expect([...removedBeforeCut].filter((id) => found.has(id)), `freeze ${k}: removed before the cut, back`).toEqual([]);
        const inWindow = removals.filter((r) => r.timeUs >= cutUs && r.timeUs <= captureUs && acks.some((a) => a.id === r.id && a.timeUs < cutUs));
        if (inWindow.length > 0) windowsWithRemovals++;
        // The classifier, told the capture instant.
        const verdict = judgeLevel({ inspection, acks: { files: acks }, removals: { files: removals }, cutUs, captureUs, appQuiesced: new Set() });
        expect(verdict.vm, `freeze ${k} (${inWindow.length} records taken back in the window): ${verdict.why}`).toBe('filesystem');
        expect(verdict.apps.files?.lost, `freeze ${k}`).toEqual([]);
        for (let i = volumes.length - 1; i >= 0; i--) expect(volumes[i]?.thaw().ok).toBe(true);
      }
      // The case the freeze window makes: records acknowledged before the cut, taken back before the capture.
      expect(windowsWithRemovals).toBeGreaterThanOrEqual(3);
    } finally {
      world.hv.dispose();
    }
  });
});

describe('the level classifier and removals in the freeze window', () => {
  const ack = (id: string, timeUs: number): AckRecord => ({ app: 'files', id, timeUs, durable: true });
  const image = (ids: readonly string[]): ImageInspection => ({
    volumes: [{ state: 'clean', problems: [] }], mounted: true, mountError: null,
    apps: { files: { open: { created: false, recoveryNeeded: false, ok: true, detail: '' }, committed: new Set(ids) } },
  });
  const acks = { files: [ack('w1', 10), ack('w2', 20), ack('w3', 30)] };
  const judge = (ids: readonly string[], removedAtUs: number) =>
    judgeLevel({ inspection: image(ids), acks, removals: { files: [ack('w2', removedAtUs)] }, cutUs: 100, captureUs: 120, appQuiesced: new Set() });

  it('a record removed between the cut and the capture is neither expected present nor expected gone', () => {
    for (const at of [100, 110, 120]) {
      expect(judge(['w1', 'w3'], at).vm, `removed at ${at}, gone`).toBe('filesystem');
      expect(judge(['w1', 'w2', 'w3'], at).vm, `removed at ${at}, present`).toBe('filesystem');
      expect(judge(['w1', 'w3'], at).apps.files?.lost).toEqual([]);
    }
  });

  it('a record removed after the capture is expected, one removed before the cut is stale data, one never removed is expected', () => {
    const after = judge(['w1', 'w3'], 121);
    expect(after.vm).toBe('crash');
    expect(after.apps.files?.lost).toEqual(['w2']);
    const stale = judge(['w1', 'w2', 'w3'], 99);
    expect(stale.vm).toBe('crash');
    expect(stale.apps.files?.resurrected).toEqual(['w2']);
    const missing = judge(['w1', 'w2'], 110);
    expect(missing.vm).toBe('crash');
    expect(missing.why).toMatch(/1 file writes completed before the freeze are missing \(first w3\)/);
  });
});
