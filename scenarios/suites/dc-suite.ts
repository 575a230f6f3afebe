/**
 * The domain-controller suite: property 12 (USN rollback), on the ntds cells. One run:
 *
 * 1. The cell's DC VM boots (a new DC of the world's AdDomain, whose partner DC and RID
 *    master are modelled as data) and runs its workload: users created and modified,
 *    replicated to the partner every 15 s (scenarios/scenario/run.ts's world).
 * 2. The engine under test backs it up (policy `try`). Half the runs make the NTDS writer
 *    fail before its freeze, so the engine falls back to a non-VSS point.
 * 3. More workload and replication (16 to 40 s: at least one replication passes the
 *    point's USN), then the DC is lost: its VM is powered off for good. The partner's
 *    administrator makes a few changes meanwhile.
 * 4. The engine restores the point (restoreVm: a new VM, powered on); the restored DC runs
 *    the workload for a while, then a quiet 32 s lets replication settle.
 * 5. The record (checker: scenarios/checkers/usn-rollback.ts, which says where each
 *    expectation comes from): GenID before and after, whether the point's VmSnapshot
 *    carries the NTDS writer's marker (read from the hypervisor's image of it), the
 *    original DC's identity, the restored DC's invocationId, events and writes, and the
 *    partner's detections, divergence, duplicate RIDs, watermark and agreement.
 *
 * Leaves out: a revert to a VmSnapshot (the hypervisor's restore, not the engine's; the
 * simulator's own tests cover it: test/sim/apps/ntds.test.ts), authoritative restores,
 * several DCs restored together.
 *
 * Cells: every ntds cell (the guest OS decides GenID and VSS, the Tools whether the NTDS
 * writer takes part), each with the full number of runs: a run simulates about two
 * minutes of a DC in tens of milliseconds, as cheap as a backup-suite run.
 */

import fc from 'fast-check';
import { assert } from '../../core/assert.js';
import type { AppId } from '../../core/hypervisor-port.js';
import { VmId } from '../../core/ids.js';
import { unwrap } from '../../core/result.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { NTDS_MARKER_PATH, NtdsApp } from '../../sim/apps/ntds/index.js';
import { GUEST_OS } from '../../sim/guest/catalog.js';
import { FileSystem } from '../../sim/guest/file-system.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { OverlayDevice } from '../../sim/storage/overlay-device.js';
import { cellId, findCell } from '../cells.js';
import { checkUsnRollback, type DcRestoreRecord } from '../checkers/usn-rollback.js';
import { scenarioArb } from '../scenario/arbitraries.js';
import { Scenario, type TimelineEvent } from '../scenario/run.js';
import type { SparseImage } from '../scenario/sparse-image.js';
import type { FaultPlan, ScenarioSpec } from '../scenario/spec.js';
import type { Suite } from './suite.js';

/** The record the checker judges, and what happened, for a replay. */
export interface DcRun {
  readonly record: DcRestoreRecord;
  readonly timeline: readonly TimelineEvent[];
}

export interface DcSpec extends ScenarioSpec {
  /** The restored DC's workload before the quiet period. */
  readonly afterRestoreMs: number;
  /** Users the partner's administrator creates while the DC is down. */
  readonly partnerWrites: number;
}

const NTDS: AppId = 'ntds';
const QUIET_MS = 32_000;
const MAX_PARTNER_WRITES = 3;

/** Whether the first disk's image (the system volume) holds the NTDS writer's marker. */
function carriesMarker(images: readonly SparseImage[], os: keyof typeof GUEST_OS): boolean {
  const image = images[0];
  if (image === undefined) return false;
  const sim = new Simulation({ seed: 0 });
  const fs = FileSystem.mount(new OverlayDevice(image), { clock: sim.clock, queue: sim.queue, writeback: GUEST_OS[os].writeback, label: 'dc-suite:marker' });
  if (!fs.ok) return false;
  const found = fs.value.stat(NTDS_MARKER_PATH).ok;
  fs.value.crash();
  return found;
}

function ntdsOf(s: Scenario, vmId: string): NtdsApp | null {
  const app = s.hv.vm(vmId).guest?.apps.get(NTDS);
  return app instanceof NtdsApp ? app : null;
}

/** Names the partner and the DC hold differently (a missing object, another stamp or version). */
function unconverged(partner: ReadonlyMap<string, { readonly orig: { readonly invocationId: string; readonly usn: number }; readonly version: number }>, dc: NtdsApp): string[] {
  const out: string[] = [];
  const mine = new Map(dc.objects().map((o) => [o.name, o]));
  for (const [name, p] of partner) {
    const o = mine.get(name);
    if (o === undefined || o.orig.invocationId !== p.orig.invocationId || o.orig.usn !== p.orig.usn || o.version !== p.version) out.push(name);
  }
  for (const name of mine.keys()) if (!partner.has(name)) out.push(name);
  return out;
}

const writerFault: fc.Arbitrary<FaultPlan> = fc.oneof(
  fc.constant<FaultPlan>({ kind: 'none' }),
  fc.record({ phase: fc.constantFrom('prepareForBackup' as const, 'prepareForSnapshot' as const), error: fc.constantFrom('NONRETRYABLE' as const, 'RETRYABLE' as const) })
    .map((w): FaultPlan => ({ kind: 'writer', ...w })),
);

export const DC_SUITE: Suite<DcSpec, DcRun> = {
  id: 'dc',
  appliesTo: (cell) => cell.app === NTDS,
  needs: () => ['backup', 'restore-vm'],
  runsFor: (runs) => runs,
  arbitrary: (cell) => fc.record({
    base: scenarioArb(cellId(cell), {
      override: {
        workload: fc.record({ meanIntervalMs: fc.integer({ min: 100, max: 800 }), opsPerTxn: fc.integer({ min: 1, max: 4 }), valueBytes: fc.integer({ min: 16, max: 400 }) }),
        warmupMs: fc.integer({ min: 1_000, max: 20_000 }),
        backupGapsMs: fc.integer({ min: 16_000, max: 40_000 }).map((gap) => [gap]),
        fault: writerFault,
      },
    }),
    afterRestoreMs: fc.integer({ min: 2_000, max: 20_000 }),
    partnerWrites: fc.integer({ min: 0, max: MAX_PARTNER_WRITES }),
  }).map(({ base, ...rest }) => ({ ...base, ...rest })),
  async run(spec, engine) {
    const cell = findCell(spec.cellId);
    assert(cell !== undefined, `unknown cell ${spec.cellId}`);
    const s = new Scenario(spec, cell, engine, undefined);
    try {
      const domain = s.apps.domain;
      await s.warmUp();
      const repo = await s.openRepository(new MemoryStore());
      const { runs } = await s.backups(repo);
      const point = runs[0];
      assert(point !== undefined, 'one backup');
      const images = s.tap.snapshotOf(0)?.images ?? null;
      const dc = ntdsOf(s, s.vmId);
      assert(dc !== null, 'the original DC runs');
      const original = { invocationId: dc.invocationId, highestCommittedUsn: dc.highestCommittedUsn };
      const originalGenerationId = s.vm.generationId;
      unwrap(await s.hv.powerOff(s.vmId));
      s.note('power-loss', `the DC is lost (invocationId ${original.invocationId}, USN ${original.highestCommittedUsn})`);
      for (let i = 0; i < spec.partnerWrites; i++) domain.partnerWrite(`partner-user-${i}`, { title: 'made on the partner' }, s.nowUs);
      const restoreStartUs = s.nowUs;
      const watermarkAtRestore = domain.watermark(original.invocationId) ?? null;
      const restore = point.pointId === null ? null : await s.restoreVm(repo, point);
      const restoredVmId = restore?.vmId ?? null;
      const app = restoredVmId === null ? null : ntdsOf(s, restoredVmId);
      let restored: DcRestoreRecord['restored'] = null;
      if (restoredVmId !== null && app !== null && app.store !== null) {
        const usnAtOpen = app.highestCommittedUsn;
        const acksBefore = app.acknowledged().length;
        s.hv.startWorkload(VmId(restoredVmId), NTDS, { meanIntervalUs: spec.workload.meanIntervalMs * 1000, opsPerTxn: spec.workload.opsPerTxn, valueBytes: spec.workload.valueBytes });
        s.hv.runFor(spec.afterRestoreMs * 1000);
        app.stopWorkload();
        s.hv.runFor(QUIET_MS * 1000);
        const retired = app.dsa.retired.find((x) => x.invocationId === original.invocationId);
        const events = s.hv.sim.history.events()
          .filter((e) => e.kind === 'ntds.event' && e.subject === `${restoredVmId}/ntds` && e.timeUs >= restoreStartUs)
          .map((e) => e.data['id'] as number);
        s.note('restore', `the restored DC ${app.invocationId === original.invocationId ? 'kept' : 'reset'} its invocationId; events ${events.join(', ') || 'none'}; ${app.acknowledged().length - acksBefore} write(s)${app.netlogonPaused ? '; Netlogon paused' : ''}`);
        restored = {
          invocationId: app.invocationId, usnAtOpen, resetReason: retired?.reason ?? null, events, netlogonPaused: app.netlogonPaused,
          highestCommittedUsn: app.highestCommittedUsn, writes: app.acknowledged().length - acksBefore,
        };
      }
      const restoredInvocationId = restored?.invocationId ?? null;
      const after = <T extends { readonly timeUs: number }>(xs: readonly T[]): T[] => xs.filter((x) => x.timeUs >= restoreStartUs);
      const record: DcRestoreRecord = {
        os: cell.os, osHonoursGenerationId: GUEST_OS[cell.os].vmGenerationId,
        originalGenerationId, restoredGenerationId: restoredVmId === null ? null : s.hv.vm(restoredVmId).generationId,
        vssPoint: images === null ? null : carriesMarker(images, cell.os),
        point: { pointId: point.pointId, error: point.error },
        original, watermarkAtRestore,
        restore: restore === null ? null : { ok: restore.ok, detail: restore.detail, vmId: restoredVmId },
        restored,
        partner: {
          rollbacksDetected: after(domain.rollbacks()).length,
          divergent: domain.divergence().filter((d) => d.detectedUs >= restoreStartUs).map((d) => `${d.object}@${d.stamp.invocationId.slice(0, 8)}:${d.stamp.usn}`),
          duplicateRids: after(domain.duplicateRids()).length,
          replications: after(domain.replicationReports()).filter((x) => x.invocationId === restoredInvocationId).length,
          watermarkForRestored: restoredInvocationId === null ? null : domain.watermark(restoredInvocationId) ?? null,
          unconverged: app === null || app.store === null ? [] : unconverged(domain.partnerObjects(), app),
        },
      };
      return { record, timeline: s.timeline };
    } finally {
      s.hv.dispose();
    }
  },
  describe: (spec) => spec,
  timeline: (run) => run.timeline,
  properties: [
    {
      id: 'P12', name: 'domain controller restore',
      description: 'A domain controller restored from a non-VSS point without VM-GenerationID shows USN rollback; with it, the restore is safe.',
      applies: () => true,
      check: (_cell, _spec, run) => checkUsnRollback(run.record),
    },
  ],
};
