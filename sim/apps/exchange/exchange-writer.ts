/**
 * The Microsoft Exchange Writer (notes facts 9, 11, 15), over an ESE store.
 *
 * Models:
 * - Backup types: Full and Incremental truncate the logs at BackupComplete(succeeded),
 *   deleting the generations below the checkpoint the freeze made; Copy and Differential
 *   never truncate. With circular logging Incremental and Differential are refused at
 *   PrepareForBackup (NONRETRYABLE), as Exchange refuses them; `log` is not an Exchange
 *   backup type and is refused the same way.
 * - Freeze: roll to a new log generation, checkpoint and mark the database clean (so an
 *   image taken now opens without recovery and holds every acknowledged item), then hold:
 *   commits wait and are acknowledged only after Thaw (or OnAbort) releases them.
 * - BackupComplete also stamps the last backup of its type in the database header.
 *
 * Leaves out: per-database components and DAG passive copies, log backups through the
 * Exchange writer's restore side (PreRestore/PostRestore), the "backup in progress" lock
 * that refuses a second backup, the checksum verification Exchange asks backup apps to do.
 */

import type { TimeUs } from '../../../core/clock.js';
import { msToUs } from '../../../core/clock.js';
import type { HistoryValue } from '../../../core/history.js';
import type { AppId, VssBackupType, VssWriterError } from '../../../core/hypervisor-port.js';
import type { BackupContext, PhaseResult, VssWriter, WriterComponent } from '../../vss/types.js';
import { describeEseError, type EseStore } from './ese-store.js';

export const EXCHANGE_WRITER_NAME = 'Microsoft Exchange Writer';
/** A virtual disk writes this many bytes per microsecond (200 MB/s, as the quiescers assume). */
const BYTES_PER_US = 200;
const PHASE_FIXED_US = msToUs(1);
const FREEZE_FIXED_US = msToUs(5);

/** What the writer needs from its application. */
export interface EseWriterTarget {
  readonly alive: boolean;
  readonly circularLogging: boolean;
  readonly componentName: string;
  store(): EseStore | null;
  volumesFrozen(): boolean;
  nowUs(): TimeUs;
  hold(): void;
  release(): void;
  record(kind: string, data: { readonly [key: string]: HistoryValue }): void;
}

function result(durationUs: TimeUs, error: VssWriterError | null = null): PhaseResult {
  return { durationUs, error };
}

export class ExchangeWriter implements VssWriter {
  readonly name = EXCHANGE_WRITER_NAME;
  readonly appId: AppId = 'exchange';
  private context: BackupContext | null = null;
  /** The checkpoint generation the freeze made: truncation stops below it. */
  private frozenCheckpointGen: number | null = null;
  private holding = false;

  constructor(private readonly target: EseWriterTarget) {}

  identify(): PhaseResult & { readonly components: readonly WriterComponent[] } {
    const store = this.target.alive ? this.target.store() : null;
    // A dismounted database is not a component (Exchange reports the mounted ones).
    const components = store === null ? [] : [{ name: this.target.componentName, files: store.files() }];
    return { ...result(PHASE_FIXED_US), components };
  }

  prepareForBackup(context: BackupContext): PhaseResult {
    this.context = null;
    this.frozenCheckpointGen = null;
    if (!this.target.alive || this.target.store() === null) return this.refuse('prepare', context.backupType, 'the database is not mounted');
    if (context.backupType === 'log') return this.refuse('prepare', context.backupType, 'Exchange has no log backup type');
    if (this.target.circularLogging && (context.backupType === 'incremental' || context.backupType === 'differential')) {
      return this.refuse('prepare', context.backupType, 'circular logging is enabled');
    }
    this.context = context;
    this.target.record('vss.writer.prepare-backup', { writer: this.name, backupType: context.backupType, backupId: context.backupId });
    return result(PHASE_FIXED_US);
  }

  prepareForSnapshot(): PhaseResult {
    return result(PHASE_FIXED_US);
  }

  freeze(): PhaseResult {
    const store = this.target.alive ? this.target.store() : null;
    if (store === null) return result(PHASE_FIXED_US, 'NONRETRYABLE');
    // The writer flushes before the volumes are held; a volume frozen already cannot take it.
    if (this.target.volumesFrozen()) return this.fail('freeze', 'RETRYABLE', 'a volume is frozen already');
    const rolled = store.roll();
    if (!rolled.ok) return this.fail('freeze', 'RETRYABLE', describeEseError(rolled.error));
    const cp = store.checkpoint({ clean: true });
    if (!cp.ok) return this.fail('freeze', 'RETRYABLE', describeEseError(cp.error));
    this.frozenCheckpointGen = cp.value.checkpointGen;
    this.target.hold();
    this.holding = true;
    this.target.record('vss.writer.freeze', { writer: this.name, checkpointGen: cp.value.checkpointGen, writtenBytes: cp.value.writtenBytes });
    return result(FREEZE_FIXED_US + Math.ceil(cp.value.writtenBytes / BYTES_PER_US));
  }

  thaw(): PhaseResult {
    this.releaseHold();
    this.target.record('vss.writer.thaw', { writer: this.name });
    return result(PHASE_FIXED_US);
  }

  postSnapshot(): PhaseResult {
    return result(PHASE_FIXED_US);
  }

  backupComplete(succeeded: boolean): PhaseResult {
    const context = this.context;
    const gen = this.frozenCheckpointGen;
    this.context = null;
    this.frozenCheckpointGen = null;
    if (context === null || gen === null) return result(PHASE_FIXED_US);
    const store = this.target.alive ? this.target.store() : null;
    if (store === null) return result(PHASE_FIXED_US, 'NONRETRYABLE');
    if (!succeeded) {
      this.target.record('vss.writer.backup-complete', { writer: this.name, backupType: context.backupType, succeeded, truncated: [] });
      return result(PHASE_FIXED_US);
    }
    const kind = context.backupType;
    let truncated: number[] = [];
    if (kind === 'full' || kind === 'incremental') {
      const gone = store.truncateBelow(gen);
      if (!gone.ok) return this.fail('backup-complete', 'RETRYABLE', describeEseError(gone.error));
      truncated = gone.value;
    }
    if (kind !== 'log') {
      const stamped = store.recordBackup(kind, { timeUs: this.target.nowUs(), gen });
      if (!stamped.ok) return this.fail('backup-complete', 'RETRYABLE', describeEseError(stamped.error));
    }
    this.target.record('vss.writer.backup-complete', { writer: this.name, backupType: kind, succeeded, truncated });
    return result(PHASE_FIXED_US + msToUs(truncated.length));
  }

  abort(): void {
    this.context = null;
    this.frozenCheckpointGen = null;
    this.releaseHold();
  }

  /** The backup type PrepareForBackup accepted (null between backups). */
  get backupType(): VssBackupType | null {
    return this.context?.backupType ?? null;
  }

  private releaseHold(): void {
    if (!this.holding) return;
    this.holding = false;
    if (this.target.alive) this.target.release();
  }

  private refuse(phase: string, backupType: VssBackupType, reason: string): PhaseResult {
    this.target.record('vss.writer.refuse', { writer: this.name, phase, backupType, reason });
    return result(PHASE_FIXED_US, 'NONRETRYABLE');
  }

  private fail(phase: string, error: VssWriterError, reason: string): PhaseResult {
    this.target.record('vss.writer.fail', { writer: this.name, phase, error, reason });
    return result(PHASE_FIXED_US, error);
  }
}
