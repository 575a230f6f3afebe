/**
 * The NTDS VSS writer of a domain controller (notes facts 9, 11, 16).
 *
 * Models:
 * - Freeze: checkpoint the directory database and mark it clean, write the
 *   "restored-from-backup" marker into the database directory (flushed), and hold
 *   directory writes. A snapshot taken during the freeze therefore carries the marker, and
 *   a DC booted from it performs a non-authoritative restore (new invocationId) instead
 *   of rolling its USNs back. Thaw (or OnAbort) removes the marker and releases the writes.
 * - BackupComplete(succeeded) records the backup time in the DSA header (AD warns when
 *   backups are older than the tombstone lifetime; not modelled further).
 * - Every backup type but `log` is accepted: AD keeps circular logs and never truncates
 *   them for a backup.
 *
 * Leaves out: the restore side (PreRestore/PostRestore and the registry key a real
 * restore sets), SYSVOL and the system-state components.
 */

import type { TimeUs } from '../../../core/clock.js';
import { msToUs } from '../../../core/clock.js';
import type { HistoryValue } from '../../../core/history.js';
import type { AppId, VssWriterError } from '../../../core/hypervisor-port.js';
import type { Result } from '../../../core/result.js';
import type { BackupContext, PhaseResult, VssWriter, WriterComponent } from '../../vss/types.js';
import { describeEseError, type EseStore } from '../exchange/ese-store.js';

export const NTDS_WRITER_NAME = 'NTDS';
const BYTES_PER_US = 200;
const PHASE_FIXED_US = msToUs(1);
const FREEZE_FIXED_US = msToUs(5);

export interface NtdsWriterTarget {
  readonly alive: boolean;
  store(): EseStore | null;
  files(): string[];
  volumesFrozen(): boolean;
  hold(): void;
  release(): void;
  writeMarker(backupId: string): Result<void, string>;
  /** Removes the marker (waiting for a thaw if a volume is frozen). */
  removeMarker(): void;
  recordBackup(): Result<void, string>;
  record(kind: string, data: { readonly [key: string]: HistoryValue }): void;
}

function result(durationUs: TimeUs, error: VssWriterError | null = null): PhaseResult {
  return { durationUs, error };
}

export class NtdsWriter implements VssWriter {
  readonly name = NTDS_WRITER_NAME;
  readonly appId: AppId = 'ntds';
  private context: BackupContext | null = null;
  private frozen = false;

  constructor(private readonly target: NtdsWriterTarget) {}

  identify(): PhaseResult & { readonly components: readonly WriterComponent[] } {
    const store = this.target.alive ? this.target.store() : null;
    return { ...result(PHASE_FIXED_US), components: store === null ? [] : [{ name: 'NTDS/ntds', files: this.target.files() }] };
  }

  prepareForBackup(context: BackupContext): PhaseResult {
    this.context = null;
    if (!this.target.alive || this.target.store() === null) return this.fail('prepare', 'NONRETRYABLE', 'Active Directory is not running');
    if (context.backupType === 'log') return this.fail('prepare', 'NONRETRYABLE', 'the NTDS writer has no log backups');
    this.context = context;
    return result(PHASE_FIXED_US);
  }

  prepareForSnapshot(): PhaseResult {
    return result(PHASE_FIXED_US);
  }

  freeze(): PhaseResult {
    const store = this.target.alive ? this.target.store() : null;
    if (store === null) return this.fail('freeze', 'NONRETRYABLE', 'Active Directory is not running');
    if (this.target.volumesFrozen()) return this.fail('freeze', 'RETRYABLE', 'a volume is frozen already');
    const cp = store.checkpoint({ clean: true });
    if (!cp.ok) return this.fail('freeze', 'RETRYABLE', describeEseError(cp.error));
    const marked = this.target.writeMarker(this.context?.backupId ?? 'unknown');
    if (!marked.ok) return this.fail('freeze', 'RETRYABLE', marked.error);
    this.target.hold();
    this.frozen = true;
    this.target.record('vss.writer.freeze', { writer: this.name, checkpointGen: cp.value.checkpointGen, writtenBytes: cp.value.writtenBytes });
    return result(FREEZE_FIXED_US + Math.ceil(cp.value.writtenBytes / BYTES_PER_US));
  }

  thaw(): PhaseResult {
    this.unfreeze();
    this.target.record('vss.writer.thaw', { writer: this.name });
    return result(PHASE_FIXED_US);
  }

  postSnapshot(): PhaseResult {
    return result(PHASE_FIXED_US);
  }

  backupComplete(succeeded: boolean): PhaseResult {
    const context = this.context;
    this.context = null;
    if (context === null || !succeeded) return result(PHASE_FIXED_US);
    if (!this.target.alive) return result(PHASE_FIXED_US, 'NONRETRYABLE');
    const recorded = this.target.recordBackup();
    if (!recorded.ok) return this.fail('backup-complete', 'RETRYABLE', recorded.error);
    this.target.record('vss.writer.backup-complete', { writer: this.name, backupType: context.backupType, backupId: context.backupId });
    return result(PHASE_FIXED_US);
  }

  abort(): void {
    this.context = null;
    this.unfreeze();
  }

  private unfreeze(): void {
    if (!this.frozen) return;
    this.frozen = false;
    if (!this.target.alive) return;
    this.target.removeMarker();
    this.target.release();
  }

  private fail(phase: string, error: VssWriterError, reason: string): PhaseResult {
    this.target.record('vss.writer.fail', { writer: this.name, phase, error, reason });
    return result(PHASE_FIXED_US, error);
  }
}
