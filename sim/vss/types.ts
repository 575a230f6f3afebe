/**
 * The VSS writer contract: what the in-guest VSS requestor (sim/vss/requestor.ts) calls on
 * each application's writer, phase by phase (notes fact 9). A writer does its work
 * synchronously against the guest (a checkpoint, a log flush, holding new writes) and
 * returns how long the phase took in virtual time and its error, if any; the requestor
 * moves the clock, enforces the 10 s commit and 60 s freeze limits and checks writer
 * status after every phase (fact 11).
 *
 * Faults are injected by wrapping a writer (faulty-writer.ts), never by flags inside it.
 */

import type { TimeUs } from '../../core/clock.js';
import type { AppId, VssBackupType, VssWriterError } from '../../core/hypervisor-port.js';

export interface PhaseResult {
  readonly durationUs: TimeUs;
  readonly error: VssWriterError | null;
}

export interface WriterComponent {
  /** Logical path and name, e.g. `SQLSERVER/master` or `Microsoft Exchange Server/DB1`. */
  readonly name: string;
  /** Files (guest paths) the component's backup must contain. */
  readonly files: readonly string[];
}

export interface BackupContext {
  readonly backupType: VssBackupType;
  /** The VmSnapshot this backup will become (its id, known before freeze). */
  readonly backupId: string;
}

export interface VssWriter {
  readonly name: string;
  readonly appId: AppId;
  /** GatherWriterMetadata. */
  identify(): PhaseResult & { readonly components: readonly WriterComponent[] };
  /** PrepareForBackup: learns the backup type; may refuse it (e.g. circular logging). */
  prepareForBackup(context: BackupContext): PhaseResult;
  prepareForSnapshot(): PhaseResult;
  /**
   * Freeze: make the on-disk state application-consistent once the file system is
   * flushed (checkpoint, flush the log) and hold new writes until thaw or abort.
   */
  freeze(): PhaseResult;
  /** Thaw: release the held writes. */
  thaw(): PhaseResult;
  /** PostSnapshot: the shadow copy exists. */
  postSnapshot(): PhaseResult;
  /**
   * BackupComplete: the requester stored the backup (`succeeded`) or gave up. Log
   * truncation and differential bases happen here, and only for the types that do it.
   */
  backupComplete(succeeded: boolean): PhaseResult;
  /** OnAbort: the snapshot set was aborted; release any hold and forget the backup. */
  abort(): void;
}
