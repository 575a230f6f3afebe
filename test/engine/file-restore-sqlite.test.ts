/**
 * End to end: a Linux VM running the real SQLite app is backed up by the engine
 * (runBackup into a MemoryTarget); file-level restore exports /sqlite from the point into
 * a temp directory, and the real `sqlite3` program (Debian package sqlite3) finds the
 * database sound (`PRAGMA integrity_check` says ok) and holding every transaction the app
 * acknowledged before the snapshot. Both an application-consistent point (freeze script:
 * checkpoint and lock) and a crash-consistent one (no quiescing: the WAL and a journal
 * replay are needed) are checked. The check can fail: a damaged copy of the same file is
 * reported by integrity_check.
 */

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import { unwrap } from '../../core/result.js';
import { runBackup, type EngineEnv } from '../../engine/backup/job.js';
import { restoreFiles } from '../../engine/restore/file-restore.js';
import { LocalDirFileWriter } from '../../engine/restore/file-writer-local.js';
import { defaultApps, prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { MemoryTarget, sourceOf } from '../support/memory-target.js';
import { HAVE_SQLITE3, sqlite3 } from '../support/sqlite3.js';

const MiB = 1024 * 1024;
const SCRIPT = '/etc/vmware-tools/backupScripts.d/50-sqlite';



const temps: string[] = [];
afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});

beforeAll(async () => { await prepareDefaultApps(); });

/** Backs up a Linux VM running SQLite; returns the point's source, its last disk and what the app had acknowledged. */
async function backedUp(seed: number, quiesce: boolean) {
  const { factories } = defaultApps();
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: factories });
  const vm = unwrap(hv.addVm({ name: 'lin', guestOs: 'linux', tools: 'esx41', apps: ['files', 'sqlite'], disks: [{ capacityBytes: 16 * MiB }, { capacityBytes: 32 * MiB }] }));
  if (quiesce) hv.installScripts(vm.vmId, [{ path: SCRIPT, on: { freeze: { action: 'sqlite:checkpoint-and-lock' }, thaw: { action: 'sqlite:checkpoint-and-lock' } } }]);
  hv.startWorkload(vm.vmId, 'sqlite', { meanIntervalUs: 5_000, opsPerTxn: 3, valueBytes: 200 });
  hv.runFor(sToUs(2));
  const target = new MemoryTarget();
  const env: EngineEnv = { port: hv, target, clock: hv.sim.clock };
  const ackedBefore = hv.vm(vm.vmId).app('sqlite').acknowledged().filter((a) => a.durable).map((a) => a.id);
  const report = unwrap(await runBackup(env, quiesce
    ? { vmId: vm.vmId, policy: 'try', appScripts: { sqlite: SCRIPT } }
    : { vmId: vm.vmId, policy: 'off' }));
  const point = target.points.find((p) => p.id === report.pointId);
  if (point === undefined) throw new Error('no point');
  const source = sourceOf(point);
  const disk = source.disks().at(-1)?.diskId ?? '';
  return { source, disk, ackedBefore, claimed: report.meta.claimed.apps.sqlite };
}

describe.skipIf(!HAVE_SQLITE3)('a SQLite database exported by file-level restore passes the real sqlite3', () => {
  for (const quiesce of [true, false]) {
    it(`${quiesce ? 'application-consistent (freeze script)' : 'crash-consistent (no quiescing)'} point`, async () => {
      const { source, disk, ackedBefore, claimed } = await backedUp(quiesce ? 31 : 37, quiesce);
      expect(claimed).toBe(quiesce ? 'application' : 'crash');
      expect(ackedBefore.length).toBeGreaterThan(20);
      const dir = await mkdtemp(join(tmpdir(), 'ql-sqlite-restore-'));
      temps.push(dir);
      const writer = unwrap(await LocalDirFileWriter.create(dir));
      const report = unwrap(await restoreFiles(source, disk, { paths: ['/sqlite'] }, writer));
      expect(report.failed).toEqual([]);
      expect(report.renamed).toEqual([]);
      expect(report.filesRestored).toBeGreaterThanOrEqual(1);
      const db = join(writer.root, 'sqlite', 'app.db');
      expect(sqlite3(db, 'PRAGMA integrity_check;')).toBe('ok');
      const ids = new Set(sqlite3(db, 'SELECT id FROM txns;').split('\n').filter((l) => l !== ''));
      const missing = ackedBefore.filter((id) => !ids.has(id));
      expect(missing, `acknowledged before the snapshot but missing (${ids.size} in the copy)`).toEqual([]);
      // The check can fail: the same file with a damaged b-tree page is reported.
      const bytes = await readFile(db);
      const pageSize = bytes.readUInt16BE(16) === 1 ? 65536 : bytes.readUInt16BE(16);
      expect(bytes.length).toBeGreaterThanOrEqual(3 * pageSize);
      const damaged = Buffer.from(bytes);
      for (let i = pageSize + 8; i < pageSize + 64; i++) damaged[i] = 0xff;
      const copy = join(dir, 'damaged.db');
      await writeFile(copy, damaged);
      let verdict: string;
      try {
        verdict = sqlite3(copy, 'PRAGMA integrity_check;');
      } catch (e) {
        verdict = `error: ${e instanceof Error ? e.message : String(e)}`;
      }
      expect(verdict).not.toBe('ok');
    });
  }
});
