/**
 * The Active Directory model: a domain controller restored by booting an earlier image of
 * its disks, in the three ways notes fact 16 separates.
 *
 * (a) No VM-GenerationID (Windows 2008 R2) and a crash-consistent, non-VSS image: the DC
 *     reuses its invocationId with a lower USN; the partner detects the rollback (event
 *     2095, Netlogon paused) and never receives the changes made after the restore. When
 *     the DC writes past the partner's watermark before replicating, nothing is detected
 *     and the changes at or below it are lost silently.
 * (b) Windows 2016 with a changed VM-GenerationID: invocationId reset, RID pool dropped, no
 *     divergence, partner and DC converge. Controls: the same GenID, or a changed GenID on
 *     2008 R2 (which ignores it), roll back as in (a).
 * (c) Windows 2008 R2 from an image taken while the NTDS writer was frozen: the marker
 *     makes it a non-authoritative restore, safe without GenID. The live DC after thaw has
 *     no marker (a reboot of it keeps its invocationId).
 */

import { describe, expect, it } from 'vitest';
import { msToUs, sToUs } from '../../../core/clock.js';
import type { SnapshotId } from '../../../core/ids.js';
import { AdDomain, NTDS_MARKER_PATH, NtdsApp, ntdsAppFactory } from '../../../sim/apps/ntds/index.js';
import { GUEST_OS, type GuestOsFacts } from '../../../sim/guest/catalog.js';
import { GuestFixture } from '../../support/guest-fixture.js';

const DISK_BYTES = 32 * 1024 * 1024;

interface World {
  readonly f: GuestFixture;
  readonly domain: AdDomain;
  dc: NtdsApp;
}

function boot(w: World): NtdsApp {
  const app = w.f.track(new NtdsApp(w.f.host('ntds'), w.domain));
  w.dc = app;
  return app;
}

function world(os: GuestOsFacts, generationId: string | null, seed = 7): World {
  const f = new GuestFixture({ seed, os, diskBytes: DISK_BYTES, generationId });
  const w: World = { f, domain: new AdDomain({ ridBlockSize: 20 }), dc: undefined as unknown as NtdsApp };
  const report = boot(w).open();
  expect(report.ok && report.created).toBe(true);
  w.dc.startWorkload({ meanIntervalUs: msToUs(400) });
  w.f.sim.runFor(sToUs(40));
  return w;
}

/** The NTDS writer's freeze, the volumes' flush-and-hold, a disk snapshot, then the thaws (as the VSS requestor does). */
function vssSnapshot(w: World): SnapshotId {
  const writer = w.dc.writer;
  expect(writer).not.toBeNull();
  if (writer === null) throw new Error('no writer');
  expect(writer.prepareForBackup({ backupType: 'full', backupId: 'b1' }).error).toBeNull();
  expect(writer.prepareForSnapshot().error).toBeNull();
  expect(writer.freeze().error).toBeNull();
  for (const v of w.f.volumes) expect(v.freeze().ok).toBe(true);
  const snap = w.f.disks[0]!.createSnapshot();
  for (const v of w.f.volumes) expect(v.thaw().ok).toBe(true);
  expect(writer.thaw().error).toBeNull();
  expect(writer.postSnapshot().error).toBeNull();
  expect(writer.backupComplete(true).error).toBeNull();
  return snap;
}

/** Keeps the DC working long enough for the partner's watermark to pass the image's USN, then restores the image. */
function restore(w: World, snap: SnapshotId, newGenerationId?: string): { readonly imageUsn: number; readonly oldInvocationId: string } {
  w.f.sim.runFor(sToUs(60));
  const oldInvocationId = w.dc.invocationId;
  w.f.powerLoss();
  w.f.disks[0]!.revertToSnapshot(snap);
  if (newGenerationId !== undefined) w.f.generationId = newGenerationId;
  w.f.boot();
  const report = boot(w).open();
  expect(report.ok).toBe(true);
  return { imageUsn: w.dc.highestCommittedUsn, oldInvocationId };
}

function events(w: World, id: number): number {
  return w.f.sim.history.events().filter((e) => e.kind === 'ntds.event' && e.data.id === id).length;
}

/** Creates users right after the restore (before the first replication). */
function writeAfterRestore(w: World, count: number): string[] {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `after-restore-${i}`;
    const created = w.dc.createUser(name, { title: 'new hire' });
    expect(created.ok).toBe(true);
    names.push(name);
  }
  return names;
}

/** Partner and DC hold the same objects with the same originating stamps. */
function converged(w: World): boolean {
  const partner = w.domain.partnerObjects();
  const mine = w.dc.objects();
  if (partner.size !== mine.length) return false;
  return mine.every((o) => {
    const p = partner.get(o.name);
    return p !== undefined && p.orig.invocationId === o.orig.invocationId && p.orig.usn === o.orig.usn && p.version === o.version;
  });
}

describe('ntds: the workload replicates and the partner keeps up', () => {
  it('the factory builds the NTDS writer only on a guest with VSS; open() does no network work', () => {
    const domain = new AdDomain();
    const vss = new GuestFixture({ seed: 1, os: GUEST_OS.win2016, diskBytes: DISK_BYTES });
    const app = ntdsAppFactory(domain)(vss.host('ntds'));
    expect(app.writer?.name).toBe('NTDS');
    expect(app.open().ok).toBe(true);
    expect(domain.ridPools()).toEqual([]);
    expect(domain.replicationReports()).toEqual([]);
    const old = new GuestFixture({ seed: 1, os: GUEST_OS.win2000, diskBytes: DISK_BYTES });
    expect(ntdsAppFactory(domain)(old.host('ntds')).writer).toBeNull();
  });

  it('creates and modifies users, refills RID pools and replicates without divergence', () => {
    const w = world(GUEST_OS.win2016, 'gen-A');
    w.f.sim.runFor(sToUs(16)); // one more replication after the last write batch
    w.dc.stopWorkload();
    w.f.sim.runFor(sToUs(16));
    expect(w.dc.acknowledged().length).toBeGreaterThan(50);
    expect(w.domain.ridPools().length).toBeGreaterThan(1);
    expect(w.domain.diverged).toBe(false);
    expect(w.domain.watermark(w.dc.invocationId)).toBe(w.dc.highestCommittedUsn);
    expect(converged(w)).toBe(true);
    // Every acknowledged change is in the DC's data, and the programs read it.
    const committed = w.dc.committed();
    expect(w.dc.acknowledged().every((a) => committed.has(a.id))).toBe(true);
    const user = w.dc.objects()[0]!;
    const shown = JSON.parse(new TextDecoder().decode(w.dc.programs.dsquery!(['user', user.name], undefined).stdout)) as { rid: number };
    expect(shown.rid).toBe(user.rid);
    const utd = JSON.parse(new TextDecoder().decode(w.dc.programs.repadmin!(['/showutdvec'], undefined).stdout)) as { utdVector: Record<string, number> };
    expect(utd.utdVector[w.dc.invocationId]).toBe(w.dc.highestCommittedUsn);
  });

  it('survives a power loss: recovery keeps every acknowledged change and the invocationId', () => {
    const w = world(GUEST_OS.win2016, 'gen-A');
    const before = w.dc;
    const inv = before.invocationId;
    w.f.powerLoss();
    w.f.boot();
    const report = boot(w).open();
    expect(report.ok && report.recoveryNeeded).toBe(true);
    const committed = w.dc.committed();
    expect(before.acknowledged().filter((a) => !committed.has(a.id))).toEqual([]);
    expect(w.dc.invocationId).toBe(inv);
    w.dc.startWorkload({ meanIntervalUs: msToUs(400) });
    w.f.sim.runFor(sToUs(40));
    expect(w.domain.rollbacks()).toEqual([]);
    expect(w.domain.diverged).toBe(false);
  });
});

describe('ntds: determinism', () => {
  it('the same seed gives the same history, rollback included', () => {
    const run = (seed: number): string => {
      const w = world(GUEST_OS.win2008r2, null, seed);
      const snap = w.f.disks[0]!.createSnapshot();
      restore(w, snap);
      writeAfterRestore(w, 2);
      w.f.sim.runFor(sToUs(20));
      return w.f.sim.history.digest();
    };
    expect(run(3)).toBe(run(3));
    expect(run(3)).not.toBe(run(4));
  });
});

describe('ntds (a): restore without VM-GenerationID from a non-VSS image', () => {
  it('reuses the invocationId with a lower USN: event 2095, Netlogon paused, the partner misses the new changes', () => {
    const w = world(GUEST_OS.win2008r2, null);
    const snap = w.f.disks[0]!.createSnapshot(); // crash-consistent: no writer involved
    const { imageUsn, oldInvocationId } = restore(w, snap);
    expect(w.dc.invocationId).toBe(oldInvocationId);
    const watermark = w.domain.watermark(oldInvocationId) ?? 0;
    expect(imageUsn).toBeLessThan(watermark);
    const names = writeAfterRestore(w, 3);
    w.f.sim.runFor(sToUs(20));
    expect(w.domain.rollbacks()).toHaveLength(1);
    expect(events(w, 2095)).toBe(1);
    expect(w.dc.netlogonPaused).toBe(true);
    for (const name of names) {
      const p = w.domain.partnerObject(name);
      expect(p === undefined || p.orig.usn !== w.dc.object(name)?.orig.usn).toBe(true);
    }
    expect(w.domain.divergence().map((d) => d.object)).toEqual(expect.arrayContaining(names));
    // The quarantined DC refuses further writes.
    expect(w.dc.createUser('refused').ok).toBe(false);
  });

  it('when the DC writes past the watermark first, nothing is detected and the lower changes diverge silently', () => {
    const w = world(GUEST_OS.win2008r2, null);
    const snap = w.f.disks[0]!.createSnapshot();
    const { imageUsn, oldInvocationId } = restore(w, snap);
    const watermark = w.domain.watermark(oldInvocationId) ?? 0;
    const names = writeAfterRestore(w, watermark - imageUsn + 5);
    w.f.sim.runFor(sToUs(20));
    expect(w.domain.rollbacks()).toEqual([]);
    expect(events(w, 2095)).toBe(0);
    expect(w.dc.netlogonPaused).toBe(false);
    const lost = names.filter((n) => (w.dc.object(n)?.orig.usn ?? 0) <= watermark);
    const shipped = names.filter((n) => (w.dc.object(n)?.orig.usn ?? 0) > watermark);
    expect(lost.length).toBe(watermark - imageUsn);
    expect(shipped.length).toBe(5);
    for (const n of lost) expect(w.domain.partnerObject(n)).toBeUndefined();
    for (const n of shipped) expect(w.domain.partnerObject(n)).toBeDefined();
    expect(w.domain.diverged).toBe(true);
    expect(converged(w)).toBe(false);
  });

  it('a changed GenID does not help an OS that ignores it (2008 R2)', () => {
    const w = world(GUEST_OS.win2008r2, 'gen-A');
    const snap = w.f.disks[0]!.createSnapshot();
    const { oldInvocationId } = restore(w, snap, 'gen-B');
    expect(w.dc.invocationId).toBe(oldInvocationId);
    writeAfterRestore(w, 2);
    w.f.sim.runFor(sToUs(20));
    expect(events(w, 2095)).toBe(1);
    expect(w.domain.diverged).toBe(true);
  });
});

describe('ntds (b): restore with VM-GenerationID (2016)', () => {
  it('resets the invocationId, drops the RID pool and converges without divergence', () => {
    const w = world(GUEST_OS.win2016, 'gen-A');
    const snap = w.f.disks[0]!.createSnapshot();
    const imagePoolsBefore = w.domain.ridPools().length;
    const { oldInvocationId } = restore(w, snap, 'gen-B');
    expect(w.dc.invocationId).not.toBe(oldInvocationId);
    expect(w.dc.dsa.ridPool).toBeNull();
    expect(w.dc.dsa.retired.map((r) => r.invocationId)).toContain(oldInvocationId);
    expect(events(w, 2170)).toBe(1);
    expect(events(w, 1109)).toBe(1);
    const names = writeAfterRestore(w, 3);
    // The first write after the reset takes a fresh pool from the RID master.
    expect(w.domain.ridPools().length).toBeGreaterThan(imagePoolsBefore);
    const fresh = w.domain.ridPools().slice(imagePoolsBefore);
    expect(fresh.some((p) => p.start <= w.dc.object(names[0]!)!.rid && w.dc.object(names[0]!)!.rid <= p.end)).toBe(true);
    w.dc.startWorkload({ meanIntervalUs: msToUs(400) });
    w.f.sim.runFor(sToUs(40));
    w.dc.stopWorkload();
    w.f.sim.runFor(sToUs(32));
    expect(w.domain.rollbacks()).toEqual([]);
    expect(events(w, 2095)).toBe(0);
    expect(w.domain.diverged).toBe(false);
    expect(w.domain.duplicateRids()).toEqual([]);
    for (const n of names) expect(w.domain.partnerObject(n)?.orig.invocationId).toBe(w.dc.invocationId);
    // Inbound replication brought back what the lost timeline had replicated.
    expect(converged(w)).toBe(true);
  });

  it('control: the same GenID after the restore rolls back as without GenID', () => {
    const w = world(GUEST_OS.win2016, 'gen-A');
    const snap = w.f.disks[0]!.createSnapshot();
    const { oldInvocationId } = restore(w, snap, 'gen-A');
    expect(w.dc.invocationId).toBe(oldInvocationId);
    writeAfterRestore(w, 2);
    w.f.sim.runFor(sToUs(20));
    expect(events(w, 2095)).toBe(1);
    expect(w.domain.diverged).toBe(true);
  });

  it('control: a rolled-back DC reissues RIDs the lost timeline used (duplicate SIDs)', () => {
    const w = world(GUEST_OS.win2008r2, null);
    const snap = w.f.disks[0]!.createSnapshot();
    const { imageUsn, oldInvocationId } = restore(w, snap);
    // Past the watermark (no detection); modifying the new users then gives them USNs the
    // partner asks for, so it sees their RIDs, which the lost timeline had handed out.
    const names = writeAfterRestore(w, (w.domain.watermark(oldInvocationId) ?? 0) - imageUsn + 1);
    for (const n of names) expect(w.dc.modifyUser(n, { title: 'moved' }).ok).toBe(true);
    w.f.sim.runFor(sToUs(20));
    expect(events(w, 2095)).toBe(0);
    expect(w.domain.duplicateRids().length).toBeGreaterThan(0);
  });
});

describe('ntds (c): restore from a writer-frozen (VSS) image without GenID', () => {
  it('the marker makes it a non-authoritative restore: new invocationId, no rollback, convergence', () => {
    const w = world(GUEST_OS.win2008r2, null);
    const snap = vssSnapshot(w);
    // After thaw the live DC has no marker: its own reboot would not reset.
    expect(w.f.volumes[0]!.stat(NTDS_MARKER_PATH).ok).toBe(false);
    const { oldInvocationId } = restore(w, snap);
    expect(w.dc.invocationId).not.toBe(oldInvocationId);
    expect(w.dc.dsa.retired[0]?.reason).toBe('restored-from-backup');
    expect(w.f.volumes[0]!.stat(NTDS_MARKER_PATH).ok).toBe(false);
    const names = writeAfterRestore(w, 3);
    w.f.sim.runFor(sToUs(32));
    expect(events(w, 2095)).toBe(0);
    expect(w.domain.diverged).toBe(false);
    for (const n of names) expect(w.domain.partnerObject(n)).toBeDefined();
    expect(converged(w)).toBe(true);
  });

  it('the writer-frozen image opens without crash recovery; the crash-consistent one needs it', () => {
    const frozen = world(GUEST_OS.win2008r2, null);
    const snap = vssSnapshot(frozen);
    frozen.f.powerLoss();
    frozen.f.disks[0]!.revertToSnapshot(snap);
    frozen.f.boot();
    expect(boot(frozen).open()).toMatchObject({ ok: true, recoveryNeeded: false });

    const plain = world(GUEST_OS.win2008r2, null);
    const snap2 = plain.f.disks[0]!.createSnapshot();
    plain.f.powerLoss();
    plain.f.disks[0]!.revertToSnapshot(snap2);
    plain.f.boot();
    expect(boot(plain).open()).toMatchObject({ ok: true, recoveryNeeded: true });
  });

  it('holds directory writes between freeze and thaw', () => {
    const w = world(GUEST_OS.win2008r2, null);
    const writer = w.dc.writer!;
    writer.prepareForBackup({ backupType: 'full', backupId: 'b2' });
    writer.freeze();
    expect(w.f.volumes[0]!.stat(NTDS_MARKER_PATH).ok).toBe(true);
    const acked = w.dc.acknowledged().length;
    w.f.sim.runFor(sToUs(5));
    expect(w.dc.acknowledged().length).toBe(acked);
    expect(w.dc.createUser('during-freeze').ok).toBe(false);
    writer.abort();
    expect(w.f.volumes[0]!.stat(NTDS_MARKER_PATH).ok).toBe(false);
    w.f.sim.runFor(sToUs(5));
    expect(w.dc.acknowledged().length).toBeGreaterThan(acked);
    expect(writer.prepareForBackup({ backupType: 'log', backupId: 'b3' }).error).toBe('NONRETRYABLE');
  });
});
