/**
 * One SQL Server transaction-log backup, the native way (notes facts 13, 14): the engine
 * runs `sqlcmd backup-log` inside the guest through HypervisorPort's guest operations,
 * checks the blob's header, stores it, and reports its LSN range. A copy-only log backup
 * is possible (it does not truncate and does not extend the chain). Log backups need a
 * successful application-aware full backup first (seed 003): the caller passes it.
 *
 * `LogStore` is where log backups go (the repository implements it; `MemoryLogStore` is
 * the in-memory twin). Leaves out: several databases per instance, tail-log backups.
 */

import type { TimeUs } from '../../core/clock.js';
import type { HypervisorPort, PortError } from '../../core/hypervisor-port.js';
import type { VmId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import type { LogBackupRef } from './chain.js';
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

export interface LogStore {
  put(ref: StoredLogBackup, blob: Uint8Array): Promise<void>;
  list(vmId: string): Promise<readonly StoredLogBackup[]>;
  get(id: string): Promise<Uint8Array | undefined>;
}

export class MemoryLogStore implements LogStore {
  private readonly refs: StoredLogBackup[] = [];
  private readonly blobs = new Map<string, Uint8Array>();

  put(ref: StoredLogBackup, blob: Uint8Array): Promise<void> {
    this.refs.push(ref);
    this.blobs.set(ref.id, blob.slice());
    return Promise.resolve();
  }

  list(vmId: string): Promise<readonly StoredLogBackup[]> {
    return Promise.resolve(this.refs.filter((r) => r.vmId === vmId));
  }

  get(id: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.blobs.get(id));
  }

  /** Drops a log backup (tests: a backup missing from the repository). */
  remove(id: string): void {
    const i = this.refs.findIndex((r) => r.id === id);
    if (i >= 0) this.refs.splice(i, 1);
    this.blobs.delete(id);
  }
}

export type LogBackupError =
  | { readonly kind: 'port'; readonly error: PortError }
  | { readonly kind: 'guest'; readonly exitCode: number; readonly stderr: string }
  | { readonly kind: 'bad-backup'; readonly reason: string };

export interface SqlLogBackupRequest {
  readonly vmId: VmId;
  readonly basePointId: string;
  readonly copyOnly?: boolean;
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
  await env.store.put(ref, run.value.stdout);
  return ok(ref);
}
