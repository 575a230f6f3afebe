/**
 * Acceptance: verify finds every single-byte corruption injected into packs (disk chunks
 * and log blobs), index files, manifests, log records or the config, and names the object;
 * a clean repository verifies clean.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.js';
import { describeDamage, verifyRepository, type VerifyOptions } from '../../engine/repository/verify.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { kindPutArb, putLogs } from '../support/log-records.js';
import { backupChain, chainArb, ManualClock, newRepo, type ArbValue,
} from './support.js';

const corruption = fc.record({
  chain: chainArb(120_000, 3),
  logs: fc.array(kindPutArb, { maxLength: 4 }),
  objectPick: fc.nat(),
  bytePick: fc.nat(),
  xor: fc.integer({ min: 1, max: 255 }),
});

/** `logsOnly`: flip a byte of a log record or of a pack the log puts wrote. */
async function corruptedIsNamed(input: ArbValue<typeof corruption>, options: VerifyOptions = {}, logsOnly = false): Promise<void> {
  const store = new MemoryStore();
  const repo = await newRepo(store, new ManualClock());
  const { ids } = await backupChain(repo, input.chain.specs, input.chain.firstSizeBytes);
  const beforeLogs = new Set(store.allNames());
  await putLogs(repo, input.logs, ids);
  unwrap(await repo.close());
  const clean = unwrap(await verifyRepository(store, options));
  expect(clean.damages).toEqual([]);
  const objects = store.allNames().filter((n) => (logsOnly ? !beforeLogs.has(n) && /^(packs|logs)\//.test(n) : n === 'config' || /^(packs|index|points|logs)\//.test(n)));
  const name = objects[input.objectPick % objects.length] as string;
  const bytes = unwrap(await store.get(name));
  const at = input.bytePick % bytes.length;
  bytes[at] = (bytes[at] as number) ^ input.xor;
  unwrap(await store.put(name, bytes));
  const report = unwrap(await verifyRepository(store, options));
  const named = report.damages.filter((d) => d.object === name);
  expect(named.length, `flip of byte ${at} of ${name} not found; reported: ${report.damages.map(describeDamage).join(' | ')}`).toBeGreaterThan(0);
}

describe('verify finds every single-byte corruption', () => {
  it('flipping any byte of any pack, index file, manifest, log record or the config is reported against that object', async () => {
    await fc.assert(fc.asyncProperty(corruption, (input) => corruptedIsNamed(input)), { numRuns: 300 });
  });

  it('names the damaged blob and the points that need it', async () => {
    const store = new MemoryStore();
    const repo = await newRepo(store, new ManualClock());
    const { ids } = await backupChain(repo, [{ writes: [{ offsetBytes: 0, lengthBytes: 50_000, seed: 3, kind: 'text' }], resizeBytes: undefined, mode: 'full', readStepBytes: 65_536 }], 60_000);
    unwrap(await repo.close());
    const pack = store.allNames().find((n) => n.startsWith('packs/')) as string;
    const bytes = unwrap(await store.get(pack));
    bytes[20] = (bytes[20] as number) ^ 0xff; // inside the first blob
    unwrap(await store.put(pack, bytes));
    const report = unwrap(await verifyRepository(store));
    const kinds = report.damages.map((d) => `${d.kind}:${d.object}`);
    expect(kinds).toContain(`pack:${pack}`);
    expect(kinds).toContain(`blob:${pack}`);
    expect(kinds).toContain(`manifest-ref:points/${ids[0] as string}`);
  });

  it('flipping any byte of a log record or of a pack holding a log blob is reported against that object', async () => {
    const withLogs = corruption.filter((input) => input.logs.length > 0);
    await fc.assert(fc.asyncProperty(withLogs, (input) => corruptedIsNamed(input, {}, true)), { numRuns: 200 });
  });

  it('names a damaged log blob\'s pack and the log record that needs it', async () => {
    const store = new MemoryStore();
    const repo = await newRepo(store, new ManualClock());
    const { ids } = await backupChain(repo, [{ writes: [{ offsetBytes: 0, lengthBytes: 20_000, seed: 3, kind: 'random' }], resizeBytes: undefined, mode: 'full', readStepBytes: 65_536 }], 30_000);
    const packsBefore = new Set(store.allNames().filter((n) => n.startsWith('packs/')));
    await putLogs(repo, [{ kind: 'sql', put: { vm: 0, base: 0, shape: 'segment', blobBytes: 5000, seed: 9 } }], ids);
    unwrap(await repo.close());
    const pack = store.allNames().find((n) => n.startsWith('packs/') && !packsBefore.has(n)) as string;
    const record = store.allNames().find((n) => n.startsWith('logs/sql/')) as string;
    const bytes = unwrap(await store.get(pack));
    bytes[20] = (bytes[20] as number) ^ 0xff; // inside the log blob's first chunk
    unwrap(await store.put(pack, bytes));
    const report = unwrap(await verifyRepository(store));
    const kinds = report.damages.map((d) => `${d.kind}:${d.object}`);
    expect(kinds).toContain(`pack:${pack}`);
    expect(kinds).toContain(`blob:${pack}`);
    expect(kinds).toContain(`log-ref:${record}`);
    expect(kinds.filter((k) => k.startsWith('manifest'))).toEqual([]);
    expect(report.checked.logRecords).toBe(1);
  });

  it('the property can fail: a metadata-only verify misses damage inside packs', async () => {
    await expect(fc.assert(fc.asyncProperty(corruption, (input) => corruptedIsNamed(input, { readData: false })), { numRuns: 300 }))
      .rejects.toThrow(/Property failed/);
  });
});
