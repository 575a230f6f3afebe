/**
 * An application spanning VMs (seed 004's "group of data sets"): an application server
 * takes orders; per transaction N it first writes and fsyncs the order's document
 * `/docs/doc-N` on the file server VM, and once that is durable (one RPC later) appends
 * the order record N, which references the document, to `/orders/orders.rec` on the
 * database VM and fsyncs it. With three VMs the application server keeps its own journal
 * (`/app/journal.rec`): after the order is durable it appends and fsyncs "done N", which
 * references order N. Only then is the transaction acknowledged.
 *
 * So a state that existed at one instant has: every journal entry's order present, every
 * order's document present, and at most the one transaction in flight half-present (its
 * document without its order, or its order without its journal entry). A set of VM images
 * captured at different instants while transactions ran can hold an order whose document
 * is absent (the file server was captured first): a broken reference.
 *
 * Quiescing the group together: the guest program `orders-freeze` on the application
 * server lets the transaction in flight finish, then issues no new one until
 * `orders-thaw` (the program's duration is the wait). The pause and the resume are
 * recorded in the history (`group.orders.pause` / `group.orders.resume`): the truth a
 * checker compares the VMs' snapshot instants with.
 *
 * Records use the files app's format (CRC'd, longest valid prefix wins). Each role writes
 * on its VM's last volume; a frozen volume blocks the write until it thaws (as a guest
 * write() does). Leaves out: RPC failures and retries, several transactions in flight,
 * deletes, a VM power loss while the workload runs (the harness never injects one here).
 */

import { assert } from '../../../core/assert.js';
import type { Clock, TimeUs } from '../../../core/clock.js';
import type { GuestProgramResult } from '../../../core/hypervisor-port.js';
import type { HistorySink } from '../../../core/history.js';
import type { Prng } from '../../../core/prng.js';
import type { FileSystem } from '../../guest/file-system.js';
import type { EventQueue } from '../../kernel/event-queue.js';
import { encodeRecord, parseRecords } from '../files/files-app.js';
import type { GuestProgram } from '../types.js';

export const DOCS_DIR = '/docs';
export const ORDERS_DIR = '/orders';
export const ORDERS_FILE = `${ORDERS_DIR}/orders.rec`;
export const JOURNAL_DIR = '/app';
export const JOURNAL_FILE = `${JOURNAL_DIR}/journal.rec`;
export const FREEZE_PROGRAM = 'orders-freeze';
export const THAW_PROGRAM = 'orders-thaw';
/** Most transactions one workload issues (a bound on the files and the run's CPU). */
export const MAX_ORDERS = 4_000;

export type OrdersRole = 'journal' | 'orders' | 'docs';

export interface OrdersHost {
  readonly clock: Clock;
  readonly queue: EventQueue;
  readonly history: HistorySink;
  readonly prng: Prng;
  /** Timer labels start with it (`<app server vmId>:group:orders`): the app server's power loss cancels them. */
  readonly timerPrefix: string;
  /** History subject of the workload's events. */
  readonly subject: string;
  /** The volume each role writes on (null: that VM's guest is down); `journal` only with three VMs. */
  volume(role: OrdersRole): FileSystem | null;
  readonly withJournal: boolean;
}

export interface OrdersWorkloadSpec {
  /** Mean gap between transactions (each drawn in [0, 2 x mean]). */
  readonly meanIntervalUs: TimeUs;
  /** From the document's fsync to the order's write (the RPC to the database). */
  readonly rpcLatencyUs: TimeUs;
  readonly docBytes: number;
  readonly maxOrders?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);
const DOC_RE = /^doc-(\d+)$/;

export function docPath(id: number): string {
  return `${DOCS_DIR}/doc-${id}`;
}

function docBody(id: number, bytes: number): Uint8Array {
  const payload = new Uint8Array(bytes);
  for (let i = 0; i < payload.length; i++) payload[i] = (id * 13 + i * 5) & 0xff;
  return encodeRecord(id, payload);
}

/** Appends `record` at the end of `path` (created with its folder when missing) and fsyncs it; an error's kind, or null. */
function appendDurable(fs: FileSystem, dir: string, path: string, record: Uint8Array): string | null {
  if (!fs.stat(dir).ok) {
    const made = fs.mkdir(dir);
    if (!made.ok) return `mkdir ${dir}: ${made.error.kind}`;
  }
  const handle = fs.open(path, { create: true });
  if (!handle.ok) return `open ${path}: ${handle.error.kind}`;
  try {
    const size = fs.size(handle.value);
    if (!size.ok) return `size ${path}: ${size.error.kind}`;
    const written = fs.write(handle.value, size.value, record);
    if (!written.ok) return `write ${path}: ${written.error.kind}`;
    const synced = fs.fsync(handle.value);
    return synced.ok ? null : `fsync ${path}: ${synced.error.kind}`;
  } finally {
    fs.close(handle.value);
  }
}

export class OrdersWorkload {
  private nextId = 1;
  private running = false;
  private spec: OrdersWorkloadSpec | null = null;
  /** The transaction between its document and its acknowledgement, with when its order is due. */
  private inFlight: { readonly id: number; readonly dueUs: TimeUs } | null = null;
  private pauseRequested = false;
  private paused = false;
  private waiting = false;
  /** A transaction's first step is scheduled (or waits for a volume to thaw): one chain of transactions, never two. */
  private pending = false;
  private readonly acks: { readonly id: number; readonly timeUs: TimeUs }[] = [];
  error: string | null = null;

  constructor(private readonly host: OrdersHost) {}

  /** The guest programs the application server offers (Tools run them as guest operations). */
  programs(): Readonly<Record<string, GuestProgram>> {
    return { [FREEZE_PROGRAM]: () => this.freeze(), [THAW_PROGRAM]: () => this.thaw() };
  }

  start(spec: OrdersWorkloadSpec): void {
    assert(spec.meanIntervalUs > 0 && spec.rpcLatencyUs >= 0 && spec.docBytes >= 0, 'orders workload spec');
    this.spec = spec;
    this.running = true;
    this.scheduleNext();
  }

  stop(): void {
    this.running = false;
  }

  /** Acknowledged transactions (every role durable), in order. */
  acknowledged(): readonly { readonly id: number; readonly timeUs: TimeUs }[] {
    return this.acks;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  private freeze(): GuestProgramResult {
    const nowUs = this.host.clock.nowUs();
    if (this.pauseRequested) return { exitCode: 1, stdout: EMPTY, stderr: `${FREEZE_PROGRAM}: already frozen`, durationUs: 0 };
    this.pauseRequested = true;
    if (this.inFlight === null) this.pauseNow();
    // The program returns once the transaction in flight is acknowledged (its order is due at dueUs).
    const waitUs = this.inFlight === null ? 0 : Math.max(0, this.inFlight.dueUs - nowUs) + 1;
    return { exitCode: 0, stdout: encoder.encode(`paused after order ${this.nextId - 1}\n`), stderr: '', durationUs: waitUs };
  }

  private thaw(): GuestProgramResult {
    if (!this.pauseRequested) return { exitCode: 1, stdout: EMPTY, stderr: `${THAW_PROGRAM}: not frozen`, durationUs: 0 };
    this.pauseRequested = false;
    const wasPaused = this.paused;
    this.paused = false;
    this.host.history.record({ kind: 'group.orders.resume', subject: this.host.subject, data: { wasPaused } });
    if (this.inFlight === null && !this.pending) this.scheduleNext();
    return { exitCode: 0, stdout: EMPTY, stderr: '', durationUs: 0 };
  }

  private pauseNow(): void {
    this.paused = true;
    this.host.history.record({ kind: 'group.orders.pause', subject: this.host.subject, data: { lastOrder: this.nextId - 1 } });
  }

  private scheduleNext(): void {
    const spec = this.spec;
    if (!this.running || spec === null || this.paused || this.error !== null) return;
    if (this.nextId > (spec.maxOrders ?? MAX_ORDERS) || this.pending) return;
    this.pending = true;
    this.host.queue.after(this.host.prng.int(0, 2 * spec.meanIntervalUs), `${this.host.timerPrefix}:txn`, () => { this.begin(); });
  }

  /** Waits for `fs` to thaw when it is frozen (true: the step must wait). */
  private blocked(fs: FileSystem, retry: () => void): boolean {
    if (!fs.isFrozen) return false;
    if (!this.waiting) {
      this.waiting = true;
      fs.onThaw(() => {
        this.waiting = false;
        retry();
      });
    }
    return true;
  }

  private fail(error: string): void {
    this.error = error;
    this.host.history.record({ kind: 'app.error', subject: this.host.subject, data: { error } });
  }

  /** Step 1: the document, written and fsync'ed on the file server. */
  private begin(): void {
    this.pending = false;
    const spec = this.spec;
    if (!this.running || spec === null || this.error !== null) return;
    if (this.pauseRequested) {
      if (!this.paused) this.pauseNow();
      return;
    }
    const docs = this.host.volume('docs');
    if (docs === null) {
      this.fail('the file server is down');
      return;
    }
    if (this.blocked(docs, () => { this.begin(); })) {
      this.pending = true;
      return;
    }
    const id = this.nextId++;
    const path = docPath(id);
    const err = appendDurable(docs, DOCS_DIR, path, docBody(id, spec.docBytes));
    if (err !== null) {
      this.fail(err);
      return;
    }
    this.inFlight = { id, dueUs: this.host.clock.nowUs() + spec.rpcLatencyUs };
    this.host.queue.after(spec.rpcLatencyUs, `${this.host.timerPrefix}:order`, () => { this.finish(id); });
  }

  /** Step 2: the order (and the journal's "done"), durable; then the acknowledgement. */
  private finish(id: number): void {
    if (!this.running || this.error !== null) return;
    const orders = this.host.volume('orders');
    const journal = this.host.withJournal ? this.host.volume('journal') : null;
    if (orders === null || (this.host.withJournal && journal === null)) {
      this.fail(orders === null ? 'the database server is down' : 'the application server is down');
      return;
    }
    if (this.blocked(orders, () => { this.finish(id); }) || (journal !== null && this.blocked(journal, () => { this.finish(id); }))) return;
    const order = encodeRecord(id, encoder.encode(`order ${id} doc ${docPath(id)}`));
    const err = appendDurable(orders, ORDERS_DIR, ORDERS_FILE, order)
      ?? (journal === null ? null : appendDurable(journal, JOURNAL_DIR, JOURNAL_FILE, encodeRecord(id, encoder.encode(`done ${id}`))));
    if (err !== null) {
      this.fail(err);
      return;
    }
    this.inFlight = null;
    this.acks.push({ id, timeUs: this.host.clock.nowUs() });
    this.host.history.record({ kind: 'app.commit', subject: this.host.subject, data: { id: `order-${id}`, durable: true } });
    if (this.pauseRequested) this.pauseNow();
    else this.scheduleNext();
  }
}

/** What one role's volume holds: the ids of the valid records (orders, journal) or documents. */
export interface OrdersData {
  readonly ids: readonly number[];
  /** Order records whose payload names another document than their own (corruption), by id. */
  readonly malformed: readonly number[];
}

function readWhole(fs: FileSystem, path: string): Uint8Array | null {
  const handle = fs.open(path);
  if (!handle.ok) return null;
  try {
    const size = fs.size(handle.value);
    const bytes = size.ok ? fs.read(handle.value, 0, size.value) : size;
    return bytes.ok ? bytes.value : null;
  } finally {
    fs.close(handle.value);
  }
}

/** Reads a role's data from a mounted volume (a restored VM's, or the lab's over a point's image). */
export function readOrdersData(fs: FileSystem, role: OrdersRole): OrdersData {
  if (role === 'docs') {
    const listed = fs.readdir(DOCS_DIR);
    if (!listed.ok) return { ids: [], malformed: [] };
    const ids: number[] = [];
    const malformed: number[] = [];
    for (const name of listed.value) {
      const m = DOC_RE.exec(name);
      if (m === null) continue;
      const id = Number(m[1]);
      const bytes = readWhole(fs, `${DOCS_DIR}/${name}`);
      const records = bytes === null ? [] : parseRecords(bytes);
      if (records.length === 1 && records[0]?.id === id) ids.push(id);
      else malformed.push(id);
    }
    return { ids: ids.sort((a, b) => a - b), malformed: malformed.sort((a, b) => a - b) };
  }
  const bytes = readWhole(fs, role === 'orders' ? ORDERS_FILE : JOURNAL_FILE);
  const records = bytes === null ? [] : parseRecords(bytes);
  const want = (id: number): string => (role === 'orders' ? `order ${id} doc ${docPath(id)}` : `done ${id}`);
  return {
    ids: records.map((r) => r.id),
    malformed: records.filter((r) => decoder.decode(r.payload) !== want(r.id)).map((r) => r.id),
  };
}
