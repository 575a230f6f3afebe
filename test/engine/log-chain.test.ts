/**
 * Roll-forward plans over log chains: an unbroken chain gives exactly the backups from the
 * restored LSN to the target; a gap (a missing backup, a log backup to NUL), a start the
 * chain does not hold, or a target past the chain is refused with its reason — never a
 * partial plan. Also the log backup header parser against corruption.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../core/crc32.js';
import { planRollForward, type LogBackupRef } from '../../engine/logbackup/chain.js';
import { parseSqlLogBackup } from '../../engine/logbackup/sql-log-header.js';

function chainOf(cuts: readonly number[]): LogBackupRef[] {
  return cuts.slice(1).map((lsn, i) => ({ id: `log-${i + 1}`, firstLsn: cuts[i] ?? 0, lastLsn: lsn, backupTimeUs: lsn * 1000, copyOnly: false }));
}

describe('roll-forward plans', () => {
  const chain = chainOf([10, 20, 35, 50, 80]);

  it('takes the backups from the restored LSN up to the target', () => {
    expect(planRollForward(chain, 12, { kind: 'lsn', lsn: 40 })).toEqual({ ok: true, value: chain.slice(0, 3) });
    expect(planRollForward(chain, 20, { kind: 'time', timeUs: 36_000 })).toEqual({ ok: true, value: chain.slice(1, 3) });
    expect(planRollForward(chain, 10, { kind: 'latest' })).toEqual({ ok: true, value: chain });
  });

  it('refuses a VSS snapshot alone, a gap, an uncovered start and a target past the chain', () => {
    expect(planRollForward([], 5, { kind: 'latest' })).toMatchObject({ ok: false, error: { kind: 'no-log-backups' } });
    const missing = chain.filter((b) => b.id !== 'log-2');
    expect(planRollForward(missing, 12, { kind: 'lsn', lsn: 60 })).toMatchObject({ ok: false, error: { kind: 'gap', afterBackup: 'log-1', missingFromLsn: 20, nextAvailableLsn: 35 } });
    expect(planRollForward(chain, 5, { kind: 'lsn', lsn: 30 })).toMatchObject({ ok: false, error: { kind: 'start-not-covered', startLsn: 5 } });
    expect(planRollForward(chain, 12, { kind: 'lsn', lsn: 90 })).toMatchObject({ ok: false, error: { kind: 'target-beyond-chain', chainEndLsn: 80 } });
  });

  it('ignores copy-only log backups (they overlap the chain)', () => {
    const withCopy = [...chain, { id: 'copy', firstLsn: 20, lastLsn: 40, backupTimeUs: 40_000, copyOnly: true }];
    expect(planRollForward(withCopy, 12, { kind: 'lsn', lsn: 45 })).toEqual({ ok: true, value: chain.slice(0, 3) });
  });

  it('is contiguous or refused, for random chains with random holes', () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { minLength: 2, maxLength: 30 }), fc.array(fc.boolean(), { maxLength: 30 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1100 }),
      (cutsRaw, drop, start, target) => {
        const all = chainOf([...cutsRaw].sort((a, b) => a - b));
        const kept = all.filter((_, i) => drop[i] !== true);
        const plan = planRollForward(kept, start, { kind: 'lsn', lsn: target });
        if (!plan.ok) return;
        const p = plan.value;
        expect(p[0]?.firstLsn).toBeLessThanOrEqual(start);
        expect(p[0]?.lastLsn).toBeGreaterThan(start);
        for (let i = 1; i < p.length; i++) expect(p[i]?.firstLsn).toBe(p[i - 1]?.lastLsn);
        expect(p.at(-1)?.lastLsn).toBeGreaterThan(target);
        // A complete chain covering [start, target] is never refused.
      },
    ), { numRuns: 300 });
  });
});

describe('SQL log backup header', () => {
  function blob(header: object, records = new Uint8Array([1, 2, 3])): Uint8Array {
    const h = new TextEncoder().encode(JSON.stringify({ ...header, recordsBytes: records.length, recordsCrc: crc32(records) }));
    const out = new Uint8Array(16 + h.length + records.length);
    out.set(new TextEncoder().encode('QSLBAK01'), 0);
    const v = new DataView(out.buffer);
    v.setUint32(8, h.length, true);
    v.setUint32(12, crc32(h), true);
    out.set(h, 16);
    out.set(records, 16 + h.length);
    return out;
  }
  const good = { dbName: 'db', backupId: 'b1', copyOnly: false, firstLsn: 10, lastLsn: 20, backupTimeUs: 5, recordCount: 10 };

  it('reads a well-formed header', () => {
    expect(parseSqlLogBackup(blob(good))).toEqual({ ok: true, value: good });
  });

  it('finds any single-byte corruption', () => {
    const b = blob(good);
    for (let i = 0; i < b.length; i++) {
      const c = b.slice();
      c[i] = (c[i] ?? 0) ^ 0x40;
      expect(parseSqlLogBackup(c).ok, `byte ${i}`).toBe(false);
    }
  });
});
