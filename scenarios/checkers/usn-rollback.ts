/**
 * Property 12: a domain controller restored from a non-VSS point without VM-GenerationID
 * shows USN rollback; with it, the restore is safe.
 *
 * Judged from the simulation's recorded truth (scenarios/suites/dc-suite.ts): the
 * hypervisor's VmSnapshot of the point, the original DC's identity when it was lost, and
 * what the restored DC and its replication partner (the AdDomain) did afterwards. Where
 * each expectation comes from:
 * - notes fact 16 (quiescing-facts.md, the researched facts): from Windows Server 2012 a
 *   changed VM-GenerationID makes the DC reset its invocationID and drop its RID pool, so
 *   restoring is safe; without it (2008 R2 and earlier, or no GenID from the hypervisor)
 *   the DC rolls its USNs back: event 2095, Netlogon paused, replication silently diverges.
 *   Whether the OS honours GenID is the catalog's `vmGenerationId` (sim/guest/catalog.ts).
 * - The hypervisor exposes GenID to guests of Tools of 4.1 and later and gives every new
 *   or reverted VM a new one (sim/hypervisor/sim-hypervisor.ts): "with it" means the
 *   original DC saw a GenID, so a restore done right presents it a different one.
 * - A VSS point: the VmSnapshot the point was read from was taken inside the NTDS
 *   writer's freeze, so it carries the writer's "restored-from-backup" marker, which makes
 *   a DC booted from it do a non-authoritative restore (sim/apps/ntds/ntds-writer.ts,
 *   the model of AD's "restored from backup" state). Read from the hypervisor's image of
 *   the snapshot, not the engine's copy: an engine whose copy lost it is judged by the
 *   truth.
 *
 * Expected safe (a VSS point, or GenID the OS honours): the restored DC has a new
 * invocationId; the partner detects no rollback, logs no divergence and no duplicate RID;
 * after a quiet period the partner holds every change of the restored DC and both hold
 * the same objects. Expected rollback (otherwise): the DC keeps its invocationId and the
 * rollback shows — event 2095, or changes the partner will never ask for (divergence).
 * Unknown when the partner had seen nothing past the point (nothing to roll back) or when
 * no point was stored.
 *
 * Does not check: whether the engine could have made a VSS point where it made none (the
 * level it reaches is property 1's), the level the point claims (2), restores of other
 * apps, authoritative restores, several partners, lingering objects after the tombstone
 * lifetime.
 */

import { NTDS_EVENTS } from '../../sim/apps/ntds/index.js';
import { fail, pass, unknown, type Verdict } from '../verdict.js';

const USN_ROLLBACK_EVENT = NTDS_EVENTS.usnRollback;

export interface DcRestoreRecord {
  readonly os: string;
  /** The guest OS resets on a changed VM-GenerationID. */
  readonly osHonoursGenerationId: boolean;
  /** The VM-GenerationID the hypervisor showed the original DC (null: none) and the restored one. */
  readonly originalGenerationId: string | null;
  readonly restoredGenerationId: string | null;
  /** The point's VmSnapshot carries the NTDS writer's marker (null: no image of it was captured). */
  readonly vssPoint: boolean | null;
  /** The backup: its point, or why there is none. */
  readonly point: { readonly pointId: string | null; readonly error: string | null };
  /** The original DC when it was lost. */
  readonly original: { readonly invocationId: string; readonly highestCommittedUsn: number };
  /** The partner's watermark for the original invocationId when the restore began. */
  readonly watermarkAtRestore: number | null;
  /** The restore: its VM, and whether the VM booted. */
  readonly restore: { readonly ok: boolean; readonly detail: string; readonly vmId: string | null } | null;
  /** The restored DC (null: no directory came up). */
  readonly restored: {
    readonly invocationId: string;
    /** Its highest committed USN when it first opened. */
    readonly usnAtOpen: number;
    /** Why its invocationId was reset (null: it was not). */
    readonly resetReason: string | null;
    /** Directory event ids it logged. */
    readonly events: readonly number[];
    readonly netlogonPaused: boolean;
    readonly highestCommittedUsn: number;
    readonly writes: number;
  } | null;
  /** The partner, from the restore on. */
  readonly partner: {
    readonly rollbacksDetected: number;
    readonly divergent: readonly string[];
    readonly duplicateRids: number;
    readonly replications: number;
    /** Its watermark for the restored DC's invocationId at the end. */
    readonly watermarkForRestored: number | null;
    /** Objects the partner and the restored DC hold differently (or one lacks) at the end. */
    readonly unconverged: readonly string[];
  };
}

const few = (names: readonly string[]): string => names.slice(0, 3).join(', ') + (names.length > 3 ? ` (+${names.length - 3} more)` : '');

function expectation(r: DcRestoreRecord): { readonly safe: boolean; readonly why: string } | null {
  const genId = r.osHonoursGenerationId && r.originalGenerationId !== null;
  if (r.vssPoint === true) return { safe: true, why: 'a VSS point (the NTDS writer\'s marker is in the snapshot)' };
  if (genId) return { safe: true, why: `${r.os} honours VM-GenerationID and the hypervisor exposes it` };
  if (r.vssPoint === null) return null;
  return {
    safe: false,
    why: `a non-VSS point and ${r.osHonoursGenerationId ? 'no VM-GenerationID from the hypervisor' : `${r.os} ignores VM-GenerationID`}`,
  };
}

export function checkUsnRollback(r: DcRestoreRecord): Verdict {
  if (r.point.pointId === null) return unknown(`no point was stored: ${r.point.error ?? ''}`);
  const expected = expectation(r);
  if (expected === null) return unknown('no image of the point\'s VmSnapshot was captured: whether it is a VSS point is unknown');
  if (r.restore === null || !r.restore.ok) return fail(`restoring the DC from point ${r.point.pointId.slice(0, 12)} failed: ${r.restore?.detail ?? 'no restore'}`);
  const dc = r.restored;
  if (dc === null) return fail('the restored VM boots, but its directory does not open');
  const genIds = `GenID ${r.originalGenerationId ?? 'none'} -> ${r.restoredGenerationId ?? 'none'}`;
  const p = r.partner;
  if (expected.safe) {
    const unsafe = `expected a safe restore (${expected.why}), but`;
    if (dc.invocationId === r.original.invocationId) {
      return fail(`${unsafe} the DC kept its invocationId ${dc.invocationId} (${genIds}); ${p.rollbacksDetected > 0 || dc.events.includes(USN_ROLLBACK_EVENT) ? 'USN rollback: event 2095, Netlogon paused' : 'its USNs rolled back'}${p.divergent.length > 0 ? `, ${p.divergent.length} change(s) diverge` : ''}`);
    }
    if (p.rollbacksDetected > 0 || dc.events.includes(USN_ROLLBACK_EVENT)) return fail(`${unsafe} the partner detected USN rollback (event 2095)`);
    if (p.divergent.length > 0) return fail(`${unsafe} changes diverge: ${few(p.divergent)}`);
    if (p.duplicateRids > 0) return fail(`${unsafe} ${p.duplicateRids} RID(s) were issued twice`);
    if (p.replications === 0) return unknown('the restored DC never replicated');
    if (p.watermarkForRestored !== dc.highestCommittedUsn) {
      return fail(`${unsafe} the partner's watermark for the restored DC is ${p.watermarkForRestored ?? 'none'}, its highest USN ${dc.highestCommittedUsn}: its changes do not replicate`);
    }
    if (p.unconverged.length > 0) return fail(`${unsafe} the partner and the DC disagree after a quiet period: ${few(p.unconverged)}`);
    return pass(`safe as expected (${expected.why}): invocationId reset (${dc.resetReason ?? 'reason unknown'}, ${genIds}), no rollback, no divergence; ${dc.writes} write(s) after the restore replicated and the partner converged`);
  }
  const wm = r.watermarkAtRestore;
  if (wm === null || wm <= dc.usnAtOpen) {
    return unknown(`the partner's watermark for the DC (${wm ?? 'none'}) did not pass the point's USN ${dc.usnAtOpen}: nothing to roll back`);
  }
  const rollback = `expected USN rollback (${expected.why})`;
  if (dc.invocationId !== r.original.invocationId) {
    return fail(`${rollback}, but the DC reset its invocationId (${dc.resetReason ?? 'reason unknown'}, ${genIds}): the model disagrees with notes fact 16`);
  }
  const detected = dc.events.includes(USN_ROLLBACK_EVENT);
  if (!detected && p.divergent.length === 0) return fail(`${rollback}: USN ${dc.usnAtOpen} below the partner's ${wm}, yet no event 2095 and no divergence`);
  return pass(`USN rollback as expected (${expected.why}): invocationId kept, USN ${dc.usnAtOpen} below the partner's ${wm}; ${detected ? `event 2095${dc.netlogonPaused ? ', Netlogon paused' : ''}` : 'not detected'}${p.divergent.length > 0 ? `, ${p.divergent.length} change(s) diverge` : ''}`);
}
