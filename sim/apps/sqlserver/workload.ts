/**
 * The SQL Server workload: clients running short transactions. A client starts every
 * gap (uniform in [0, 2 x meanIntervalUs]); its transaction spans several events: BEGIN,
 * then `opsPerTxn` statements (each an insert-or-update of one row of table 'orders' or
 * 'stock', key `k<n>`, a `valueBytes` value), each `statementGapUs` apart, then COMMIT, or
 * ROLLBACK with `abortProbability`. Transactions overlap, so one client's COMMIT flushes
 * another's uncommitted records and checkpoints write uncommitted changes: crash recovery
 * has real undo work. A COMMIT is acknowledged (durable) once its log flush returned.
 *
 * Every step first checks the hold (a writer freeze or a frozen volume) and, if held,
 * waits for the release: nothing is begun, written, committed or acknowledged while held.
 *
 * Leaves out: lock waits and deadlocks (a statement picks a row no other open transaction
 * holds, trying a few keys), reads, client retries, sessions that outlive a restore.
 */

import { assert } from '../../../core/assert.js';
import type { AppHost, WorkloadSpec } from '../types.js';
import type { SqlDatabase } from './database.js';

export const TABLES = ['orders', 'stock'] as const;
/** Keys a statement tries before it gives up on finding an unlocked row. */
const MAX_KEY_TRIES = 8;
const MAX_OPS_PER_TXN = 64;
const MAX_VALUE_BYTES = 400;

export interface WorkloadOptions {
  readonly keysPerTable: number;
  readonly abortProbability: number;
  readonly maxActiveTxns: number;
  readonly statementGapUs: readonly [number, number];
}

export type RowWrite = readonly [table: string, key: string, value: string];

interface Client {
  readonly epoch: number;
  txn: number | undefined;
  step: number;
  readonly writes: RowWrite[];
}

export class Workload {
  private running = false;
  private spec: WorkloadSpec | undefined;
  private started = 0;
  private dead = false;

  constructor(
    private readonly host: AppHost,
    private readonly db: SqlDatabase,
    private readonly options: WorkloadOptions,
    private readonly onCommit: (txn: number, writes: readonly RowWrite[]) => void,
  ) {}

  start(spec: WorkloadSpec): void {
    assert(spec.meanIntervalUs > 0, 'meanIntervalUs must be positive');
    assert((spec.opsPerTxn ?? 4) >= 1 && (spec.opsPerTxn ?? 4) <= MAX_OPS_PER_TXN, `opsPerTxn must be in [1, ${MAX_OPS_PER_TXN}]`);
    assert((spec.valueBytes ?? 32) >= 1 && (spec.valueBytes ?? 32) <= MAX_VALUE_BYTES, `valueBytes must be in [1, ${MAX_VALUE_BYTES}]`);
    this.spec = spec;
    this.started = 0;
    if (this.running) return;
    this.running = true;
    this.scheduleStart();
  }

  stop(): void {
    this.running = false;
  }

  kill(): void {
    this.running = false;
    this.dead = true;
  }

  private scheduleStart(): void {
    const spec = this.spec;
    if (!this.running || this.dead || spec === undefined) return;
    if (spec.maxOps !== undefined && this.started >= spec.maxOps) {
      this.running = false;
      return;
    }
    this.host.queue.after(this.host.prng.int(0, 2 * spec.meanIntervalUs), `${this.host.timerPrefix}:txn-start`, () => { this.startClient(); });
  }

  private startClient(): void {
    if (!this.running || this.dead) return;
    if (this.db.isDead || this.db.mode !== 'online') {
      this.running = false;
      return;
    }
    // While held, arriving clients wait for the pool rather than pile up: a client that
    // would start now is skipped (bounded like maxActiveTxns bounds the running ones).
    if (!this.db.isHeld() && this.db.activeTxnCount() < this.options.maxActiveTxns) {
      this.started++;
      this.advance({ epoch: this.db.epoch, txn: undefined, step: 0, writes: [] });
    }
    this.scheduleStart();
  }

  private next(client: Client): void {
    const [lo, hi] = this.options.statementGapUs;
    this.host.queue.after(this.host.prng.int(lo, hi), `${this.host.timerPrefix}:txn`, () => { this.advance(client); });
  }

  private advance(client: Client): void {
    // The database went away (crash, shutdown, a restore replaced it): the client is gone too.
    if (this.dead || this.db.isDead || this.db.mode !== 'online' || this.db.epoch !== client.epoch) return;
    if (this.db.isHeld()) {
      this.db.whenReleased(() => { this.advance(client); });
      return;
    }
    const spec = this.spec;
    assert(spec !== undefined, 'a workload spec');
    if (client.txn === undefined) {
      client.txn = this.db.beginTxn();
      this.next(client);
      return;
    }
    const txn = client.txn;
    if (client.step < (spec.opsPerTxn ?? 4)) {
      client.step++;
      const row = this.pickRow(txn);
      if (row !== undefined) {
        const value = valueFor(txn, client.step, spec.valueBytes ?? 32);
        if (this.db.writeRow(txn, row[0], row[1], value) === 'full') {
          this.host.history.record({ kind: 'app.error', subject: `${this.host.vmId}/sqlserver`, data: { txn, error: 'data region full' } });
          this.db.rollbackTxn(txn);
          return;
        }
        client.writes.push([row[0], row[1], value]);
      }
      this.next(client);
      return;
    }
    if (this.host.prng.bool(this.options.abortProbability)) {
      this.db.rollbackTxn(txn);
      return;
    }
    this.db.commitTxn(txn);
    this.onCommit(txn, client.writes);
  }

  private pickRow(txn: number): readonly [string, string] | undefined {
    for (let i = 0; i < MAX_KEY_TRIES; i++) {
      const table = this.host.prng.pick(TABLES);
      const key = rowKey(this.host.prng.int(0, this.options.keysPerTable - 1));
      if (this.db.canLock(txn, table, key)) return [table, key];
    }
    return undefined;
  }
}

/** A value naming its writer (`t<txn>.<statement>.`), padded to `bytes`. */
export function valueFor(txn: number, statement: number, bytes: number): string {
  const head = `t${txn}.${statement}.`;
  return head.length >= bytes ? head : head + padding(bytes - head.length);
}

/** 'x' repeated `length` times, built once per length (values are at most MAX_VALUE_BYTES). */
const paddings: string[] = [];
function padding(length: number): string {
  let pad = paddings[length];
  if (pad === undefined) {
    pad = 'x'.repeat(length);
    if (length <= MAX_VALUE_BYTES) paddings[length] = pad;
  }
  return pad;
}

/** Row keys `k<n>`, built once per n. */
const rowKeys: string[] = [];
function rowKey(n: number): string {
  let key = rowKeys[n];
  if (key === undefined) {
    key = `k${n}`;
    if (n < 65_536) rowKeys[n] = key;
  }
  return key;
}
