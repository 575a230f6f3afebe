/**
 * zstd compression on worker threads, so a writer uses every core: the main thread
 * chunks and hashes while the workers compress. Each worker loads the same wasm package
 * as zstd-wasm.ts (resolved through Node's module resolution, never a fixed path) and
 * runs its `compress`, so the bytes are the in-process ones whatever the number of
 * workers or the order they finish in. Its in-process twin is `zstdCompress`; the
 * simulator never starts workers (compressionInFlight 0).
 *
 * This file is a named adapter of test/architecture/layers.ts (IO_ADAPTERS): it starts
 * threads. Workers start at the first job, are unref'd while idle (an idle pool does not
 * keep a process alive), and end at `close`. A worker that dies fails its jobs and every
 * later one (the writer fails with the error; nothing is published).
 */

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { assert, assertInt } from '../../core/assert.js';
import { ZSTD_PACKAGE } from './zstd-wasm.js';

/** The worker: CommonJS, so it runs from this string whatever loads this module (tsx, vitest, dist). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const zstd = require(workerData.packagePath);
zstd.isLoaded.then(() => {
  parentPort.on('message', ({ id, raw, level }) => {
    const out = zstd.compress(raw, level);
    // Small outputs share Node's buffer pool: those are copied, the rest moved.
    const bytes = out.byteLength === out.buffer.byteLength ? out : new Uint8Array(out);
    parentPort.postMessage({ id, bytes }, [bytes.buffer]);
  });
});
`;

interface Job {
  readonly resolve: (bytes: Uint8Array) => void;
  readonly reject: (error: Error) => void;
  readonly slot: Slot;
}

interface Slot {
  readonly worker: Worker;
  pending: number;
}

export class ZstdPool {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  private failure: Error | undefined;
  private closed = false;

  constructor(readonly size: number) {
    assertInt(size, 1, 64, 'zstd pool size');
  }

  compress(raw: Uint8Array, level: number): Promise<Uint8Array> {
    assert(!this.closed, 'the zstd pool is closed');
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.slots.length === 0) this.start();
    const slot = this.slots.reduce((a, b) => (b.pending < a.pending ? b : a));
    const id = this.nextId++;
    // The worker gets its own copy (`raw` may be a view of a larger buffer the caller keeps).
    const copy = new Uint8Array(raw);
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject, slot });
      if (slot.pending++ === 0) slot.worker.ref();
      slot.worker.postMessage({ id, raw: copy, level }, [copy.buffer]);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('the zstd pool was closed with jobs running'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private start(): void {
    const packagePath = createRequire(import.meta.url).resolve(ZSTD_PACKAGE);
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { packagePath } });
      const slot: Slot = { worker, pending: 0 };
      worker.unref();
      worker.on('message', (message: { id: number; bytes: Uint8Array }) => {
        const job = this.jobs.get(message.id);
        if (job === undefined) return;
        this.jobs.delete(message.id);
        if (--slot.pending === 0) worker.unref();
        job.resolve(message.bytes);
      });
      worker.on('error', (error) => { this.failAll(error); });
      worker.on('exit', (code) => { if (!this.closed) this.failAll(new Error(`a zstd worker exited with code ${code}`)); });
      this.slots.push(slot);
    }
  }

  private failAll(error: Error): void {
    this.failure ??= error;
    for (const [id, job] of this.jobs) {
      this.jobs.delete(id);
      job.slot.pending -= 1;
      job.reject(error);
    }
  }
}
