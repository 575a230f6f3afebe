/**
 * The acknowledgement ledger: every commit or write each application acknowledged, across
 * guest boots (an app instance dies with a power loss; its acknowledgements must not).
 * After a power loss and reboot the ledger marks what the crash itself lost — acknowledged
 * before the crash and absent from the recovered data — so that a later backup is not
 * blamed for it; what was acknowledged as durable and still lost is the evidence that the
 * storage stack lied about flush.
 *
 * It also books acknowledged removals (an app that takes data back: `GuestApp.removals`),
 * keeping the first time each id was removed. A removal the crash undid (the record is in
 * the recovered data again) is forgotten, and a record removed before the crash is not
 * counted as lost in it.
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import type { AppId } from '../../core/hypervisor-port.js';
import type { AckRecord } from '../../sim/apps/types.js';
import type { SimVm } from '../../sim/hypervisor/sim-vm.js';

export interface CrashLoss {
  readonly atUs: TimeUs;
  readonly app: AppId;
  /** Acknowledged before the crash, missing after recovery. */
  readonly lost: readonly string[];
  /** Of those, acknowledged as durable. */
  readonly lostDurable: readonly string[];
}

export class AckLedger {
  private readonly byApp = new Map<AppId, Map<string, AckRecord>>();
  private readonly lostInCrash = new Set<string>();
  private readonly removedBy = new Map<AppId, Map<string, AckRecord>>();
  readonly crashLosses: CrashLoss[] = [];

  /** Takes in what the VM's running apps acknowledged so far (call before a crash and before judging). */
  collect(vm: SimVm): void {
    if (vm.guest === null) return;
    for (const appId of vm.apps) {
      let book = this.byApp.get(appId);
      if (book === undefined) {
        book = new Map();
        this.byApp.set(appId, book);
      }
      for (const a of vm.app(appId).acknowledged()) {
        const seen = book.get(a.id);
        // Keep the first acknowledgement's time, and durable once any says so, from when it said so.
        if (seen === undefined) book.set(a.id, a);
        else if (a.durable && !seen.durable) book.set(a.id, { ...seen, durable: true, durableAtUs: a.timeUs });
      }
      this.collectRemovals(appId, vm.app(appId).removals?.() ?? []);
    }
  }

  private collectRemovals(appId: AppId, removals: readonly AckRecord[]): void {
    if (removals.length === 0) return;
    let book = this.removedBy.get(appId);
    if (book === undefined) {
      book = new Map();
      this.removedBy.set(appId, book);
    }
    for (const r of removals) {
      assert(r.app === appId, `a removal of ${r.app} reported by ${appId}`);
      const seen = book.get(r.id);
      if (seen === undefined) book.set(r.id, r);
      else if (r.durable && !seen.durable) book.set(r.id, { ...seen, durable: true });
    }
  }

  /** After the VM rebooted from a crash at `atUs`: marks what the crash lost. */
  markCrash(vm: SimVm, atUs: TimeUs): void {
    if (vm.guest === null) return;
    for (const appId of vm.apps) {
      const committed = vm.app(appId).committed();
      const removed = this.removedBy.get(appId);
      // A removal the crash undid: the record is back, and expected again.
      for (const id of [...removed?.keys() ?? []]) if (committed.has(id)) removed?.delete(id);
      const lost: string[] = [];
      const lostDurable: string[] = [];
      for (const a of this.byApp.get(appId)?.values() ?? []) {
        if (a.timeUs >= atUs || this.lostInCrash.has(key(appId, a.id)) || committed.has(a.id) || removed?.has(a.id) === true) continue;
        this.lostInCrash.add(key(appId, a.id));
        lost.push(a.id);
        if (durableBy(a, atUs)) lostDurable.push(a.id);
      }
      this.crashLosses.push({ atUs, app: appId, lost, lostDurable });
    }
  }

  /** Acknowledgements still expected to exist (not lost by an earlier crash), per app. */
  acks(): Partial<Record<AppId, AckRecord[]>> {
    const out: Partial<Record<AppId, AckRecord[]>> = {};
    for (const [appId, book] of this.byApp) out[appId] = [...book.values()].filter((a) => !this.lostInCrash.has(key(appId, a.id)));
    return out;
  }

  /** Acknowledged removals still standing (not undone by a crash), per app. */
  removals(): Partial<Record<AppId, AckRecord[]>> {
    const out: Partial<Record<AppId, AckRecord[]>> = {};
    for (const [appId, book] of this.removedBy) out[appId] = [...book.values()];
    return out;
  }

  /** One acknowledgement, for evidence. */
  find(appId: AppId, id: string): AckRecord | undefined {
    return this.byApp.get(appId)?.get(id);
  }
}

/** Acknowledged as durable before `atUs` (a buffered write a later fsync made durable is not, before then). */
export function durableBy(a: AckRecord, atUs: TimeUs): boolean {
  return a.durable && (a.durableAtUs ?? a.timeUs) < atUs;
}

function key(appId: AppId, id: string): string {
  return `${appId}\u0000${id}`;
}
