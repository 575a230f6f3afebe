/**
 * The results of the storage crash matrix (what `quiescelab matrix` runs while the guest
 * and engine layers are being built): scenarios/ writes them, reports/ reads them. Plain
 * JSON; no wall-clock figures, so one seed gives one file, byte for byte.
 */

import type { ConsistencyLevel } from './levels.js';

/** How the image under test was captured. */
export type CaptureKind = 'snapshot' | 'snapshot-after-sync' | 'snapshot-frozen' | 'power-loss';

export interface StorageCellConfig {
  readonly capture: CaptureKind;
  readonly writeCache: 'none' | 'write-back';
  readonly flush: 'honest' | 'lying';
  readonly dataMode: 'ordered' | 'writeback';
}

export interface StorageRunEvidence {
  readonly seed: number;
  readonly level: ConsistencyLevel;
  /** Why the run got its level: what fsck said, which writes were lost and why. */
  readonly reasons: readonly string[];
}

export interface StorageCellResult {
  readonly id: string;
  readonly config: StorageCellConfig;
  /** The level every run must reach; for a lying disk, the loss the harness must find. */
  readonly expected: ConsistencyLevel;
  readonly expectation: string;
  readonly achieved: Partial<Record<ConsistencyLevel, number>>;
  readonly pass: boolean;
  readonly dataLoss: {
    /** Bytes the app wrote (write returned) before the capture that the image lacks. */
    readonly completedBytesLost: number;
    /** Bytes covered by an fsync that returned before the capture that the image lacks. */
    readonly syncedBytesLost: number;
    readonly runsNeedingReplay: number;
    readonly runsCorrupt: number;
  };
  /** The first run that shows the cell's point (a loss, a failure), for training. */
  readonly example: StorageRunEvidence | null;
}

export interface StorageMatrixResults {
  readonly tool: 'quiescelab';
  readonly version: string;
  readonly kind: 'storage-matrix';
  readonly seed: number;
  readonly runsPerCell: number;
  readonly cells: readonly StorageCellResult[];
  readonly summary: { readonly cells: number; readonly passed: number; readonly failed: number };
}
