/**
 * The storage crash matrix: what `quiescelab matrix` runs until the guest and engine layers
 * land. Each cell is a storage configuration; each run drives a file workload (the "files"
 * app: buffered appends, occasional fsync, Linux writeback timings) on the simulated file
 * system and virtual disk, captures an image at a random instant and judges its level:
 *
 * - filesystem: fsck clean without journal replay, every completed write present;
 * - crash: consistent after replay, every fsync'ed byte present (a valid crash state);
 * - inconsistent: fsck finds corruption, the tree cannot be read, or fsync'ed data is gone.
 *
 * Appends only, so "completed writes present" is a prefix check and the evidence can name
 * every lost write. Does not check: overwrites in place, multiple disks, applications with
 * their own recovery (issue 3), or restores through a backup engine (issue 4).
 */

import { assert } from '../core/assert.js';
import type { TimeUs } from '../core/clock.js';
import { formatTimeUs, sToUs } from '../core/clock.js';
import { DiskId } from '../core/ids.js';
import type { ConsistencyLevel } from '../core/levels.js';
import { compareLevels, LEVELS } from '../core/levels.js';
import { createPrng, type Prng } from '../core/prng.js';
import type { CaptureKind, StorageCellConfig, StorageCellResult, StorageMatrixResults, StorageRunEvidence } from '../core/storage-results.js';
import { PowerGrid } from '../sim/faults/power.js';
import { FileSystem, type FileHandle } from '../sim/guest/file-system.js';
import { mkfs } from '../sim/guest/fs-format.js';
import { fsck } from '../sim/guest/fsck.js';
import { openImage } from '../sim/guest/image-reader.js';
import { LINUX_WRITEBACK } from '../sim/guest/writeback-policy.js';
import { Simulation } from '../sim/kernel/simulation.js';
import type { BlockReader } from '../sim/storage/types.js';
import { VirtualDisk } from '../sim/storage/virtual-disk.js';

export interface StorageCell {
  readonly id: string;
  readonly config: StorageCellConfig;
  readonly expected: ConsistencyLevel;
  readonly expectation: string;
}

const CAPTURE_EXPECTATION: Record<CaptureKind, [ConsistencyLevel, string]> = {
  'snapshot': ['crash', 'a snapshot with no quiescing is crash-consistent: dirty pages are not in it'],
  'snapshot-after-sync': ['crash', 'sync() flushes but does not hold or checkpoint: the image may need journal replay'],
  'snapshot-frozen': ['filesystem', 'FIFREEZE flushes, checkpoints and holds: no replay, every completed write present'],
  'power-loss': ['crash', 'an honest disk keeps every fsync\'ed write through a power loss'],
};

function cellId(c: StorageCellConfig): string {
  return `${c.capture}/${c.writeCache}${c.writeCache === 'write-back' ? `-${c.flush}` : ''}/${c.dataMode}`;
}

/** Every cell of the storage matrix, in report order. */
export const STORAGE_CELLS: readonly StorageCell[] = (() => {
  const cells: StorageCell[] = [];
  const add = (config: StorageCellConfig): void => {
    const [level, text] = CAPTURE_EXPECTATION[config.capture];
    const lying = config.flush === 'lying';
    cells.push({
      id: cellId(config),
      config,
      expected: lying ? 'inconsistent' : level,
      expectation: lying ? 'a disk that lies about flush loses fsync\'ed data or corrupts the file system: the harness must catch it' : text,
    });
  };
  for (const dataMode of ['ordered', 'writeback'] as const) {
    for (const capture of ['snapshot', 'snapshot-after-sync', 'snapshot-frozen'] as const) {
      add({ capture, writeCache: 'write-back', flush: 'honest', dataMode });
    }
    add({ capture: 'power-loss', writeCache: 'none', flush: 'honest', dataMode });
    add({ capture: 'power-loss', writeCache: 'write-back', flush: 'honest', dataMode });
    add({ capture: 'power-loss', writeCache: 'write-back', flush: 'lying', dataMode });
  }
  return cells;
})();

const DISK_BYTES = 64 * 1024 * 1024;
const VM = 'vm1';
const MAX_FILES = 4;
const MAX_WRITES = 400;
const MAX_WRITE_BYTES = 12_000;

interface WriteRecord {
  readonly index: number;
  readonly timeUs: TimeUs;
  readonly path: string;
  readonly offsetBytes: number;
  readonly lengthBytes: number;
}

interface FileModel {
  readonly path: string;
  readonly handle: FileHandle;
  bytes: Uint8Array;
  lengthBytes: number;
  syncedBytes: number;
}

/** What the app and the file system knew at the capture instant. */
interface CaptureState {
  readonly timeUs: TimeUs;
  readonly files: readonly { readonly path: string; readonly content: Uint8Array; readonly syncedBytes: number; readonly diskSizeBytes: number }[];
}

export interface StorageRunOutcome {
  readonly level: ConsistencyLevel;
  readonly reasons: readonly string[];
  readonly completedBytesLost: number;
  readonly syncedBytesLost: number;
  readonly neededReplay: boolean;
  readonly corrupt: boolean;
  /** The simulation's history hash: one seed, one hash. */
  readonly historyHash: string;
}

function append(model: FileModel, data: Uint8Array): void {
  if (model.lengthBytes + data.length > model.bytes.length) {
    const grown = new Uint8Array(Math.max(model.bytes.length * 2, model.lengthBytes + data.length));
    grown.set(model.bytes.subarray(0, model.lengthBytes));
    model.bytes = grown;
  }
  model.bytes.set(data, model.lengthBytes);
  model.lengthBytes += data.length;
}

function matchingPrefixBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Runs one scenario of a cell from `seed`. Pure function of (cell, seed). */
export function runStorageScenario(config: StorageCellConfig, seed: number): StorageRunOutcome {
  const sim = new Simulation({ seed });
  const prng: Prng = sim.stream('workload');
  const disk = new VirtualDisk({
    id: DiskId(`${VM}-disk0`), capacityBytes: DISK_BYTES, writeCache: config.writeCache,
    prng: sim.stream('disk'), clock: sim.clock, history: sim.history,
  });
  // A small inode table: the workload makes at most MAX_FILES files, and fsck decodes the whole table.
  assert(mkfs(disk, { label: 'data', inodeCount: 64 }).ok, 'mkfs of the scenario disk');
  const mounted = FileSystem.mount(disk, { clock: sim.clock, queue: sim.queue, history: sim.history, dataMode: config.dataMode, writeback: LINUX_WRITEBACK, label: `${VM}:fs0` });
  assert(mounted.ok, 'mount of a fresh file system');
  const fs = mounted.value;
  const grid = new PowerGrid(sim.queue, sim.history);
  grid.addHost('host1', [disk]);
  grid.addVm(VM, 'host1', [fs]);
  if (config.flush === 'lying') disk.setFaults({ ignoreFlush: true });
  if (config.capture === 'power-loss') {
    disk.setFaults({ ...disk.faults, powerLoss: { persistFraction: prng.int(0, 4) / 4, tearOneSector: prng.bool(0.5) } });
  }

  assert(fs.mkdir('/data').ok, 'mkdir /data');
  const files: FileModel[] = [];
  const fileCount = prng.int(1, MAX_FILES);
  for (let i = 0; i < fileCount; i++) {
    const path = `/data/file-${i}.log`;
    const created = fs.create(path);
    assert(created.ok, `create ${path}`);
    files.push({ path, handle: created.value, bytes: new Uint8Array(1024), lengthBytes: 0, syncedBytes: 0 });
  }
  const writes: WriteRecord[] = [];
  const writeCount = prng.int(10, MAX_WRITES);
  const fsyncChance = prng.pick([0.05, 0.15, 0.4]);
  let timeUs = 0;
  for (let i = 0; i < writeCount; i++) {
    timeUs += prng.int(1_000, 400_000);
    const index = i;
    sim.queue.at(timeUs, `${VM}:app-write`, () => {
      const file = prng.pick(files);
      const data = prng.fill(new Uint8Array(prng.int(1, MAX_WRITE_BYTES)));
      const written = fs.write(file.handle, file.lengthBytes, data);
      if (!written.ok) return; // frozen or full: the write did not complete, nothing to expect
      writes.push({ index, timeUs: sim.clock.nowUs(), path: file.path, offsetBytes: file.lengthBytes, lengthBytes: data.length });
      append(file, data);
      if (prng.bool(fsyncChance) && fs.fsync(file.handle).ok) file.syncedBytes = file.lengthBytes;
    });
  }
  const endUs = timeUs + sToUs(1);
  const captureUs = prng.int(Math.floor(endUs / 4), endUs);

  let image: BlockReader | undefined;
  let state: CaptureState | undefined;
  const recordState = (): CaptureState => ({
    timeUs: sim.clock.nowUs(),
    files: files.map((f) => {
      const stat = fs.stat(f.path);
      return { path: f.path, content: f.bytes.slice(0, f.lengthBytes), syncedBytes: f.syncedBytes, diskSizeBytes: stat.ok ? stat.value.diskSizeBytes : 0 };
    }),
  });
  sim.queue.at(captureUs, 'capture', () => {
    switch (config.capture) {
      case 'snapshot':
        state = recordState();
        image = disk.snapshotReader(disk.createSnapshot());
        break;
      case 'snapshot-after-sync':
        assert(fs.sync().ok, 'sync before the snapshot');
        state = recordState();
        image = disk.snapshotReader(disk.createSnapshot());
        break;
      case 'snapshot-frozen':
        assert(fs.freeze().ok, 'freeze before the snapshot');
        state = recordState();
        image = disk.snapshotReader(disk.createSnapshot());
        assert(fs.thaw().ok, 'thaw after the snapshot');
        break;
      case 'power-loss':
        state = recordState();
        grid.powerLossHost('host1');
        image = disk.durableReader();
        break;
    }
  });
  sim.runUntil(endUs + sToUs(1));
  assert(image !== undefined && state !== undefined, 'the capture ran');
  return judge(config, image, state, writes, sim.history.digest());
}

function judge(config: StorageCellConfig, image: BlockReader, state: CaptureState, writes: readonly WriteRecord[], historyHash: string): StorageRunOutcome {
  const reasons: string[] = [];
  const report = fsck(image);
  const neededReplay = report.state === 'needs-replay';
  const base = { neededReplay, historyHash };
  if (report.state === 'corrupt') {
    reasons.push(`fsck: corrupt (${report.problems.length} problems): ${report.problems.slice(0, 3).join('; ')}`);
    const synced = state.files.reduce((n, f) => n + f.syncedBytes, 0);
    return { ...base, level: 'inconsistent', reasons, completedBytesLost: 0, syncedBytesLost: synced, corrupt: true };
  }
  reasons.push(neededReplay ? `fsck: consistent after replaying ${report.replayedTransactions} journal transactions` : 'fsck: clean, no journal replay needed');
  const view = openImage(image, { replay: true });
  if (!view.ok) {
    reasons.push(`image unreadable: ${view.error.kind}`);
    return { ...base, level: 'inconsistent', reasons, completedBytesLost: 0, syncedBytesLost: 0, corrupt: true };
  }
  let completedBytesLost = 0;
  let syncedBytesLost = 0;
  let allPresent = true;
  for (const file of state.files) {
    const read = view.value.readFile(file.path);
    const content = read.ok ? read.value : new Uint8Array(0);
    if (!read.ok && file.content.length > 0) reasons.push(`${file.path}: missing from the image (${read.error.kind})`);
    const intactBytes = matchingPrefixBytes(content, file.content);
    if (intactBytes < file.syncedBytes) {
      syncedBytesLost += file.syncedBytes - intactBytes;
      reasons.push(`${file.path}: ${file.syncedBytes - intactBytes} fsync'ed bytes lost (intact up to byte ${intactBytes} of ${file.syncedBytes} synced)`);
    }
    if (intactBytes < file.content.length || content.length !== file.content.length) {
      allPresent = false;
      completedBytesLost += file.content.length - intactBytes;
      const lost = writes.filter((w) => w.path === file.path && w.offsetBytes + w.lengthBytes > intactBytes);
      for (const w of lost.slice(0, 4)) {
        const why = w.offsetBytes >= file.diskSizeBytes
          ? `dirty in the guest page cache at the capture (${formatTimeUs(state.timeUs)}): Linux writes dirty pages back ${LINUX_WRITEBACK.dirtyExpireUs / 1e6} s after they were dirtied`
          : config.flush === 'lying' ? 'acknowledged by a disk cache that ignored flush' : 'written back but its metadata not yet committed to the journal';
        reasons.push(`lost: write #${w.index} to ${w.path} at ${formatTimeUs(w.timeUs)}, bytes ${w.offsetBytes}..${w.offsetBytes + w.lengthBytes - 1}: ${why}`);
      }
      if (lost.length > 4) reasons.push(`lost: ${lost.length - 4} more writes to ${file.path}`);
    }
  }
  const level: ConsistencyLevel = syncedBytesLost > 0 ? 'inconsistent' : !neededReplay && allPresent ? 'filesystem' : 'crash';
  return { ...base, level, reasons, completedBytesLost, syncedBytesLost, corrupt: false };
}

export interface StorageMatrixOptions {
  readonly seed: number;
  readonly runsPerCell: number;
  readonly version: string;
  /** Only cells whose id contains one of these strings (all when absent). */
  readonly cellFilter?: readonly string[];
}

/** The seed of run `run` of `cellIdValue`: a pure function of the matrix seed. */
export function runSeed(matrixSeed: number, cellIdValue: string, run: number): number {
  return createPrng(matrixSeed).fork(cellIdValue.replaceAll('/', '|')).fork(`run-${run}`).int(0, 0x7fffffff);
}

function runCell(cell: StorageCell, options: StorageMatrixOptions): StorageCellResult {
  const achieved: Partial<Record<ConsistencyLevel, number>> = {};
  let completedBytesLost = 0;
  let syncedBytesLost = 0;
  let runsNeedingReplay = 0;
  let runsCorrupt = 0;
  let example: StorageRunEvidence | null = null;
  let failure: StorageRunEvidence | null = null;
  const lying = cell.config.flush === 'lying';
  for (let run = 0; run < options.runsPerCell; run++) {
    const seed = runSeed(options.seed, cell.id, run);
    const outcome = runStorageScenario(cell.config, seed);
    achieved[outcome.level] = (achieved[outcome.level] ?? 0) + 1;
    completedBytesLost += outcome.completedBytesLost;
    syncedBytesLost += outcome.syncedBytesLost;
    if (outcome.neededReplay) runsNeedingReplay++;
    if (outcome.corrupt) runsCorrupt++;
    const evidence: StorageRunEvidence = { seed, level: outcome.level, reasons: outcome.reasons };
    if (!lying && compareLevels(outcome.level, cell.expected) < 0 && failure === null) failure = evidence;
    const telling = lying ? outcome.level === 'inconsistent' : outcome.completedBytesLost > 0;
    if (telling && example === null) example = evidence;
  }
  const pass = lying ? (achieved.inconsistent ?? 0) > 0 : failure === null;
  const sortedAchieved: Partial<Record<ConsistencyLevel, number>> = {};
  for (const level of LEVELS) if (achieved[level] !== undefined) sortedAchieved[level] = achieved[level];
  return {
    id: cell.id, config: cell.config, expected: cell.expected, expectation: cell.expectation,
    achieved: sortedAchieved, pass,
    dataLoss: { completedBytesLost, syncedBytesLost, runsNeedingReplay, runsCorrupt },
    example: failure ?? example,
  };
}

export function runStorageMatrix(options: StorageMatrixOptions): StorageMatrixResults {
  const filter = options.cellFilter;
  const cells = STORAGE_CELLS.filter((c) => filter === undefined || filter.some((f) => c.id.includes(f)));
  const results = cells.map((cell) => runCell(cell, options));
  const passed = results.filter((r) => r.pass).length;
  return {
    tool: 'quiescelab', version: options.version, kind: 'storage-matrix', seed: options.seed, runsPerCell: options.runsPerCell,
    cells: results, summary: { cells: results.length, passed, failed: results.length - passed },
  };
}
