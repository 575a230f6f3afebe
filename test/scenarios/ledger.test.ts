/**
 * The acknowledgement ledger keeps when an acknowledgement became durable: a write
 * acknowledged buffered before a snapshot and made durable by an fsync after it was not
 * durable at the snapshot (it was reported "durable before the cut and missing: the storage
 * stack lied about flush" until this was kept: a false accusation in the data-loss report
 * and the training demo).
 */

import { describe, expect, it } from 'vitest';
import type { AckRecord } from '../../sim/apps/types.js';
import type { SimVm } from '../../sim/hypervisor/sim-vm.js';
import { AckLedger, durableBy } from '../../scenarios/scenario/ledger.js';

function vmWith(acks: AckRecord[]): SimVm {
  return { guest: {}, apps: ['files'], app: () => ({ acknowledged: () => acks, removals: () => [] }) } as unknown as SimVm;
}

describe('the acknowledgement ledger', () => {
  it('a buffered write made durable later is durable from the fsync, not from the write', () => {
    const ledger = new AckLedger();
    ledger.collect(vmWith([{ app: 'files', id: 'w1', timeUs: 10, durable: false }, { app: 'files', id: 'w1', timeUs: 50, durable: true }]));
    const w1 = ledger.acks().files?.[0];
    expect(w1).toEqual({ app: 'files', id: 'w1', timeUs: 10, durable: true, durableAtUs: 50 });
    if (w1 === undefined) return;
    expect(durableBy(w1, 30)).toBe(false);
    expect(durableBy(w1, 51)).toBe(true);
  });

  it('across collections too (the fsync seen in a later collect)', () => {
    const ledger = new AckLedger();
    ledger.collect(vmWith([{ app: 'files', id: 'w1', timeUs: 10, durable: false }]));
    ledger.collect(vmWith([{ app: 'files', id: 'w1', timeUs: 70, durable: true }]));
    expect(ledger.acks().files?.[0]).toMatchObject({ timeUs: 10, durable: true, durableAtUs: 70 });
  });

  it('a write acknowledged durable at once is durable from then', () => {
    const ledger = new AckLedger();
    ledger.collect(vmWith([{ app: 'files', id: 'w2', timeUs: 20, durable: true }]));
    const w2 = ledger.acks().files?.[0];
    expect(w2?.durableAtUs).toBeUndefined();
    if (w2 !== undefined) expect([durableBy(w2, 20), durableBy(w2, 21)]).toEqual([false, true]);
  });
});
