/**
 * The in-guest VSS requestor that VMware's VSS component plays during a quiesced snapshot
 * (notes facts 9-12): GatherWriterMetadata, PrepareForBackup, PrepareForSnapshot, Freeze,
 * flush-and-hold of the volumes, the provider commit (the VmSnapshot), release, Thaw,
 * PostSnapshot; BackupComplete later, when the backup application says the data is stored.
 *
 * After each phase it checks every writer's status (a veto can be silent, fact 11). A
 * retryable error (RETRYABLE, TIMEOUT, OUTOFRESOURCES) aborts the whole snapshot set and
 * retries it, up to 3 times; a non-retryable one marks the writer failed, aborts it (it
 * releases any hold) and the snapshot goes on without it, so the result falls back to
 * file-system level and names the writer. Limits (fact 10): the provider commit must finish
 * within 10 s of the flush-and-hold, else VSS_E_FLUSH_WRITES_TIMEOUT aborts the set
 * (retryable); writers thawed more than 60 s after Freeze time out (TIMEOUT, retryable).
 * A file-system-only run (no writers: Vista, or a 2008+ VM failing fact 2's conditions)
 * still flushes and holds the volumes.
 *
 * Leaves out: auto-recovery of the shadow copy (fact 12: no writer here needs to roll back
 * inside the snapshot), partial-file and bootable-system-state options, several
 * concurrent snapshot sets, writer-specific timeouts other than the 60 s default.
 */

import type { TimeUs } from '../../core/clock.js';
import { sToUs } from '../../core/clock.js';
import type { QuiesceFault, VssBackupType, VssWriterError, VssWriterState, WriterReport } from '../../core/hypervisor-port.js';
import { freezeVolumes, thawVolumes, type QuiesceContext } from '../guest/quiesce/context.js';
import type { PhaseResult, VssWriter } from './types.js';

export const COMMIT_LIMIT_US = sToUs(10);
export const FREEZE_LIMIT_US = sToUs(60);
export const MAX_RETRIES = 3;

const RETRYABLE: ReadonlySet<VssWriterError> = new Set(['RETRYABLE', 'TIMEOUT', 'OUTOFRESOURCES']);

export function isRetryable(error: VssWriterError): boolean {
  return RETRYABLE.has(error);
}

type Phase = 'IDENTIFY' | 'PREPARE_BACKUP' | 'PREPARE_SNAPSHOT' | 'FREEZE' | 'THAW' | 'POST_SNAPSHOT' | 'BACKUP_COMPLETE';

interface WriterSlot {
  readonly writer: VssWriter;
  state: VssWriterState;
  error: VssWriterError | null;
  /** OnAbort was sent (a failed writer releases its hold once). */
  aborted: boolean;
}

export interface VssRequest {
  readonly backupType: VssBackupType;
  readonly backupId: string;
  /** Involve the writers (application quiescing) or only the volumes. */
  readonly withWriters: boolean;
}

export type VssRunResult =
  | {
      readonly ok: true;
      readonly snapshotToken: number;
      readonly mode: 'application' | 'filesystem';
      readonly fault: QuiesceFault | null;
      readonly writers: readonly WriterReport[];
      readonly attempts: number;
      readonly freezeStartUs: TimeUs;
      readonly thawUs: TimeUs;
      readonly session: VssSession;
    }
  | {
      readonly ok: false;
      readonly powerLost: boolean;
      readonly reason: string;
      readonly writers: readonly WriterReport[];
      readonly attempts: number;
    };

/** The writers waiting for BackupComplete after a successful snapshot set. */
export class VssSession {
  private done = false;

  constructor(
    private readonly ctx: Pick<QuiesceContext, 'advance' | 'record'>,
    private readonly slots: readonly WriterSlot[],
  ) {}

  get completed(): boolean {
    return this.done;
  }

  /** Sends BackupComplete (once); returns the writers' states after it. */
  complete(succeeded: boolean): readonly WriterReport[] {
    if (!this.done) {
      this.done = true;
      for (const slot of this.slots) {
        if (slot.state !== 'WAITING_FOR_BACKUP_COMPLETE') continue;
        const r = slot.writer.backupComplete(succeeded);
        this.ctx.advance(r.durationUs);
        if (r.error === null) slot.state = 'STABLE';
        else fail(slot, 'BACKUP_COMPLETE', r.error);
        this.ctx.record('vss.backup-complete', { writer: slot.writer.name, succeeded, error: r.error });
      }
    }
    return this.slots.map(report);
  }
}

function report(slot: WriterSlot): WriterReport {
  return { writer: slot.writer.name, app: slot.writer.appId, state: slot.state, error: slot.error };
}

function fail(slot: WriterSlot, phase: Phase, error: VssWriterError): void {
  slot.state = `FAILED_AT_${phase}` as VssWriterState;
  slot.error = error;
}

class Attempt {
  readonly slots: WriterSlot[];
  frozenVolumes = false;
  snapshotToken: number | null = null;
  powerLost = false;

  constructor(private readonly ctx: QuiesceContext, writers: readonly VssWriter[]) {
    this.slots = writers.map((writer) => ({ writer, state: 'STABLE', error: null, aborted: false }));
  }

  live(): WriterSlot[] {
    return this.slots.filter((s) => s.error === null);
  }

  /** Runs a phase on every live writer, one after another; false when power was lost. */
  phase(phase: Phase, next: VssWriterState, call: (w: VssWriter) => PhaseResult): boolean {
    for (const slot of this.live()) {
      const r = call(slot.writer);
      this.ctx.record('vss.phase', { writer: slot.writer.name, phase, error: r.error, durationUs: r.durationUs });
      if (!this.ctx.advance(r.durationUs)) {
        this.powerLost = true;
        return false;
      }
      if (r.error === null) slot.state = next;
      else fail(slot, phase, r.error);
    }
    return true;
  }

  /** The status check after a phase: a retryable failure (when retries remain) aborts the set. */
  retryableFailure(retriesLeft: boolean): WriterSlot | undefined {
    const retryable = this.slots.find((s) => s.error !== null && isRetryable(s.error));
    if (retryable !== undefined && retriesLeft) return retryable;
    // Out of retries or non-retryable: failed writers are aborted (they release their holds).
    for (const s of this.slots) {
      if (s.error !== null && !s.aborted) {
        s.aborted = true;
        s.writer.abort();
      }
    }
    return undefined;
  }

  abortSet(): void {
    if (this.frozenVolumes) thawVolumes(this.ctx);
    this.frozenVolumes = false;
    for (const s of this.slots) {
      s.aborted = true;
      s.writer.abort();
    }
    if (this.snapshotToken !== null) this.ctx.discardSnapshot(this.snapshotToken);
    this.snapshotToken = null;
  }
}

/** One VSS snapshot set with retries (see the header). */
export function runVssSnapshot(ctx: QuiesceContext, writers: readonly VssWriter[], request: VssRequest): VssRunResult {
  const involved = request.withWriters ? writers : [];
  let last: Attempt | undefined;
  let lastReason = '';
  for (let attempt = 1; attempt <= MAX_RETRIES + 1; attempt++) {
    const retriesLeft = attempt <= MAX_RETRIES;
    const a = new Attempt(ctx, involved);
    last = a;
    ctx.record('vss.attempt', { attempt, backupType: request.backupType, writers: involved.length });
    const outcome = runAttempt(ctx, a, request, retriesLeft);
    if (outcome === 'power-lost') {
      a.abortSet();
      return { ok: false, powerLost: true, reason: 'the guest lost power during the snapshot', writers: a.slots.map(report), attempts: attempt };
    }
    if (typeof outcome === 'string') {
      lastReason = outcome;
      a.abortSet();
      ctx.record('vss.abort', { attempt, reason: outcome });
      if (ctx.clock.nowUs() >= ctx.deadlineUs) break;
      continue;
    }
    const failed = a.slots.filter((s) => s.error !== null);
    const mode = request.withWriters && failed.length === 0 ? 'application' : 'filesystem';
    const fault: QuiesceFault | null = failed.length === 0 ? null : {
      kind: 'ApplicationQuiesceFault',
      reason: failed.map((s) => `${s.writer.name} ${s.state} (${s.error ?? ''})`).join('; '),
      writers: failed.map((s) => s.writer.name),
    };
    return {
      ok: true, snapshotToken: outcome.token, mode, fault, writers: a.slots.map(report), attempts: attempt,
      freezeStartUs: outcome.freezeStartUs, thawUs: outcome.thawUs, session: new VssSession(ctx, a.slots),
    };
  }
  return { ok: false, powerLost: false, reason: lastReason, writers: last?.slots.map(report) ?? [], attempts: MAX_RETRIES + 1 };
}

/** Success, 'power-lost', or the reason the attempt was aborted. */
type AttemptOutcome = { readonly token: number; readonly freezeStartUs: TimeUs; readonly thawUs: TimeUs } | string;

function runAttempt(ctx: QuiesceContext, a: Attempt, request: VssRequest, retriesLeft: boolean): AttemptOutcome {
  const check = (): string | undefined => {
    const f = a.retryableFailure(retriesLeft);
    return f === undefined ? undefined : `${f.writer.name} ${f.state} (${f.error ?? ''}): retrying`;
  };
  const context = { backupType: request.backupType, backupId: request.backupId };
  if (!a.phase('IDENTIFY', 'STABLE', (w) => w.identify())) return 'power-lost';
  let why = check();
  if (why !== undefined) return why;
  if (!a.phase('PREPARE_BACKUP', 'STABLE', (w) => w.prepareForBackup(context))) return 'power-lost';
  why = check();
  if (why !== undefined) return why;
  if (!a.phase('PREPARE_SNAPSHOT', 'WAITING_FOR_FREEZE', (w) => w.prepareForSnapshot())) return 'power-lost';
  why = check();
  if (why !== undefined) return why;

  const freezeStartUs = ctx.clock.nowUs();
  ctx.record('quiesce.freeze', { quiescer: 'vss', writers: a.live().length });
  if (!a.phase('FREEZE', 'WAITING_FOR_THAW', (w) => w.freeze())) return 'power-lost';
  why = check();
  if (why !== undefined) return why;

  const held = freezeVolumes(ctx);
  if (!held.ok) return `flush-and-hold failed on volume ${held.failure.volume}: ${held.failure.reason}`;
  a.frozenVolumes = true;
  if (!ctx.advance(held.flushUs)) return 'power-lost';
  const taken = ctx.takeSnapshot();
  a.snapshotToken = taken.token;
  if (taken.commitUs > COMMIT_LIMIT_US) {
    if (!ctx.advance(COMMIT_LIMIT_US)) return 'power-lost';
    return `VSS_E_FLUSH_WRITES_TIMEOUT: the provider commit took over ${COMMIT_LIMIT_US / 1_000_000} s`;
  }
  if (!ctx.advance(taken.commitUs)) return 'power-lost';
  thawVolumes(ctx);
  a.frozenVolumes = false;

  const overran = ctx.clock.nowUs() - freezeStartUs > FREEZE_LIMIT_US;
  if (!a.phase('THAW', 'WAITING_FOR_POST_SNAPSHOT', (w) => {
    const r = w.thaw();
    // The writer's own 60 s timer fired before Thaw: it thawed itself and reports a timeout.
    return overran ? { durationUs: r.durationUs, error: 'TIMEOUT' } : r;
  })) return 'power-lost';
  const thawUs = ctx.clock.nowUs();
  ctx.record('quiesce.thaw', { quiescer: 'vss' });
  why = check();
  if (why !== undefined) return why;
  if (!a.phase('POST_SNAPSHOT', 'WAITING_FOR_BACKUP_COMPLETE', (w) => w.postSnapshot())) return 'power-lost';
  why = check();
  if (why !== undefined) return why;
  const token = a.snapshotToken;
  a.snapshotToken = null; // kept: the set succeeded
  return { token, freezeStartUs, thawUs };
}
