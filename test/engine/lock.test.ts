/**
 * Acceptance: two writers — the lock refuses the second with a Result naming the holder;
 * the stale-lock rule; the fence (a writer whose lock was broken never commits).
 */

import { describe, expect, it } from 'vitest';
import { err, ok, unwrap, type Result } from '../../core/result.js';
import { Repository } from '../../engine/repository/repository.js';
import type { ByteStore, StoreError } from '../../engine/store/byte-store.js';
import { DEFAULT_STALE_AFTER_US, StoreLock } from '../../engine/store/lock.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { DISK, ManualClock, meta, smallInit } from './support.js';

/** A mutant store whose putExclusive overwrites (no create-if-absent). */
class NonExclusiveStore extends MemoryStore {
  override putExclusive(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>> {
    return this.put(name, bytes);
  }
}

/** Opens two writers one after the other; returns the second's outcome. */
async function secondWriter(store: ByteStore, clock: ManualClock): Promise<Result<Repository, string>> {
  unwrap(await Repository.init(store, smallInit(clock)));
  unwrap(await Repository.open(store, { clock, writer: { owner: 'job-1' } }));
  clock.advance(60_000_000);
  const second = await Repository.open(store, { clock, writer: { owner: 'job-2' } });
  return second.ok ? ok(second.value) : err(second.error.kind === 'lock' ? `${second.error.error.kind}:${second.error.error.kind === 'locked' ? second.error.error.owner : ''}` : second.error.kind);
}

describe('the writer lock', () => {
  it('refuses a second writer with a Result naming the holder', async () => {
    const clock = new ManualClock();
    const second = await secondWriter(new MemoryStore(), clock);
    expect(second).toEqual(err('locked:job-1'));
  });

  it('the test can fail: a store without create-if-absent lets the second writer in', async () => {
    const second = await secondWriter(new NonExclusiveStore(), new ManualClock());
    expect(second.ok).toBe(true);
  });

  it('a released lock can be taken; readers need none', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    unwrap(await Repository.init(store, smallInit(clock)));
    const first = unwrap(await Repository.open(store, { clock, writer: { owner: 'job-1' } }));
    expect((await Repository.open(store, { clock })).ok).toBe(true);
    unwrap(await first.close());
    const second = await Repository.open(store, { clock, writer: { owner: 'job-2' } });
    expect(second.ok).toBe(true);
  });

  it('a lock not refreshed for staleAfterUs is broken, and the new lock says whose it broke', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    unwrap(await StoreLock.acquire(store, { owner: 'dead', clock }));
    clock.advance(DEFAULT_STALE_AFTER_US - 1);
    const early = await StoreLock.acquire(store, { owner: 'next', clock });
    expect(!early.ok && early.error.kind).toBe('locked');
    clock.advance(1);
    const late = unwrap(await StoreLock.acquire(store, { owner: 'next', clock }));
    expect(late.owner).toBe('next');
    const record = JSON.parse(new TextDecoder().decode(unwrap(await store.get('locks/writer')))) as { brokeStaleLockOf?: string };
    expect(record.brokeStaleLockOf).toBe('dead');
  });

  it('the caller may call a lock stale sooner (the CLI: its process is gone)', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    unwrap(await StoreLock.acquire(store, { owner: 'a', clock, attributes: { pid: 42 } }));
    const taken = await StoreLock.acquire(store, { owner: 'b', clock, isStale: (r) => r.attributes.pid === 42 });
    expect(taken.ok).toBe(true);
  });

  it('fence: a writer whose stale lock was broken meanwhile does not commit', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    unwrap(await Repository.init(store, smallInit(clock)));
    const slow = unwrap(await Repository.open(store, { clock, writer: { owner: 'slow' } }));
    const writer = unwrap(await slow.beginPoint(meta()));
    writer.writeDisk(DISK, 4096);
    unwrap(await writer.writeExtent(DISK, 0, new Uint8Array(4096).fill(7)));
    clock.advance(DEFAULT_STALE_AFTER_US);
    unwrap(await Repository.open(store, { clock, writer: { owner: 'fast' } }));
    const committed = await writer.commit();
    expect(!committed.ok && committed.error.kind === 'lock' && committed.error.error.kind).toBe('lost');
    expect(unwrap(await store.list('points/'))).toEqual([]);
  });
});
