/**
 * Writer faults by composition: a VssWriter that forwards to the real one and fails a
 * chosen phase with a chosen error (for the first `times` attempts, then lets it through),
 * or makes a phase take longer (a freeze that overruns the 60 s window). The application
 * never knows: this is how the nemesis breaks writers without flags inside them.
 */

import type { TimeUs } from '../../core/clock.js';
import type { VssWriterError } from '../../core/hypervisor-port.js';
import type { BackupContext, PhaseResult, VssWriter, WriterComponent } from './types.js';

export const WRITER_PHASES = ['identify', 'prepareForBackup', 'prepareForSnapshot', 'freeze', 'thaw', 'postSnapshot', 'backupComplete'] as const;
export type WriterPhase = (typeof WRITER_PHASES)[number];

export interface WriterFaultPlan {
  readonly phase: WriterPhase;
  /** The error the phase reports (null: no error, only the extra delay). */
  readonly error: VssWriterError | null;
  /** Fail this many calls of the phase, then behave (default: every call). */
  readonly times?: number;
  /** Extra virtual time the phase takes on a faulty call. */
  readonly extraDurationUs?: TimeUs;
}

export class FaultyWriter implements VssWriter {
  private calls = 0;

  constructor(private readonly inner: VssWriter, private readonly plan: WriterFaultPlan) {}

  get name(): string {
    return this.inner.name;
  }

  get appId(): VssWriter['appId'] {
    return this.inner.appId;
  }

  identify(): PhaseResult & { readonly components: readonly WriterComponent[] } {
    const r = this.inner.identify();
    return { ...this.apply('identify', r), components: r.components };
  }

  prepareForBackup(context: BackupContext): PhaseResult {
    return this.apply('prepareForBackup', this.inner.prepareForBackup(context));
  }

  prepareForSnapshot(): PhaseResult {
    return this.apply('prepareForSnapshot', this.inner.prepareForSnapshot());
  }

  freeze(): PhaseResult {
    return this.apply('freeze', this.inner.freeze());
  }

  thaw(): PhaseResult {
    return this.apply('thaw', this.inner.thaw());
  }

  postSnapshot(): PhaseResult {
    return this.apply('postSnapshot', this.inner.postSnapshot());
  }

  backupComplete(succeeded: boolean): PhaseResult {
    return this.apply('backupComplete', this.inner.backupComplete(succeeded));
  }

  abort(): void {
    this.inner.abort();
  }

  private apply(phase: WriterPhase, real: PhaseResult): PhaseResult {
    if (phase !== this.plan.phase) return real;
    this.calls++;
    if (this.plan.times !== undefined && this.calls > this.plan.times) return real;
    return { durationUs: real.durationUs + (this.plan.extraDurationUs ?? 0), error: this.plan.error ?? real.error };
  }
}
