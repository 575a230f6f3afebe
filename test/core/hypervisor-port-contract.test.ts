/**
 * The HypervisorPort contract (core/hypervisor-port-contract.ts) against the simulator:
 * every check passes on a fresh world booted from one seed; adapters broken in one promise
 * each fail the check that names it; a setup without `write` skips the checks that need
 * it; and docs/hypervisor-port-contract.md lists exactly the checks the array has.
 */

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ContractSkip, ContractViolation, HYPERVISOR_PORT_CONTRACT, type ContractCheck, type ContractSetup,
} from '../../core/hypervisor-port-contract.js';
import type { HypervisorPort } from '../../core/hypervisor-port.js';
import { ok } from '../../core/result.js';
import { findCell } from '../../scenarios/cells.js';
import { bootCellWorld, startCellWorkload } from '../../scenarios/scenario/world.js';
import type { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';

const SEED = 20260512;
const CELL = 'win2019/esx41/sqlserver/default';
const WARMUP_US = 1_000_000;

/** Worlds booted by the current test, disposed after it (a world holds its guests' memory). */
const worlds: SimHypervisor[] = [];
afterEach(() => {
  for (const hv of worlds.splice(0)) hv.dispose();
});

interface SimSetupOptions {
  /** Give the checks a `write` (the default). */
  readonly write?: boolean;
  /** Wrap the port: a broken adapter. */
  readonly wrap?: (hv: SimHypervisor) => HypervisorPort;
}

/** A fresh world per call: the cell's VM on two disks, its apps writing, CBT paged two areas at a time. */
function simSetup(options: SimSetupOptions = {}): () => Promise<ContractSetup> {
  return () => {
    const cell = findCell(CELL);
    if (cell === undefined) throw new Error(`no cell ${CELL}`);
    const { hv, vm } = bootCellWorld(cell, { seed: SEED, disks: 2, cbtPageAreas: 2 });
    worlds.push(hv);
    startCellWorkload({ hv, vm }, { meanIntervalMs: 5, opsPerTxn: 2, valueBytes: 300 });
    hv.runFor(WARMUP_US);
    const setup: ContractSetup = {
      port: options.wrap?.(hv) ?? hv,
      vmId: vm.vmId,
      advance: (us) => { hv.runFor(us); return Promise.resolve(); },
      ...options.write === false ? {} : {
        write: (vmId, diskId, offset, bytes) => {
          const disk = hv.vm(vmId).disks.find((d) => d.info.diskId === diskId);
          if (disk === undefined) throw new Error(`no disk ${diskId}`);
          disk.disk.write(offset, bytes);
          return Promise.resolve();
        },
      },
    };
    return Promise.resolve(setup);
  };
}

/** The port with some methods replaced; every other call goes to the simulator. */
function broken(hv: SimHypervisor, overrides: Partial<HypervisorPort>): HypervisorPort {
  return new Proxy(hv, {
    get(target, key, receiver) {
      const own: unknown = Reflect.get(overrides, key);
      if (own !== undefined) return own;
      const value: unknown = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function byId(id: string): ContractCheck {
  const found = HYPERVISOR_PORT_CONTRACT.find((c) => c.id === id);
  if (found === undefined) throw new Error(`no check ${id}`);
  return found;
}

async function violationOf(check: ContractCheck, setup: () => Promise<ContractSetup>): Promise<ContractViolation> {
  try {
    await check.run(setup);
  } catch (e) {
    if (e instanceof ContractViolation) return e;
    throw e;
  }
  throw new Error(`${check.id} passed against a broken adapter`);
}

describe('the HypervisorPort contract against the simulator', () => {
  it('has 12 to 20 checks with distinct ids', () => {
    const ids = HYPERVISOR_PORT_CONTRACT.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBeGreaterThanOrEqual(12);
    expect(ids.length).toBeLessThanOrEqual(20);
  });

  for (const check of HYPERVISOR_PORT_CONTRACT) {
    it(`${check.id}: ${check.title}`, async () => {
      await check.run(simSetup());
    });
  }
});

describe('broken adapters fail the check that names the broken promise', () => {
  const cases: readonly { readonly name: string; readonly check: string; readonly overrides: (hv: SimHypervisor) => Partial<HypervisorPort> }[] = [
    {
      name: 'queryChangedDiskAreas drops the last page\'s areas',
      check: 'cbt-all-covers-data',
      overrides: (hv) => ({
        queryChangedDiskAreas: async (vmId, snapshotId, diskId, start, changeId) => {
          const r = await hv.queryChangedDiskAreas(vmId, snapshotId, diskId, start, changeId);
          const capacity = hv.vm(vmId).disks.find((d) => d.info.diskId === diskId)?.info.capacityBytes;
          if (!r.ok || r.value.startOffsetBytes + r.value.lengthBytes !== capacity) return r;
          return ok({ ...r.value, changedAreas: [] });
        },
      }),
    },
    {
      name: 'queryChangedDiskAreas returns each page\'s areas in reverse order',
      check: 'cbt-paging',
      overrides: (hv) => ({
        queryChangedDiskAreas: async (...args) => {
          const r = await hv.queryChangedDiskAreas(...args);
          return r.ok ? ok({ ...r.value, changedAreas: [...r.value.changedAreas].reverse() }) : r;
        },
      }),
    },
    {
      name: 'readSnapshotDisk returns the live disk\'s bytes instead of the snapshot\'s',
      check: 'snapshot-image-frozen',
      overrides: (hv) => ({
        readSnapshotDisk: async (vmId, snapshotId, diskId, offset, length) => {
          const r = await hv.readSnapshotDisk(vmId, snapshotId, diskId, offset, length);
          const disk = hv.vm(vmId).disks.find((d) => d.info.diskId === diskId);
          return r.ok && disk !== undefined ? ok(disk.disk.read(offset, length)) : r;
        },
      }),
    },
    {
      name: 'readSnapshotDisk throws on a range outside the disk',
      check: 'read-range',
      overrides: (hv) => ({
        readSnapshotDisk: async (vmId, snapshotId, diskId, offset, length) => {
          const r = await hv.readSnapshotDisk(vmId, snapshotId, diskId, offset, length);
          if (!r.ok && r.error.kind === 'invalid-argument') throw new RangeError(`${offset}+${length} is outside the disk`);
          return r;
        },
      }),
    },
    {
      name: 'queryChangedDiskAreas since a change id reports nothing changed',
      check: 'cbt-since-covers-differences',
      overrides: (hv) => ({
        queryChangedDiskAreas: async (vmId, snapshotId, diskId, start, changeId) => {
          const r = await hv.queryChangedDiskAreas(vmId, snapshotId, diskId, start, changeId);
          return r.ok && changeId !== '*' ? ok({ ...r.value, changedAreas: [] }) : r;
        },
      }),
    },
    {
      name: 'getVm answers an unknown id with a made-up VM',
      check: 'unknown-vm',
      overrides: (hv) => ({
        getVm: async (vmId) => {
          const r = await hv.getVm(vmId);
          const any = hv.vmIds[0];
          return r.ok || any === undefined ? r : hv.getVm(any);
        },
      }),
    },
    {
      name: 'removeSnapshot answers ok and keeps the snapshot',
      check: 'remove-snapshot',
      overrides: () => ({ removeSnapshot: () => Promise.resolve(ok(undefined)) }),
    },
    {
      name: 'revertToSnapshot answers ok and changes nothing',
      check: 'revert',
      overrides: () => ({ revertToSnapshot: () => Promise.resolve(ok(undefined)) }),
    },
    {
      name: 'powerOff answers ok and leaves the VM running',
      check: 'power-state',
      overrides: () => ({ powerOff: () => Promise.resolve(ok(undefined)) }),
    },
    {
      name: 'runInGuest answers for a powered-off VM',
      check: 'guest-needs-tools',
      overrides: () => ({ runInGuest: () => Promise.resolve(ok({ exitCode: 0, stdout: new Uint8Array(0), stderr: '', durationUs: 0 })) }),
    },
    {
      name: 'destroyVm answers ok and keeps the VM',
      check: 'destroy-vm',
      overrides: () => ({ destroyVm: () => Promise.resolve(ok(undefined)) }),
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.check} fails, naming itself`, async () => {
      const violation = await violationOf(byId(c.check), simSetup({ wrap: (hv) => broken(hv, c.overrides(hv)) }));
      expect(violation.checkId).toBe(c.check);
      expect(violation.message.startsWith(`${c.check}: expected `)).toBe(true);
    });
  }
});

describe('a setup without write', () => {
  it('skips exactly the checks that need it, saying why', async () => {
    const skipped: string[] = [];
    for (const id of ['snapshot-image-frozen', 'cbt-since-covers-writes', 'cbt-all-covers-data']) {
      try {
        await byId(id).run(simSetup({ write: false }));
      } catch (e) {
        if (!(e instanceof ContractSkip)) throw e;
        expect(e.checkId).toBe(id);
        expect(e.reason).toMatch(/write\(\)/);
        skipped.push(id);
      }
    }
    expect(skipped).toEqual(['snapshot-image-frozen', 'cbt-since-covers-writes']);
  });
});

describe('docs/hypervisor-port-contract.md', () => {
  it('lists exactly the checks the contract has, in order, with their titles', () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../docs/hypervisor-port-contract.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `([a-z0-9-]+)` \| (.+) \|$/gm)].map((m) => ({ id: m[1], title: m[2] }));
    expect(rows).toEqual(HYPERVISOR_PORT_CONTRACT.map((c) => ({ id: c.id, title: c.title })));
  });
});
