/**
 * The ByteStore contract, run against both stores (memory and local directory), and the
 * local-directory store's atomic publish: temps are invisible, a crash's leftovers are
 * temps only, and a repository on a real folder round-trips.
 */

import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.js';
import { prune } from '../../engine/repository/prune.js';
import { Repository } from '../../engine/repository/repository.js';
import { verifyRepository } from '../../engine/repository/verify.js';
import { isValidName, type ByteStore } from '../../engine/store/byte-store.js';
import { IO_STEP_BYTES, LocalDirStore, readsBack } from '../../engine/store/local-dir-store.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { backupChain, chainArb, equalBytes, ManualClock, restoreBoth, smallInit } from './support.js';

async function dirStore(): Promise<LocalDirStore> {
  return unwrap(await LocalDirStore.open(join(mkdtempSync(join(tmpdir(), 'ql-store-')), 'repo'), { create: true, tempTag: 'test' }));
}

const stores: [string, () => Promise<ByteStore>][] = [
  ['memory', () => Promise.resolve(new MemoryStore())],
  ['local directory', dirStore],
];

const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text);

describe.each(stores)('ByteStore contract: %s', (_label, make) => {
  it('put, get, getRange, exists, list, delete', async () => {
    const store = await make();
    unwrap(await store.put('packs/ab/abc', bytesOf('hello world')));
    unwrap(await store.put('packs/cd/cde', bytesOf('x')));
    unwrap(await store.put('points/p1', bytesOf('manifest')));
    expect(new TextDecoder().decode(unwrap(await store.get('packs/ab/abc')))).toBe('hello world');
    expect(new TextDecoder().decode(unwrap(await store.getRange('packs/ab/abc', 6, 5)))).toBe('world');
    const past = await store.getRange('packs/ab/abc', 6, 6);
    expect(!past.ok && past.error).toEqual({ kind: 'out-of-range', name: 'packs/ab/abc', offsetBytes: 6, lengthBytes: 6, objectBytes: 11 });
    expect(unwrap(await store.exists('packs/ab/abc'))).toBe(true);
    expect(unwrap(await store.exists('packs/ab'))).toBe(false);
    expect(unwrap(await store.list('packs/'))).toEqual(['packs/ab/abc', 'packs/cd/cde']);
    expect(unwrap(await store.list('packs/a'))).toEqual(['packs/ab/abc']);
    expect(unwrap(await store.list(''))).toEqual(['packs/ab/abc', 'packs/cd/cde', 'points/p1']);
    unwrap(await store.put('packs/ab/abc', bytesOf('replaced')));
    expect(new TextDecoder().decode(unwrap(await store.get('packs/ab/abc')))).toBe('replaced');
    unwrap(await store.delete('packs/ab/abc'));
    unwrap(await store.delete('packs/ab/abc')); // idempotent
    const gone = await store.get('packs/ab/abc');
    expect(!gone.ok && gone.error).toEqual({ kind: 'not-found', name: 'packs/ab/abc' });
    expect(unwrap(await store.list('packs/'))).toEqual(['packs/cd/cde']);
  });

  it('putExclusive creates once, then refuses with exists', async () => {
    const store = await make();
    unwrap(await store.putExclusive('locks/writer', bytesOf('a')));
    const again = await store.putExclusive('locks/writer', bytesOf('b'));
    expect(!again.ok && again.error).toEqual({ kind: 'exists', name: 'locks/writer' });
    expect(new TextDecoder().decode(unwrap(await store.get('locks/writer')))).toBe('a');
  });

  it('leaves no temp behind after puts, and never lists temps unless asked', async () => {
    const store = await make();
    for (let i = 0; i < 5; i++) unwrap(await store.put(`index/i${i}`, bytesOf(`index ${i}`)));
    expect(unwrap(await store.list('tmp/'))).toEqual([]);
    expect(unwrap(await store.list(''))).toHaveLength(5);
  });

  it('keeps no view of what it was given nor hands out one of what it keeps (Node Buffers too, whose slice is a view)', async () => {
    const store = await make();
    const given = Buffer.from('packed bytes');
    unwrap(await store.put('packs/ab/abc', given));
    given.fill(0x21); // the writer reuses its buffer once the put resolved
    const got = unwrap(await store.get('packs/ab/abc'));
    const range = unwrap(await store.getRange('packs/ab/abc', 0, 6));
    got.fill(0x22); // a reader scribbles over what it got
    range.fill(0x23);
    expect(new TextDecoder().decode(unwrap(await store.get('packs/ab/abc')))).toBe('packed bytes');
  });

  it('a bad name is a programmer error', async () => {
    const store = await make();
    for (const bad of ['', '../x', 'a//b', '/abs', 'a/../b', 'x y']) {
      expect(isValidName(bad)).toBe(false);
      // A sync throw (memory) or a rejection (directory): both are a programmer error.
      await expect((async () => store.get(bad))()).rejects.toThrow(/invalid object name/);
    }
  });
});

describe('local-directory store', () => {
  it('the read-back finds a changed byte in any step, a file longer or shorter by one byte, and passes the exact bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-readback-'));
    for (const size of [0, 1, IO_STEP_BYTES - 1, IO_STEP_BYTES, IO_STEP_BYTES + 1, 2 * IO_STEP_BYTES + 7]) {
      const bytes = new Uint8Array(size).map((_, i) => (i * 7 + 3) & 0xff);
      const path = join(dir, `f${size}`);
      writeFileSync(path, bytes);
      const handle = await open(path, 'r');
      try {
        expect(await readsBack(handle, bytes), `size ${size}`).toBe(true);
        for (const at of [0, IO_STEP_BYTES - 1, IO_STEP_BYTES, size - 1].filter((a) => a >= 0 && a < size)) {
          const changed = new Uint8Array(bytes);
          changed[at] = (changed[at] as number) ^ 1;
          expect(await readsBack(handle, changed), `size ${size}, byte ${at}`).toBe(false);
        }
        if (size > 0) expect(await readsBack(handle, bytes.subarray(0, size - 1)), `size ${size}, file longer`).toBe(false);
        const oneMore = new Uint8Array(size + 1);
        oneMore.set(bytes);
        expect(await readsBack(handle, oneMore), `size ${size}, file shorter`).toBe(false);
      } finally {
        await handle.close();
      }
    }
  });

  it('publishes each object as a file; a crash leftover in tmp/ is not listed and a writer removes it', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'ql-store-')), 'repo');
    const store = unwrap(await LocalDirStore.open(root, { create: true, tempTag: 'test' }));
    unwrap(await Repository.init(store, smallInit(new ManualClock())));
    expect(readFileSync(join(root, 'config'), 'utf8')).toMatch(/^\{"format":"quiescelab-repository"/);
    writeFileSync(join(root, 'tmp', 'dead-writer-1'), 'half a pack');
    expect(unwrap(await store.list(''))).toEqual(['config']);
    expect(unwrap(await store.list('tmp/'))).toEqual(['tmp/dead-writer-1']);
    const writer = unwrap(await Repository.open(store, { clock: new ManualClock(), writer: { owner: 'w' } }));
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    unwrap(await writer.close());
  });

  it('a repository on a real folder: chains restore exactly, verify is clean, prune keeps what is needed', async () => {
    await fc.assert(fc.asyncProperty(chainArb(150_000, 3), async ({ firstSizeBytes, specs }) => {
      const store = await dirStore();
      const clock = new ManualClock();
      unwrap(await Repository.init(store, smallInit(clock)));
      const repo = unwrap(await Repository.open(store, { clock, writer: { owner: 'w' }, compressionInFlight: 3 }));
      const { ids, images } = await backupChain(repo, specs, firstSizeBytes);
      unwrap(await prune(repo, { keepLast: 2 }));
      for (const [k, id] of ids.entries()) {
        if (k < ids.length - 2) continue;
        const restored = await restoreBoth(repo, id);
        expect(restored.ok && equalBytes(restored.value, images[k] as Uint8Array)).toBe(true);
      }
      expect(unwrap(await verifyRepository(store)).damages).toEqual([]);
      unwrap(await repo.close());
    }), { numRuns: 15 });
  });
});
