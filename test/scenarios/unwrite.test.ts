/**
 * Issue 15, class 5 (workloads never un-write): the files app in un-write mode really
 * deletes, shreds, zeroes and truncates, and the ledger knows exactly what it removed; the
 * level classifier does not expect a removed record and fails a flushed image that holds
 * one again; backup-suite points carry incrementals whose changed areas are all zero; and
 * the mutant that skips those areas is killed.
 */

import { builtinEngine } from '../../scenarios/engine-builtin.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { isAllZero } from '../../core/zero.js';
import { findCell } from '../../scenarios/cells.js';
import { judgeLevel } from '../../scenarios/checkers/level.js';
import { huntMutant } from '../../scenarios/mutants/hunt.js';
import { withPort } from '../../scenarios/mutants/mutant.js';
import { UNWRITE_MUTANTS } from '../../scenarios/mutants/unwrite-mutants.js';
import { AckLedger } from '../../scenarios/scenario/ledger.js';
import { runScenario } from '../../scenarios/scenario/run.js';
import { PLAIN_JOB, type ScenarioSpec } from '../../scenarios/scenario/spec.js';
import { bootCellWorld, startCellWorkload } from '../../scenarios/scenario/world.js';
import { FILES_DIR, parseRecords, STREAM_COUNT, UNWRITE_OPTIONS } from '../../sim/apps/files/files-app.js';
import type { AckRecord } from '../../sim/apps/types.js';
import type { ImageInspection } from '../../sim/hypervisor/inspect.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';

const FILES_CELL = 'linux/esx41/files/default';

function cell(id: string) {
  const c = findCell(id);
  if (c === undefined) throw new Error(`no cell ${id}`);
  return c;
}

beforeAll(async () => { await prepareDefaultApps(); });

describe('the files app in un-write mode', () => {
  it('deletes, shreds, zeroes and truncates, and the ledger is exact', () => {
    const world = bootCellWorld(cell(FILES_CELL), { seed: 11, unwrite: true });
    try {
      startCellWorkload(world, { meanIntervalMs: 5, opsPerTxn: 1, valueBytes: 300 });
      const ledger = new AckLedger();
      world.hv.runFor(4_000_000);
      ledger.collect(world.vm);
      const hows = new Map<string, number>();
      for (const e of world.hv.sim.history.events()) {
        if (e.kind !== 'app.remove') continue;
        const how = (e.data as { how: string }).how;
        hows.set(how, (hows.get(how) ?? 0) + 1);
      }
      expect([...hows.keys()].sort()).toEqual(['delete', 'retract', 'retract+truncate', 'shred+delete']);
      const app = world.vm.app('files');
      const committed = app.committed();
      const removed = new Set((ledger.removals().files ?? []).map((r) => r.id));
      const acked = new Set((ledger.acks().files ?? []).map((a) => a.id));
      expect(removed.size).toBeGreaterThan(20);
      // Exact: the live files hold every acknowledged write not removed, and nothing removed.
      for (const id of removed) expect(committed.has(id), id).toBe(false);
      for (const id of acked) expect(committed.has(id) || removed.has(id), id).toBe(true);
      for (const id of committed) expect(acked.has(id), id).toBe(true);
      // Retention: at most keepSegments + 1 segments per stream on the file system.
      const fs = world.vm.guest?.volumes[world.vm.guest.volumes.length - 1];
      const names = fs?.readdir(FILES_DIR);
      expect(names?.ok).toBe(true);
      if (fs === undefined || names?.ok !== true) return;
      expect(names.value.length).toBeLessThanOrEqual(STREAM_COUNT * (UNWRITE_OPTIONS.keepSegments + 1));
      // Some file holds zeros past its valid prefix (a retracted tail or a preallocation).
      let zeroTails = 0;
      for (const name of names.value) {
        const h = fs.open(`${FILES_DIR}/${name}`);
        if (!h.ok) continue;
        const size = fs.size(h.value);
        const bytes = size.ok ? fs.read(h.value, 0, size.value) : null;
        fs.close(h.value);
        if (bytes === null || !bytes.ok) continue;
        const records = parseRecords(bytes.value);
        const last = records[records.length - 1];
        const end = last === undefined ? 0 : last.offsetBytes + 16 + last.payload.length;
        if (end < bytes.value.length && isAllZero(bytes.value.subarray(end))) zeroTails++;
      }
      expect(zeroTails).toBeGreaterThan(0);
    } finally {
      world.hv.dispose();
    }
  });
});

describe('the level classifier and removals', () => {
  const ack = (id: string, timeUs: number): AckRecord => ({ app: 'files', id, timeUs, durable: true });
  const image = (ids: readonly string[]): ImageInspection => ({
    volumes: [{ state: 'clean', problems: [] }], mounted: true, mountError: null,
    apps: { files: { open: { created: false, recoveryNeeded: false, ok: true, detail: '' }, committed: new Set(ids) } },
  });
  const acks = { files: [ack('w1', 10), ack('w2', 20), ack('w3', 30)] };

  it('a record removed before the cut is not expected, and its coming back fails a flushed image', () => {
    const removals = { files: [ack('w2', 50)] };
    const gone = judgeLevel({ inspection: image(['w1', 'w3']), acks, removals, cutUs: 100, appQuiesced: new Set() });
    expect(gone.vm).toBe('filesystem');
    expect(gone.apps.files?.lost).toEqual([]);
    const back = judgeLevel({ inspection: image(['w1', 'w2', 'w3']), acks, removals, cutUs: 100, appQuiesced: new Set() });
    expect(back.vm).toBe('crash');
    expect(back.why).toMatch(/1 file records removed .* back in the image \(first w2\): stale data/);
    expect(back.apps.files?.resurrected).toEqual(['w2']);
  });

  it('a crash-consistent image may still hold a removed record', () => {
    const inspection: ImageInspection = { ...image(['w1', 'w2']), volumes: [{ state: 'needs-replay', problems: [] }] };
    const v = judgeLevel({ inspection, acks, removals: { files: [ack('w2', 50)] }, cutUs: 100, appQuiesced: new Set() });
    expect(v.vm).toBe('crash');
    expect(v.why).toBe('a volume needs journal replay');
    expect(v.apps.files?.lost).toEqual(['w3']);
  });

  it('a removal after the cut expects the record present', () => {
    const removals = { files: [ack('w2', 150)] };
    const missing = judgeLevel({ inspection: image(['w1', 'w3']), acks, removals, cutUs: 100, appQuiesced: new Set() });
    expect(missing.vm).toBe('crash');
    expect(missing.apps.files?.lost).toEqual(['w2']);
    const present = judgeLevel({ inspection: image(['w1', 'w2', 'w3']), acks, removals, cutUs: 100, appQuiesced: new Set() });
    expect(present.vm).toBe('filesystem');
  });

  it('after a power loss the ledger forgets a removal the crash undid and counts no removed record as lost', async () => {
    const ledger = new AckLedger();
    const world = bootCellWorld(cell(FILES_CELL), { seed: 4, unwrite: true });
    try {
      startCellWorkload(world, { meanIntervalMs: 5, opsPerTxn: 1, valueBytes: 200 });
      world.hv.runFor(1_500_000);
      ledger.collect(world.vm);
      const removedBefore = (ledger.removals().files ?? []).length;
      expect(removedBefore).toBeGreaterThan(0);
      world.hv.powerLossHost();
      await world.hv.powerOn(world.vm.vmId);
      ledger.markCrash(world.vm, world.hv.sim.clock.nowUs());
      const committed = world.vm.app('files').committed();
      const standing = ledger.removals().files ?? [];
      for (const r of standing) expect(committed.has(r.id), r.id).toBe(false);
      const lost = ledger.crashLosses.flatMap((l) => l.lost);
      const removedIds = new Set(standing.map((r) => r.id));
      for (const id of lost) expect(removedIds.has(id), id).toBe(false);
      // Every removal was fsync'ed before it was acknowledged: the honest disk kept them all.
      expect(standing.length).toBe(removedBefore);
    } finally {
      world.hv.dispose();
    }
  });
});

/** quiescelab's engine, watching each incremental's changed areas: how many 64 KiB pieces read back all zero. */
function zeroAreaProbe(): { count: number; engine: ReturnType<typeof withPort> } {
  const probe = { count: 0, engine: withPort('zero-area-probe', (port) => ({
    queryChangedDiskAreas: async (vmId, snapshotId, diskId, start, changeId) => {
      const page = await port.queryChangedDiskAreas(vmId, snapshotId, diskId, start, changeId);
      if (!page.ok || changeId === '*') return page;
      for (const a of page.value.changedAreas) {
        for (let pos = a.startBytes; pos < a.startBytes + a.lengthBytes; pos += 65536) {
          const n = Math.min(65536, a.startBytes + a.lengthBytes - pos);
          const bytes = await port.readSnapshotDisk(vmId, snapshotId, diskId, pos, n);
          if (bytes.ok && isAllZero(bytes.value)) probe.count++;
        }
      }
      return page;
    },
  })) };
  return probe;
}

describe('backup-suite points with unwrite: true', () => {
  it('incrementals carry changed areas that became all zero, and the real engine restores them exactly', async () => {
    const zeroed: number[] = [];
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const probe = zeroAreaProbe();
      const spec: ScenarioSpec = {
        cellId: FILES_CELL, seed, workload: { meanIntervalMs: 8, opsPerTxn: 1, valueBytes: 200 }, warmupMs: 800, backupGapsMs: [500, 500],
        fault: { kind: 'none' }, cbtPageAreas: 1024, disks: 1, job: PLAIN_JOB, unwrite: true,
      };
      const outcome = await runScenario(spec, { engine: builtinEngine(probe.engine) });
      zeroed.push(probe.count);
      for (const p of outcome.points) {
        expect(p.ok).toBe(true);
        expect(p.restored?.equalsSnapshot?.equal, `seed ${seed} point ${p.index}`).toBe(true);
        expect(p.restored?.verdict.vm, `seed ${seed} point ${p.index}: ${p.restored?.verdict.why ?? ''}`).toBe('filesystem');
      }
    }
    console.log(`all-zero 64 KiB pieces in incremental CBT areas, per run: ${zeroed.join(', ')}`);
    expect(zeroed.filter((n) => n > 0).length, `zero pieces per run: ${zeroed.join(', ')}`).toBeGreaterThanOrEqual(3);
  }, 120_000);
});

describe('incremental-skips-zeroed-areas', () => {
  it('is killed at 10 runs', async () => {
    const mutant = UNWRITE_MUTANTS.find((m) => m.id === 'incremental-skips-zeroed-areas');
    expect(mutant).toBeDefined();
    if (mutant === undefined) return;
    const outcome = await huntMutant(mutant, { runs: 10, seed: 1 });
    console.log(`killed on ${outcome.cell ?? '-'} after ${outcome.runs} runs by ${outcome.killer?.id ?? '-'}: ${outcome.killer?.evidence ?? ''}`);
    expect(outcome.killed, JSON.stringify(outcome.killer)).toBe(true);
    expect(['P5', 'P1']).toContain(outcome.killer?.id);
  }, 300_000);
});
