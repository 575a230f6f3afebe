/**
 * SQL Server point-in-time restore with log roll-forward (notes facts 13, 14; seed 004):
 * on a VM restored from an application-consistent (SQL-writer) point and booted, the
 * database is put in RESTORING (`restore-database --norecovery`, component mode), the
 * engine plans the unbroken run of log backups from the LSN the database waits for to the
 * target, applies them in order (the last one with STOPAT / STOPATLSN), then recovers.
 * A broken chain, or a planned log backup the log store cannot give back intact, is
 * refused before anything is applied, with the reason; a point that is
 * not application-consistent is refused by the guest (there is no roll-forward from a
 * crash-consistent image). Targets: a time (every transaction committed at or before it)
 * or an LSN (every record before it), or the latest point the chain reaches.
 */

import type { Clock, TimeUs } from '../../core/clock.js';
import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { VmId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import { planRollForward, type ChainRefusal, type RollForwardTarget } from '../logbackup/chain.js';
import type { LogStoreError } from '../logbackup/log-store.js';
import type { LogStore } from '../logbackup/sql-job.js';

export type RollForwardError =
  | { readonly kind: 'refused'; readonly refusal: ChainRefusal }
  | { readonly kind: 'guest'; readonly step: string; readonly exitCode: number; readonly stderr: string }
  | { readonly kind: 'port'; readonly step: string; readonly reason: string }
  | { readonly kind: 'missing-blob'; readonly logBackupId: string }
  | { readonly kind: 'log-store'; readonly error: LogStoreError };

export interface RollForwardReport {
  readonly applied: readonly string[];
  readonly startLsn: number;
  readonly bytesRead: number;
  readonly durationUs: TimeUs;
}

async function sqlcmd(port: HypervisorPort, vmId: VmId, step: string, args: readonly string[], input?: Uint8Array): Promise<Result<Uint8Array, RollForwardError>> {
  const run = await port.runInGuest(vmId, 'sqlcmd', args, input);
  if (!run.ok) return err({ kind: 'port', step, reason: run.error.kind });
  if (run.value.exitCode !== 0) return err({ kind: 'guest', step, exitCode: run.value.exitCode, stderr: run.value.stderr });
  return ok(run.value.stdout);
}

export async function rollForwardSql(
  env: {
    readonly port: HypervisorPort; readonly clock: Clock; readonly logs: LogStore;
    /** The chain planner (default planRollForward): a harness substitutes one to test what a wrong plan does. */
    readonly plan?: typeof planRollForward;
  },
  restored: { readonly vmId: VmId; readonly sourceVmId: string },
  target: RollForwardTarget,
): Promise<Result<RollForwardReport, RollForwardError>> {
  const startUs = env.clock.nowUs();
  const norecovery = await sqlcmd(env.port, restored.vmId, 'restore-database', ['restore-database', '--norecovery']);
  if (!norecovery.ok) return norecovery;
  const status = await sqlcmd(env.port, restored.vmId, 'status', ['status']);
  if (!status.ok) return status;
  const parsed = JSON.parse(new TextDecoder().decode(status.value)) as { restoreNextLsn?: unknown };
  if (typeof parsed.restoreNextLsn !== 'number') return err({ kind: 'guest', step: 'status', exitCode: 0, stderr: 'no restoreNextLsn in the database status' });
  const startLsn = parsed.restoreNextLsn;
  const logs = await env.logs.list(restored.sourceVmId);
  if (!logs.ok) return err({ kind: 'log-store', error: logs.error });
  const plan = (env.plan ?? planRollForward)(logs.value, startLsn, target);
  if (!plan.ok) return err({ kind: 'refused', refusal: plan.error });
  // Every planned blob is read (and checked by the store) before the first is applied.
  const blobs: Uint8Array[] = [];
  let bytes = 0;
  for (const ref of plan.value) {
    const blob = await env.logs.get(ref.id);
    if (!blob.ok) return err(blob.error.kind === 'not-found' ? { kind: 'missing-blob', logBackupId: ref.id } : { kind: 'log-store', error: blob.error });
    blobs.push(blob.value);
    bytes += blob.value.length;
  }
  const applied: string[] = [];
  for (const [i, ref] of plan.value.entries()) {
    const blob = blobs[i] as Uint8Array;
    const last = i === plan.value.length - 1;
    const stop = !last ? [] : target.kind === 'time' ? ['--stopat', String(target.timeUs)] : target.kind === 'lsn' ? ['--stopatlsn', String(target.lsn)] : [];
    const done = await sqlcmd(env.port, restored.vmId, `restore-log ${ref.id}`, ['restore-log', ...stop, '--norecovery'], blob);
    if (!done.ok) return done;
    applied.push(ref.id);
  }
  const recovered = await sqlcmd(env.port, restored.vmId, 'restore-recover', ['restore-recover']);
  if (!recovered.ok) return recovered;
  return ok({ applied, startLsn, bytesRead: bytes, durationUs: env.clock.nowUs() - startUs });
}
