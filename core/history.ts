/**
 * History events: the record of what happened in a run, in virtual-time order. Checkers
 * are pure functions of a history, so every fact a checker needs is an event here.
 * Events are plain JSON-safe data; the recorder (sim/kernel) hashes them for determinism
 * checks. Layers above add their own kinds; `kind` is `<subsystem>.<what>`.
 */

import type { TimeUs } from './clock.js';

export type HistoryValue = string | number | boolean | null | readonly HistoryValue[] | { readonly [key: string]: HistoryValue };

export interface HistoryEvent {
  /** Position in the history, from 0, without gaps. */
  readonly seq: number;
  readonly timeUs: TimeUs;
  /** `<subsystem>.<what>`, e.g. `disk.flush`, `fs.fsync`, `power.loss`. */
  readonly kind: string;
  /** What the event is about: a disk, a file, a VM, a host. */
  readonly subject: string;
  readonly data: { readonly [key: string]: HistoryValue };
}

export type HistoryEventInput = Omit<HistoryEvent, 'seq' | 'timeUs'>;

/** Where layers write events; sim/kernel's recorder implements it. */
export interface HistorySink {
  record(event: HistoryEventInput): void;
}

/** Event kinds the storage stack records (the layers above add theirs). */
export const STORAGE_EVENTS = {
  diskCreate: 'disk.create',
  diskFlush: 'disk.flush',
  diskPowerLoss: 'disk.power-loss',
  diskGrow: 'disk.grow',
  snapshotCreate: 'snapshot.create',
  snapshotRemove: 'snapshot.remove',
  snapshotRevert: 'snapshot.revert',
  cbtEnable: 'cbt.enable',
  fsMount: 'fs.mount',
  fsCommit: 'fs.commit',
  fsCheckpoint: 'fs.checkpoint',
  fsFsync: 'fs.fsync',
  fsSync: 'fs.sync',
  fsFreeze: 'fs.freeze',
  fsThaw: 'fs.thaw',
  fsWriteback: 'fs.writeback',
  powerLoss: 'power.loss',
} as const;
