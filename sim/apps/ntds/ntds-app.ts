/**
 * Active Directory on a domain controller (NTDS, over the ESE model of ../exchange): the
 * directory database really lives in files on the guest's system volume (the first):
 * `/Windows/NTDS/ntds.dit`, `edb.chk` and the log generations `edb00001.log`, ... with
 * circular logging, as AD keeps them. Formats: ../exchange/ese-format.ts; the records:
 *
 *   key `dsa`              the DC's header: { dsaGuid, invocationId, highestCommittedUsn,
 *                          utd: { invocationId: usn }, retired: [{ invocationId, highestUsn,
 *                          retiredUs, reason }], ridPool: { start, end, next } | null,
 *                          nextRidPool: { start, end } | null, generationId (the
 *                          VM-GenerationID last seen), dsaNotWritable, lastBackupUs, nextUser }
 *   key `obj:<name>`       a user: { name, rid, attrs: { ... }, version,
 *                          orig: { invocationId, usn }, usnCreated, usnChanged }
 *   key `chg:<inv>:<usn>`  one originating change (the acknowledgement id `<inv>:<usn>`):
 *                          { id, object, kind: create | modify | replicated, localUsn, timeUs }
 *
 * Models (notes fact 16):
 * - Writes: creating a user allocates a USN and a RID from the DC's pool (refilled from the
 *   RID master when half used); modifying one allocates a USN. Each is one ESE transaction,
 *   acknowledged after the log flush. A DC that found USN rollback refuses writes.
 * - Replication with the partner in the AdDomain (ad-domain.ts) every 15 s (the first 1 s
 *   after boot): outbound changes, then the inbound objects it lacks.
 * - Boot: a changed VM-GenerationID (on an OS that honours it) or the marker the NTDS
 *   writer leaves in a snapshot taken during its freeze ("restored-from-backup") makes the
 *   DC reset its invocationId and drop its RID pool (a non-authoritative restore: events
 *   2170 for the GenID, 1109 for the new invocationId). Otherwise a DC booted from an
 *   older image keeps its invocationId with a lower USN: when the partner detects it the DC
 *   logs event 2095, pauses Netlogon and stops replicating (the "DSA not writable" state,
 *   kept in the database), and the changes it made meanwhile never replicate.
 * - open() does no network work (an isolated lab may open the DC): the RID pool is
 *   fetched at the first write, replication runs on the timers.
 *
 * Leaves out: groups, OUs, deletes and tombstones, the SYSVOL share, several naming
 * contexts and partners, FSMO transfers, the registry (the DSA-not-writable flag lives in
 * the `dsa` record), authoritative restores, the 2089 backup-latency warning.
 */

import { assert } from '../../../core/assert.js';
import { msToUs, sToUs, type TimeUs } from '../../../core/clock.js';
import type { HistoryValue } from '../../../core/history.js';
import type { AppId, GuestProgramResult } from '../../../core/hypervisor-port.js';
import { err, ok, type Result } from '../../../core/result.js';
import type { Prng } from '../../../core/prng.js';
import type { FileSystem } from '../../guest/file-system.js';
import { AppTimers, anyVolumeFrozen } from '../app-timers.js';
import { utf8Bytes } from '../../kernel/bytes.js';
import type { AckRecord, AppHost, GuestApp, GuestProgram, OpenReport, WorkloadSpec } from '../types.js';
import type { DbRecord, JsonValue } from '../exchange/ese-format.js';
import { EseStore, describeEseError, writeAll, type EseLayout } from '../exchange/ese-store.js';
import { supersedes, type AdDomain, type ReplicatedObject, type ReplicationPeer, type ReplicationReport } from './ad-domain.js';
import { NtdsWriter } from './ntds-writer.js';

export interface NtdsOptions {
  readonly replicationIntervalUs?: TimeUs;
  readonly initialReplicationDelayUs?: TimeUs;
  readonly logFileBytes?: number;
  readonly lazyWriteIntervalUs?: TimeUs;
  readonly checkpointIntervalUs?: TimeUs;
  /** Chance that a workload operation creates a user rather than modifying one. */
  readonly createProbability?: number;
}

export const NTDS_DIR = '/Windows/NTDS';
export const NTDS_MARKER_NAME = 'restored-from-backup';
export const NTDS_MARKER_PATH = `${NTDS_DIR}/${NTDS_MARKER_NAME}`;
export const NTDS_LAYOUT: EseLayout = { dir: NTDS_DIR, databaseName: 'ntds.dit', checkpointName: 'edb.chk', base: 'edb', genDigits: 5 };

export const DEFAULT_REPLICATION_INTERVAL_US = sToUs(15);
const DEFAULT_INITIAL_REPLICATION_US = sToUs(1);
const DEFAULT_LOG_FILE_BYTES = 64 * 1024;
const DEFAULT_LAZY_WRITE_US = sToUs(5);
const DEFAULT_CHECKPOINT_US = sToUs(30);
const DEPTH_GENS = 4;
/** Inbound objects per transaction (a bound on one log record). */
const INBOUND_BATCH = 16;
const MAX_HELD_WAITERS = 16;
const PROGRAM_US = msToUs(30);

/** Directory event ids the DC logs (history `ntds.event`). */
export const NTDS_EVENTS = { usnRollback: 2095, invocationIdChanged: 1109, generationIdChanged: 2170 } as const;

export type RidPool = { readonly start: number; readonly end: number; readonly next: number };
export type RetiredInvocation = { readonly invocationId: string; readonly highestUsn: number; readonly retiredUs: number; readonly reason: string };
export type DsaRecord = {
  readonly dsaGuid: string;
  readonly invocationId: string;
  readonly highestCommittedUsn: number;
  readonly utd: Readonly<Record<string, number>>;
  readonly retired: readonly RetiredInvocation[];
  readonly ridPool: RidPool | null;
  readonly nextRidPool: { readonly start: number; readonly end: number } | null;
  readonly generationId: string | null;
  readonly dsaNotWritable: boolean;
  readonly lastBackupUs: number | null;
  readonly nextUser: number;
};
export type StoredObject = {
  readonly name: string;
  readonly rid: number;
  readonly attrs: Readonly<Record<string, string>>;
  readonly version: number;
  readonly orig: { readonly invocationId: string; readonly usn: number };
  readonly usnCreated: number;
  readonly usnChanged: number;
};
type ChangeRecord = { readonly id: string; readonly object: string; readonly kind: 'create' | 'modify' | 'replicated'; readonly localUsn: number; readonly timeUs: number };

export type NtdsError =
  | { readonly kind: 'not-open' }
  | { readonly kind: 'not-writable'; readonly reason: string }
  | { readonly kind: 'busy'; readonly reason: string }
  | { readonly kind: 'exists'; readonly name: string }
  | { readonly kind: 'no-such-object'; readonly name: string }
  | { readonly kind: 'store'; readonly detail: string };

type Dict = { readonly [key: string]: JsonValue };

function isDict(v: JsonValue | undefined): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: JsonValue | undefined): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function stringMap(v: JsonValue | undefined): Record<string, string> | undefined {
  if (!isDict(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') return undefined;
    out[k] = x;
  }
  return out;
}

function countMap(v: JsonValue | undefined): Record<string, number> | undefined {
  if (!isDict(v)) return undefined;
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v)) {
    if (!isCount(x)) return undefined;
    out[k] = x;
  }
  return out;
}

function asRange(v: JsonValue | undefined): { start: number; end: number } | undefined {
  return isDict(v) && isCount(v.start) && isCount(v.end) && v.start <= v.end ? { start: v.start, end: v.end } : undefined;
}

/** Parses the `dsa` record (undefined when absent or malformed). */
export function parseDsa(v: JsonValue | undefined): DsaRecord | undefined {
  if (!isDict(v)) return undefined;
  const utd = countMap(v.utd);
  const { dsaGuid, invocationId, highestCommittedUsn, retired, ridPool, nextRidPool, generationId, dsaNotWritable, lastBackupUs, nextUser } = v;
  if (typeof dsaGuid !== 'string' || typeof invocationId !== 'string' || !isCount(highestCommittedUsn) || utd === undefined || !Array.isArray(retired)) return undefined;
  if (typeof dsaNotWritable !== 'boolean' || !isCount(nextUser) || (generationId !== null && typeof generationId !== 'string') || (lastBackupUs !== null && !isCount(lastBackupUs))) return undefined;
  const retiredList: RetiredInvocation[] = [];
  for (const r of retired as readonly JsonValue[]) {
    if (!isDict(r) || typeof r.invocationId !== 'string' || !isCount(r.highestUsn) || !isCount(r.retiredUs) || typeof r.reason !== 'string') return undefined;
    retiredList.push({ invocationId: r.invocationId, highestUsn: r.highestUsn, retiredUs: r.retiredUs, reason: r.reason });
  }
  let pool: RidPool | null = null;
  if (ridPool !== null) {
    const range = asRange(ridPool);
    if (range === undefined || !isDict(ridPool) || !isCount(ridPool.next)) return undefined;
    pool = { ...range, next: ridPool.next };
  }
  const next = nextRidPool === null ? null : asRange(nextRidPool);
  if (next === undefined) return undefined;
  return {
    dsaGuid, invocationId, highestCommittedUsn, utd, retired: retiredList, ridPool: pool, nextRidPool: next,
    generationId, dsaNotWritable, lastBackupUs, nextUser,
  };
}

/** Parses an `obj:` record. */
export function parseObject(v: JsonValue | undefined): StoredObject | undefined {
  if (!isDict(v)) return undefined;
  const attrs = stringMap(v.attrs);
  const { name, rid, version, orig, usnCreated, usnChanged } = v;
  if (typeof name !== 'string' || !isCount(rid) || attrs === undefined || !isCount(version) || !isCount(usnCreated) || !isCount(usnChanged)) return undefined;
  if (!isDict(orig) || typeof orig.invocationId !== 'string' || !isCount(orig.usn)) return undefined;
  return { name, rid, attrs, version, orig: { invocationId: orig.invocationId, usn: orig.usn }, usnCreated, usnChanged };
}

function guid(prng: Prng): string {
  const h = (): string => prng.int(0, 0xffff).toString(16).padStart(4, '0');
  return `${h()}${h()}-${h()}-${h()}-${h()}-${h()}${h()}${h()}`;
}

const encoder = new TextEncoder();

function output(exitCode: number, stdout: string, stderr = ''): GuestProgramResult {
  return { exitCode, stdout: encoder.encode(stdout), stderr, durationUs: PROGRAM_US };
}

export class NtdsApp implements GuestApp {
  readonly appId: AppId = 'ntds';
  readonly writer: NtdsWriter | null;
  readonly scriptActions = {};
  readonly programs: Readonly<Record<string, GuestProgram>>;
  private readonly fs: FileSystem;
  private db: EseStore | null = null;
  private dsaRec: DsaRecord | null = null;
  /** Object names in creation order (the workload picks users to modify from it). */
  private readonly names: string[] = [];
  private readonly acks: AckRecord[] = [];
  private running = false;
  private waiting = false;
  private workload: WorkloadSpec | undefined;
  private opCount = 0;
  private held = false;
  private readonly releaseWaiters: (() => void)[] = [];
  private readonly timers: AppTimers;
  private lastReport: ReplicationReport | null = null;
  private dead = false;

  /** History subject of this app's events (built once, not per event). */
  private readonly subject: string;

  constructor(private readonly host: AppHost, readonly domain: AdDomain, private readonly options: NtdsOptions = {}) {
    this.timers = new AppTimers(host);
    this.subject = `${host.vmId}/ntds`;
    const fs = host.volumes[0];
    assert(fs !== undefined, 'a domain controller needs a system volume');
    this.fs = fs;
    this.writer = host.os.vss ? new NtdsWriter(this.writerTarget()) : null;
    this.programs = { repadmin: (args) => this.repadmin(args), dsquery: (args) => this.dsquery(args) };
  }

  // -------------------------------------------------------------------------------------
  // GuestApp

  open(): OpenReport {
    this.assertAlive();
    assert(this.db === null, 'NTDS opened twice');
    const opened = EseStore.open({
      fs: this.fs, clock: this.host.clock, layout: NTDS_LAYOUT, circularLogging: true,
      logFileBytes: this.options.logFileBytes ?? DEFAULT_LOG_FILE_BYTES, checkpointDepthGens: DEPTH_GENS,
    });
    if (opened.store === null) {
      this.record('ntds.open', { ok: false, detail: opened.detail });
      return { created: opened.created, recoveryNeeded: opened.recoveryNeeded, ok: false, detail: opened.detail };
    }
    const db = opened.store;
    this.db = db;
    const genNow = this.host.os.vmGenerationId ? this.host.generationId() : null;
    const found = parseDsa(db.get('dsa'));
    const details = [opened.detail];
    let dsa: DsaRecord;
    let changed = false;
    let markerFound = false;
    if (found === undefined) {
      // dcpromo: a new DC with a new identity. Its RID pool comes at the first write.
      dsa = {
        dsaGuid: guid(this.host.prng), invocationId: guid(this.host.prng), highestCommittedUsn: 0, utd: {}, retired: [], ridPool: null,
        nextRidPool: null, generationId: genNow, dsaNotWritable: false, lastBackupUs: null, nextUser: 1,
      };
      changed = true;
      details.push(`promoted DC ${dsa.dsaGuid} with invocationId ${dsa.invocationId}`);
      this.record('ntds.promote', { dsaGuid: dsa.dsaGuid, invocationId: dsa.invocationId });
    } else {
      dsa = found;
      markerFound = this.fs.stat(NTDS_MARKER_PATH).ok;
      const genChanged = genNow !== null && genNow !== dsa.generationId;
      if (genChanged) this.event(NTDS_EVENTS.generationIdChanged, { cachedGenerationId: dsa.generationId, vmGenerationId: genNow });
      const reason = markerFound ? 'restored-from-backup' : genChanged ? 'vm-generation-id' : null;
      if (reason !== null) {
        dsa = this.resetInvocation(dsa, reason);
        details.push(`${reason}: invocationId reset to ${dsa.invocationId}, RID pool dropped`);
        changed = true;
      }
      if (genNow !== null && genNow !== dsa.generationId) {
        dsa = { ...dsa, generationId: genNow };
        changed = true;
      }
    }
    if (changed) {
      const saved = db.commit([{ key: 'dsa', value: dsa }]);
      if (!saved.ok) return { created: opened.created, recoveryNeeded: opened.recoveryNeeded, ok: false, detail: `saving the DSA header: ${describeEseError(saved.error)}` };
    }
    // Only once the new identity is durable: a crash before this keeps the marker (and resets again).
    if (markerFound) {
      const gone = this.fs.unlink(NTDS_MARKER_PATH);
      if (!gone.ok) details.push(`marker not removed: ${gone.error.kind}`);
    }
    this.dsaRec = dsa;
    for (const [key, value] of db.records) if (key.startsWith('obj:') && parseObject(value) !== undefined) this.names.push(key.slice(4));
    if (dsa.dsaNotWritable) details.push('USN rollback was detected earlier: the DC stays not writable, Netlogon paused');
    this.record('ntds.open', { ok: true, detail: details.join('; '), invocationId: dsa.invocationId, highestCommittedUsn: dsa.highestCommittedUsn });
    this.startTimers();
    return { created: opened.created, recoveryNeeded: opened.recoveryNeeded, ok: true, detail: details.join('; ') };
  }

  startWorkload(spec: WorkloadSpec): void {
    this.assertAlive();
    assert(spec.meanIntervalUs > 0, 'meanIntervalUs must be positive');
    this.workload = spec;
    if (this.db === null) {
      this.record('ntds.workload-refused', { reason: 'the directory is not open' });
      return;
    }
    const chainRunning = this.running;
    this.running = true;
    if (!chainRunning && !this.waiting) this.scheduleNext();
  }

  stopWorkload(): void {
    this.running = false;
  }

  committed(): ReadonlySet<string> {
    this.assertAlive();
    const ids = new Set<string>();
    if (this.db === null) return ids;
    for (const key of this.db.records.keys()) if (key.startsWith('chg:')) ids.add(key.slice(4));
    return ids;
  }

  acknowledged(): readonly AckRecord[] {
    return this.acks;
  }

  shutdown(): void {
    this.assertAlive();
    this.running = false;
    this.cancelTimers();
    if (this.db !== null) {
      const closed = this.db.close();
      this.record('ntds.shutdown', { clean: closed.ok });
      if (!closed.ok) this.db.abandon();
    }
    this.dead = true;
  }

  crash(): void {
    this.running = false;
    this.cancelTimers();
    this.db?.abandon();
    this.releaseWaiters.length = 0;
    this.dead = true;
  }

  // -------------------------------------------------------------------------------------
  // Directory operations (the workload's, and tests' and checkers')

  get dsa(): DsaRecord {
    assert(this.dsaRec !== null, 'the directory is not open');
    return this.dsaRec;
  }

  get invocationId(): string {
    return this.dsa.invocationId;
  }

  get highestCommittedUsn(): number {
    return this.dsa.highestCommittedUsn;
  }

  /** Netlogon is paused (and the DC not writable) after USN rollback was detected. */
  get netlogonPaused(): boolean {
    return this.dsaRec?.dsaNotWritable === true;
  }

  get lastReplication(): ReplicationReport | null {
    return this.lastReport;
  }

  get store(): EseStore | null {
    return this.db;
  }

  object(name: string): StoredObject | undefined {
    return parseObject(this.db?.get(`obj:${name}`));
  }

  objects(): StoredObject[] {
    const out: StoredObject[] = [];
    if (this.db === null) return out;
    for (const name of this.names) {
      const o = this.object(name);
      if (o !== undefined) out.push(o);
    }
    return out;
  }

  /** Creates a user (one transaction); returns the acknowledged change id `<invocationId>:<usn>`. */
  createUser(name: string, attrs: Readonly<Record<string, string>> = {}): Result<string, NtdsError> {
    const ready = this.writable();
    if (!ready.ok) return ready;
    if (this.object(name) !== undefined) return err({ kind: 'exists', name });
    let dsa = this.dsa;
    const taken = this.takeRid(dsa);
    dsa = taken.dsa;
    const usn = dsa.highestCommittedUsn + 1;
    const obj: StoredObject = {
      name, rid: taken.rid, attrs: { ...attrs }, version: 1, orig: { invocationId: dsa.invocationId, usn }, usnCreated: usn, usnChanged: usn,
    };
    const done = this.originate(obj, 'create', { ...dsa, highestCommittedUsn: usn });
    if (done.ok) this.names.push(name);
    return done;
  }

  /** Modifies a user's attributes (one transaction); returns the acknowledged change id. */
  modifyUser(name: string, attrs: Readonly<Record<string, string>>): Result<string, NtdsError> {
    const ready = this.writable();
    if (!ready.ok) return ready;
    const existing = this.object(name);
    if (existing === undefined) return err({ kind: 'no-such-object', name });
    const dsa = this.dsa;
    const usn = dsa.highestCommittedUsn + 1;
    const obj: StoredObject = {
      ...existing, attrs: { ...existing.attrs, ...attrs }, version: existing.version + 1, orig: { invocationId: dsa.invocationId, usn }, usnChanged: usn,
    };
    return this.originate(obj, 'modify', { ...dsa, highestCommittedUsn: usn });
  }

  /** One replication with the partner now (the timers call this every interval). */
  replicateNow(): ReplicationReport | null {
    this.assertAlive();
    const db = this.db;
    if (db === null || this.netlogonPaused || this.held || this.volumesFrozen()) return null;
    const report = this.domain.replicate(this.peer(), this.host.clock.nowUs());
    this.lastReport = report;
    this.record('ntds.replicate', {
      invocationId: report.invocationId, presentedUsn: report.presentedUsn, watermarkBefore: report.watermarkBefore, applied: report.applied,
      filtered: report.filtered, inbound: report.inbound.length, newlyDivergent: report.newlyDivergent.length, rollbackDetected: report.rollbackDetected,
    });
    if (report.rollbackDetected) this.onRollback(report);
    else this.applyInbound(report.inbound);
    return report;
  }

  // -------------------------------------------------------------------------------------
  // Internals: writes

  private writable(): Result<void, NtdsError> {
    this.assertAlive();
    if (this.db === null || this.dsaRec === null) return err({ kind: 'not-open' });
    if (this.dsaRec.dsaNotWritable) return err({ kind: 'not-writable', reason: 'USN rollback detected (event 2095): the DSA is not writable' });
    if (this.held) return err({ kind: 'busy', reason: 'the NTDS writer holds writes' });
    if (this.volumesFrozen()) return err({ kind: 'busy', reason: 'a volume is frozen' });
    return ok(undefined);
  }

  private originate(obj: StoredObject, kind: 'create' | 'modify', dsa: DsaRecord): Result<string, NtdsError> {
    const db = this.db;
    assert(db !== null, 'write without a database');
    const id = `${obj.orig.invocationId}:${obj.orig.usn}`;
    const change: ChangeRecord = { id, object: obj.name, kind, localUsn: obj.usnChanged, timeUs: this.host.clock.nowUs() };
    const ops: DbRecord[] = [{ key: `obj:${obj.name}`, value: obj }, { key: `chg:${id}`, value: change }, { key: 'dsa', value: dsa }];
    const committed = db.commit(ops);
    if (!committed.ok) {
      const detail = describeEseError(committed.error);
      this.record('ntds.commit-failed', { id, detail });
      return err({ kind: 'store', detail });
    }
    this.dsaRec = dsa;
    this.acks.push({ app: this.appId, id, timeUs: this.host.clock.nowUs(), durable: true });
    this.host.history.record({ kind: 'app.commit', subject: this.subject, data: { id, durable: true } });
    return ok(id);
  }

  /** A RID from the pool, switching to the next pool or asking the RID master as needed. */
  private takeRid(dsa: DsaRecord): { dsa: DsaRecord; rid: number } {
    let pool = dsa.ridPool;
    let next = dsa.nextRidPool;
    if (pool === null || pool.next > pool.end) {
      const range = next ?? this.fetchRidPool();
      pool = { start: range.start, end: range.end, next: range.start };
      next = null;
    }
    const rid = pool.next;
    pool = { ...pool, next: pool.next + 1 };
    // Windows asks for the next pool when half of the current one is used.
    if (next === null && pool.end - pool.next + 1 < (pool.end - pool.start + 1) / 2) next = this.fetchRidPool();
    return { dsa: { ...dsa, ridPool: pool, nextRidPool: next }, rid };
  }

  private fetchRidPool(): { start: number; end: number } {
    const range = this.domain.allocateRidPool();
    this.record('ntds.rid-pool', { start: range.start, end: range.end });
    return range;
  }

  private resetInvocation(dsa: DsaRecord, reason: string): DsaRecord {
    const invocationId = guid(this.host.prng);
    // The old invocation's changes stay known: the DC holds them up to its highest USN.
    const utd = { ...dsa.utd, [dsa.invocationId]: Math.max(dsa.utd[dsa.invocationId] ?? 0, dsa.highestCommittedUsn) };
    const retired: RetiredInvocation = { invocationId: dsa.invocationId, highestUsn: dsa.highestCommittedUsn, retiredUs: this.host.clock.nowUs(), reason };
    this.record('ntds.invocation-reset', { from: dsa.invocationId, to: invocationId, reason, highestCommittedUsn: dsa.highestCommittedUsn });
    this.record('ntds.rid-pool-dropped', { pool: dsa.ridPool === null ? null : { ...dsa.ridPool }, reason });
    this.event(NTDS_EVENTS.invocationIdChanged, { from: dsa.invocationId, to: invocationId, highestCommittedUsn: dsa.highestCommittedUsn, reason });
    return { ...dsa, invocationId, utd, retired: [...dsa.retired, retired], ridPool: null, nextRidPool: null };
  }

  private onRollback(report: ReplicationReport): void {
    const dsa = this.dsa;
    this.event(NTDS_EVENTS.usnRollback, {
      invocationId: dsa.invocationId, highestCommittedUsn: dsa.highestCommittedUsn, partnerWatermark: report.watermarkBefore,
    });
    this.record('ntds.netlogon', { paused: true, reason: 'USN rollback' });
    const next: DsaRecord = { ...dsa, dsaNotWritable: true };
    const db = this.db;
    assert(db !== null, 'rollback without a database');
    // Kept in memory even if the write fails: the DC stops either way.
    const saved = db.commit([{ key: 'dsa', value: next }]);
    if (!saved.ok) this.record('ntds.commit-failed', { id: 'dsa', detail: describeEseError(saved.error) });
    this.dsaRec = next;
  }

  private applyInbound(inbound: readonly ReplicatedObject[]): void {
    const db = this.db;
    assert(db !== null, 'inbound replication without a database');
    for (let i = 0; i < inbound.length; i += INBOUND_BATCH) {
      let dsa = this.dsa;
      const ops: DbRecord[] = [];
      const added: string[] = [];
      const batch = new Map<string, StoredObject>();
      for (const incoming of inbound.slice(i, i + INBOUND_BATCH)) {
        const utd = { ...dsa.utd, [incoming.orig.invocationId]: Math.max(dsa.utd[incoming.orig.invocationId] ?? 0, incoming.orig.usn) };
        dsa = { ...dsa, utd };
        const existing = batch.get(incoming.name) ?? this.object(incoming.name);
        if (existing !== undefined && !supersedes(incoming, existing)) continue;
        const usn = dsa.highestCommittedUsn + 1;
        dsa = { ...dsa, highestCommittedUsn: usn };
        const obj: StoredObject = {
          name: incoming.name, rid: incoming.rid, attrs: { ...incoming.attrs }, version: incoming.version,
          orig: { invocationId: incoming.orig.invocationId, usn: incoming.orig.usn }, usnCreated: existing?.usnCreated ?? usn, usnChanged: usn,
        };
        batch.set(obj.name, obj);
        const id = `${obj.orig.invocationId}:${obj.orig.usn}`;
        const change: ChangeRecord = { id, object: obj.name, kind: 'replicated', localUsn: usn, timeUs: this.host.clock.nowUs() };
        ops.push({ key: `obj:${obj.name}`, value: obj }, { key: `chg:${id}`, value: change });
        if (existing === undefined) added.push(obj.name);
      }
      ops.push({ key: 'dsa', value: dsa });
      const committed = db.commit(ops);
      if (!committed.ok) {
        this.record('ntds.commit-failed', { id: 'inbound', detail: describeEseError(committed.error) });
        return;
      }
      this.dsaRec = dsa;
      this.names.push(...added);
    }
  }

  private peer(): ReplicationPeer {
    const dsa = this.dsa;
    const objects = this.objects().sort((a, b) => a.usnChanged - b.usnChanged);
    const utd: Record<string, number> = {};
    for (const [inv, usn] of Object.entries(dsa.utd)) if (inv !== dsa.invocationId) utd[inv] = usn;
    return {
      dsaGuid: dsa.dsaGuid, invocationId: dsa.invocationId, highestCommittedUsn: dsa.highestCommittedUsn, utd,
      changesAbove: (usn) => objects.filter((o) => o.usnChanged > usn).map((o) => ({ ...o })),
    };
  }

  // -------------------------------------------------------------------------------------
  // Internals: workload and timers

  private scheduleNext(): void {
    const spec = this.workload;
    if (!this.running || spec === undefined || this.dead) return;
    if (spec.maxOps !== undefined && this.opCount >= spec.maxOps) {
      this.running = false;
      return;
    }
    this.host.queue.after(this.host.prng.int(0, 2 * spec.meanIntervalUs), `${this.host.timerPrefix}:op`, () => { this.step(); });
  }

  private step(): void {
    if (this.dead || !this.running) return;
    if (this.held) {
      this.waiting = true;
      assert(this.releaseWaiters.length < MAX_HELD_WAITERS, 'too many operations waiting for a release');
      this.releaseWaiters.push(() => {
        this.waiting = false;
        this.step();
      });
      return;
    }
    const frozen = this.host.volumes.find((v) => v.isFrozen);
    if (frozen !== undefined) {
      this.waiting = true;
      frozen.onThaw(() => {
        this.waiting = false;
        this.step();
      });
      return;
    }
    this.operate();
    this.opCount++;
    this.scheduleNext();
  }

  private operate(): void {
    const dsa = this.dsa;
    if (dsa.dsaNotWritable) {
      this.record('ntds.write-refused', { reason: 'DSA not writable' });
      return;
    }
    const create = this.names.length < 3 || this.host.prng.bool(this.options.createProbability ?? 0.4);
    if (create) {
      const name = `user-${dsa.invocationId.slice(0, 8)}-${dsa.nextUser}`;
      // nextUser moves first (its own write), so a failed create never reuses a name.
      this.dsaRec = { ...dsa, nextUser: dsa.nextUser + 1 };
      this.createUser(name, { displayName: `User ${dsa.nextUser}`, title: 'staff' });
    } else {
      const name = this.host.prng.pick(this.names);
      this.modifyUser(name, { title: `title-${dsa.highestCommittedUsn + 1}`, telephoneNumber: `+1-555-${String(this.host.prng.int(0, 9999)).padStart(4, '0')}` });
    }
  }

  private startTimers(): void {
    const interval = this.options.replicationIntervalUs ?? DEFAULT_REPLICATION_INTERVAL_US;
    this.timers.repeat('replicate', this.options.initialReplicationDelayUs ?? DEFAULT_INITIAL_REPLICATION_US, interval, () => {
      if (this.dead) return false;
      this.replicateNow();
      return true;
    });
    this.every(this.options.lazyWriteIntervalUs ?? DEFAULT_LAZY_WRITE_US, 'lazy-writer', (db) => db.lazyWrite());
    this.every(this.options.checkpointIntervalUs ?? DEFAULT_CHECKPOINT_US, 'checkpoint', (db) => db.checkpoint({ clean: false }));
  }

  private every(intervalUs: TimeUs, what: string, work: (db: EseStore) => { readonly ok: boolean }): void {
    this.timers.repeat(what, intervalUs, intervalUs, () => {
      if (this.dead) return false;
      const db = this.db;
      // Skipped while held or frozen: the writer made the data consistent and it must stay so.
      if (db !== null && !this.held && !this.volumesFrozen()) {
        const r = work(db);
        if (!r.ok) this.record('ntds.background-failed', { what });
      }
      return true;
    });
  }

  private cancelTimers(): void {
    this.timers.cancelAll();
  }

  private volumesFrozen(): boolean {
    return anyVolumeFrozen(this.host.volumes);
  }

  // -------------------------------------------------------------------------------------
  // Writer hooks

  private writerTarget(): ConstructorParameters<typeof NtdsWriter>[0] {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the target reads live state
    const app = this;
    return {
      get alive() { return !app.dead; },
      store: () => this.db,
      files: () => [...(this.db?.files() ?? [])],
      volumesFrozen: () => this.volumesFrozen(),
      hold: () => { this.held = true; },
      release: () => { this.release(); },
      writeMarker: (backupId) => this.writeMarker(backupId),
      removeMarker: () => { this.removeMarker(); },
      recordBackup: () => this.recordBackup(),
      record: (kind, data) => { this.record(kind, data); },
    };
  }

  private release(): void {
    this.held = false;
    const waiters = this.releaseWaiters.splice(0);
    for (const w of waiters) this.host.queue.after(0, `${this.host.timerPrefix}:release`, w);
  }

  private writeMarker(backupId: string): Result<void, string> {
    const h = this.fs.open(NTDS_MARKER_PATH, { create: true });
    if (!h.ok) return err(`open ${NTDS_MARKER_PATH}: ${h.error.kind}`);
    const cut = this.fs.truncate(h.value, 0);
    const body = utf8Bytes(JSON.stringify({ backupId, frozenUs: this.host.clock.nowUs(), invocationId: this.dsaRec?.invocationId ?? null }));
    const written = cut.ok ? writeAll(this.fs, h.value, 0, body) : err({ kind: 'fs' as const, op: 'truncate', path: NTDS_MARKER_PATH, error: cut.error });
    const flushed = written.ok ? this.fs.fsync(h.value) : undefined;
    this.fs.close(h.value);
    if (!written.ok) return err(describeEseError(written.error));
    if (flushed !== undefined && !flushed.ok) return err(`fsync ${NTDS_MARKER_PATH}: ${flushed.error.kind}`);
    return ok(undefined);
  }

  private removeMarker(): void {
    if (this.dead) return;
    const frozen = this.host.volumes.find((v) => v.isFrozen);
    if (frozen !== undefined) {
      frozen.onThaw(() => { this.removeMarker(); });
      return;
    }
    const gone = this.fs.unlink(NTDS_MARKER_PATH);
    if (!gone.ok && gone.error.kind !== 'not-found') this.record('ntds.marker-remove-failed', { error: gone.error.kind });
  }

  private recordBackup(): Result<void, string> {
    const db = this.db;
    if (db === null || this.dsaRec === null) return err('the directory is not open');
    const next = { ...this.dsaRec, lastBackupUs: this.host.clock.nowUs() };
    const saved = db.commit([{ key: 'dsa', value: next }]);
    if (!saved.ok) return err(describeEseError(saved.error));
    this.dsaRec = next;
    return ok(undefined);
  }

  // -------------------------------------------------------------------------------------
  // Programs

  private repadmin(args: readonly string[]): GuestProgramResult {
    if (this.dead || this.dsaRec === null) return output(1, '', 'repadmin: Active Directory is not running');
    const dsa = this.dsaRec;
    if (args[0] === '/showutdvec') {
      const vector: Record<string, number> = { ...dsa.utd, [dsa.invocationId]: dsa.highestCommittedUsn };
      return output(0, JSON.stringify({
        dsaGuid: dsa.dsaGuid, invocationId: dsa.invocationId, highestCommittedUsn: dsa.highestCommittedUsn, utdVector: vector,
        retiredInvocationIds: dsa.retired, netlogonPaused: dsa.dsaNotWritable, dsaNotWritable: dsa.dsaNotWritable,
      }));
    }
    if (args[0] === '/showrepl') {
      const r = this.lastReport;
      return output(0, JSON.stringify(r === null ? { lastReplication: null } : {
        lastReplication: {
          timeUs: r.timeUs, invocationId: r.invocationId, presentedUsn: r.presentedUsn, watermarkBefore: r.watermarkBefore,
          watermarkAfter: r.watermarkAfter, rollbackDetected: r.rollbackDetected, applied: r.applied, inbound: r.inbound.length,
        },
      }));
    }
    return output(2, '', 'usage: repadmin /showutdvec | /showrepl');
  }

  private dsquery(args: readonly string[]): GuestProgramResult {
    if (this.dead || this.db === null) return output(1, '', 'dsquery: Active Directory is not running');
    if (args[0] !== 'user' || args.length !== 2) return output(2, '', 'usage: dsquery user <name>');
    const obj = this.object(args[1] ?? '');
    return obj === undefined ? output(1, '', `dsquery: no user ${args[1] ?? ''}`) : output(0, JSON.stringify(obj));
  }

  private event(id: number, data: { readonly [key: string]: HistoryValue }): void {
    this.host.history.record({ kind: 'ntds.event', subject: this.subject, data: { id, ...data } });
  }

  private record(kind: string, data: { readonly [key: string]: HistoryValue }): void {
    this.host.history.record({ kind, subject: this.subject, data });
  }

  private assertAlive(): void {
    assert(!this.dead, 'NTDS used after shutdown or crash');
  }
}
