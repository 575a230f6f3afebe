/**
 * The data of the replication and group methods of the black-box engine interface
 * (engine-api.ts), declared here as docs/engine-protocol.md specifies them, not borrowed
 * from quiescelab's own engine: an engine in any language returns these shapes, and the
 * built-in engine's types (engine/replication/, engine/backup/group.ts,
 * engine/restore/scope.ts) are checked against them where its adapter hands them over
 * (engine-builtin-replication.ts, engine-builtin.ts).
 */

import type { TimeUs } from '../core/clock.js';
import type { AppId } from '../core/hypervisor-port.js';
import type { VmId } from '../core/ids.js';
import type { ConsistencyLevel } from '../core/levels.js';

/** The level a point claims, per app, with the reasons (as a backup's claim). */
export interface ReplicaClaim {
  readonly vm: ConsistencyLevel;
  readonly apps: Readonly<Partial<Record<AppId, ConsistencyLevel>>>;
  readonly reasons: readonly string[];
}

export interface ReplicateParams {
  readonly vmId: VmId;
  readonly policy: 'require' | 'try' | 'off';
  readonly intervalUs: TimeUs;
  /** No cycle starts at or after this instant. */
  readonly untilUs: TimeUs;
  readonly keepPoints: number;
  /** Skip the blocks the guest file system does not use in a full cycle. */
  readonly whiteSpace: boolean;
  readonly appScripts?: Readonly<Record<string, string>>;
}

export interface CycleReport {
  readonly cycle: number;
  readonly kind: 'full' | 'incremental';
  readonly scheduledUs: TimeUs;
  readonly startUs: TimeUs;
  readonly endUs: TimeUs;
  readonly ok: boolean;
  readonly error: string | null;
  /** The source VmSnapshot's instant (null: none was taken): the harness compares the point with the snapshot taken then. */
  readonly snapshotAtUs: TimeUs | null;
  readonly bytesSent: number;
  /** Bytes a full cycle did not send because the guest file system does not use them. */
  readonly bytesSkippedWhiteSpace: number;
  readonly pointId: string | null;
  readonly claim: ReplicaClaim | null;
}

export interface ReplicaPoint {
  readonly pointId: string;
  readonly cycle: number;
  readonly sourceSnapshotAtUs: number;
  readonly committedAtUs: number;
  readonly claim: ReplicaClaim;
}

export interface FailoverReport {
  readonly vmId: VmId;
  readonly pointId: string;
  readonly startUs: TimeUs;
  readonly poweredOnUs: TimeUs;
}

export interface FailbackReport {
  readonly vmId: VmId;
  readonly target: 'original' | 'new';
  readonly startUs: TimeUs;
  /** The DR VM was shut down at this instant. */
  readonly finalAtUs: TimeUs;
  readonly poweredOnUs: TimeUs;
  readonly bytesFirstPass: number;
  readonly bytesFinalPass: number;
}

/** The guest programs that pause and resume an application spanning VMs, on the VM that runs them. */
export interface GroupCoordinator {
  readonly vmId: VmId;
  readonly freeze: string;
  readonly thaw: string;
}

export interface GroupMember {
  readonly vmId: string;
  readonly pointId: string | null;
  readonly error: string | null;
  readonly snapshotAtUs: number | null;
  readonly claimedLevel: string | null;
}

export interface GroupBackupReport {
  readonly groupId: string;
  readonly members: readonly GroupMember[];
  /** The engine's claim: the set holds one instant of the application across its VMs. */
  readonly consistent: boolean;
  readonly reason: string;
  readonly freeze: { readonly exitCode: number; readonly detail: string } | null;
  readonly thawed: boolean | null;
  readonly startUs: number;
  readonly endUs: number;
}

export interface ScopeRef {
  readonly kind: 'datastore' | 'site';
  readonly name: string;
}

export interface ScopeRestored {
  readonly vmId: string;
  readonly pointId: string;
  readonly restoredVmId: string;
  readonly rtoUs: number;
  readonly bytesRead: number;
}

export interface ScopeRecoveryReport {
  readonly scope: ScopeRef;
  readonly groupId: string;
  readonly consistent: boolean;
  readonly reason: string;
  readonly restored: readonly ScopeRestored[];
  readonly startUs: number;
  readonly endUs: number;
}
