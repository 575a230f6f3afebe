/**
 * Model-based tests of VirtualDisk (fast-check `commands` + `modelRun`) against a plain
 * sector-level reference: an acknowledged image, a durable image, a log of pending cached
 * writes (with FUA superseding older pending bytes and oldest-first destage when the
 * cache is full, charged per 4 KiB line as the disk documents) and snapshot images.
 * Every run ends with a power loss (no fault plan), after which the disk must hold
 * exactly the model's durable image. Runs in both cache modes, both sector sizes, on a
 * small disk (collisions) and on a sparse 2 TiB disk (offsets near its end).
 */

import fc from 'fast-check';
import { describe, it } from 'vitest';
import type { SnapshotId } from '../../../core/ids.js';
import { GRAIN_BYTES, type SectorSizeBytes } from '../../../sim/storage/types.js';
import type { VirtualDisk, WriteCacheMode } from '../../../sim/storage/virtual-disk.js';
import { expectSameBytes, KiB, makeDisk, MiB, payload, TiB } from './storage-helpers.js';

type Image = Map<number, Uint8Array>;

interface PendingWrite {
  readonly sectors: Map<number, Uint8Array>;
  readonly chargeBytes: number;
}

interface Region {
  readonly startSector: number;
  readonly sizeSectors: number;
}

interface Model {
  readonly sectorSizeBytes: number;
  readonly cached: boolean;
  readonly cacheCapacityBytes: number;
  readonly regions: readonly Region[];
  ack: Image;
  durable: Image;
  pending: PendingWrite[];
  usedBytes: number;
  snapshots: { id: SnapshotId; image: Image }[];
}

interface Real {
  readonly disk: VirtualDisk;
}

type Cmd = fc.Command<Model, Real>;

function imageBytes(image: Image, offsetBytes: number, lengthBytes: number, sectorSizeBytes: number): Uint8Array {
  const out = new Uint8Array(lengthBytes);
  for (let pos = 0; pos < lengthBytes; pos += sectorSizeBytes) {
    const sector = image.get((offsetBytes + pos) / sectorSizeBytes);
    if (sector !== undefined) out.set(sector, pos);
  }
  return out;
}

function applyPending(m: Model, write: PendingWrite): void {
  for (const [sector, bytes] of write.sectors) m.durable.set(sector, bytes);
}

function flushModel(m: Model): void {
  for (const write of m.pending) applyPending(m, write);
  m.pending = [];
  m.usedBytes = 0;
}

/** A position inside one of the model's regions, clamped so the access fits. */
function place(m: Model, regionPick: number, sectorPick: number, lengthSectors: number): { offsetBytes: number; lengthBytes: number } {
  const region = m.regions[regionPick % m.regions.length];
  if (region === undefined) throw new Error('no region');
  const length = Math.min(lengthSectors, region.sizeSectors);
  const sector = region.startSector + (sectorPick % (region.sizeSectors - length + 1));
  return { offsetBytes: sector * m.sectorSizeBytes, lengthBytes: length * m.sectorSizeBytes };
}

class WriteCommand implements Cmd {
  constructor(
    readonly regionPick: number,
    readonly sectorPick: number,
    readonly lengthSectors: number,
    readonly fua: boolean,
    readonly seed: number,
  ) {}

  check(): boolean {
    return true;
  }

  run(m: Model, r: Real): void {
    const { offsetBytes, lengthBytes } = place(m, this.regionPick, this.sectorPick, this.lengthSectors);
    const data = payload(this.seed, lengthBytes);
    r.disk.write(offsetBytes, data, { fua: this.fua });
    const sectors = new Map<number, Uint8Array>();
    for (let pos = 0; pos < lengthBytes; pos += m.sectorSizeBytes) {
      sectors.set((offsetBytes + pos) / m.sectorSizeBytes, data.slice(pos, pos + m.sectorSizeBytes));
    }
    for (const [sector, bytes] of sectors) m.ack.set(sector, bytes);
    if (!m.cached) {
      for (const [sector, bytes] of sectors) m.durable.set(sector, bytes);
    } else if (this.fua) {
      for (const [sector, bytes] of sectors) m.durable.set(sector, bytes);
      for (const write of m.pending) for (const sector of sectors.keys()) write.sectors.delete(sector);
      for (const write of m.pending.filter((w) => w.sectors.size === 0)) m.usedBytes -= write.chargeBytes;
      m.pending = m.pending.filter((w) => w.sectors.size > 0);
    } else {
      const firstGrain = Math.floor(offsetBytes / GRAIN_BYTES);
      const lastGrain = Math.floor((offsetBytes + lengthBytes - 1) / GRAIN_BYTES);
      const chargeBytes = (lastGrain - firstGrain + 1) * GRAIN_BYTES;
      m.pending.push({ sectors, chargeBytes });
      m.usedBytes += chargeBytes;
      while (m.usedBytes > m.cacheCapacityBytes) {
        const oldest = m.pending.shift();
        if (oldest === undefined) throw new Error('model cache over capacity and empty');
        applyPending(m, oldest);
        m.usedBytes -= oldest.chargeBytes;
      }
    }
  }

  toString(): string {
    return `write(r${this.regionPick}, s${this.sectorPick}, n${this.lengthSectors}, fua=${this.fua}, seed=${this.seed})`;
  }
}

class ReadCommand implements Cmd {
  constructor(readonly regionPick: number, readonly sectorPick: number, readonly lengthSectors: number, readonly durable: boolean) {}

  check(): boolean {
    return true;
  }

  run(m: Model, r: Real): void {
    const { offsetBytes, lengthBytes } = place(m, this.regionPick, this.sectorPick, this.lengthSectors);
    const actual = this.durable ? r.disk.durableReader().read(offsetBytes, lengthBytes) : r.disk.read(offsetBytes, lengthBytes);
    const expected = imageBytes(this.durable ? m.durable : m.ack, offsetBytes, lengthBytes, m.sectorSizeBytes);
    expectSameBytes(actual, expected, `${this.toString()} at ${offsetBytes}`);
  }

  toString(): string {
    return `${this.durable ? 'readDurable' : 'read'}(r${this.regionPick}, s${this.sectorPick}, n${this.lengthSectors})`;
  }
}

class FlushCommand implements Cmd {
  check(): boolean {
    return true;
  }

  run(m: Model, r: Real): void {
    r.disk.flush();
    flushModel(m);
  }

  toString(): string {
    return 'flush';
  }
}

class PowerLossCommand implements Cmd {
  check(): boolean {
    return true;
  }

  run(m: Model, r: Real): void {
    r.disk.powerLoss();
    m.pending = [];
    m.usedBytes = 0;
    m.ack = new Map(m.durable);
  }

  toString(): string {
    return 'powerLoss';
  }
}

class SnapshotCommand implements Cmd {
  check(m: Readonly<Model>): boolean {
    return m.snapshots.length < 8;
  }

  run(m: Model, r: Real): void {
    const id = r.disk.createSnapshot();
    flushModel(m);
    m.snapshots.push({ id, image: new Map(m.ack) });
  }

  toString(): string {
    return 'createSnapshot';
  }
}

class RemoveCommand implements Cmd {
  constructor(readonly pick: number) {}

  check(m: Readonly<Model>): boolean {
    return m.snapshots.length > 0;
  }

  run(m: Model, r: Real): void {
    const index = this.pick % m.snapshots.length;
    const [removed] = m.snapshots.splice(index, 1);
    if (removed === undefined) throw new Error('no snapshot');
    r.disk.removeSnapshot(removed.id);
  }

  toString(): string {
    return `removeSnapshot(#${this.pick})`;
  }
}

class RevertCommand implements Cmd {
  constructor(readonly pick: number) {}

  check(m: Readonly<Model>): boolean {
    return m.snapshots.length > 0;
  }

  run(m: Model, r: Real): void {
    const index = this.pick % m.snapshots.length;
    const target = m.snapshots[index];
    if (target === undefined) throw new Error('no snapshot');
    r.disk.revertToSnapshot(target.id);
    m.snapshots.length = index + 1;
    m.ack = new Map(target.image);
    m.durable = new Map(target.image);
    m.pending = [];
    m.usedBytes = 0;
  }

  toString(): string {
    return `revertToSnapshot(#${this.pick})`;
  }
}

class ReadSnapshotCommand implements Cmd {
  constructor(readonly pick: number, readonly regionPick: number, readonly sectorPick: number, readonly lengthSectors: number) {}

  check(m: Readonly<Model>): boolean {
    return m.snapshots.length > 0;
  }

  run(m: Model, r: Real): void {
    const snapshot = m.snapshots[this.pick % m.snapshots.length];
    if (snapshot === undefined) throw new Error('no snapshot');
    const { offsetBytes, lengthBytes } = place(m, this.regionPick, this.sectorPick, this.lengthSectors);
    const actual = r.disk.snapshotReader(snapshot.id).read(offsetBytes, lengthBytes);
    expectSameBytes(actual, imageBytes(snapshot.image, offsetBytes, lengthBytes, m.sectorSizeBytes), `${this.toString()} at ${offsetBytes}`);
  }

  toString(): string {
    return `readSnapshot(#${this.pick}, r${this.regionPick}, s${this.sectorPick}, n${this.lengthSectors})`;
  }
}

interface Config {
  readonly name: string;
  readonly capacityBytes: number;
  readonly sectorSizeBytes: SectorSizeBytes;
  readonly writeCache: WriteCacheMode;
  /** Byte ranges the commands aim at (the whole small disk, or windows of a sparse one). */
  readonly regionsBytes: readonly (readonly [number, number])[];
  readonly numRuns: number;
}

function commandArbs(sectorSizeBytes: number): fc.Arbitrary<Cmd>[] {
  // Up to three grains (and a sector more) so writes straddle grain boundaries.
  const maxSectors = (3 * GRAIN_BYTES) / sectorSizeBytes + 1;
  const region = fc.nat(11);
  const sector = fc.nat(1_000_000);
  const length = fc.integer({ min: 1, max: maxSectors });
  const pick = fc.nat(31);
  const write = fc.tuple(region, sector, length, fc.boolean(), fc.nat()).map(([r, s, n, fua, seed]) => new WriteCommand(r, s, n, fua, seed));
  const read = fc.tuple(region, sector, length, fc.boolean()).map(([r, s, n, durable]) => new ReadCommand(r, s, n, durable));
  // fc.commands picks among the arbitraries uniformly: repeat the common ones to weight them.
  return [
    write,
    write,
    write,
    write,
    read,
    read,
    fc.constant(new FlushCommand()),
    fc.constant(new PowerLossCommand()),
    fc.constant(new SnapshotCommand()),
    pick.map((p) => new RemoveCommand(p)),
    pick.map((p) => new RevertCommand(p)),
    fc.tuple(pick, region, sector, length).map(([p, r, s, n]) => new ReadSnapshotCommand(p, r, s, n)),
  ];
}

function runModel(config: Config): void {
  const ss = config.sectorSizeBytes;
  const regions: Region[] = config.regionsBytes.map(([start, size]) => ({ startSector: start / ss, sizeSectors: size / ss }));
  fc.assert(
    fc.property(
      fc.commands(commandArbs(ss), { maxCommands: 100 }),
      // A small cache makes destage happen; the default one never fills in these runs.
      fc.constantFrom(16 * KiB, 8 * MiB),
      (cmds, cacheCapacityBytes) => {
        const { disk } = makeDisk({ capacityBytes: config.capacityBytes, sectorSizeBytes: ss, writeCache: config.writeCache, cacheCapacityBytes });
        const model: Model = {
          sectorSizeBytes: ss,
          cached: config.writeCache === 'write-back',
          cacheCapacityBytes,
          regions,
          ack: new Map(),
          durable: new Map(),
          pending: [],
          usedBytes: 0,
          snapshots: [],
        };
        fc.modelRun(() => ({ model, real: { disk } }), cmds);
        // The final power loss leaves exactly the durable image, in every region.
        disk.powerLoss();
        for (const { startSector, sizeSectors } of regions) {
          const offsetBytes = startSector * ss;
          const lengthBytes = sizeSectors * ss;
          expectSameBytes(disk.read(offsetBytes, lengthBytes), imageBytes(model.durable, offsetBytes, lengthBytes, ss), `after power loss, region at ${offsetBytes}`);
        }
        if (disk.stats().pendingCacheWrites !== 0) throw new Error('cache not empty after power loss');
      },
    ),
    { numRuns: config.numRuns },
  );
}

const SMALL = 256 * KiB;
/** Most commands aim at a 24 KiB hot spot so writes, snapshots and the cache collide. */
const smallRegions: readonly (readonly [number, number])[] = [[0, SMALL], [8 * KiB, 24 * KiB], [8 * KiB, 24 * KiB], [8 * KiB, 24 * KiB]];
const SPARSE = 2 * TiB;
const sparseRegions: readonly (readonly [number, number])[] = [
  [0, 32 * KiB],
  [SPARSE / 2 - 16 * KiB, 32 * KiB],
  [SPARSE - 24 * KiB, 24 * KiB],
  [SPARSE - 24 * KiB, 24 * KiB],
];

const configs: Config[] = [];
for (const writeCache of ['none', 'write-back'] as const) {
  for (const sectorSizeBytes of [512, 4096] as const) {
    configs.push({ name: `${writeCache} cache, ${sectorSizeBytes}-byte sectors, 256 KiB`, capacityBytes: SMALL, sectorSizeBytes, writeCache, regionsBytes: smallRegions, numRuns: 200 });
  }
  configs.push({ name: `${writeCache} cache, 512-byte sectors, sparse 2 TiB`, capacityBytes: SPARSE, sectorSizeBytes: 512, writeCache, regionsBytes: sparseRegions, numRuns: 100 });
}

describe('VirtualDisk against a sector-level reference model', () => {
  for (const config of configs) {
    it(config.name, () => {
      runModel(config);
    });
  }
});
