/**
 * The Active Directory domain around a simulated domain controller: world-level state that
 * outlives any one DC VM (a restore boots a new DC instance against the same domain). It
 * holds the DC's replication partner — another DC, modelled as data, not as a VM — which
 * is also the RID master.
 *
 * Models (notes fact 16):
 * - Objects carry their originating write's stamp (invocationId, USN) and a version. The
 *   partner keeps an up-to-dateness vector: per originating invocationId, the highest USN
 *   it has received. `replicate(dc)` pulls the DC's objects changed above the partner's
 *   watermark for the DC's current invocationId, skips those whose stamp the vector already
 *   covers, applies the rest (higher version wins; ties go to the higher stamp), then
 *   raises the watermark to the DC's highest committed USN and merges the DC's vector.
 *   Inbound: the partner's objects whose stamps the DC's vector does not cover go back to
 *   the DC (never the DC's own current invocation's, which it originated itself).
 * - USN rollback: a DC presenting an invocationId the partner knows with a highest
 *   committed USN below the partner's watermark for it is detected (the DC then logs event
 *   2095 and stops replicating). Whether detected or not, changes the DC made with USNs
 *   at or below the watermark are never asked for again: the partner silently lacks them.
 *   An omniscient scan after every replication records each such change as divergence
 *   (what a checker needs; the real partner cannot see it).
 * - The RID master hands out RID pools (ranges) and the partner notices two objects with
 *   one RID (duplicate SIDs, another rollback symptom).
 *
 * Leaves out: several partners, naming contexts, per-attribute metadata (the object is the
 * unit of replication), originating timestamps in conflict resolution, name conflicts
 * (CNF objects: a name is one object), tombstones and deletes, lingering objects, the
 * partner's inbound replication schedule (its own writes wait for the DC to pull).
 */

import { assert } from '../../../core/assert.js';
import type { TimeUs } from '../../../core/clock.js';

/** The originating write of an object's current version. */
export interface Stamp {
  readonly invocationId: string;
  readonly usn: number;
}

/** An object as it replicates: its current state and where that state came from. */
export interface ReplicatedObject {
  readonly name: string;
  readonly rid: number;
  readonly attrs: Readonly<Record<string, string>>;
  readonly version: number;
  readonly orig: Stamp;
  /** The holder's local USN of its last change of this object. */
  readonly usnChanged: number;
}

/** What a DC shows its partner during replication. */
export interface ReplicationPeer {
  readonly dsaGuid: string;
  readonly invocationId: string;
  readonly highestCommittedUsn: number;
  /** Originating invocationId -> highest originating USN the DC holds (its current one excluded). */
  readonly utd: Readonly<Record<string, number>>;
  /** Objects whose usnChanged is above `usn`, ascending by usnChanged. */
  changesAbove(usn: number): readonly ReplicatedObject[];
}

export interface PartnerObject extends ReplicatedObject {
  readonly receivedUs: TimeUs;
}

export interface DivergentChange {
  readonly object: string;
  readonly stamp: Stamp;
  readonly detectedUs: TimeUs;
}

export interface RollbackDetection {
  readonly timeUs: TimeUs;
  readonly dsaGuid: string;
  readonly invocationId: string;
  readonly presentedUsn: number;
  readonly watermarkUsn: number;
}

export interface DuplicateRid {
  readonly rid: number;
  readonly names: readonly [string, string];
  readonly timeUs: TimeUs;
}

export interface ReplicationReport {
  readonly timeUs: TimeUs;
  readonly dsaGuid: string;
  readonly invocationId: string;
  readonly presentedUsn: number;
  /** The partner's watermark for the invocationId before and after (null: unknown to it). */
  readonly watermarkBefore: number | null;
  readonly watermarkAfter: number | null;
  readonly rollbackDetected: boolean;
  /** Objects the partner took. */
  readonly applied: number;
  /** Objects skipped because the partner had seen their stamp (normal). */
  readonly filtered: number;
  /** Divergent changes first found by this replication. */
  readonly newlyDivergent: readonly DivergentChange[];
  /** Objects the DC lacks, for it to apply (empty after a rollback detection). */
  readonly inbound: readonly ReplicatedObject[];
}

export interface RidRange {
  readonly start: number;
  readonly end: number;
}

export interface AdDomainOptions {
  readonly name?: string;
  /** RIDs per pool (Windows: 500). */
  readonly ridBlockSize?: number;
  readonly firstRid?: number;
  readonly partnerInvocationId?: string;
}

/** Most objects a domain holds (a bound on the scans). */
export const MAX_DOMAIN_OBJECTS = 1_000_000;
const MAX_HISTORY = 100_000;

/** True when `a`'s version beats `b`'s (higher version; a tie goes to the higher stamp). */
export function supersedes(a: Pick<ReplicatedObject, 'version' | 'orig'>, b: Pick<ReplicatedObject, 'version' | 'orig'>): boolean {
  if (a.version !== b.version) return a.version > b.version;
  if (a.orig.invocationId !== b.orig.invocationId) return a.orig.invocationId > b.orig.invocationId;
  return a.orig.usn > b.orig.usn;
}

function sameStamp(a: Stamp, b: Stamp): boolean {
  return a.invocationId === b.invocationId && a.usn === b.usn;
}

export class AdDomain {
  readonly name: string;
  readonly ridBlockSize: number;
  readonly partnerInvocationId: string;
  private nextRid: number;
  private partnerUsn = 0;
  private partnerPool: { next: number; end: number } | null = null;
  private readonly objects = new Map<string, PartnerObject>();
  private readonly utd = new Map<string, number>();
  private readonly ridOwners = new Map<number, string>();
  private readonly divergent: DivergentChange[] = [];
  private readonly divergentKeys = new Set<string>();
  private readonly detections: RollbackDetection[] = [];
  private readonly duplicates: DuplicateRid[] = [];
  private readonly reports: ReplicationReport[] = [];
  private readonly pools: RidRange[] = [];

  constructor(options: AdDomainOptions = {}) {
    this.name = options.name ?? 'corp.example';
    this.ridBlockSize = options.ridBlockSize ?? 500;
    this.nextRid = options.firstRid ?? 1103;
    this.partnerInvocationId = options.partnerInvocationId ?? 'ffffffff-0000-0000-0000-partner00001';
    assert(Number.isSafeInteger(this.ridBlockSize) && this.ridBlockSize >= 2, `RID block size ${this.ridBlockSize}`);
    assert(Number.isSafeInteger(this.nextRid) && this.nextRid > 0, `first RID ${this.nextRid}`);
  }

  // -------------------------------------------------------------------------------------
  // RID master

  /** A fresh RID pool (the RID master never hands out a RID twice). */
  allocateRidPool(): RidRange {
    const range = { start: this.nextRid, end: this.nextRid + this.ridBlockSize - 1 };
    this.nextRid += this.ridBlockSize;
    assert(this.nextRid < 2 ** 30, 'RID space exhausted');
    this.pools.push(range);
    return range;
  }

  ridPools(): readonly RidRange[] {
    return this.pools;
  }

  // -------------------------------------------------------------------------------------
  // Replication

  /** One replication with `peer` (see the header); the DC applies the report's inbound objects. */
  replicate(peer: ReplicationPeer, timeUs: TimeUs): ReplicationReport {
    const inv = peer.invocationId;
    const before = this.utd.get(inv);
    const rollbackDetected = before !== undefined && peer.highestCommittedUsn < before;
    let applied = 0;
    let filtered = 0;
    if (rollbackDetected) {
      this.detections.push({ timeUs, dsaGuid: peer.dsaGuid, invocationId: inv, presentedUsn: peer.highestCommittedUsn, watermarkUsn: before });
    } else {
      for (const obj of peer.changesAbove(before ?? 0)) {
        if (obj.orig.usn <= (this.utd.get(obj.orig.invocationId) ?? 0)) {
          filtered++;
          continue;
        }
        if (this.apply(obj, timeUs)) applied++;
      }
      this.utd.set(inv, Math.max(before ?? 0, peer.highestCommittedUsn));
      for (const [other, usn] of Object.entries(peer.utd)) {
        if (other !== this.partnerInvocationId) this.utd.set(other, Math.max(this.utd.get(other) ?? 0, usn));
      }
    }
    const newlyDivergent = this.scanDivergence(peer, timeUs);
    const inbound: ReplicatedObject[] = [];
    if (!rollbackDetected) {
      for (const obj of this.objects.values()) {
        if (obj.orig.invocationId === inv) continue;
        if (obj.orig.usn > (peer.utd[obj.orig.invocationId] ?? 0)) inbound.push(obj);
      }
    }
    const report: ReplicationReport = {
      timeUs, dsaGuid: peer.dsaGuid, invocationId: inv, presentedUsn: peer.highestCommittedUsn, watermarkBefore: before ?? null,
      watermarkAfter: this.utd.get(inv) ?? null, rollbackDetected, applied, filtered, newlyDivergent, inbound,
    };
    if (this.reports.length < MAX_HISTORY) this.reports.push(report);
    return report;
  }

  /** The partner's own originating write (an administrator working on the other DC). */
  partnerWrite(name: string, attrs: Readonly<Record<string, string>>, timeUs: TimeUs): PartnerObject {
    const existing = this.objects.get(name);
    this.partnerUsn++;
    const rid = existing?.rid ?? this.partnerRid();
    const obj: PartnerObject = {
      name, rid, attrs: { ...existing?.attrs, ...attrs }, version: (existing?.version ?? 0) + 1,
      orig: { invocationId: this.partnerInvocationId, usn: this.partnerUsn }, usnChanged: this.partnerUsn, receivedUs: timeUs,
    };
    this.store(obj, timeUs);
    this.utd.set(this.partnerInvocationId, this.partnerUsn);
    return obj;
  }

  private partnerRid(): number {
    if (this.partnerPool === null || this.partnerPool.next > this.partnerPool.end) {
      const range = this.allocateRidPool();
      this.partnerPool = { next: range.start, end: range.end };
    }
    return this.partnerPool.next++;
  }

  // -------------------------------------------------------------------------------------
  // What checkers read

  partnerObjects(): ReadonlyMap<string, PartnerObject> {
    return this.objects;
  }

  partnerObject(name: string): PartnerObject | undefined {
    return this.objects.get(name);
  }

  /** The partner's watermark (highest USN received) for an invocationId. */
  watermark(invocationId: string): number | undefined {
    return this.utd.get(invocationId);
  }

  watermarks(): ReadonlyMap<string, number> {
    return this.utd;
  }

  /** Changes a DC made that the partner will never replicate (silent divergence). */
  divergence(): readonly DivergentChange[] {
    return this.divergent;
  }

  get diverged(): boolean {
    return this.divergent.length > 0;
  }

  rollbacks(): readonly RollbackDetection[] {
    return this.detections;
  }

  duplicateRids(): readonly DuplicateRid[] {
    return this.duplicates;
  }

  replicationReports(): readonly ReplicationReport[] {
    return this.reports;
  }

  // -------------------------------------------------------------------------------------
  // Internals

  private apply(obj: ReplicatedObject, timeUs: TimeUs): boolean {
    const existing = this.objects.get(obj.name);
    if (existing !== undefined && !supersedes(obj, existing)) return false;
    this.partnerUsn++;
    this.store({ ...obj, usnChanged: this.partnerUsn, receivedUs: timeUs }, timeUs);
    return true;
  }

  private store(obj: PartnerObject, timeUs: TimeUs): void {
    assert(this.objects.size < MAX_DOMAIN_OBJECTS || this.objects.has(obj.name), 'too many domain objects');
    const owner = this.ridOwners.get(obj.rid);
    if (owner !== undefined && owner !== obj.name && this.duplicates.length < MAX_HISTORY) {
      this.duplicates.push({ rid: obj.rid, names: [owner, obj.name], timeUs });
    }
    if (owner === undefined) this.ridOwners.set(obj.rid, obj.name);
    this.objects.set(obj.name, obj);
  }

  /** The omniscient check: the DC's changes the partner's vector covers but the partner lacks. */
  private scanDivergence(peer: ReplicationPeer, timeUs: TimeUs): DivergentChange[] {
    const found: DivergentChange[] = [];
    for (const obj of peer.changesAbove(0)) {
      if (obj.orig.usn > (this.utd.get(obj.orig.invocationId) ?? 0)) continue; // will be pulled
      const held = this.objects.get(obj.name);
      if (held !== undefined && (sameStamp(held.orig, obj.orig) || supersedes(held, obj))) continue;
      const key = `${obj.name}@${obj.orig.invocationId}:${obj.orig.usn}`;
      if (this.divergentKeys.has(key)) continue;
      this.divergentKeys.add(key);
      const d: DivergentChange = { object: obj.name, stamp: obj.orig, detectedUs: timeUs };
      found.push(d);
      if (this.divergent.length < MAX_HISTORY) this.divergent.push(d);
    }
    return found;
  }
}
