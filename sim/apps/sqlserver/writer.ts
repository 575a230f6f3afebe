/**
 * The SQL Server VSS writer (SqlServerWriter), for one database (notes facts 9-13).
 *
 * Models:
 * - Identify: one component per database (`SQLSERVER/<db>`) with its data and log files,
 *   named `disk<i>:<path>` (the volume of host.volumes[i]).
 * - PrepareForBackup: full, copy (copy-only) and differential snapshot backups. 'log' and
 *   'incremental' are not SQL writer backup types: NONRETRYABLE. A differential needs a
 *   differential base (a completed full backup): NONRETRYABLE without one.
 * - Freeze: a checkpoint (flush the log, write every dirty page, fsync), the log header
 *   marked 'frozen', the log pinned (not truncated past the checkpoint until
 *   BackupComplete or abort), then every write of the database is held: new statements and
 *   COMMITs wait, and nothing is acknowledged until Thaw. Duration: the checkpoint cost
 *   (1 ms + 0.1 ms per dirty page + 0.5 ms per fsync, five fsyncs).
 * - Thaw releases the hold; PostSnapshot does nothing.
 * - BackupComplete(succeeded): records the backup in the database's history (msdb-like);
 *   a full, not copy-only, backup becomes the differential base and starts the log chain
 *   (full recovery keeps the log for log backups from then on) only here and only when
 *   `succeeded`. Copy-only changes nothing in the chain. The writer never truncates the log.
 * - Abort: releases the hold and the pin, forgets the backup.
 * Phases are recorded as `vss.writer.<phase>` history events.
 *
 * Leaves out: several databases and instances, the writer's own state machine (the
 * requestor keeps writer states), restore phases (PreRestore/PostRestore: restores are
 * modelled by `sqlcmd restore-database`), auto-recovery of the shadow copy.
 */

import type { TimeUs } from '../../../core/clock.js';
import type { AppId, VssWriterError } from '../../../core/hypervisor-port.js';
import type { HistoryValue } from '../../../core/history.js';
import type { BackupContext, PhaseResult, VssWriter, WriterComponent } from '../../vss/types.js';
import type { AppHost } from '../types.js';
import { COSTS, type FreezePoint, type SqlDatabase } from './database.js';

const PHASE_US = 500;

export class SqlServerWriter implements VssWriter {
  readonly name = 'SqlServerWriter';
  readonly appId: AppId = 'sqlserver';
  private context: BackupContext | undefined;
  private frozenAt: FreezePoint | undefined;

  /** History subject of the writer's events (built once, not per event). */
  private readonly subject: string;

  constructor(private readonly host: AppHost, private readonly db: SqlDatabase) {
    this.subject = `${host.vmId}/sqlserver`;
  }

  identify(): PhaseResult & { readonly components: readonly WriterComponent[] } {
    const components = this.db.isDead || this.db.mode === 'failed' ? [] : [{ name: `SQLSERVER/${this.db.config.dbName}`, files: this.db.files() }];
    this.record('identify', { components: components.length });
    return { durationUs: COSTS.baseUs, error: null, components };
  }

  prepareForBackup(context: BackupContext): PhaseResult {
    this.context = undefined;
    this.frozenAt = undefined;
    const refuse = (reason: string, error: VssWriterError = 'NONRETRYABLE'): PhaseResult => {
      this.record('prepareForBackup', { backupType: context.backupType, error, reason });
      return { durationUs: PHASE_US, error };
    };
    if (context.backupType === 'log' || context.backupType === 'incremental') {
      return refuse(`the SQL writer does not support '${context.backupType}' backups (use native log backups)`);
    }
    if (this.db.isDead || this.db.mode !== 'online') return refuse(`database is ${this.db.isDead ? 'gone' : this.db.mode}`);
    if (context.backupType === 'differential' && this.db.logChain().diffBase === null) {
      return refuse('a differential backup needs a differential base (no full backup has completed)');
    }
    this.context = context;
    this.record('prepareForBackup', { backupType: context.backupType, backupId: context.backupId, error: null });
    return { durationUs: PHASE_US, error: null };
  }

  prepareForSnapshot(): PhaseResult {
    this.record('prepareForSnapshot', {});
    return { durationUs: PHASE_US, error: null };
  }

  freeze(): PhaseResult {
    if (this.db.isDead) return this.fail('freeze', 'NONRETRYABLE', 'database is gone');
    const frozen = this.db.freeze({ backupId: this.context?.backupId ?? null, backupType: this.context?.backupType ?? null });
    if (!frozen.ok) return this.fail('freeze', this.db.mode === 'online' ? 'RETRYABLE' : 'NONRETRYABLE', frozen.error);
    this.frozenAt = frozen.value;
    this.record('freeze', { checkpointLsn: frozen.value.checkpointLsn, endLsn: frozen.value.endLsn, pagesWritten: frozen.value.pagesWritten });
    return { durationUs: frozen.value.durationUs, error: null };
  }

  thaw(): PhaseResult {
    if (!this.db.isDead) this.db.releaseHold();
    this.record('thaw', {});
    return { durationUs: PHASE_US, error: null };
  }

  postSnapshot(): PhaseResult {
    this.record('postSnapshot', {});
    return { durationUs: PHASE_US, error: null };
  }

  backupComplete(succeeded: boolean): PhaseResult {
    const context = this.context;
    const point = this.frozenAt;
    this.context = undefined;
    this.frozenAt = undefined;
    if (this.db.isDead) return { durationUs: PHASE_US, error: null };
    this.db.unpinLog();
    if (!succeeded || context === undefined || point === undefined) {
      this.record('backupComplete', { succeeded, recorded: false });
      return { durationUs: PHASE_US, error: null };
    }
    const type = context.backupType;
    if (type !== 'full' && type !== 'copy' && type !== 'differential') return { durationUs: PHASE_US, error: null };
    const done = this.db.completeBackup({ backupId: context.backupId, backupType: type, point });
    if (!done.ok) return this.fail('backupComplete', 'RETRYABLE', done.error);
    this.record('backupComplete', { succeeded, recorded: true, backupId: context.backupId, backupType: type, differentialBase: type === 'full' });
    return { durationUs: COSTS.baseUs + COSTS.fsyncUs, error: null };
  }

  abort(): void {
    if (!this.db.isDead) {
      this.db.releaseHold();
      this.db.unpinLog();
    }
    this.context = undefined;
    this.frozenAt = undefined;
    this.record('abort', {});
  }

  private fail(phase: string, error: VssWriterError, reason: string, durationUs: TimeUs = PHASE_US): PhaseResult {
    this.record(phase, { error, reason });
    return { durationUs, error };
  }

  private record(phase: string, data: { readonly [key: string]: HistoryValue }): void {
    this.host.history.record({ kind: `vss.writer.${phase}`, subject: this.subject, data: { writer: this.name, ...data } });
  }
}
