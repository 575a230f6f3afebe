/**
 * The HypervisorPort contract as runnable checks: what every adapter must do that the doc
 * comments of hypervisor-port.ts promise, so an adapter for a real hypervisor (vSphere,
 * say) can be held to the same behaviour the simulator shows. Each check's title names the
 * sentence it comes from; test/core/hypervisor-port-contract.test.ts runs them all against
 * the simulator and proves several broken adapters fail. Framework-agnostic: a check is a
 * function that resolves, or rejects with a ContractViolation (the port broke a promise) or
 * a ContractSkip (the setup cannot exercise it). docs/hypervisor-port-contract.md says how
 * to run them.
 *
 * Each check calls `setup()` once and may do anything to that VM (snapshots, revert, power
 * off, CBT on) and create VMs beside it: give every check a fresh VM. Reads are whole
 * sectors, at most 1 MiB each, and at most READ_BUDGET_BYTES per disk per image (evenly
 * sampled past it). `write` is only ever given the last 64 KiB of the VM's last disk.
 *
 * Leaves out: the time a call costs, memory snapshots, quiesce faults the adapter cannot be
 * made to produce, CBT after a reset, what a guest program prints.
 */

import type { ChangedArea, ChangedAreasPage, HypervisorPort, NewVmSpec, PortError, PortResult, SnapshotInfo, VmDiskInfo, VmInfo } from './hypervisor-port.js';
import { DiskId, SnapshotId, VmId, type ChangeId } from './ids.js';
import type { Result } from './result.js';
import { isAllZero } from './zero.js';

/** What a check is given: a port and one powered-on VM it may do anything to. */
export interface ContractSetup {
  readonly port: HypervisorPort;
  /** A powered-on VM with at least one disk and guest applications (Tools running). */
  readonly vmId: VmId;
  /** Lets time pass: the guest writes meanwhile. Without it, checks rely on the calls' own time. */
  advance?(us: number): Promise<void>;
  /** Makes the guest change a disk region, if the adapter can; checks that need it are skipped without. */
  write?(vmId: VmId, diskId: DiskId, offset: number, bytes: Uint8Array): Promise<void>;
}

export interface ContractCheck {
  readonly id: string;
  readonly title: string;
  run(setup: () => Promise<ContractSetup>): Promise<void>;
}

/** The port broke a promise: which check, what it expected, what it got. */
export class ContractViolation extends Error {
  override readonly name = 'ContractViolation';
  constructor(readonly checkId: string, readonly expected: string, readonly got: string, options?: ErrorOptions) {
    super(`${checkId}: expected ${expected}; got ${got}`, options);
  }
}

/** The setup cannot exercise this check (e.g. it gives no `write`): neither a pass nor a failure. */
export class ContractSkip extends Error {
  override readonly name = 'ContractSkip';
  constructor(readonly checkId: string, readonly reason: string) {
    super(`${checkId} skipped: ${reason}`);
  }
}

const KiB = 1024;
const MiB = 1024 * KiB;
/** The largest single read a check issues. */
const CHUNK_BYTES = MiB;
/** Bytes one image comparison reads per disk at most; larger disks are sampled evenly. */
export const READ_BUDGET_BYTES = 32 * MiB;
const REGION_BYTES = 64 * KiB;
/** How long a check lets the guest write between two looks (with `advance`). */
const GUEST_WRITES_US = 2_000_000;
/** A QueryChangedDiskAreas walk over one disk ends within this many pages. */
const MAX_PAGES = 100_000;

// ---- plumbing ---------------------------------------------------------------------------

interface Ctx {
  readonly id: string;
  readonly port: HypervisorPort;
  readonly vmId: VmId;
  readonly setup: ContractSetup;
}

interface Range {
  readonly offset: number;
  readonly length: number;
}

type Settled<T> = { readonly threw: unknown } | { readonly result: Result<T, PortError> };

function message(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  const text = JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v));
  return text.length > 400 ? `${text.slice(0, 400)}...` : text;
}

/** JSON with sorted keys: two VmInfo objects built by different code paths compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v));
}

function fail(c: Ctx, expected: string, got: string): never {
  throw new ContractViolation(c.id, expected, got);
}

function expect(c: Ctx, condition: boolean, expected: string, got: () => string): asserts condition {
  if (!condition) fail(c, expected, got());
}

async function settle<T>(call: () => PortResult<T>): Promise<Settled<T>> {
  try {
    return { result: await call() };
  } catch (e) {
    return { threw: e };
  }
}

async function ok<T>(c: Ctx, what: string, call: PortResult<T>): Promise<T> {
  const r = await call;
  if (!r.ok) fail(c, `${what} to succeed`, `the error ${show(r.error)}`);
  return r.value;
}

/** The call must resolve to an error result of one of `kinds` (not a throw, not a success). */
async function refused(c: Ctx, what: string, call: () => PortResult<unknown>, kinds: readonly PortError['kind'][]): Promise<PortError> {
  const expected = `${what} to be an error result (${kinds.join(' or ')})`;
  const s = await settle(call);
  if ('threw' in s) fail(c, expected, `a throw: ${message(s.threw)}`);
  if (s.result.ok) fail(c, expected, `a success: ${show(s.result.value)}`);
  const error = s.result.error;
  expect(c, kinds.includes(error.kind), expected, () => `the error ${show(error)}`);
  return error;
}

/** Like `refused`, but a success (a no-op) is accepted too. */
async function okOrRefused(c: Ctx, what: string, call: () => PortResult<unknown>, kinds: readonly PortError['kind'][]): Promise<void> {
  const s = await settle(call);
  if ('threw' in s) fail(c, `${what} to resolve (a no-op, or ${kinds.join(' or ')})`, `a throw: ${message(s.threw)}`);
  const r = s.result;
  expect(c, r.ok || kinds.includes(r.error.kind), `${what} to be a no-op or ${kinds.join(' or ')}`, () => show(r));
}

async function refusedUnknownSnapshot(c: Ctx, what: string, call: () => PortResult<unknown>, snapshotId: SnapshotId): Promise<void> {
  const e = await refused(c, what, call, ['unknown-snapshot']);
  expect(c, e.kind === 'unknown-snapshot' && e.vmId === c.vmId && e.snapshotId === snapshotId,
    `${what}: an unknown-snapshot error naming ${c.vmId} and ${snapshotId}`, () => show(e));
}

function check(id: string, title: string, body: (c: Ctx) => Promise<void>): ContractCheck {
  return {
    id,
    title,
    async run(setup) {
      const s = await setup();
      const c: Ctx = { id, port: s.port, vmId: s.vmId, setup: s };
      try {
        await body(c);
      } catch (e) {
        if (e instanceof ContractViolation || e instanceof ContractSkip) throw e;
        throw new ContractViolation(id, 'every call to resolve (expected failures as Result errors)', `a throw: ${message(e)}`, { cause: e });
      }
    },
  };
}

// ---- the VM, its snapshots and disks ----------------------------------------------------

async function vmInfo(c: Ctx, vmId: VmId = c.vmId): Promise<VmInfo> {
  const vm = await ok(c, `getVm(${vmId})`, c.port.getVm(vmId));
  expect(c, vm.vmId === vmId, `getVm(${vmId}) to describe that VM`, () => `vmId ${vm.vmId}`);
  return vm;
}

async function snapshot(c: Ctx, name: string, vmId: VmId = c.vmId): Promise<SnapshotInfo> {
  return ok(c, `createSnapshot('${name}')`, c.port.createSnapshot(vmId, { name, quiesce: false, memory: false }));
}

async function enableCbt(c: Ctx): Promise<void> {
  await ok(c, 'enableChangeTracking', c.port.enableChangeTracking(c.vmId));
}

async function letGuestWrite(c: Ctx): Promise<void> {
  if (c.setup.advance !== undefined) await c.setup.advance(GUEST_WRITES_US);
}

function needWrite(c: Ctx): NonNullable<ContractSetup['write']> {
  const write = c.setup.write?.bind(c.setup);
  if (write === undefined) throw new ContractSkip(c.id, 'the setup gives no write(): this check needs the guest to change a chosen disk region');
  return write;
}

function firstDisk(c: Ctx, vm: VmInfo): VmDiskInfo {
  const disk = vm.disks[0];
  expect(c, disk !== undefined, `${vm.vmId} to have a disk`, () => 'none');
  return disk;
}

function lastDisk(c: Ctx, vm: VmInfo): VmDiskInfo {
  const disk = vm.disks[vm.disks.length - 1];
  expect(c, disk !== undefined, `${vm.vmId} to have a disk`, () => 'none');
  return disk;
}

function changeIdOf(c: Ctx, snap: SnapshotInfo, disk: VmDiskInfo): ChangeId {
  const id = snap.changeIds[disk.diskId];
  expect(c, typeof id === 'string' && id.length > 0, `a change id of ${disk.diskId} in snapshot ${snap.snapshotId} (CBT is on)`, () => show(snap.changeIds));
  return id;
}

async function read(c: Ctx, vmId: VmId, snapshotId: SnapshotId, disk: VmDiskInfo, r: Range): Promise<Uint8Array> {
  const what = `readSnapshotDisk(${disk.diskId}, ${r.offset}, ${r.length})`;
  const bytes = await ok(c, what, c.port.readSnapshotDisk(vmId, snapshotId, disk.diskId, r.offset, r.length));
  expect(c, bytes.length === r.length, `${what} to return ${r.length} bytes`, () => `${bytes.length}`);
  return bytes;
}

// ---- ranges and bytes -------------------------------------------------------------------

function alignDown(n: number, unit: number): number {
  return Math.floor(n / unit) * unit;
}

/** Whole sectors of `ranges`, cut into reads of at most CHUNK_BYTES. */
function chunks(ranges: readonly Range[], sector: number): Range[] {
  const out: Range[] = [];
  for (const r of ranges) {
    const end = alignDown(r.offset + r.length, sector);
    for (let at = Math.ceil(r.offset / sector) * sector; at < end; at += CHUNK_BYTES) out.push({ offset: at, length: Math.min(CHUNK_BYTES, end - at) });
  }
  return out;
}

/** At most READ_BUDGET_BYTES of `list`, spread evenly over it. */
function budget(list: readonly Range[]): Range[] {
  const total = list.reduce((n, r) => n + r.length, 0);
  if (total <= READ_BUDGET_BYTES) return [...list];
  const every = Math.ceil(total / READ_BUDGET_BYTES);
  return list.filter((_r, i) => i % every === 0);
}

function wholeDisk(disk: VmDiskInfo): Range[] {
  return budget(chunks([{ offset: 0, length: disk.capacityBytes }], disk.sectorSizeBytes));
}

/** Offsets a read must work at: the first and last sector, sectors spread over the disk, 64 KiB regions. */
function probes(disk: VmDiskInfo): Range[] {
  const sector = disk.sectorSizeBytes;
  const cap = disk.capacityBytes;
  const region = Math.min(REGION_BYTES, alignDown(cap, sector));
  const out: Range[] = [{ offset: 0, length: sector }, { offset: cap - sector, length: sector }];
  for (let i = 1; i < 7; i++) out.push({ offset: alignDown((cap * i) / 7, sector), length: sector });
  out.push({ offset: 0, length: region }, { offset: alignDown((cap - region) / 2, sector), length: region }, { offset: cap - region, length: region });
  return out;
}

/** The region `write` is given: the last 64 KiB of the disk. */
function writeRange(disk: VmDiskInfo): Range {
  const length = Math.min(REGION_BYTES, alignDown(disk.capacityBytes, 4096));
  return { offset: alignDown(disk.capacityBytes - length, 4096), length };
}

/** Deterministic bytes, none of them zero. */
function pattern(length: number, salt: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = 1 + ((i * 131 + (i >>> 9) * 7 + salt * 29) % 255);
  return out;
}

/** Index of the first byte where a and b differ, or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length === b.length && Buffer.compare(a, b) === 0) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function gaps(areas: readonly ChangedArea[], capacity: number): Range[] {
  const out: Range[] = [];
  let at = 0;
  for (const a of areas) {
    if (a.startBytes > at) out.push({ offset: at, length: a.startBytes - at });
    at = Math.max(at, a.startBytes + a.lengthBytes);
  }
  if (at < capacity) out.push({ offset: at, length: capacity - at });
  return out;
}

/** The first byte of `r` no area covers, or null (areas sorted, as a walk returns them). */
function firstUncovered(areas: readonly ChangedArea[], r: Range): number | null {
  let at = r.offset;
  for (const a of areas) {
    if (a.startBytes > at) break;
    at = Math.max(at, a.startBytes + a.lengthBytes);
  }
  return at < r.offset + r.length ? at : null;
}

// ---- images and changed areas -----------------------------------------------------------

interface DiskImage {
  readonly disk: VmDiskInfo;
  readonly ranges: readonly Range[];
  readonly bytes: readonly Uint8Array[];
}

async function imageOf(c: Ctx, snapshotId: SnapshotId, disks: readonly VmDiskInfo[]): Promise<DiskImage[]> {
  const out: DiskImage[] = [];
  for (const disk of disks) {
    const ranges = wholeDisk(disk);
    const bytes: Uint8Array[] = [];
    for (const r of ranges) bytes.push(await read(c, c.vmId, snapshotId, disk, r));
    out.push({ disk, ranges, bytes });
  }
  return out;
}

function sameImage(c: Ctx, expected: string, a: readonly DiskImage[], b: readonly DiskImage[]): void {
  a.forEach((image, d) => {
    image.ranges.forEach((r, i) => {
      const at = firstDifference(image.bytes[i] ?? new Uint8Array(0), b[d]?.bytes[i] ?? new Uint8Array(0));
      if (at >= 0) fail(c, expected, `${image.disk.diskId} differs at byte ${r.offset + at}`);
    });
  });
}

function checkPage(c: Ctx, disk: VmDiskInfo, asked: number, page: ChangedAreasPage, previousEnd: number): number {
  const where = `the QueryChangedDiskAreas page asked at ${asked} of ${disk.diskId} (capacity ${disk.capacityBytes})`;
  expect(c, page.startOffsetBytes === asked, `${where} to start there`, () => `startOffsetBytes ${page.startOffsetBytes}`);
  const end = page.startOffsetBytes + page.lengthBytes;
  expect(c, page.lengthBytes > 0 && end <= disk.capacityBytes, `${where} to make progress and end inside the disk`, () => `lengthBytes ${page.lengthBytes}`);
  const sector = disk.sectorSizeBytes;
  let at = Math.max(previousEnd, page.startOffsetBytes);
  for (const a of page.changedAreas) {
    expect(c, a.lengthBytes > 0 && a.startBytes % sector === 0 && a.lengthBytes % sector === 0, `${where}: areas of whole ${sector}-byte sectors`, () => show(a));
    expect(c, a.startBytes >= at && a.startBytes + a.lengthBytes <= end, `${where}: areas sorted, not overlapping, inside [${page.startOffsetBytes}, ${end})`, () => `${show(a)} after ${at}`);
    at = a.startBytes + a.lengthBytes;
  }
  return at;
}

/** Walks QueryChangedDiskAreas from `start` to the disk's end, checking every page. */
async function changedAreas(c: Ctx, snapshotId: SnapshotId, disk: VmDiskInfo, changeId: ChangeId | '*', start = 0): Promise<ChangedArea[]> {
  const out: ChangedArea[] = [];
  let previousEnd = start;
  let offset = start;
  for (let pages = 0; offset < disk.capacityBytes; pages++) {
    expect(c, pages < MAX_PAGES, `the pages of ${disk.diskId} to reach its end within ${MAX_PAGES} pages`, () => `offset ${offset} after ${pages}`);
    const page = await ok(c, `queryChangedDiskAreas(${disk.diskId}, ${offset}, ${changeId})`, c.port.queryChangedDiskAreas(c.vmId, snapshotId, disk.diskId, offset, changeId));
    previousEnd = checkPage(c, disk, offset, page, previousEnd);
    out.push(...page.changedAreas);
    offset = page.startOffsetBytes + page.lengthBytes;
  }
  return out;
}

// ---- the checks -------------------------------------------------------------------------

const unknownVm = check('unknown-vm',
  'A VM id that never existed never succeeds ("a call that breaks the contract (a VM id that never existed) throws"; an unknown-vm error result naming the id is accepted too)',
  async (c) => {
    const ghost = VmId(`${c.vmId}-contract-never-existed`);
    const calls: readonly (readonly [string, () => PortResult<unknown>])[] = [
      ['getVm', () => c.port.getVm(ghost)],
      ['createSnapshot', () => c.port.createSnapshot(ghost, { name: 'contract', quiesce: false, memory: false })],
      ['enableChangeTracking', () => c.port.enableChangeTracking(ghost)],
      ['powerOff', () => c.port.powerOff(ghost)],
    ];
    for (const [what, call] of calls) {
      const s = await settle(call);
      if ('threw' in s) continue;
      const r = s.result;
      expect(c, !r.ok, `${what} of a VM id that never existed to be refused`, () => `a success: ${show(r)}`);
      expect(c, r.error.kind === 'unknown-vm' && r.error.vmId === ghost, `${what}: an unknown-vm error naming ${ghost}`, () => show(r.error));
    }
    const vms = await c.port.listVms();
    expect(c, !vms.some((v) => v.vmId === ghost), `listVms not to list ${ghost}`, () => 'it does');
  });

const inventory = check('inventory',
  'listVms and getVm describe the same VM (VmInfo): the setup VM, powered on, with disks of whole sectors under distinct ids and the applications its guest runs',
  async (c) => {
    const listed = (await c.port.listVms()).filter((v) => v.vmId === c.vmId);
    expect(c, listed.length === 1, `listVms to list ${c.vmId} once`, () => `${listed.length} times`);
    const vm = await vmInfo(c);
    expect(c, canonical(vm) === canonical(listed[0]), 'getVm to equal the listVms entry', () => `${show(vm)} vs ${show(listed[0])}`);
    expect(c, vm.powerState === 'poweredOn' && vm.disks.length > 0 && vm.apps.length > 0,
      'the setup VM powered on, with a disk and applications', () => show({ powerState: vm.powerState, disks: vm.disks.length, apps: vm.apps }));
    expect(c, new Set(vm.disks.map((d) => d.diskId)).size === vm.disks.length, 'distinct disk ids', () => show(vm.disks.map((d) => d.diskId)));
    for (const d of vm.disks) {
      expect(c, Number.isSafeInteger(d.capacityBytes) && d.capacityBytes >= 3 * REGION_BYTES && d.capacityBytes % d.sectorSizeBytes === 0,
        `${d.diskId}: a capacity of whole sectors, at least 192 KiB`, () => show(d));
    }
  });

const snapshotEveryDisk = check('snapshot-every-disk',
  'createSnapshot "takes a VmSnapshot of every disk at one instant": getVm lists it under its name, and every disk of it reads at sector-aligned offsets anywhere within its capacity',
  async (c) => {
    const vm = await vmInfo(c);
    const name = 'contract-every-disk';
    const snap = await snapshot(c, name);
    expect(c, snap.name === name && !snap.memory && !snap.quiesce.requested, 'the SnapshotInfo to echo the spec (name, memory, quiesce)', () => show(snap));
    expect(c, !vm.snapshots.some((s) => s.snapshotId === snap.snapshotId), 'a new snapshot id', () => snap.snapshotId);
    const listed = (await vmInfo(c)).snapshots.filter((s) => s.snapshotId === snap.snapshotId);
    expect(c, listed.length === 1 && listed[0]?.name === name, `getVm to list ${snap.snapshotId} once, named ${name}`, () => show(listed));
    for (const disk of vm.disks) for (const r of probes(disk)) await read(c, c.vmId, snap.snapshotId, disk, r);
  });

const snapshotReadsStable = check('snapshot-reads-stable',
  'A snapshot holds one instant ("the point in time the snapshot holds"): reading its disks twice gives the same bytes while the guest keeps writing',
  async (c) => {
    const vm = await vmInfo(c);
    const snap = await snapshot(c, 'contract-stable');
    const first = await imageOf(c, snap.snapshotId, vm.disks);
    await letGuestWrite(c);
    const second = await imageOf(c, snap.snapshotId, vm.disks);
    sameImage(c, `the second read of ${snap.snapshotId} to equal the first`, first, second);
  });

const snapshotImageFrozen = check('snapshot-image-frozen',
  'A snapshot\'s image does not change when the guest writes after it, and a snapshot taken after the write holds it (needs write)',
  async (c) => {
    const write = needWrite(c);
    const disk = lastDisk(c, await vmInfo(c));
    const w = writeRange(disk);
    const s1 = await snapshot(c, 'contract-before-write');
    const before = await read(c, c.vmId, s1.snapshotId, disk, w);
    const bytes = pattern(w.length, 5);
    await write(c.vmId, disk.diskId, w.offset, bytes);
    await letGuestWrite(c);
    const again = await read(c, c.vmId, s1.snapshotId, disk, w);
    const changed = firstDifference(before, again);
    expect(c, changed < 0, `${s1.snapshotId} to read as before the guest wrote [${w.offset}, +${w.length}) of ${disk.diskId}`, () => `it changed at byte ${w.offset + changed}`);
    const s2 = await snapshot(c, 'contract-after-write');
    const after = await read(c, c.vmId, s2.snapshotId, disk, w);
    const missing = firstDifference(bytes, after);
    expect(c, missing < 0, `${s2.snapshotId}, taken after the write, to hold the written bytes`, () => `it differs at byte ${w.offset + missing}`);
  });

const quiesceOutcome = check('quiesce-outcome',
  'createSnapshot with quiesce: "a shortfall below application is reported in quiesce.fault" (or limitedBy); "when the file systems could not be quiesced at all the call fails with a quiesce error and no snapshot exists"',
  async (c) => {
    const plain = await snapshot(c, 'contract-plain');
    expect(c, !plain.quiesce.requested && plain.quiesce.mode === 'none', 'a snapshot without quiesce: requested false, mode none', () => show(plain.quiesce));
    const before = (await vmInfo(c)).snapshots.map((s) => s.snapshotId);
    const r = await c.port.createSnapshot(c.vmId, { name: 'contract-quiesced', quiesce: true, memory: false });
    if (r.ok) {
      const q = r.value.quiesce;
      expect(c, q.requested && q.mode !== 'none', 'a quiesced snapshot that succeeded to be quiesced (application or filesystem)', () => show(q));
      expect(c, q.mode === 'application' || q.fault !== null || q.limitedBy !== null, 'a mode below application explained by quiesce.fault or limitedBy', () => show(q));
      const listed = (await vmInfo(c)).snapshots.some((s) => s.snapshotId === r.value.snapshotId);
      expect(c, listed, `getVm to list ${r.value.snapshotId}`, () => 'it does not');
      return;
    }
    const e = r.error;
    expect(c, e.kind === 'quiesce' && e.fault.kind !== 'ApplicationQuiesceFault', 'a failed quiesced snapshot to be a quiesce error for file systems not quiesced', () => show(e));
    const after = (await vmInfo(c)).snapshots.map((s) => s.snapshotId);
    expect(c, canonical(after) === canonical(before), 'no snapshot to exist after a failed quiesced snapshot', () => `${show(before)} became ${show(after)}`);
  });

const completeBackup = check('complete-backup',
  'completeBackup is "a no-op without VSS" (no writer reports for an unquiesced snapshot), reports only writers of a VSS snapshot, and an unknown snapshot is an unknown-snapshot error',
  async (c) => {
    const plain = await snapshot(c, 'contract-no-vss');
    const none = await ok(c, 'completeBackup of an unquiesced snapshot', c.port.completeBackup(c.vmId, plain.snapshotId, true));
    expect(c, none.length === 0, 'no writer reports from completeBackup of an unquiesced snapshot', () => show(none));
    const ghost = SnapshotId(`${c.vmId}-contract-never-taken`);
    await refusedUnknownSnapshot(c, 'completeBackup of an unknown snapshot', () => c.port.completeBackup(c.vmId, ghost, true), ghost);
    const q = await c.port.createSnapshot(c.vmId, { name: 'contract-complete', quiesce: true, memory: false });
    if (!q.ok) return;
    const reports = await ok(c, 'completeBackup of a quiesced snapshot', c.port.completeBackup(c.vmId, q.value.snapshotId, true));
    const writers = new Set(q.value.quiesce.writers.map((w) => w.writer));
    const vss = q.value.quiesce.quiescer === 'vss';
    expect(c, reports.every((w) => vss && writers.has(w.writer)), `writer reports only from the snapshot's VSS writers (${show([...writers])})`, () => show(reports));
  });

const unknownSnapshot = check('unknown-snapshot',
  'An unknown snapshot is an expected failure ("Expected failures (a quiesce fault, an unknown snapshot) are Result errors with identifying fields") for every call that takes one',
  async (c) => {
    await enableCbt(c);
    const disk = firstDisk(c, await vmInfo(c));
    const ghost = SnapshotId(`${c.vmId}-contract-never-taken`);
    const calls: readonly (readonly [string, () => PortResult<unknown>])[] = [
      ['completeBackup', () => c.port.completeBackup(c.vmId, ghost, true)],
      ['removeSnapshot', () => c.port.removeSnapshot(c.vmId, ghost)],
      ['revertToSnapshot', () => c.port.revertToSnapshot(c.vmId, ghost)],
      ['queryChangedDiskAreas', () => c.port.queryChangedDiskAreas(c.vmId, ghost, disk.diskId, 0, '*')],
      ['readSnapshotDisk', () => c.port.readSnapshotDisk(c.vmId, ghost, disk.diskId, 0, disk.sectorSizeBytes)],
    ];
    for (const [what, call] of calls) await refusedUnknownSnapshot(c, `${what} of an unknown snapshot`, call, ghost);
  });

const removeSnapshot = check('remove-snapshot',
  'removeSnapshot: the snapshot is gone (getVm leaves it out; reading it, querying it, completing it or removing it again is an unknown-snapshot error) and a later snapshot keeps its image',
  async (c) => {
    await enableCbt(c);
    const vm = await vmInfo(c);
    const gone = await snapshot(c, 'contract-removed');
    await letGuestWrite(c);
    const kept = await snapshot(c, 'contract-kept');
    const keptBefore = await imageOf(c, kept.snapshotId, vm.disks);
    await ok(c, 'removeSnapshot', c.port.removeSnapshot(c.vmId, gone.snapshotId));
    const listed = (await vmInfo(c)).snapshots.map((s) => s.snapshotId);
    expect(c, !listed.includes(gone.snapshotId) && listed.includes(kept.snapshotId), `getVm to list ${kept.snapshotId} and not ${gone.snapshotId}`, () => show(listed));
    const disk = firstDisk(c, vm);
    const id = gone.snapshotId;
    await refusedUnknownSnapshot(c, 'readSnapshotDisk of a removed snapshot', () => c.port.readSnapshotDisk(c.vmId, id, disk.diskId, 0, disk.sectorSizeBytes), id);
    await refusedUnknownSnapshot(c, 'queryChangedDiskAreas of a removed snapshot', () => c.port.queryChangedDiskAreas(c.vmId, id, disk.diskId, 0, '*'), id);
    await refusedUnknownSnapshot(c, 'completeBackup of a removed snapshot', () => c.port.completeBackup(c.vmId, id, true), id);
    await refusedUnknownSnapshot(c, 'removeSnapshot of a removed snapshot', () => c.port.removeSnapshot(c.vmId, id), id);
    const keptAfter = await imageOf(c, kept.snapshotId, vm.disks);
    sameImage(c, `${kept.snapshotId} to read the same after ${gone.snapshotId} was removed`, keptBefore, keptAfter);
  });

const revert = check('revert',
  'revertToSnapshot: the disks hold the snapshot\'s image again (written regions included), and the VM-GenerationID "changes on revert/restore" when the hypervisor exposes one',
  async (c) => {
    const vm = await vmInfo(c);
    const target = await snapshot(c, 'contract-revert-to');
    const before = await imageOf(c, target.snapshotId, vm.disks);
    await letGuestWrite(c);
    if (c.setup.write !== undefined) {
      const disk = lastDisk(c, vm);
      const w = writeRange(disk);
      await c.setup.write(c.vmId, disk.diskId, w.offset, pattern(w.length, 9));
    }
    await ok(c, 'revertToSnapshot', c.port.revertToSnapshot(c.vmId, target.snapshotId));
    const after = await vmInfo(c);
    expect(c, vm.generationId === null || after.generationId !== vm.generationId, 'a new VM-GenerationID after the revert', () => `${String(after.generationId)} again`);
    const fresh = await snapshot(c, 'contract-after-revert');
    const now = await imageOf(c, fresh.snapshotId, vm.disks);
    sameImage(c, `the disks after the revert to hold ${target.snapshotId}'s image`, before, now);
  });

const cbtEnable = check('cbt-enable',
  'enableChangeTracking "enables changed block tracking on every disk of the VM"; a snapshot\'s changeIds hold "each disk\'s CBT change id at this snapshot (absent when CBT was off)"',
  async (c) => {
    const before = await vmInfo(c);
    const s0 = await snapshot(c, 'contract-cbt-before');
    for (const d of before.disks) {
      if (d.changeTrackingEnabled) continue;
      expect(c, s0.changeIds[d.diskId] === undefined, `no change id for ${d.diskId}, whose CBT was off`, () => show(s0.changeIds));
    }
    await enableCbt(c);
    const after = await vmInfo(c);
    const off = after.disks.filter((d) => !d.changeTrackingEnabled).map((d) => d.diskId);
    expect(c, off.length === 0, 'changeTrackingEnabled on every disk after enableChangeTracking', () => `off on ${show(off)}`);
    const s1 = await snapshot(c, 'contract-cbt-after');
    for (const d of after.disks) changeIdOf(c, s1, d);
    const ids = new Set(after.disks.map((d) => d.diskId as string));
    const strays = Object.keys(s1.changeIds).filter((k) => !ids.has(k));
    expect(c, strays.length === 0, 'change ids only for the VM\'s disks', () => show(strays));
  });

const cbtPaging = check('cbt-paging',
  'QueryChangedDiskAreas pages ("continue from startOffsetBytes + lengthBytes") start where asked, make progress, hold sorted, non-overlapping areas of whole sectors inside the page and the disk, and reach the disk\'s end',
  async (c) => {
    await enableCbt(c);
    await letGuestWrite(c);
    const s1 = await snapshot(c, 'contract-paging-1');
    await letGuestWrite(c);
    const s2 = await snapshot(c, 'contract-paging-2');
    for (const disk of (await vmInfo(c)).disks) {
      await changedAreas(c, s2.snapshotId, disk, '*');
      await changedAreas(c, s2.snapshotId, disk, changeIdOf(c, s1, disk));
      await changedAreas(c, s2.snapshotId, disk, '*', alignDown(disk.capacityBytes / 2, disk.sectorSizeBytes));
    }
  });

const cbtAllCoversData = check('cbt-all-covers-data',
  'queryChangedDiskAreas with \'*\' covers every region of the snapshot that is not zero',
  async (c) => {
    await enableCbt(c);
    await letGuestWrite(c);
    const snap = await snapshot(c, 'contract-all');
    for (const disk of (await vmInfo(c)).disks) {
      const areas = await changedAreas(c, snap.snapshotId, disk, '*');
      for (const r of budget(chunks(gaps(areas, disk.capacityBytes), disk.sectorSizeBytes))) {
        const bytes = await read(c, c.vmId, snap.snapshotId, disk, r);
        if (isAllZero(bytes)) continue;
        const at = bytes.findIndex((b) => b !== 0);
        fail(c, `the '*' areas of ${disk.diskId} to cover every non-zero byte`, `non-zero bytes at ${r.offset + at}, outside every area (${areas.length} areas)`);
      }
    }
  });

const cbtSinceCoversDifferences = check('cbt-since-covers-differences',
  'Changed areas since a snapshot\'s change id cover every region where a later snapshot\'s image differs from it',
  async (c) => {
    await enableCbt(c);
    const s1 = await snapshot(c, 'contract-since-1');
    await letGuestWrite(c);
    const s2 = await snapshot(c, 'contract-since-2');
    for (const disk of (await vmInfo(c)).disks) {
      const since = changeIdOf(c, s1, disk);
      const areas = await changedAreas(c, s2.snapshotId, disk, since);
      for (const r of budget(chunks(gaps(areas, disk.capacityBytes), disk.sectorSizeBytes))) {
        const at = firstDifference(await read(c, c.vmId, s1.snapshotId, disk, r), await read(c, c.vmId, s2.snapshotId, disk, r));
        expect(c, at < 0, `the areas of ${disk.diskId} since ${since} to cover every byte where ${s2.snapshotId} differs from ${s1.snapshotId}`, () => `they differ at byte ${r.offset + at}, outside every area`);
      }
    }
  });

const cbtSinceCoversWrites = check('cbt-since-covers-writes',
  'Changed areas since a snapshot\'s change id cover every region the guest wrote after it (needs write)',
  async (c) => {
    const write = needWrite(c);
    await enableCbt(c);
    const disk = lastDisk(c, await vmInfo(c));
    const w = writeRange(disk);
    const s1 = await snapshot(c, 'contract-write-1');
    await write(c.vmId, disk.diskId, w.offset, pattern(w.length, 13));
    const s2 = await snapshot(c, 'contract-write-2');
    const since = changeIdOf(c, s1, disk);
    const areas = await changedAreas(c, s2.snapshotId, disk, since);
    const hole = firstUncovered(areas, w);
    expect(c, hole === null, `the areas of ${disk.diskId} since ${since} to cover the written [${w.offset}, +${w.length})`, () => `byte ${String(hole)} is in no area`);
  });

const readRange = check('read-range',
  'readSnapshotDisk of bytes outside the disk, of an offset that is not a whole sector, or of an unknown disk is an error result (invalid-argument, unknown-disk), not a throw',
  async (c) => {
    const vm = await vmInfo(c);
    const disk = firstDisk(c, vm);
    const snap = await snapshot(c, 'contract-range');
    const sector = disk.sectorSizeBytes;
    const cap = disk.capacityBytes;
    const bad: readonly (readonly [string, number, number])[] = [
      ['a read at the capacity', cap, sector],
      ['a read across the end', cap - sector, 2 * sector],
      ['a read at a negative offset', -sector, sector],
      ['a read at an offset inside a sector', 1, sector],
    ];
    for (const [what, offset, length] of bad) {
      await refused(c, `${what} (${offset}, ${length}) of ${disk.diskId}`, () => c.port.readSnapshotDisk(c.vmId, snap.snapshotId, disk.diskId, offset, length), ['invalid-argument']);
    }
    const ghost = DiskId(`${disk.diskId}-contract-never-existed`);
    const e = await refused(c, 'a read of an unknown disk', () => c.port.readSnapshotDisk(c.vmId, snap.snapshotId, ghost, 0, sector), ['unknown-disk']);
    expect(c, e.kind === 'unknown-disk' && e.diskId === ghost && e.vmId === c.vmId, `an unknown-disk error naming ${ghost}`, () => show(e));
  });

const PROBE_PROGRAM = 'quiescelab-contract-probe';

const guestNeedsTools = check('guest-needs-tools',
  'runInGuest "needs running Tools": on the running VM it resolves (a GuestProgramResult, or invalid-argument for a program that is not there), and once the VM is powered off it is a guest-unavailable error',
  async (c) => {
    const s = await settle(() => c.port.runInGuest(c.vmId, PROBE_PROGRAM, ['--contract'], new Uint8Array([1, 2, 3])));
    if ('threw' in s) fail(c, 'runInGuest on the running VM to resolve', `a throw: ${message(s.threw)}`);
    const r = s.result;
    if (r.ok) {
      const g = r.value;
      expect(c, Number.isInteger(g.exitCode) && g.stdout instanceof Uint8Array && typeof g.stderr === 'string' && Number.isInteger(g.durationUs) && g.durationUs >= 0,
        'a GuestProgramResult (integer exitCode, stdout bytes, stderr text, durationUs >= 0)', () => show(g));
    } else {
      expect(c, r.error.kind === 'invalid-argument', 'runInGuest on the running VM to run, or refuse the missing program (invalid-argument)', () => show(r.error));
    }
    await ok(c, 'powerOff', c.port.powerOff(c.vmId));
    await refused(c, 'runInGuest on a powered-off VM', () => c.port.runInGuest(c.vmId, PROBE_PROGRAM, []), ['guest-unavailable']);
  });

async function expectPower(c: Ctx, after: string, state: VmInfo['powerState']): Promise<void> {
  const vm = await vmInfo(c);
  expect(c, vm.powerState === state, `getVm to report ${state} after ${after}`, () => vm.powerState);
}

const powerState = check('power-state',
  'shutdownGuest ("clean guest shutdown through Tools, then power off"), powerOn and powerOff ("hard power off") change the power state getVm reports; repeating one is a no-op or invalid-state, not a throw',
  async (c) => {
    await ok(c, 'shutdownGuest', c.port.shutdownGuest(c.vmId));
    await expectPower(c, 'shutdownGuest', 'poweredOff');
    await okOrRefused(c, 'shutdownGuest of a powered-off VM', () => c.port.shutdownGuest(c.vmId), ['guest-unavailable', 'invalid-state']);
    await ok(c, 'powerOn', c.port.powerOn(c.vmId));
    await expectPower(c, 'powerOn', 'poweredOn');
    await okOrRefused(c, 'powerOn of a powered-on VM', () => c.port.powerOn(c.vmId), ['invalid-state']);
    await expectPower(c, 'a second powerOn', 'poweredOn');
    await ok(c, 'powerOff', c.port.powerOff(c.vmId));
    await expectPower(c, 'powerOff', 'poweredOff');
    await okOrRefused(c, 'powerOff of a powered-off VM', () => c.port.powerOff(c.vmId), ['invalid-state']);
    await expectPower(c, 'a second powerOff', 'poweredOff');
  });

function newVmSpec(source: VmInfo, name: string): NewVmSpec {
  return { name, guestOs: source.guestOs, tools: source.tools, apps: [], disks: [{ capacityBytes: 16 * MiB }, { capacityBytes: 32 * MiB }] };
}

async function createVm(c: Ctx, source: VmInfo, name: string): Promise<VmInfo> {
  const spec = newVmSpec(source, name);
  const vm = await ok(c, 'createVm', c.port.createVm(spec));
  expect(c, vm.vmId !== source.vmId && vm.name === name && vm.powerState === 'poweredOff' && vm.snapshots.length === 0,
    'a new, powered-off VM without snapshots, under the name asked', () => show(vm));
  expect(c, canonical(vm.disks.map((d) => d.capacityBytes)) === canonical(spec.disks.map((d) => d.capacityBytes)), 'the disks asked for', () => show(vm.disks));
  expect(c, source.generationId === null || vm.generationId !== source.generationId, 'a VM-GenerationID of its own', () => String(vm.generationId));
  const listed = (await c.port.listVms()).some((v) => v.vmId === vm.vmId);
  expect(c, listed, `listVms to list ${vm.vmId}`, () => 'it does not');
  return vm;
}

/** Writes `writes` to the VM's first disk, then reads every written region back through a snapshot. */
async function writeAndReadBack(c: Ctx, vm: VmInfo, writes: readonly { readonly offset: number; readonly bytes: Uint8Array }[]): Promise<void> {
  const disk = firstDisk(c, vm);
  for (const w of writes) await ok(c, `writeDisk(${disk.diskId}, ${w.offset}, ${w.bytes.length} bytes)`, c.port.writeDisk(vm.vmId, disk.diskId, w.offset, w.bytes));
  const snap = await snapshot(c, 'contract-written', vm.vmId);
  const blank = new Uint8Array(REGION_BYTES);
  for (const w of writes) {
    const r = { offset: Math.max(0, Math.min(disk.capacityBytes - REGION_BYTES, alignDown(w.offset - REGION_BYTES / 2, 4096))), length: REGION_BYTES };
    const want = blank.slice();
    for (const x of writes) {
      const from = Math.max(x.offset, r.offset);
      const to = Math.min(x.offset + x.bytes.length, r.offset + r.length);
      if (from < to) want.set(x.bytes.subarray(from - x.offset, to - x.offset), from - r.offset);
    }
    const at = firstDifference(want, await read(c, vm.vmId, snap.snapshotId, disk, r));
    expect(c, at < 0, `the bytes written (and zeros around them) read back from ${disk.diskId}`, () => `a difference at byte ${r.offset + at}`);
  }
}

const createVmWriteDisk = check('create-vm-write-disk',
  'createVm "creates a powered-off VM with blank disks"; writeDisk ("writes a powered-off VM\'s disk") lands exactly where asked, as a snapshot reads back, and is refused on a running VM or outside the disk',
  async (c) => {
    const source = await vmInfo(c);
    const vm = await createVm(c, source, 'contract-new-vm');
    const blank = await snapshot(c, 'contract-blank', vm.vmId);
    for (const disk of vm.disks) {
      for (const r of wholeDisk(disk)) {
        const bytes = await read(c, vm.vmId, blank.snapshotId, disk, r);
        expect(c, isAllZero(bytes), `${disk.diskId} of a new VM to be blank`, () => `non-zero bytes in [${r.offset}, +${r.length})`);
      }
    }
    const disk = firstDisk(c, vm);
    const sector = disk.sectorSizeBytes;
    await writeAndReadBack(c, vm, [
      { offset: 0, bytes: pattern(4096, 1) },
      { offset: MiB + sector, bytes: pattern(3 * sector, 2) },
      { offset: disk.capacityBytes - 8192, bytes: pattern(8192, 3) },
    ]);
    await refused(c, 'writeDisk beyond the end of the disk', () => c.port.writeDisk(vm.vmId, disk.diskId, disk.capacityBytes, pattern(sector, 4)), ['invalid-argument']);
    const running = firstDisk(c, source);
    await refused(c, 'writeDisk of a running VM\'s disk', () => c.port.writeDisk(c.vmId, running.diskId, 0, pattern(running.sectorSizeBytes, 5)), ['invalid-state']);
  });

const destroyVm = check('destroy-vm',
  'destroyVm: the VM is gone (getVm is an unknown-vm error result, listVms leaves it out, a second destroyVm is refused) and other VMs are untouched',
  async (c) => {
    const source = await vmInfo(c);
    const vm = await createVm(c, source, 'contract-doomed');
    await ok(c, 'destroyVm', c.port.destroyVm(vm.vmId));
    const e = await refused(c, 'getVm of a destroyed VM', () => c.port.getVm(vm.vmId), ['unknown-vm']);
    expect(c, e.kind === 'unknown-vm' && e.vmId === vm.vmId, `an unknown-vm error naming ${vm.vmId}`, () => show(e));
    const listed = (await c.port.listVms()).map((v) => v.vmId);
    expect(c, !listed.includes(vm.vmId) && listed.includes(c.vmId), `listVms to list ${c.vmId} and not ${vm.vmId}`, () => show(listed));
    await refused(c, 'destroyVm of a destroyed VM', () => c.port.destroyVm(vm.vmId), ['unknown-vm']);
    await vmInfo(c);
  });

/** Every check, in the order docs/hypervisor-port-contract.md lists them. */
export const HYPERVISOR_PORT_CONTRACT: readonly ContractCheck[] = [
  unknownVm, inventory, snapshotEveryDisk, snapshotReadsStable, snapshotImageFrozen, quiesceOutcome, completeBackup, unknownSnapshot,
  removeSnapshot, revert, cbtEnable, cbtPaging, cbtAllCoversData, cbtSinceCoversDifferences, cbtSinceCoversWrites, readRange,
  guestNeedsTools, powerState, createVmWriteDisk, destroyVm,
];
