/**
 * The `sqlserver` guest application: a MODEL of SQL Server (not the real thing) with one
 * database whose data lives in files on the guest's file systems: the data file
 * /sql/<db>.mdf on host.volumes[0] and the log /sql/<db>.ldf on the last volume (two
 * disks when the guest has two, so multi-disk atomicity matters). Formats: format.ts;
 * the engine: database.ts; the workload: workload.ts; the VSS writer (only when the guest
 * has VSS): writer.ts; the `sqlcmd` program (native log backups and restores): sqlcmd.ts.
 *
 * committed(): the transaction ids (`t<n>`) the database's commit table holds. Every COMMIT
 * sets its transaction's bit in the commit table (sys.commits, in the data file) through
 * the commit log record, so the table is exactly the set of committed transactions whose
 * effects the data holds after open and recovery (redo sets the bits of commits in the log,
 * undo never touches them). Transaction ids continue after the highest found at open.
 * After a failed open (OpenReport.ok false) it is empty: nothing the files hold is trusted.
 * `ackedTransactions()` adds each acknowledged transaction's row writes, so a checker can
 * rebuild the exact rows the database must hold (the last acknowledged write of each row).
 *
 * Restores: a VM booted from a writer-frozen snapshot opens ONLINE without writing
 * anything (transactions in flight at the freeze are rolled back in memory only), so
 * `sqlcmd restore-database --norecovery` can still take the files as long as no
 * transaction committed since boot: run it before starting the workload.
 *
 * Script action `checkpoint-and-lock` (for freeze scripts): freeze = the writer's freeze
 * (checkpoint, mark, hold), thaw and freezeFail = release.
 *
 * Leaves out: see the modules' headers.
 */

import { assert } from '../../../core/assert.js';
import { sToUs, type TimeUs } from '../../../core/clock.js';
import type { AppId } from '../../../core/hypervisor-port.js';
import type { VssWriter } from '../../vss/types.js';
import type { AckRecord, AppFactory, AppHost, GuestApp, GuestProgram, OpenReport, ScriptActionResult, ScriptArgument, WorkloadSpec } from '../types.js';
import { COSTS, SqlDatabase, type DatabaseConfig } from './database.js';
import type { RecoveryModel } from './format.js';
import { sqlcmd } from './sqlcmd.js';
import { Workload, type RowWrite, type WorkloadOptions } from './workload.js';
import { SqlServerWriter } from './writer.js';

export { SqlDatabase } from './database.js';
export { SqlServerWriter } from './writer.js';
export * from './format.js';

export interface SqlServerAppOptions {
  readonly recoveryModel?: RecoveryModel;
  readonly dbName?: string;
  /** Automatic checkpoint interval (default 1 s). */
  readonly checkpointIntervalUs?: TimeUs;
  /** Pages of the user-table region (7 rows each; default 128). */
  readonly dataPages?: number;
  /** Rows per table the workload uses (keys k0..k<n-1>; default 128). */
  readonly keysPerTable?: number;
  /** Chance a transaction rolls back instead of committing (default 0.05). */
  readonly abortProbability?: number;
  /** Most transactions the workload keeps open (default 8). */
  readonly maxActiveTxns?: number;
  /** Gap between a transaction's statements, uniform in [min, max] (default 50..500 us). */
  readonly statementGapUs?: readonly [number, number];
}

/** A transaction the app acknowledged, with its row writes (for checkers and tests). */
export interface AckedTxn {
  readonly id: string;
  readonly timeUs: TimeUs;
  readonly writes: readonly RowWrite[];
}

export class SqlServerApp implements GuestApp {
  readonly appId: AppId = 'sqlserver';
  readonly writer: VssWriter | null;
  readonly database: SqlDatabase;
  readonly scriptActions: Readonly<Record<string, (arg: ScriptArgument) => ScriptActionResult>>;
  readonly programs: Readonly<Record<string, GuestProgram>>;
  private readonly workload: Workload;
  private readonly acks: AckRecord[] = [];
  private readonly acked: AckedTxn[] = [];
  private dead = false;

  /** History subject of this app's events (built once, not per event). */
  private readonly subject: string;

  constructor(private readonly host: AppHost, options: SqlServerAppOptions = {}) {
    this.subject = `${host.vmId}/sqlserver`;
    const config: DatabaseConfig = {
      dbName: options.dbName ?? 'db',
      recoveryModel: options.recoveryModel ?? 'full',
      checkpointIntervalUs: options.checkpointIntervalUs ?? sToUs(1),
      dataPages: options.dataPages ?? 128,
      commitPages: 16,
      historyPages: 4,
    };
    assert(/^[a-z][a-z0-9_]{0,15}$/.test(config.dbName), `bad database name '${config.dbName}'`);
    assert(config.checkpointIntervalUs > 0 && config.dataPages >= 1 && config.dataPages <= 4096, 'bad sqlserver options');
    const workload: WorkloadOptions = {
      keysPerTable: options.keysPerTable ?? 128,
      abortProbability: options.abortProbability ?? 0.05,
      maxActiveTxns: options.maxActiveTxns ?? 8,
      statementGapUs: options.statementGapUs ?? [50, 500],
    };
    assert(workload.keysPerTable >= 1 && workload.maxActiveTxns >= 1 && workload.statementGapUs[0] <= workload.statementGapUs[1], 'bad workload options');
    this.database = new SqlDatabase(host, config);
    this.writer = host.os.vss ? new SqlServerWriter(host, this.database) : null;
    this.workload = new Workload(host, this.database, workload, (txn, writes) => { this.ack(txn, writes); });
    this.programs = { sqlcmd: sqlcmd(this.database, { onRestoreStart: () => { this.workload.stop(); } }) };
    this.scriptActions = { 'checkpoint-and-lock': (arg) => this.checkpointAndLock(arg) };
  }

  open(): OpenReport {
    this.assertAlive();
    return this.database.open();
  }

  startWorkload(spec: WorkloadSpec): void {
    this.assertAlive();
    if (this.database.mode !== 'online') {
      this.host.history.record({ kind: 'app.error', subject: this.subject, data: { error: `workload not started: database is ${this.database.mode}` } });
      return;
    }
    this.workload.start(spec);
  }

  stopWorkload(): void {
    this.workload.stop();
  }

  committed(): ReadonlySet<string> {
    return new Set(this.database.committedTxnIds().map((t) => `t${t}`));
  }

  acknowledged(): readonly AckRecord[] {
    return this.acks;
  }

  /** Acknowledged transactions with their writes, in acknowledgement order. */
  ackedTransactions(): readonly AckedTxn[] {
    return this.acked;
  }

  shutdown(): void {
    if (this.dead) return;
    this.workload.kill();
    this.database.shutdown();
    this.dead = true;
  }

  crash(): void {
    this.workload.kill();
    this.database.crash();
    this.dead = true;
  }

  private ack(txn: number, writes: readonly RowWrite[]): void {
    const id = `t${txn}`;
    const timeUs = this.host.clock.nowUs();
    this.acks.push({ app: 'sqlserver', id, timeUs, durable: true });
    this.acked.push({ id, timeUs, writes });
    this.host.history.record({ kind: 'app.commit', subject: this.subject, data: { id, durable: true } });
  }

  private checkpointAndLock(arg: ScriptArgument): ScriptActionResult {
    if (this.dead) return { exitCode: 1, durationUs: 0 };
    if (arg === 'freeze') {
      const frozen = this.database.freeze({ backupId: null, backupType: null });
      return frozen.ok ? { exitCode: 0, durationUs: frozen.value.durationUs } : { exitCode: 1, durationUs: COSTS.baseUs };
    }
    this.database.releaseHold();
    this.database.unpinLog();
    return { exitCode: 0, durationUs: COSTS.baseUs };
  }

  private assertAlive(): void {
    assert(!this.dead, 'the sqlserver app is dead (crashed or shut down)');
  }
}

/** A factory with options, e.g. `sqlServerAppFactory({ recoveryModel: 'simple' })`. */
export function sqlServerAppFactory(options: SqlServerAppOptions = {}): AppFactory {
  return (host: AppHost) => new SqlServerApp(host, options);
}

/** The default: full recovery model. */
export const createSqlServerApp: AppFactory = sqlServerAppFactory();
