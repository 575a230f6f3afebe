/**
 * The engine's WAL parser (engine/logbackup/sqlite-wal.ts) against real WAL bytes: the
 * simulator's SQLite app (the real SQLite, wasm) writes them in a Linux guest and the
 * engine reads them with the guest program `sqlite3 app.db wal-frames`. Checked: the
 * header and every cumulative checksum verify; a checkpoint starts the next generation
 * (checkpoint sequence + 1, salt-1 + 1, also on an empty WAL); the commits found are the
 * app's acknowledged transactions, one for one; and the commit boundaries agree with the
 * real `sqlite3` program (Debian package), which, given the database file and the WAL cut
 * at commit j, recovers exactly the first j transactions. Corruption (a page byte, a salt,
 * the header, the byte-order bit) and a torn tail are found. Each check is shown failing on
 * a deliberately wrong input (a cut one frame short, a damaged byte).
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import { unwrap } from '../../core/result.js';
import { WAL_HEADER_BYTES, WAL_MAGIC_LITTLE_ENDIAN, frameBytesOf, parseWalHeader, scanWal, scanWalFrames, type WalScan } from '../../engine/logbackup/sqlite-wal.js';
import { DB_PATH, WAL_PATH } from '../../sim/apps/sqlite/index.js';
import { defaultApps, prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { HAVE_SQLITE3, sqlite3 } from '../support/sqlite3.js';

const MiB = 1024 * 1024;


const temps: string[] = [];
afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});
beforeAll(async () => { await prepareDefaultApps(); });

function world(seed: number) {
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: defaultApps().factories });
  const vm = unwrap(hv.addVm({ name: 'lin', guestOs: 'linux', tools: 'esx41', apps: ['sqlite'], disks: [{ capacityBytes: 32 * MiB }] }));
  const app = () => hv.vm(vm.vmId).app('sqlite');
  const sqlite3 = async (...args: string[]) => {
    const run = unwrap(await hv.runInGuest(vm.vmId, 'sqlite3', ['app.db', ...args]));
    expect(run.exitCode, run.stderr).toBe(0);
    return run.stdout;
  };
  /** A file of the guest as a process there reads it. */
  const guestFile = (path: string): Uint8Array => {
    const fs = hv.vm(vm.vmId).guest?.volumes.at(-1);
    if (fs === undefined) throw new Error('no guest');
    const h = unwrap(fs.open(path));
    try {
      return unwrap(fs.read(h, 0, unwrap(fs.size(h))));
    } finally {
      fs.close(h);
    }
  };
  return { hv, vm, app, sqlite3, guestFile };
}

/** A checkpointed database, then `ops` transactions in a fresh WAL: the file, the WAL and the acknowledged ids. */
async function freshWal(seed: number, ops: number) {
  const w = world(seed);
  w.hv.startWorkload(w.vm.vmId, 'sqlite', { meanIntervalUs: 3_000, opsPerTxn: 3, valueBytes: 300 });
  w.hv.runFor(sToUs(0.2));
  w.app().stopWorkload();
  const before = unwrap(scanWal(await w.sqlite3('wal-frames')));
  await w.sqlite3('checkpoint');
  const inDb = w.app().acknowledged().length;
  w.hv.startWorkload(w.vm.vmId, 'sqlite', { meanIntervalUs: 3_000, opsPerTxn: 3, valueBytes: 300, maxOps: ops });
  w.hv.runFor(sToUs(2));
  const wal = await w.sqlite3('wal-frames');
  const acks = w.app().acknowledged().map((a) => a.id);
  return { ...w, before, wal, db: w.guestFile(DB_PATH), inDb, acks };
}

function ids(db: string): string[] {
  return sqlite3(db, 'SELECT id FROM txns ORDER BY id;').split('\n').filter((l) => l !== '');
}

describe('the WAL parser on real SQLite WAL bytes', () => {
  it('verifies the header and every checksum, and finds one commit per acknowledged transaction', async () => {
    const f = await freshWal(41, 60);
    expect(f.wal.length).toBeGreaterThan(WAL_HEADER_BYTES);
    const scan: WalScan = unwrap(scanWal(f.wal));
    expect(scan.header.magic).toBe(WAL_MAGIC_LITTLE_ENDIAN);
    expect(scan.header.pageBytes).toBe(4096);
    expect(scan.stop).toEqual({ kind: 'end' });
    expect(scan.uncommittedFrames).toBe(0);
    expect(scan.committedEnd).toBe(f.wal.length);
    expect(scan.frames.length).toBe((f.wal.length - WAL_HEADER_BYTES) / frameBytesOf(scan.header));
    // One commit per transaction acknowledged since the checkpoint, in order.
    expect(scan.commits.length).toBe(f.acks.length - f.inDb);
    expect(f.acks.length - f.inDb).toBe(60);
    for (const c of scan.commits) {
      const frames = scan.frames.slice(c.firstFrame, c.endFrame);
      expect(frames.at(-1)?.dbSizePages).toBeGreaterThan(0);
      expect(frames.slice(0, -1).every((fr) => fr.dbSizePages === 0)).toBe(true);
      expect(frames.some((fr) => fr.repeat)).toBe(false); // this VFS does not pad commits
    }
    // The checkpoint restarted the WAL: the next generation is one restart later.
    expect(scan.header.checkpointSeq).toBe(f.before.header.checkpointSeq + 1);
    expect(scan.header.salt1).toBe((f.before.header.salt1 + 1) >>> 0);
    expect(scan.header.salt2).not.toBe(f.before.header.salt2);
  });

  it('a checkpoint of an empty WAL restarts it too (checkpoint sequence + 2 after two checkpoints)', async () => {
    const w = world(43);
    w.hv.startWorkload(w.vm.vmId, 'sqlite', { meanIntervalUs: 3_000, maxOps: 10 });
    w.hv.runFor(sToUs(0.2));
    const first = unwrap(scanWal(await w.sqlite3('wal-frames')));
    await w.sqlite3('checkpoint');
    expect((await w.sqlite3('wal-frames')).length).toBe(0);
    await w.sqlite3('checkpoint');
    w.hv.startWorkload(w.vm.vmId, 'sqlite', { meanIntervalUs: 3_000, maxOps: 3 });
    w.hv.runFor(sToUs(0.2));
    const next = unwrap(scanWal(await w.sqlite3('wal-frames')));
    expect(next.header.checkpointSeq).toBe(first.header.checkpointSeq + 2);
    expect(next.header.salt1).toBe((first.header.salt1 + 2) >>> 0);
  });

  it('reads incrementally from an offset with the running checksum, as the shipper does', async () => {
    const f = await freshWal(47, 30);
    const whole = unwrap(scanWal(f.wal));
    const mid = whole.commits[11];
    if (mid === undefined) throw new Error('commits');
    const tail = unwrap(scanWalFrames(f.wal.subarray(mid.endOffset), whole.header, { fileOffset: mid.endOffset, checksum: mid.checksum }));
    expect(tail.commits.length).toBe(whole.commits.length - 12);
    expect(tail.committedChecksum).toEqual(whole.committedChecksum);
    // The wrong running checksum (a frame boundary one frame early) fails at once.
    const early = unwrap(scanWalFrames(f.wal.subarray(mid.endOffset), whole.header, { fileOffset: mid.endOffset, checksum: whole.frames[mid.endFrame - 2]?.checksum ?? { s0: 0, s1: 0 } }));
    expect(early.stop).toEqual({ kind: 'checksum-mismatch', offset: mid.endOffset });
    expect(early.commits).toEqual([]);
  });

  it('finds corruption: a page byte, a salt, the header, the byte-order bit; a torn tail keeps whole commits only', async () => {
    const f = await freshWal(53, 25);
    const scan = unwrap(scanWal(f.wal));
    const frameBytes = frameBytesOf(scan.header);
    const victim = scan.commits[9];
    if (victim === undefined) throw new Error('commits');
    const victimFrame = scan.frames[victim.firstFrame];
    if (victimFrame === undefined) throw new Error('frames');
    // A page byte of the first frame of commit 10: the scan stops there, nine commits remain.
    const pageByte = f.wal.slice();
    pageByte[victimFrame.offset + 24 + 1000] = (pageByte[victimFrame.offset + 24 + 1000] ?? 0) ^ 0x01;
    const damaged = unwrap(scanWal(pageByte));
    expect(damaged.stop).toEqual({ kind: 'checksum-mismatch', offset: victimFrame.offset });
    expect(damaged.commits.length).toBe(9);
    expect(damaged.committedEnd).toBe(victimFrame.offset);
    // A salt.
    const salt = f.wal.slice();
    salt[victimFrame.offset + 8] = (salt[victimFrame.offset + 8] ?? 0) ^ 0x80;
    expect(unwrap(scanWal(salt)).stop).toEqual({ kind: 'salt-mismatch', offset: victimFrame.offset });
    // The header (page size field) and the byte-order bit of the magic.
    const header = f.wal.slice();
    header[13] = (header[13] ?? 0) ^ 0x01;
    expect(parseWalHeader(header)).toMatchObject({ ok: false, error: { kind: 'bad-header-checksum' } });
    const order = f.wal.slice();
    order[3] = 0x83;
    expect(parseWalHeader(order)).toMatchObject({ ok: false, error: { kind: 'bad-header-checksum' } });
    // A torn tail: the file cut inside the last commit's frames keeps the commits before it.
    const last = scan.commits.at(-1);
    if (last === undefined) throw new Error('commits');
    const torn = unwrap(scanWal(f.wal.subarray(0, last.endOffset - 100)));
    expect(torn.stop.kind).toBe('partial-frame');
    expect(torn.commits.length).toBe(scan.commits.length - 1);
    expect(torn.uncommittedFrames).toBe(last.endFrame - last.firstFrame - 1);
    const cutAtFrame = unwrap(scanWal(f.wal.subarray(0, last.endOffset - frameBytes)));
    expect(cutAtFrame.stop).toEqual({ kind: 'end' });
    expect(cutAtFrame.commits.length).toBe(scan.commits.length - 1);
  });

  it.skipIf(!HAVE_SQLITE3)('commit boundaries agree with the real sqlite3: the WAL cut at commit j recovers exactly j transactions', async () => {
    const f = await freshWal(59, 40);
    const scan = unwrap(scanWal(f.wal));
    const dir = await mkdtemp(join(tmpdir(), 'ql-sqlite-wal-'));
    temps.push(dir);
    const frameBytes = frameBytesOf(scan.header);
    let n = 0;
    /** What sqlite3 recovers from the database file and the first `walBytes` of the WAL. */
    const recovered = async (walBytes: number): Promise<string[]> => {
      const base = join(dir, `cut-${n++}.db`);
      await writeFile(base, f.db);
      await writeFile(`${base}-wal`, f.wal.subarray(0, walBytes));
      return ids(base);
    };
    expect(await recovered(0)).toEqual(f.acks.slice(0, f.inDb));
    for (const j of [1, 2, 7, 19, 33, 40]) {
      const c = scan.commits[j - 1];
      if (c === undefined) throw new Error(`commit ${j}`);
      expect(await recovered(c.endOffset), `cut at commit ${j}`).toEqual(f.acks.slice(0, f.inDb + j));
      // The check fails on a wrong boundary: one frame short of commit j is commit j - 1.
      if (c.endFrame - c.firstFrame > 1) expect(await recovered(c.endOffset - frameBytes)).toEqual(f.acks.slice(0, f.inDb + j - 1));
    }
    expect(WAL_PATH).toBe(`${DB_PATH}-wal`);
  });
});
