/**
 * One SQL Server transaction-log backup, the native way (notes facts 13, 14): the engine
 * runs `sqlcmd backup-log` inside the guest through HypervisorPort's guest operations,
 * checks the blob's header, stores it, and reports its LSN range. A copy-only log backup
 * is possible (it does not truncate and does not extend the chain). Log backups need a
 * successful application-aware full backup first (seed 003): the caller passes it.
 *
 * `LogStore` is where log backups go (log-store.ts: the repository implements it,
 * `MemoryLogStore` is the in-memory twin). A log backup the store refused is reported as
 * an error: the guest has truncated its log by then, so the chain breaks there (the
 * roll-forward refuses to cross the gap). Leaves out: several databases per instance,
 * tail-log backups.
 */

import type { TimeUs } from '../../core/clock.js';
import type { HypervisorPort, PortError } from '../../core/hypervisor-port.js';
import type { VmId } from '../../core/ids.js';
import type { ConsistencyLevel } from '../../core/levels.js';
import { err, ok, type Result } from '../../core/result.js';
import type { LogBackupRef } from './chain.js';
import { MemoryRecordStore, type LogRecordStore, type LogStoreError } from './log-store.js';
import type { FullBackupDone } from './schedule.js';
import { parseSqlLogBackup } from './sql-log-header.js';

export interface StoredLogBackup extends LogBackupRef {
  readonly vmId: string;
  readonly dbName: string;
  /** The full backup (RecoveryPoint id) the chain of this log backup starts from. */
  readonly basePointId: string;
  readonly startedUs: TimeUs;
  readonly endedUs: TimeUs;
  readonly bytes: number;
}

/** Where log backups go (log-store.ts has the contract). */
export type LogStore = LogRecordStore<StoredLogBackup, Uint8Array>;

/** The in-memory twin of the repository's log store. */
export class MemoryLogStore extends MemoryRecordStore<StoredLogBackup> {}

export type LogBackupError =
  | { readonly kind: 'port'; readonly error: PortError }
  | { readonly kind: 'guest'; readonly exitCode: number; readonly stderr: string }
  | { readonly kind: 'bad-backup'; readonly reason: string }
  | { readonly kind: 'log-store'; readonly error: LogStoreError };

export interface SqlLogBackupRequest {
  readonly vmId: VmId;
  readonly basePointId: string;
  readonly copyOnly?: boolean;
}

/**
 * A full backup as the log schedule sees it (schedule.ts, logScheduleAfter): application-aware
 * when SQL Server's VSS writer came through, i.e. the point claims `application` for it.
 */
export function sqlFullBackupDone(full: { readonly pointId: string; readonly doneUs: TimeUs; readonly sqlClaim: ConsistencyLevel | undefined }): FullBackupDone {
  const appAware = full.sqlClaim === 'application';
  return {
    pointId: full.pointId, doneUs: full.doneUs, appAware,
    reason: appAware ? 'SQL Server\'s VSS writer took part' : `the point claims ${full.sqlClaim ?? 'nothing'} for SQL Server, not application`,
  };
}

export async function runSqlLogBackup(env: { readonly port: HypervisorPort; readonly clock: { nowUs(): TimeUs }; readonly store: LogStore }, request: SqlLogBackupRequest): Promise<Result<StoredLogBackup, LogBackupError>> {
  const startedUs = env.clock.nowUs();
  const run = await env.port.runInGuest(request.vmId, 'sqlcmd', request.copyOnly === true ? ['backup-log', '--copy-only'] : ['backup-log']);
  if (!run.ok) return err({ kind: 'port', error: run.error });
  if (run.value.exitCode !== 0) return err({ kind: 'guest', exitCode: run.value.exitCode, stderr: run.value.stderr });
  const header = parseSqlLogBackup(run.value.stdout);
  if (!header.ok) return err({ kind: 'bad-backup', reason: header.error });
  const h = header.value;
  const ref: StoredLogBackup = {
    id: `${request.vmId}/log/${h.backupId}`, vmId: request.vmId, dbName: h.dbName, basePointId: request.basePointId,
    firstLsn: h.firstLsn, lastLsn: h.lastLsn, backupTimeUs: h.backupTimeUs, copyOnly: h.copyOnly,
    startedUs, endedUs: env.clock.nowUs(), bytes: run.value.stdout.length,
  };
  const put = await env.store.put(ref, run.value.stdout);
  if (!put.ok) return err({ kind: 'log-store', error: put.error });
  return ok(ref);
}
