/**
 * The oracle for SQLite roll-forward tests: a Linux VM running the real SQLite app (with
 * the freeze script `sqlite:checkpoint-and-lock` unless told not to), the real `sqlite3`
 * program opening restored bytes (integrity_check and the transaction ids), the base's
 * transactions read independently (file-level export of /sqlite), and exactness of a
 * result against the app's acknowledged transactions.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unwrap } from '../../core/result.js';
import type { VmId } from '../../core/ids.js';
import { restoreFiles } from '../../engine/restore/file-restore.js';
import { LocalDirFileWriter } from '../../engine/restore/file-writer-local.js';
import type { PointSource } from '../../engine/restore/source.js';
import { defaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { sqlite3 } from './sqlite3.js';

export const SQLITE_SCRIPT = '/etc/vmware-tools/backupScripts.d/50-sqlite';
export const SQLITE_DB = '/sqlite/app.db';
const MiB = 1024 * 1024;

/** A Linux VM with files and SQLite (workload started); the freeze script unless `quiesce` is false, a failing one when 'failing'. */
export function sqliteVm(seed: number, options: { readonly quiesce?: boolean | 'failing'; readonly meanIntervalUs?: number } = {}): { hv: SimHypervisor; vmId: VmId } {
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: defaultApps().factories });
  const vm = unwrap(hv.addVm({ name: 'lin', guestOs: 'linux', tools: 'esx41', apps: ['files', 'sqlite'], disks: [{ capacityBytes: 16 * MiB }, { capacityBytes: 32 * MiB }] }));
  const quiesce = options.quiesce ?? true;
  if (quiesce === 'failing') hv.installScripts(vm.vmId, [{ path: SQLITE_SCRIPT, on: { freeze: { exitCode: 1 } } }]);
  else if (quiesce) hv.installScripts(vm.vmId, [{ path: SQLITE_SCRIPT, on: { freeze: { action: 'sqlite:checkpoint-and-lock' }, thaw: { action: 'sqlite:checkpoint-and-lock' } } }]);
  hv.startWorkload(vm.vmId, 'sqlite', { meanIntervalUs: options.meanIntervalUs ?? 4_000, opsPerTxn: 3, valueBytes: 200 });
  return { hv, vmId: vm.vmId };
}

const temps: string[] = [];

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ql-sqlite-rf-'));
  temps.push(dir);
  return dir;
}

/** Removes the folders tempDir made (call it in afterAll). */
export async function removeTempDirs(): Promise<void> {
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** Opens database bytes with the real sqlite3: its integrity_check verdict and its transaction ids. */
export async function openReal(database: Uint8Array): Promise<{ integrity: string; ids: string[] }> {
  const dir = await tempDir();
  const file = join(dir, 'restored.db');
  await writeFile(file, database);
  let integrity: string;
  try {
    integrity = sqlite3(file, 'PRAGMA integrity_check;');
  } catch (e) {
    integrity = `error: ${e instanceof Error ? e.message : String(e)}`;
  }
  let ids: string[];
  try {
    ids = sqlite3(file, 'SELECT id FROM txns ORDER BY id;').split('\n').filter((l) => l !== '');
  } catch {
    ids = [];
  }
  return { integrity, ids };
}

/** The base's transactions, read independently: file-level export of /sqlite, opened by the real sqlite3 (it recovers a WAL). */
export async function baseIds(source: PointSource): Promise<string[]> {
  const dir = await tempDir();
  const writer = unwrap(await LocalDirFileWriter.create(dir));
  const disk = source.disks().at(-1)?.diskId ?? '';
  const report = unwrap(await restoreFiles(source, disk, { paths: ['/sqlite'] }, writer));
  if (report.failed.length > 0) throw new Error(`file-level export of /sqlite failed: ${JSON.stringify(report.failed)}`);
  return sqlite3(join(writer.root, 'sqlite', 'app.db'), 'SELECT id FROM txns ORDER BY id;').split('\n').filter((l) => l !== '');
}

/** Exactness: what the database holds against the expected ids. */
export function exactness(actual: readonly string[], expected: readonly string[]): { missing: string[]; extra: string[]; order: boolean } {
  const have = new Set(actual);
  const want = new Set(expected);
  return {
    missing: expected.filter((id) => !have.has(id)),
    extra: actual.filter((id) => !want.has(id)),
    order: actual.length === expected.length && actual.every((id, i) => id === expected[i]),
  };
}

export const EXACT = { missing: [], extra: [], order: true };
