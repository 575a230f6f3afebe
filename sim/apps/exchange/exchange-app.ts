/**
 * Exchange (ESE model): one mailbox database whose data really lives in ESE files on the
 * guest's data volume (the last one): `/Exchange/Mailbox/<db>/<db>.edb`, the checkpoint
 * file `E00.chk` and log generations `E00000001.log`, ... (formats in ese-format.ts).
 *
 * Models:
 * - Delivery: each workload operation delivers `opsPerTxn` items (default 1) to random
 *   mailboxes as one transaction, logged and flushed (ese-store.ts) before the items are
 *   acknowledged. A database record per item: key `item:<mailbox>:<itemId>`, value
 *   { mailbox, itemId, subject, body, deliveredUs }. Item ids `msg-<n>` continue after the
 *   highest found.
 * - The lazy writer (every 5 s) and checkpoints (every 30 s, and when the log runs four
 *   generations past the checkpoint); circular logging deletes checkpointed generations.
 * - Soft recovery on open (ese-store.ts); a failed recovery mounts nothing and says why.
 * - Holds: while the writer holds (freeze) or a volume is frozen, deliveries wait and are
 *   acknowledged after the release; the lazy writer and checkpoints skip a round.
 * - `eseutil`: `/mh` (header: state, checkpoint, generations present, last backups),
 *   `list-logs`, `read-log <gen>` (the raw generation file, for a log-backup engine),
 *   `get-item <mailbox> <itemId>` (item-level restore).
 *
 * Leaves out: several databases and storage groups, mailbox moves and deletes, the
 * transport queue (an item is delivered when its transaction commits), the Information
 * Store's cache sizing, DAG replication.
 */

import { assert } from '../../../core/assert.js';
import { msToUs, sToUs, type TimeUs } from '../../../core/clock.js';
import type { HistoryValue } from '../../../core/history.js';
import type { AppId, GuestProgramResult } from '../../../core/hypervisor-port.js';
import type { FileSystem } from '../../guest/file-system.js';
import { AppTimers, anyVolumeFrozen } from '../app-timers.js';
import type { AckRecord, AppHost, GuestApp, GuestProgram, OpenReport, WorkloadSpec } from '../types.js';
import { logFileName, parseDbHeader, DB_DATA_START_BYTES, type DbRecord, type JsonValue } from './ese-format.js';
import { EseStore, describeEseError, readWhole, type EseLayout } from './ese-store.js';
import { ExchangeWriter } from './exchange-writer.js';

export interface ExchangeOptions {
  /** Circular logging (off by default, as in Exchange). */
  readonly circularLogging: boolean;
  readonly databaseName?: string;
  /** Size of each log generation (Exchange: 1 MiB; smaller makes rolls frequent). */
  readonly logFileBytes?: number;
  readonly lazyWriteIntervalUs?: TimeUs;
  readonly checkpointIntervalUs?: TimeUs;
  readonly checkpointDepthGens?: number;
  readonly mailboxCount?: number;
}

export const DEFAULT_EXCHANGE_LOG_FILE_BYTES = 256 * 1024;
const DEFAULT_LAZY_WRITE_US = sToUs(5);
const DEFAULT_CHECKPOINT_US = sToUs(30);
const DEFAULT_DEPTH_GENS = 4;
const DEFAULT_MAILBOXES = 8;
const DEFAULT_BODY_BYTES = 256;
/** Items per transaction at most (a bound on one log record's size). */
const MAX_ITEMS_PER_TXN = 64;
const MAX_BODY_BYTES = 16 * 1024;
/** Deliveries waiting for a release at once (one workload chain waits at a time). */
const MAX_HELD_WAITERS = 16;
const PROGRAM_US = msToUs(20);

export const EXCHANGE_ROOT = '/Exchange/Mailbox';
export const EXCHANGE_LOG_BASE = 'E00';
export const EXCHANGE_GEN_DIGITS = 6;

export function exchangeLayout(databaseName: string): EseLayout {
  return {
    dir: `${EXCHANGE_ROOT}/${databaseName}`, databaseName: `${databaseName}.edb`, checkpointName: `${EXCHANGE_LOG_BASE}.chk`,
    base: EXCHANGE_LOG_BASE, genDigits: EXCHANGE_GEN_DIGITS,
  };
}

/** A mailbox item as stored. */
export interface MailItem {
  readonly mailbox: string;
  readonly itemId: string;
  readonly subject: string;
  readonly body: string;
  readonly deliveredUs: number;
}

export function itemKey(mailbox: string, itemId: string): string {
  return `item:${mailbox}:${itemId}`;
}

function asItem(v: JsonValue | undefined): MailItem | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as { readonly [key: string]: JsonValue };
  const { mailbox, itemId, subject, body, deliveredUs } = o;
  if (typeof mailbox !== 'string' || typeof itemId !== 'string' || typeof subject !== 'string' || typeof body !== 'string' || typeof deliveredUs !== 'number') return undefined;
  return { mailbox, itemId, subject, body, deliveredUs };
}

const encoder = new TextEncoder();

function output(exitCode: number, stdout: Uint8Array | string, stderr = ''): GuestProgramResult {
  return { exitCode, stdout: typeof stdout === 'string' ? encoder.encode(stdout) : stdout, stderr, durationUs: PROGRAM_US };
}

export class ExchangeApp implements GuestApp {
  readonly appId: AppId = 'exchange';
  readonly writer: ExchangeWriter | null;
  readonly scriptActions = {};
  readonly programs: Readonly<Record<string, GuestProgram>>;
  readonly databaseName: string;
  readonly circularLogging: boolean;
  private readonly fs: FileSystem;
  private readonly layout: EseLayout;
  private readonly mailboxes: readonly string[];
  private db: EseStore | null = null;
  private readonly acks: AckRecord[] = [];
  private nextItem = 1;
  private opCount = 0;
  private running = false;
  private workload: WorkloadSpec | undefined;
  private waiting = false;
  private held = false;
  private readonly releaseWaiters: (() => void)[] = [];
  private readonly timers: AppTimers;
  private dead = false;

  /** History subject of this app's events (built once, not per event). */
  private readonly subject: string;

  constructor(private readonly host: AppHost, private readonly options: ExchangeOptions) {
    this.timers = new AppTimers(host);
    this.subject = `${host.vmId}/exchange`;
    const fs = host.volumes[host.volumes.length - 1];
    assert(fs !== undefined, 'Exchange needs a volume');
    this.fs = fs;
    this.databaseName = options.databaseName ?? 'DB1';
    this.circularLogging = options.circularLogging;
    this.layout = exchangeLayout(this.databaseName);
    const count = options.mailboxCount ?? DEFAULT_MAILBOXES;
    assert(count >= 1 && count <= 10_000, `mailbox count ${count}`);
    this.mailboxes = Array.from({ length: count }, (_, i) => `mbx${String(i + 1).padStart(3, '0')}`);
    this.writer = host.os.vss ? new ExchangeWriter(this.writerTarget()) : null;
    this.programs = { eseutil: (args) => this.eseutil(args) };
  }

  // -------------------------------------------------------------------------------------
  // GuestApp

  open(): OpenReport {
    this.assertAlive();
    assert(this.db === null, 'Exchange opened twice');
    const opened = EseStore.open({
      fs: this.fs, clock: this.host.clock, layout: this.layout, circularLogging: this.circularLogging,
      logFileBytes: this.options.logFileBytes ?? DEFAULT_EXCHANGE_LOG_FILE_BYTES,
      checkpointDepthGens: this.options.checkpointDepthGens ?? DEFAULT_DEPTH_GENS,
    });
    this.record('exchange.mount', { ok: opened.ok, created: opened.created, recoveryNeeded: opened.recoveryNeeded, detail: opened.detail, replayedGens: [...opened.replayedGens] });
    if (opened.store === null) return { created: opened.created, recoveryNeeded: opened.recoveryNeeded, ok: false, detail: opened.detail };
    this.db = opened.store;
    let maxItem = 0;
    for (const value of opened.store.records.values()) {
      const item = asItem(value);
      const n = item === undefined ? NaN : Number(item.itemId.slice('msg-'.length));
      if (Number.isSafeInteger(n)) maxItem = Math.max(maxItem, n);
    }
    this.nextItem = maxItem + 1;
    this.every(this.options.lazyWriteIntervalUs ?? DEFAULT_LAZY_WRITE_US, 'lazy-writer', (db) => db.lazyWrite());
    this.every(this.options.checkpointIntervalUs ?? DEFAULT_CHECKPOINT_US, 'checkpoint', (db) => db.checkpoint({ clean: false }));
    return { created: opened.created, recoveryNeeded: opened.recoveryNeeded, ok: true, detail: opened.detail };
  }

  startWorkload(spec: WorkloadSpec): void {
    this.assertAlive();
    assert(spec.meanIntervalUs > 0, 'meanIntervalUs must be positive');
    assert((spec.opsPerTxn ?? 1) >= 1 && (spec.opsPerTxn ?? 1) <= MAX_ITEMS_PER_TXN, `opsPerTxn ${spec.opsPerTxn ?? 1}`);
    this.workload = spec;
    if (this.db === null) {
      this.record('exchange.workload-refused', { reason: 'the database is not mounted' });
      return;
    }
    const chainRunning = this.running;
    this.running = true;
    if (!chainRunning && !this.waiting) this.scheduleNext();
  }

  stopWorkload(): void {
    this.running = false;
  }

  committed(): ReadonlySet<string> {
    this.assertAlive();
    const ids = new Set<string>();
    if (this.db === null) return ids;
    for (const value of this.db.records.values()) {
      const item = asItem(value);
      if (item !== undefined) ids.add(item.itemId);
    }
    return ids;
  }

  acknowledged(): readonly AckRecord[] {
    return this.acks;
  }

  shutdown(): void {
    this.assertAlive();
    this.running = false;
    this.cancelTimers();
    if (this.db !== null) {
      const closed = this.db.close();
      this.record('exchange.dismount', { clean: closed.ok, detail: closed.ok ? 'clean shutdown' : describeEseError(closed.error) });
      if (!closed.ok) this.db.abandon();
    }
    this.dead = true;
  }

  crash(): void {
    this.running = false;
    this.cancelTimers();
    this.db?.abandon();
    this.releaseWaiters.length = 0;
    this.dead = true;
  }

  // -------------------------------------------------------------------------------------
  // Inspection (tests, checkers)

  get store(): EseStore | null {
    return this.db;
  }

  get isHeld(): boolean {
    return this.held;
  }

  item(mailbox: string, itemId: string): MailItem | undefined {
    return asItem(this.db?.get(itemKey(mailbox, itemId)));
  }

  // -------------------------------------------------------------------------------------
  // Workload

  private scheduleNext(): void {
    const spec = this.workload;
    if (!this.running || spec === undefined || this.dead) return;
    if (spec.maxOps !== undefined && this.opCount >= spec.maxOps) {
      this.running = false;
      return;
    }
    const gapUs = this.host.prng.int(0, 2 * spec.meanIntervalUs);
    this.host.queue.after(gapUs, `${this.host.timerPrefix}:deliver`, () => { this.step(); });
  }

  private step(): void {
    if (this.dead) return;
    if (!this.running) return;
    if (this.held) {
      // The writer holds commits: this delivery waits for thaw (or abort).
      this.waiting = true;
      assert(this.releaseWaiters.length < MAX_HELD_WAITERS, 'too many deliveries waiting for a release');
      this.releaseWaiters.push(() => {
        this.waiting = false;
        this.step();
      });
      return;
    }
    const frozen = this.host.volumes.find((v) => v.isFrozen);
    if (frozen !== undefined) {
      this.waiting = true;
      frozen.onThaw(() => {
        this.waiting = false;
        this.step();
      });
      return;
    }
    this.deliver();
    this.opCount++;
    this.scheduleNext();
  }

  private deliver(): void {
    const db = this.db;
    assert(db !== null, 'delivery without a database');
    const count = this.workload?.opsPerTxn ?? 1;
    const bodyBytes = Math.min(MAX_BODY_BYTES, this.workload?.valueBytes ?? DEFAULT_BODY_BYTES);
    const ids: string[] = [];
    const ops: DbRecord[] = [];
    for (let i = 0; i < count; i++) {
      const itemId = `msg-${this.nextItem++}`;
      const mailbox = this.host.prng.pick(this.mailboxes);
      const stem = `${itemId} for ${mailbox}. `;
      const item: MailItem = {
        mailbox, itemId, subject: `Message ${itemId}`, body: stem.repeat(Math.ceil(bodyBytes / stem.length)).slice(0, bodyBytes),
        deliveredUs: this.host.clock.nowUs(),
      };
      ops.push({ key: itemKey(mailbox, itemId), value: { ...item } });
      ids.push(itemId);
    }
    const committed = db.commit(ops);
    if (!committed.ok) {
      this.record('exchange.commit-failed', { items: ids, reason: describeEseError(committed.error) });
      return;
    }
    const timeUs = this.host.clock.nowUs();
    for (const id of ids) {
      this.acks.push({ app: this.appId, id, timeUs, durable: true });
      this.host.history.record({ kind: 'app.commit', subject: this.subject, data: { id, durable: true } });
    }
  }

  // -------------------------------------------------------------------------------------
  // Background work

  private every(intervalUs: TimeUs, what: string, work: (db: EseStore) => { readonly ok: boolean }): void {
    this.timers.repeat(what, intervalUs, intervalUs, () => {
      if (this.dead) return false;
      const db = this.db;
      // Skipped while held or frozen: the writer made the data consistent and it must stay so.
      if (db !== null && !this.held && !this.volumesFrozen()) {
        const r = work(db);
        if (!r.ok) this.record('exchange.background-failed', { what });
      }
      return true;
    });
  }

  private cancelTimers(): void {
    this.timers.cancelAll();
  }

  private volumesFrozen(): boolean {
    return anyVolumeFrozen(this.host.volumes);
  }

  // -------------------------------------------------------------------------------------
  // Writer hooks

  private writerTarget(): ConstructorParameters<typeof ExchangeWriter>[0] {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the target reads live state
    const app = this;
    return {
      get alive() { return !app.dead; },
      circularLogging: this.circularLogging,
      componentName: `Microsoft Exchange Server/Microsoft Information Store/${this.databaseName}`,
      store: () => this.db,
      volumesFrozen: () => this.volumesFrozen(),
      nowUs: () => this.host.clock.nowUs(),
      hold: () => { this.held = true; },
      release: () => { this.release(); },
      record: (kind, data) => { this.record(kind, data); },
    };
  }

  private release(): void {
    this.held = false;
    const waiters = this.releaseWaiters.splice(0);
    for (const w of waiters) this.host.queue.after(0, `${this.host.timerPrefix}:release`, w);
  }

  // -------------------------------------------------------------------------------------
  // eseutil

  private eseutil(args: readonly string[]): GuestProgramResult {
    const db = this.dead ? null : this.db;
    if (db === null) return output(1, '', 'eseutil: the database is not mounted');
    const [cmd, ...rest] = args;
    if (cmd === '/mh') {
      const bytes = readWhole(this.fs, db.databasePath);
      const header = bytes.ok ? parseDbHeader(bytes.value.subarray(0, DB_DATA_START_BYTES)) : undefined;
      if (header === undefined) return output(1, '', 'eseutil: cannot read the database header');
      const gens = db.generations();
      return output(0, JSON.stringify({
        database: db.databasePath,
        state: header.state === 'clean' ? 'Clean Shutdown' : 'Dirty Shutdown',
        checkpointGen: header.checkpointGen, lastGen: header.lastGen, currentGen: db.currentGen,
        logRequired: header.state === 'dirty' ? { min: header.checkpointGen, max: db.currentGen } : null,
        generations: gens.ok ? gens.value : [], circularLogging: this.circularLogging, backups: header.backups,
      }));
    }
    if (cmd === 'list-logs') {
      const gens = db.generations();
      if (!gens.ok) return output(1, '', `eseutil: ${describeEseError(gens.error)}`);
      const logs = gens.value.map((gen) => {
        const st = this.fs.stat(db.logPath(gen));
        return { gen, name: logFileName(this.layout, gen), path: db.logPath(gen), sizeBytes: st.ok ? st.value.sizeBytes : 0 };
      });
      return output(0, JSON.stringify(logs));
    }
    if (cmd === 'read-log' && rest.length === 1) {
      const gen = Number(rest[0]);
      if (!Number.isSafeInteger(gen) || gen < 1) return output(2, '', `eseutil: bad generation '${rest[0] ?? ''}'`);
      const bytes = readWhole(this.fs, db.logPath(gen));
      return bytes.ok ? output(0, bytes.value) : output(1, '', `eseutil: ${describeEseError(bytes.error)}`);
    }
    if (cmd === 'get-item' && rest.length === 2) {
      const item = asItem(db.get(itemKey(rest[0] ?? '', rest[1] ?? '')));
      return item === undefined ? output(1, '', `eseutil: no item ${rest[1] ?? ''} in ${rest[0] ?? ''}`) : output(0, JSON.stringify(item));
    }
    return output(2, '', 'usage: eseutil /mh | list-logs | read-log <gen> | get-item <mailbox> <itemId>');
  }

  private record(kind: string, data: { readonly [key: string]: HistoryValue }): void {
    this.host.history.record({ kind, subject: this.subject, data });
  }

  private assertAlive(): void {
    assert(!this.dead, 'Exchange used after shutdown or crash');
  }
}
