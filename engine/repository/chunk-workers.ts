/**
 * Worker threads that hash (SHA-256), checksum (CRC32) and compress (zstd) a writer's
 * chunks and packs, so a writer uses every core: the main thread reads, cuts and builds
 * packs while the workers do the per-byte work. Bytes are moved, never copied: a job's
 * buffers are transferred to one worker and transferred back with the answer (use the
 * returned views; the ones handed in are detached). The workers keep nothing between jobs.
 *
 * What to do with the bytes is the caller's choice (pack-writer.ts): a job says, per view,
 * whether to hash it, to CRC it, and whether to compress it and how small the result must
 * be to be kept; a kept compressed form is written over the view's bytes (after they were
 * hashed), so no new buffer comes back. Each worker loads the same wasm package as zstd-wasm.ts (resolved
 * through Node's module resolution, never a fixed path) and runs its `compress`,
 * node:crypto's SHA-256 and node:zlib's crc32, so the answers are the calling thread's
 * (zstdCompress, sha256Hex, crc32) whatever the number of workers or the order they
 * finish in. The simulator never starts workers (compressionInFlight 0).
 *
 * This file is a named adapter of test/architecture/layers.ts (IO_ADAPTERS): it starts
 * threads. Workers start when a point writer opens (or at the first job), are unref'd
 * while idle (an idle pool does not keep a process alive), and end at `close`. A worker
 * that dies fails its jobs and every later one (the writer fails with the error; nothing
 * is published).
 */

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { assert, assertInt } from '../../core/assert.js';
import { ZSTD_PACKAGE } from './zstd-wasm.js';

/** The worker's scratch buffer (at most this much of a view is worked on from its cache at once). */
const HOT_STEP_BYTES = 2 * 1024 * 1024;

/** The worker: CommonJS, so it runs from this string whatever loads this module (tsx, vitest, dist). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { crc32 } = require('node:zlib');
const zstd = require(workerData.packagePath);
// A view arrives cold (written by another core): it is copied into this scratch buffer a
// step at a time and hashed, checksummed and compressed from there, in this core's cache
// (SHA-256 runs ~25% faster on cached bytes than on bytes it reads from memory).
const STEP = ${HOT_STEP_BYTES};
const scratch = Buffer.allocUnsafeSlow(STEP);
function hashOf(view) {
  const hash = createHash('sha256');
  for (let at = 0; at < view.length; at += STEP) {
    const n = Math.min(STEP, view.length - at);
    scratch.set(view.subarray(at, at + n));
    hash.update(scratch.subarray(0, n));
  }
  return hash.digest('hex');
}
zstd.isLoaded.then(() => {
  parentPort.on('message', ({ id, views, hash, crc, compressLevel, compressLimit }) => {
    const hexes = [];
    const crcs = [];
    const compressedBytes = [];
    const transfer = new Set();
    for (let i = 0; i < views.length; i++) {
      const view = views[i];
      transfer.add(view.buffer);
      hexes.push(hash ? hashOf(view) : '');
      // After hashing, a view of at most one step is in the scratch buffer.
      const hot = hash && view.length <= STEP ? scratch.subarray(0, view.length) : view;
      let stored = hot;
      let n = -1;
      if (compressLevel[i] > 0) {
        const out = zstd.compress(hot, compressLevel[i]);
        // Kept only when small enough; then written over the raw bytes (already hashed).
        if (out.length <= Math.min(compressLimit[i], view.length)) {
          view.set(out);
          n = out.length;
          stored = out;
        }
      }
      compressedBytes.push(n);
      crcs.push(crc[i] ? crc32(stored) : 0);
    }
    parentPort.postMessage({ id, views, hexes, crcs, compressedBytes }, [...transfer]);
  });
});
`;

/**
 * The chunk worker threads a bulk writer uses on a machine with `cores` cores: the
 * configuration `quiescelab backup-image` runs, and so the one its stress tests and the
 * scenarios' repository suite must run too.
 */
export function writerThreads(cores: number): number {
  assertInt(cores, 1, 4096, 'cores');
  return Math.max(1, Math.min(4, cores));
}

/** What a worker does with each view of a job. */
export interface ChunkJob {
  /** Views whose buffers are moved to the worker (nothing else may use those buffers meanwhile). */
  readonly views: readonly Uint8Array[];
  /** SHA-256 of every view (of the bytes as they were given). */
  readonly hash: boolean;
  /** Per view: compress at this zstd level (0: do not compress). */
  readonly compressLevel: readonly number[];
  /**
   * Per view: the compressed form is kept only if it is at most this long (and no longer
   * than the view); it is then written over the view's first bytes (after hashing).
   * Otherwise the view is left as it was.
   */
  readonly compressLimit: readonly number[];
  /** Per view: CRC32 of what is stored (the compressed form if kept, else the view). */
  readonly crc: readonly boolean[];
}

export interface ChunkJobResult {
  /** The views handed in, moved back (a kept compressed form is at their start). */
  readonly views: readonly Uint8Array[];
  /** Lower-case hex SHA-256 per view ('' when not asked). */
  readonly hexes: readonly string[];
  /** Per view: the length of the compressed form kept at its start, or -1 (not asked, or not small enough). */
  readonly compressedBytes: readonly number[];
  /** Per view: the CRC32 asked for, else 0. */
  readonly crcs: readonly number[];
}

interface Job {
  readonly resolve: (result: ChunkJobResult) => void;
  readonly reject: (error: Error) => void;
  readonly slot: Slot;
  readonly bytes: number;
}

interface Slot {
  readonly worker: Worker;
  /** Bytes of the jobs it has not answered. */
  pendingBytes: number;
  pendingJobs: number;
}

export class ChunkWorkers {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  private failure: Error | undefined;
  private closed = false;

  constructor(readonly size: number) {
    assertInt(size, 1, 64, 'worker count');
  }

  /** Starts the workers (they load the wasm meanwhile); later calls do nothing. */
  start(): void {
    if (this.slots.length > 0 || this.closed) return;
    const packagePath = createRequire(import.meta.url).resolve(ZSTD_PACKAGE);
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { packagePath } });
      const slot: Slot = { worker, pendingBytes: 0, pendingJobs: 0 };
      worker.unref();
      worker.on('message', (reply: ChunkJobResult & { readonly id: number }) => {
        const job = this.jobs.get(reply.id);
        if (job === undefined) return;
        this.jobs.delete(reply.id);
        this.settle(job);
        job.resolve(reply);
      });
      worker.on('error', (error) => { this.failAll(error); });
      worker.on('exit', (code) => { if (!this.closed) this.failAll(new Error(`a chunk worker exited with code ${code}`)); });
      this.slots.push(slot);
    }
  }

  /** Runs a job on the worker with the fewest bytes waiting; its buffers move there and back. */
  run(job: ChunkJob): Promise<ChunkJobResult> {
    assert(!this.closed, 'the chunk workers are closed');
    assert(job.compressLevel.length === job.views.length && job.compressLimit.length === job.views.length && job.crc.length === job.views.length, 'one setting per view');
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.start();
    const slot = this.slots.reduce((a, b) => (b.pendingBytes < a.pendingBytes ? b : a));
    const id = this.nextId++;
    const transfer = new Set<ArrayBuffer>();
    let bytes = 0;
    for (const view of job.views) {
      assert(view.buffer instanceof ArrayBuffer, 'a job moves ArrayBuffers (not shared memory)');
      transfer.add(view.buffer);
      bytes += view.length;
    }
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject, slot, bytes });
      slot.pendingBytes += bytes;
      if (slot.pendingJobs++ === 0) slot.worker.ref();
      slot.worker.postMessage({ id, views: job.views, hash: job.hash, crc: job.crc, compressLevel: job.compressLevel, compressLimit: job.compressLimit }, [...transfer]);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('the chunk workers were closed with jobs running'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private settle(job: Job): void {
    job.slot.pendingBytes -= job.bytes;
    if (--job.slot.pendingJobs === 0) job.slot.worker.unref();
  }

  private failAll(error: Error): void {
    this.failure ??= error;
    for (const [id, job] of this.jobs) {
      this.jobs.delete(id);
      this.settle(job);
      job.reject(error);
    }
  }
}
