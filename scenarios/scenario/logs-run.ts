/**
 * One log scenario, end to end (DESIGN.md roles). The client drives the engine under test
 * through the black-box `Engine` only (engine-api.ts, its `logs`: engine-api-logs.ts): an
 * application-aware full backup of the cell's VM under workload, then, from the instant it
 * completed (seed 003's T0), SQL Server log backups with the engine's scheduler, or SQLite
 * WAL shipping rounds on the engine's schedule rule, each round either the engine's
 * scheduled shipping job (it anchors the chain and checkpoints by WAL size) or the
 * shipper's entry points with every n-th round the engine's checkpoint (spec.shipping).
 * Log backups go to the harness's in-memory record stores or the engine's repository
 * (spec.logStore, a `LogDest`; the restore then reads them from the repository opened
 * again, as another process would). The logs nemesis (scenarios/nemesis/logs.ts) makes one
 * log backup slow (an overrun) and breaks the chain as drawn: someone else backs the log
 * up to NUL or without COPY_ONLY, or checkpoints the WAL, in a wait between log backups;
 * or a stored log backup disappears from the store before the restore. Then the full is
 * restored with roll-forward to a target drawn inside the chain, often at one of its
 * boundaries (log-boundaries.ts) — and, when the chain is broken, to one beyond the break
 * — and the restored database is read on a booted VM: SQL Server through the engine's
 * restore of the VM and RESTORE LOG in the guest; SQLite through the engine's byte-level
 * roll-forward, whose output file the harness writes into the powered-off restored VM's
 * file system before it boots (the engine leaves where to put it to its caller).
 *
 * Ground truth (log-truth.ts) comes from the taps and the apps, never from the engine:
 * acknowledgements with their virtual times, each log backup as the guest produced it
 * (LSN ranges and commit LSNs read with the simulator's format code), each WAL read's
 * instant, what the harness broke. The outcome is plain data for the checkers.
 *
 * Leaves out: faults of the full backup and engine crashes (other suites), more than one
 * chain per run (the next full is not taken: its instant only ends the window), corrupt log
 * backups, a failing log backup job.
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import type { AppId, HypervisorPort, QuiesceOutcome } from '../../core/hypervisor-port.js';
import type { VmId } from '../../core/ids.js';
import { unwrap } from '../../core/result.js';
import { describeLogStoreError } from '../../engine/logbackup/log-store.js';
import type { BackupError } from '../../engine/backup/job.js';
import type { RollForwardTarget } from '../../engine/logbackup/chain.js';
import type { LogSchedule } from '../../engine/logbackup/schedule.js';
import { MemoryLogStore, type LogBackupError, type StoredLogBackup } from '../../engine/logbackup/sql-job.js';
import type { SqliteTarget } from '../../engine/logbackup/sqlite-chain.js';
import { MemorySqliteWalStore, type ShipError, type SqliteWalRecord } from '../../engine/logbackup/sqlite-shipper.js';
import { decodeLogRecordObject, LOGS_PREFIX } from '../../engine/repository/log-record.js';
import type { RollForwardError } from '../../engine/restore/sql-rollforward.js';
import type { SqliteRollForwardError } from '../../engine/restore/sqlite-rollforward.js';
import type { RestoreError } from '../../engine/restore/vm.js';
import type { ByteStore } from '../../engine/store/byte-store.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { DB_PATH, JOURNAL_PATH, WAL_PATH } from '../../sim/apps/sqlite/sqlite-app.js';
import { decodeLogBackup } from '../../sim/apps/sqlserver/format.js';
import { FileSystem } from '../../sim/guest/file-system.js';
import type { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import type { SimVm } from '../../sim/hypervisor/sim-vm.js';
import { cellVm, findCell, SQLITE_SCRIPT_PATH, type Cell } from '../cells.js';
import { PROTOCOL_VERSION, type CallEnv, type Engine, type EngineFailure, type Timer } from '../engine-api.js';
import type { LogDest, SqliteShippingError } from '../engine-api-logs.js';
import { builtinEngine } from '../engine-builtin.js';
import { GuestTap, type GuestRun, type RunStart } from './guest-tap.js';
import { AckLedger } from './ledger.js';
import { chainReach, chooseTarget, describeTarget, type ConcreteTarget, type LogBackupTiming, type LogTruth, type SqlCapture } from './log-truth.js';
import { breaksChain, logAppOf, type ChainBreakPlan, type LogApp, type LogsSpec } from './logs-spec.js';
import { logsNemesisOf, MIN_BREAK_WAIT_US, OVERRUN, type LogsNemesisTarget } from '../nemesis/logs.js';
import { SnapshotTap } from './tap.js';
import { bootCellWorld, startCellWorkload } from './world.js';

export interface LogsTimelineEvent {
  readonly atUs: TimeUs;
  readonly kind: 'boot' | 'fault' | 'backup' | 'log-backup' | 'restore' | 'note';
  readonly detail: string;
}

export interface RestoreRefusal {
  readonly kind: string;
  readonly reason: string;
  /** SQL Server gap: the first LSN no log backup holds. */
  readonly missingFromLsn: number | null;
  /** SQLite: the record the refusal names. */
  readonly recordId: string | null;
}

export interface RestoreRun {
  /** `target`: inside the reachable chain (before the break, when there is one); `beyond-break`: past it. */
  readonly role: 'target' | 'beyond-break';
  readonly target: ConcreteTarget;
  /** The engine's roll-forward reported success. */
  readonly ok: boolean;
  /** Why not (a refusal with its kind and reason, or another error), null when ok. */
  readonly error: { readonly kind: string; readonly detail: string; readonly refusal: RestoreRefusal | null } | null;
  /** The transaction ids the restored database holds, read on the booted restored VM (null: no VM was restored or it did not come up). */
  readonly committed: readonly string[] | null;
  /** The restored VM's guest came up and the app opened its data (null: no VM was restored). */
  readonly opened: { readonly ok: boolean; readonly detail: string } | null;
  /** RESTORE LOG runs that succeeded in the restored VM's guest (SQL Server; 0 for SQLite). */
  readonly logsApplied: number;
}

export interface RealisedBreak {
  readonly plan: ChainBreakPlan;
  readonly atUs: TimeUs;
  readonly detail: string;
}

export interface LogsOutcome {
  readonly cellId: string;
  readonly app: LogApp;
  readonly full: { readonly ok: boolean; readonly appAware: boolean; readonly detail: string };
  readonly truth: LogTruth;
  /** The drawn break as it happened (null: none drawn, or no place was found for it). */
  readonly chainBreak: RealisedBreak | null;
  /** How far the nemesis's operation in a wait ran past the next log backup's start (0: it did not; else the schedule cannot be judged). */
  readonly nemesisLateUs: TimeUs;
  /** SQLite: the chain's records in the store at restore time (id and ship instant), to check what a refusal names. */
  readonly storeRecords: readonly { readonly id: string; readonly atUs: TimeUs }[];
  readonly restores: readonly RestoreRun[];
  readonly timeline: readonly LogsTimelineEvent[];
  readonly endUs: TimeUs;
}

const MAX_LOG_BACKUPS = 64;
const MAX_TIMELINE = 1_000;

function isSqlLogBackup(run: RunStart): boolean {
  return run.program === 'sqlcmd' && run.args[0] === 'backup-log';
}

/** A WAL read of the shipper: `wal-frames <from>` or `checkpoint <from>` (the read in the checkpoint's step). */
function isWalRead(run: RunStart): boolean {
  return run.program === 'sqlite3' && (run.args[1] === 'wal-frames' || (run.args[1] === 'checkpoint' && run.args[2] !== undefined));
}

function freezeScriptRan(q: QuiesceOutcome): boolean {
  return q.scripts.some((s) => s.path === SQLITE_SCRIPT_PATH && s.argument === 'freeze' && s.exitCode === 0);
}

/** An engine's error, in one line (an EngineFailure is one already). */
function describeError(e: BackupError | LogBackupError | ShipError | RestoreError | EngineFailure): string {
  if (typeof e === 'string') return e;
  if (e.kind === 'port') return `${'during' in e ? `${e.during}: ` : 'step' in e ? `${e.step}: ` : ''}${e.error.kind}`;
  if (e.kind === 'guest') return `${'step' in e ? `${e.step}: ` : ''}exit ${e.exitCode}: ${e.stderr}`;
  if (e.kind === 'log-store') return `log-store: ${describeLogStoreError(e.error)}`;
  return `${e.kind}: ${e.reason}`;
}

function shipFailure(e: ShipError | EngineFailure): string {
  if (typeof e === 'string') return e;
  return `${e.kind}${'step' in e ? ` during ${e.step}` : ''}${'reason' in e ? `: ${e.reason}` : ''}`;
}

/** Why the engine's shipping job did not start. */
function shippingFailure(e: SqliteShippingError | EngineFailure): string {
  if (typeof e === 'string') return e;
  return e.kind === 'refused' ? e.refusal.reason : describeError(e.error);
}

/** A roll-forward's error as the outcome keeps it (`engine`: the engine refused the call itself, e.g. the point did not open). */
function rollForwardError(e: RollForwardError | SqliteRollForwardError | EngineFailure): NonNullable<RestoreRun['error']> {
  if (typeof e === 'string') return { kind: 'engine', detail: e, refusal: null };
  if (e.kind === 'refused') {
    const r = e.refusal;
    return {
      kind: 'refused', detail: r.reason,
      refusal: { kind: r.kind, reason: r.reason, missingFromLsn: 'missingFromLsn' in r ? r.missingFromLsn : null, recordId: 'recordId' in r ? r.recordId : null },
    };
  }
  switch (e.kind) {
    case 'guest': return { kind: e.kind, detail: `${e.step}: exit ${e.exitCode}: ${e.stderr}`, refusal: null };
    case 'port': return { kind: e.kind, detail: `${e.step}: ${e.reason}`, refusal: null };
    case 'missing-blob': return { kind: e.kind, detail: `log backup ${e.logBackupId} has no blob`, refusal: null };
    case 'base': return { kind: e.kind, detail: e.reason, refusal: null };
    case 'log-store': return { kind: e.kind, detail: describeLogStoreError(e.error), refusal: null };
  }
}

/** Writes the rolled-forward database into the powered-off VM's file system, in place of the base's (and its WAL). */
function placeDatabase(hv: SimHypervisor, vm: SimVm, database: Uint8Array): string | null {
  assert(vm.powerState === 'poweredOff', 'place the database while the VM is off');
  const disk = vm.disks.at(-1);
  assert(disk !== undefined, 'a disk');
  const mounted = FileSystem.mount(disk.disk, { clock: hv.sim.clock, queue: hv.sim.queue, history: hv.sim.history, label: `${vm.vmId}:place`, commitIntervalUs: 0 });
  if (!mounted.ok) return `mount: ${mounted.error.kind}`;
  const fs = mounted.value;
  for (const path of [WAL_PATH, JOURNAL_PATH, DB_PATH]) {
    if (!fs.stat(path).ok) continue;
    const gone = fs.unlink(path);
    if (!gone.ok) return `unlink ${path}: ${gone.error.kind}`;
  }
  const file = fs.create(DB_PATH);
  if (!file.ok) return `create ${DB_PATH}: ${file.error.kind}`;
  const written = fs.write(file.value, 0, database);
  const synced = written.ok ? fs.fsync(file.value) : written;
  fs.close(file.value);
  if (!synced.ok) return `write ${DB_PATH}: ${synced.error.kind}`;
  const done = fs.unmount();
  return done.ok ? null : `unmount: ${done.error.kind}`;
}

/** The log destination of a run, with what the harness keeps to remove a record from it (the `missing` break). */
type ScenarioLogs =
  | { readonly kind: 'memory'; readonly dest: LogDest; readonly sql: MemoryLogStore; readonly wal: MemorySqliteWalStore }
  | { readonly kind: 'repository'; readonly dest: LogDest; readonly store: ByteStore };

function memoryLogs(): ScenarioLogs {
  const sql = new MemoryLogStore();
  const wal = new MemorySqliteWalStore();
  return { kind: 'memory', dest: { kind: 'host', sql, wal }, sql, wal };
}

class LogScenario {
  readonly timeline: LogsTimelineEvent[] = [];
  readonly ledger = new AckLedger();
  readonly hv: SimHypervisor;
  readonly vm: SimVm;
  readonly vmId: VmId;
  readonly app: LogApp;
  readonly snapshots: SnapshotTap;
  readonly guest: GuestTap;
  /** The world's port as lent to the engine (through the taps): the same object in every call, so the engine wraps it once. */
  readonly port: HypervisorPort;
  /** Where log backups go (spec.logStore): the harness's in-memory stores, or the engine's repository on `store` (useRepositoryLogs). */
  private logs: ScenarioLogs = memoryLogs();
  /** SQLite rounds: timing and the records each added to the store. */
  readonly rounds: { startUs: TimeUs; endUs: TimeUs; records: string[]; failed: string | null }[] = [];
  basePointId = '';
  chainBreak: RealisedBreak | null = null;
  /** How far the nemesis's own operation ran past the start of the next log backup (0: not at all). */
  nemesisLateUs: TimeUs = 0;
  /** The scheduled SQL log backup the harness removed from the store (its index among the scheduled ones). */
  removedSqlBackup: number | null = null;
  private currentRound = -1;
  private roundSlowed = false;

  constructor(readonly spec: LogsSpec, readonly cell: Cell, readonly engine: Engine) {
    const world = bootCellWorld(cell, { seed: spec.seed, disks: spec.disks });
    this.hv = world.hv;
    this.vm = world.vm;
    this.vmId = world.vm.vmId;
    this.app = logAppOf(cell);
    this.snapshots = new SnapshotTap(this.hv, this.vmId, false);
    this.guest = new GuestTap(this.hv, this.snapshots.port);
    this.guest.keep = (run) => run.vmId === this.vmId && isSqlLogBackup(run);
    this.guest.slowUs = (run) => this.slowness(run);
    this.port = this.guest.port;
    this.note('boot', `${cell.os} with Tools ${cell.tools}, ${this.vm.disks.length} disk(s), apps ${this.vm.apps.join(', ')}; log interval ${spec.intervalMs} ms for ${spec.windowTicks} ticks`);
  }

  /** Where the engine keeps the log backups of this run. */
  get logDest(): LogDest {
    return this.logs.dest;
  }

  /** The port and clock lent to each engine call. */
  get env(): CallEnv {
    return { port: this.port, clock: this.hv.sim.clock };
  }

  get nowUs(): TimeUs {
    return this.hv.sim.clock.nowUs();
  }

  /** The SQLite WAL records the engine keeps for the VM (what a restore would find). */
  async walRecords(): Promise<readonly SqliteWalRecord[]> {
    return unwrap(await this.engine.logs.listSqliteRecords(this.logs.dest, this.vmId));
  }

  /** The SQL Server log backups the engine keeps for the VM. */
  private async sqlBackups(): Promise<readonly StoredLogBackup[]> {
    return unwrap(await this.engine.logs.listSqlLogBackups(this.logs.dest, this.vmId));
  }

  note(kind: LogsTimelineEvent['kind'], detail: string, atUs: TimeUs = this.nowUs): void {
    if (this.timeline.length < MAX_TIMELINE) this.timeline.push({ atUs, kind, detail });
  }

  private scheduledSqlRuns(): GuestRun[] {
    return this.guest.runs.filter((r) => r.vmId === this.vmId && r.phase === 'logs' && isSqlLogBackup(r));
  }

  /** The overrun (the logs nemesis's OVERRUN entry): scheduled log backup `index` (SQLite: its round's first WAL read) takes longer. */
  private slowness(run: RunStart): TimeUs {
    if (run.vmId !== this.vmId || run.phase !== 'logs') return 0;
    const sql = this.app === 'sqlserver';
    const extraUs = OVERRUN.slowUs(this.spec, {
      sqlLogBackup: sql && isSqlLogBackup(run), walRead: !sql && isWalRead(run),
      logBackupsBefore: sql ? this.scheduledSqlRuns().length : this.currentRound, roundSlowed: this.roundSlowed,
    });
    if (extraUs > 0 && !sql) this.roundSlowed = true;
    return extraUs;
  }

  private logBackupsDone(): number {
    return this.app === 'sqlserver' ? this.scheduledSqlRuns().length : this.rounds.length;
  }

  /** The schedule's wait; an `in-wait` break strikes a quarter into the first long enough wait after log backup `after`. */
  private async waitUntil(untilUs: TimeUs): Promise<void> {
    const plan = this.spec.chainBreak;
    const strike = logsNemesisOf(plan).strikes(plan);
    if (this.chainBreak === null && strike.kind === 'in-wait' && this.logBackupsDone() > strike.after && untilUs - this.nowUs >= MIN_BREAK_WAIT_US) {
      this.hv.runFor(Math.floor((untilUs - this.nowUs) / 4));
      await this.breakNow();
      // The nemesis must not delay the engine's next log backup (the schedule would be judged on the harness's delay).
      if (this.nowUs > untilUs) this.nemesisLateUs = this.nowUs - untilUs;
    }
    if (untilUs > this.nowUs) this.hv.runFor(untilUs - this.nowUs);
  }

  /** The drawn break's nemesis entry strikes now. */
  async breakNow(): Promise<void> {
    const plan = this.spec.chainBreak;
    const atUs = this.nowUs;
    const done = await logsNemesisOf(plan).inject(this.nemesisTarget(), plan);
    if (done === null) return;
    this.chainBreak = { plan, atUs: done.atUs ?? atUs, detail: done.detail };
    this.note('fault', done.detail, this.chainBreak.atUs);
  }

  private nemesisTarget(): LogsNemesisTarget {
    return {
      outside: async (phase, program, args) => {
        this.guest.phase = phase;
        const r = await this.guest.port.runInGuest(this.vmId, program, args);
        this.guest.phase = 'logs';
        return r.ok ? `exit ${r.value.exitCode}${r.value.stderr === '' ? '' : `: ${r.value.stderr}`}` : r.error.kind;
      },
      engineCopyOnly: async () => {
        this.guest.phase = 'copy-only';
        const r = await this.engine.logs.sqlLogBackup(this.env, this.logs.dest, { vmId: this.vmId, basePointId: this.basePointId, copyOnly: true });
        this.guest.phase = 'logs';
        return r.ok ? `LSN ${r.value.firstLsn} to ${r.value.lastLsn}` : describeError(r.error);
      },
      removeLogBackup: (index) => (this.app === 'sqlserver' ? this.removeSqlBackup(index) : this.removeSegment(index)),
    };
  }

  async fullBackup(repo: string): Promise<{ ok: boolean; appAware: boolean; detail: string; quiesce: QuiesceOutcome | null }> {
    this.guest.phase = 'full';
    this.snapshots.backupIndex = 0;
    const r = await this.engine.backup(this.env, { repo, vmId: this.vmId, policy: 'try', parent: null, appScripts: cellVm(this.cell).appScripts });
    const q = this.snapshots.snapshotOf(0)?.info.quiesce ?? null;
    if (!r.ok) {
      this.note('backup', `the full backup fails: ${describeError(r.error)}`);
      return { ok: false, appAware: false, detail: describeError(r.error), quiesce: q };
    }
    this.basePointId = r.value.pointId;
    const appAware = q !== null && (this.app === 'sqlserver'
      ? q.mode === 'application' && q.writers.some((w) => w.app === 'sqlserver' && w.error === null)
      : q.mode !== 'none' && freezeScriptRan(q));
    const detail = `full RecoveryPoint ${r.value.pointId.slice(0, 12)}: quiesce ${q?.mode ?? 'unknown'}${appAware ? ', application-aware' : ', not application-aware'}`;
    this.note('backup', detail);
    return { ok: true, appAware, detail, quiesce: q };
  }

  async runSqlLogs(schedule: LogSchedule): Promise<void> {
    this.guest.phase = 'logs';
    const timer: Timer = { clock: this.hv.sim.clock, waitUntil: (t) => this.waitUntil(t) };
    const scheduled = await this.engine.logs.runSqlSchedule(this.env, timer, this.logs.dest, {
      vmId: this.vmId, basePointId: this.basePointId, schedule, untilUs: schedule.nextFullUs ?? schedule.fullDoneUs, maxBackups: MAX_LOG_BACKUPS,
    });
    if (!scheduled.ok) {
      this.note('log-backup', `the engine's log backup schedule fails: ${scheduled.error}`);
      return;
    }
    const runs = scheduled.value;
    const failed = runs.filter((r) => !r.result.ok).length;
    this.note('log-backup', `${runs.length} log backups on schedule${failed > 0 ? `, ${failed} failed` : ''}`);
  }

  /**
   * SQLite: shipping rounds on the seed 003 rule (the engine's `nextLogBackupStart`, as its
   * scheduler applies it), each run by `round` — the engine's job (sqlite-job.ts), or the
   * shipper's entry points with every n-th round the engine's checkpoint.
   */
  async sqliteRounds(schedule: LogSchedule, round: () => Promise<{ ok: boolean; why: string }>): Promise<void> {
    this.guest.phase = 'logs';
    const until = schedule.nextFullUs ?? schedule.fullDoneUs;
    let next: TimeUs | null = schedule.fullDoneUs;
    let errors = 0;
    // Bounded like the engine's scheduler: a rule that never moves on stops here, and property 13 judges it.
    while (next !== null && next <= until && this.rounds.length < MAX_LOG_BACKUPS) {
      if (this.nowUs < next) await this.waitUntil(next);
      const startUs = this.nowUs;
      const before = new Set((await this.walRecords()).map((r) => r.id));
      this.currentRound = this.rounds.length;
      this.roundSlowed = false;
      const r = await round();
      if (!r.ok) errors++;
      const records = (await this.walRecords()).filter((x) => !before.has(x.id)).map((x) => x.id);
      this.rounds.push({ startUs, endUs: this.nowUs, records, failed: r.ok ? null : `the engine's round failed: ${r.why}` });
      next = await this.engine.logs.nextLogBackupStart(schedule, startUs, this.nowUs);
    }
    this.currentRound = -1;
    this.note('log-backup', `${this.rounds.length} WAL shipping rounds on schedule (${this.spec.shipping === 'job' ? `the engine's job, checkpoint at ${this.spec.checkpointAtWalBytes} WAL bytes` : `checkpoint every ${this.spec.checkpointEvery} rounds`})${errors > 0 ? `, ${errors} failed` : ''}`);
  }

  /** SQLite, `rounds`: the chain anchored by the harness, then the shipper's rounds and checkpoints. */
  async sqliteByRounds(schedule: LogSchedule, q: QuiesceOutcome | null, fullDoneUs: TimeUs): Promise<void> {
    const request = { vmId: this.vmId, dbPath: DB_PATH, basePointId: this.basePointId };
    const logs = this.engine.logs;
    const anchored = await logs.startSqliteChain(this.env, this.logs.dest, {
      ...request, baseCheckpointed: q !== null && freezeScriptRan(q), baseAtUs: this.snapshots.snapshotOf(0)?.info.createdAtUs ?? fullDoneUs,
    });
    if (!anchored.ok) this.note('note', `starting the chain fails: ${describeError(anchored.error)}`);
    const every = this.spec.checkpointEvery;
    await this.sqliteRounds(schedule, async () => {
      const r = every > 0 && (this.rounds.length + 1) % every === 0 ? await logs.checkpointSqliteWal(this.env, this.logs.dest, request) : await logs.shipSqliteWal(this.env, this.logs.dest, request);
      return { ok: r.ok, why: r.ok ? '' : shipFailure(r.error) };
    });
  }

  /** SQLite, `job`: the engine's scheduled shipping job (sqlite-job.ts) anchors the chain and runs each round. */
  async sqliteByJob(schedule: LogSchedule, q: QuiesceOutcome, fullDoneUs: TimeUs): Promise<void> {
    const started = await this.engine.logs.startSqliteShipping(this.env, this.logs.dest, {
      vmId: this.vmId, dbPath: DB_PATH, basePointId: this.basePointId, scriptPath: SQLITE_SCRIPT_PATH,
      full: { doneUs: fullDoneUs, snapshotAtUs: this.snapshots.snapshotOf(0)?.info.createdAtUs ?? fullDoneUs, quiesce: q },
      intervalUs: schedule.intervalUs, ...schedule.nextFullUs === undefined ? {} : { nextFullUs: schedule.nextFullUs }, checkpointAtWalBytes: this.spec.checkpointAtWalBytes,
    });
    if (!started.ok) {
      this.note('note', `the engine's shipping job refuses to start: ${shippingFailure(started.error)}`);
      return;
    }
    const job = started.value;
    let checkpoints = 0;
    await this.sqliteRounds(job.schedule, async () => {
      const r = await this.engine.logs.runSqliteShipping(job.job);
      if (r.ok && r.value.checkpoint !== null) checkpoints++;
      return { ok: r.ok, why: r.ok ? '' : shipFailure(r.error) };
    });
    this.note('note', `the job checkpointed ${checkpoints} times`);
  }

  /** The `missing` break, SQL Server: scheduled log backup `index` (of those that succeeded) leaves the store. */
  private async removeSqlBackup(index: number): Promise<{ atUs: TimeUs; detail: string } | null> {
    const run = this.scheduledSqlRuns().filter((r) => r.exitCode === 0)[index];
    const decoded = run?.stdout == null ? null : decodeLogBackup(run.stdout);
    if (run === undefined || decoded === null || !decoded.ok) return null;
    const h = decoded.value.header;
    const stored = (await this.sqlBackups()).find((b) => b.firstLsn === h.firstLsn && b.lastLsn === h.lastLsn && !b.copyOnly);
    if (stored === undefined) return null;
    await this.removeRecord(stored.id);
    this.removedSqlBackup = this.scheduledSqlRuns().indexOf(run);
    return { atUs: run.atUs, detail: `log backup ${stored.id} (LSN ${h.firstLsn} to ${h.lastLsn}, taken at ${run.atUs} us) is removed from the ${this.spec.logStore} store` };
  }

  /** The `missing` break, SQLite: the first segment with commits of round `index` or later leaves the store. */
  private async removeSegment(index: number): Promise<{ atUs: TimeUs; detail: string } | null> {
    const records = await this.walRecords();
    const byId = new Map<string, SqliteWalRecord>(records.map((r) => [r.id, r]));
    const victim = this.rounds.slice(index).flatMap((round) => round.records).map((id) => byId.get(id)).find((r) => r?.kind === 'segment' && r.commits > 0);
    if (victim === undefined) return null;
    const reads = this.walReadRuns().map((r) => r.atUs);
    const round = this.rounds.find((x) => x.records.includes(victim.id));
    // The segment's frames came from the WAL read at its ship instant (cross-checked with the tap).
    const readUs = reads.includes(victim.atUs) ? victim.atUs : reads.find((t) => round !== undefined && t >= round.startUs && t <= round.endUs) ?? victim.atUs;
    await this.removeRecord(victim.id);
    return { atUs: readUs, detail: `segment ${victim.id} (${victim.kind === 'segment' ? victim.commits : 0} commits, WAL read at ${readUs} us) is removed from the ${this.spec.logStore} store` };
  }

  /** Drops a log record and its blob from the store the scenario uses (the repository's: its record object). */
  private async removeRecord(id: string): Promise<void> {
    if (this.logs.kind === 'memory') {
      this.logs.sql.remove(id);
      this.logs.wal.remove(id);
      return;
    }
    // Reads the harness's own MemoryStore, in quiescelab's repository format (an engine storing another format keeps its records elsewhere).
    const store = this.logs.store;
    for (const name of unwrap(await store.list(LOGS_PREFIX))) {
      const decoded = decodeLogRecordObject(name, unwrap(await store.get(name)));
      if (decoded.ok && decoded.value.file.record.id === id) unwrap(await store.delete(name));
    }
  }

  /** Log backups go to the engine's repository (spec.logStore): `repo`, the handle of the writer the harness opened on `store`. */
  useRepositoryLogs(store: ByteStore, repo: string): void {
    if (this.spec.logStore !== 'repository') return;
    this.logs = { kind: 'repository', dest: { kind: 'repository', repo }, store };
  }

  /** Where a restore reads the logs: the same in-memory stores, or the repository opened again (a restore is another process). */
  private async restoreLogs(): Promise<LogDest | { error: string }> {
    if (this.logs.kind === 'memory') return this.logs.dest;
    const reader = await this.engine.openRepository(this.logs.store, this.hv.sim.clock, {});
    return reader.ok ? { kind: 'repository', repo: reader.value } : { error: reader.error };
  }

  walReadRuns(): GuestRun[] {
    return this.guest.runs.filter((r) => r.vmId === this.vmId && r.phase === 'logs' && r.exitCode === 0 && isWalRead(r));
  }

  captures(): SqlCapture[] {
    const scheduled = this.scheduledSqlRuns();
    const who = (phase: string): SqlCapture['who'] => (phase === 'logs' ? 'scheduled' : phase === 'copy-only' ? 'copy-only' : phase === 'to-nul' ? 'to-nul' : 'outside');
    return this.guest.runs.filter((r) => r.vmId === this.vmId && isSqlLogBackup(r) && r.phase !== 'full').map((r): SqlCapture => {
      const decoded = r.exitCode === 0 && r.stdout !== null && r.stdout.length > 0 ? decodeLogBackup(r.stdout) : null;
      const d = decoded?.ok === true ? decoded.value : null;
      const w = who(r.phase);
      const removed = this.removedSqlBackup !== null && scheduled[this.removedSqlBackup] === r;
      return {
        who: w, atUs: r.atUs, endUs: r.endUs, ok: r.exitCode === 0, firstLsn: d?.header.firstLsn ?? null, lastLsn: d?.header.lastLsn ?? null,
        copyOnly: d?.header.copyOnly ?? w === 'copy-only', stored: (w === 'scheduled' || w === 'copy-only') && d !== null && !removed,
        commits: d === null ? [] : d.records.flatMap((x) => (x.type === 'commit' ? [[`t${x.txn}`, x.lsn] as const] : [])),
      };
    });
  }

  logBackupTimings(): LogBackupTiming[] {
    if (this.app === 'sqlserver') {
      return this.scheduledSqlRuns().map((r) => (r.exitCode === 0
        ? { startUs: r.atUs, endUs: r.endUs, readsUs: [r.atUs], failed: null }
        : { startUs: r.atUs, endUs: r.endUs, readsUs: [], failed: `BACKUP LOG exited ${r.exitCode ?? 'without a code'}` }));
    }
    const reads = this.walReadRuns();
    return this.rounds.map((round) => ({
      startUs: round.startUs, endUs: round.endUs, failed: round.failed,
      readsUs: round.failed === null ? reads.filter((r) => r.atUs >= round.startUs && r.atUs <= round.endUs).map((r) => r.atUs) : [],
    }));
  }

  stopWorkload(): void {
    if (this.vm.guest === null) return;
    for (const app of this.vm.apps) this.vm.app(app).stopWorkload();
  }

  /** Restores the full (point `basePointId` of `repo`, the writer's handle) rolled forward to `target`. */
  async restore(repo: string, role: RestoreRun['role'], target: ConcreteTarget): Promise<RestoreRun> {
    this.guest.phase = `restore:${role}`;
    const base: Omit<RestoreRun, 'ok' | 'error'> = { role, target, committed: null, opened: null, logsApplied: 0 };
    const logs = await this.restoreLogs();
    if ('error' in logs) return { ...base, ok: false, error: { kind: 'log-store', detail: `opening the repository again: ${logs.error}`, refusal: null } };
    const run = this.app === 'sqlserver' ? await this.restoreSql(repo, logs, target, base) : await this.restoreSqlite(repo, logs, target, base);
    this.note('restore', `restore to ${describeTarget(target)} (${role}): ${run.ok ? `${run.committed?.length ?? 0} transactions read on the restored VM` : `${run.error?.kind ?? 'error'}: ${run.error?.detail ?? ''}`}`);
    return run;
  }

  private async restoreVm(repo: string, role: string, powerOn: boolean): Promise<{ vmId: VmId } | { error: string }> {
    const r = await this.engine.restoreVm(this.env, {
      repo, pointId: this.basePointId,
      spec: { name: `restored-${role}`, guestOs: this.cell.os, tools: this.cell.tools, apps: this.vm.apps, flags: cellVm(this.cell).flags, powerOn },
    });
    return r.ok ? { vmId: r.value.vmId } : { error: describeError(r.error) };
  }

  /** What the restored VM's app holds once booted. */
  private readRestored(vmId: VmId): Pick<RestoreRun, 'committed' | 'opened'> {
    const vm = this.hv.vm(vmId);
    const appId: AppId = this.app;
    if (vm.guest === null) return { committed: null, opened: { ok: false, detail: vm.lastBoot?.ok === false ? vm.lastBoot.reason : 'the restored VM did not boot' } };
    const report = vm.guest.openReports.get(appId);
    return { committed: [...vm.app(appId).committed()], opened: { ok: report?.ok ?? false, detail: report?.detail ?? 'the app did not open' } };
  }

  private async restoreSql(repo: string, logs: LogDest, target: ConcreteTarget, base: Omit<RestoreRun, 'ok' | 'error'>): Promise<RestoreRun> {
    const restored = await this.restoreVm(repo, base.role, true);
    if ('error' in restored) return { ...base, ok: false, error: { kind: 'restore-vm', detail: restored.error, refusal: null } };
    assert(target.kind !== 'transaction', 'SQL Server targets are times or LSNs');
    const t: RollForwardTarget = target.kind === 'lsn' ? { kind: 'lsn', lsn: target.lsn } : { kind: 'time', timeUs: target.timeUs };
    const r = await this.engine.logs.rollForwardSql(this.env, logs, { vmId: restored.vmId, sourceVmId: this.vmId }, t);
    const logsApplied = this.guest.runs.filter((x) => x.vmId === restored.vmId && x.program === 'sqlcmd' && x.args[0] === 'restore-log' && x.exitCode === 0).length;
    const read = this.readRestored(restored.vmId);
    unwrap(await this.hv.destroyVm(restored.vmId));
    return { ...base, ...read, logsApplied, ok: r.ok, error: r.ok ? null : rollForwardError(r.error) };
  }

  private async restoreSqlite(repo: string, logs: LogDest, target: ConcreteTarget, base: Omit<RestoreRun, 'ok' | 'error'>): Promise<RestoreRun> {
    assert(target.kind !== 'lsn', 'SQLite targets are transactions or times');
    const t: SqliteTarget = target.kind === 'transaction' ? { kind: 'transaction', index: target.index } : { kind: 'time', timeUs: target.timeUs };
    const r = await this.engine.logs.rollForwardSqlite(logs, { repo, pointId: this.basePointId }, { vmId: this.vmId, dbPath: DB_PATH, target: t });
    if (!r.ok) return { ...base, ok: false, error: rollForwardError(r.error) };
    const restored = await this.restoreVm(repo, base.role, false);
    if ('error' in restored) return { ...base, ok: true, error: null, opened: { ok: false, detail: `restore of the VM: ${restored.error}` } };
    const placed = placeDatabase(this.hv, this.hv.vm(restored.vmId), r.value.database);
    if (placed !== null) return { ...base, ok: true, error: null, opened: { ok: false, detail: `placing the database: ${placed}` } };
    const on = await this.guest.port.powerOn(restored.vmId);
    const read = on.ok ? this.readRestored(restored.vmId) : { committed: null, opened: { ok: false, detail: `power on: ${on.error.kind}` } };
    unwrap(await this.hv.destroyVm(restored.vmId));
    return { ...base, ...read, ok: true, error: null };
  }
}

/** The full backup, then log backups or WAL shipping on the schedule (seed 003: only after an application-aware full). */
async function logWindow(s: LogScenario, repo: string): Promise<{ full: Awaited<ReturnType<LogScenario['fullBackup']>>; fullDoneUs: TimeUs; schedule: LogSchedule }> {
  const spec = s.spec;
  if (s.app === 'sqlite') {
    s.guest.phase = 'prepare';
    const observed = await s.engine.logs.observeSqliteWal(s.env, s.logDest, { vmId: s.vmId, dbPath: DB_PATH });
    if (!observed.ok) s.note('note', `observing the WAL fails: ${describeError(observed.error)}`);
  }
  const full = await s.fullBackup(repo);
  const fullDoneUs = s.nowUs;
  const intervalUs = spec.intervalMs * 1000;
  const schedule: LogSchedule = { fullDoneUs, intervalUs, nextFullUs: fullDoneUs + spec.windowTicks * intervalUs };
  const q = full.quiesce;
  if (!full.ok || !full.appAware) {
    s.note('note', 'no log backups: the full backup is not application-aware (seed 003)');
  } else if (s.app === 'sqlserver') {
    await s.runSqlLogs(schedule);
  } else if (spec.shipping === 'job' && q !== null) {
    await s.sqliteByJob(schedule, q, fullDoneUs);
  } else {
    await s.sqliteByRounds(schedule, q, fullDoneUs);
  }
  return { full, fullDoneUs, schedule };
}

/** The built-in engine in a session of its own (a caller's engine comes initialised, as the runner's does). */
async function defaultEngine(seed: number): Promise<Engine> {
  const engine = builtinEngine();
  await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed });
  return engine;
}

export async function runLogsScenario(spec: LogsSpec, options: { readonly engine?: Engine } = {}): Promise<LogsOutcome> {
  const cell = findCell(spec.cellId);
  assert(cell !== undefined, `unknown cell ${spec.cellId}`);
  const s = new LogScenario(spec, cell, options.engine ?? await defaultEngine(spec.seed));
  try {
    const store = new MemoryStore();
    unwrap(await s.engine.initRepository(store, s.hv.sim.clock, {}));
    const repo = unwrap(await s.engine.openRepository(store, s.hv.sim.clock, { writer: 'scenario' }));
    s.useRepositoryLogs(store, repo);
    startCellWorkload(s, spec.workload);
    s.hv.runFor(spec.warmupMs * 1000);
    const { full, fullDoneUs, schedule } = await logWindow(s, repo);
    const q = full.quiesce;
    s.stopWorkload();
    if (logsNemesisOf(spec.chainBreak).strikes(spec.chainBreak).kind === 'before-restore' && full.appAware) await s.breakNow();
    s.ledger.collect(s.vm);
    const snap = s.snapshots.snapshotOf(0)?.info;
    const truth: LogTruth = {
      app: s.app, cutUs: q?.freezeStartUs ?? snap?.createdAtUs ?? fullDoneUs, snapshotAtUs: snap?.createdAtUs ?? fullDoneUs, fullDoneUs, intervalUs: schedule.intervalUs,
      nextFullUs: schedule.nextFullUs ?? fullDoneUs,
      acks: (s.ledger.acks()[s.app] ?? []).map((a) => ({ id: a.id, timeUs: a.timeUs })),
      logBackups: s.logBackupTimings(),
      captures: s.app === 'sqlserver' ? s.captures() : [],
      walBreak: s.app !== 'sqlite' || s.chainBreak === null ? null
        : { kind: s.chainBreak.plan.kind === 'missing' ? 'missing' : 'outside-checkpoint', atUs: s.chainBreak.atUs },
    };
    const restores: RestoreRun[] = [];
    if (full.appAware) {
      const reach = chainReach(truth);
      const target = chooseTarget(truth, reach.reachable, spec.target);
      if (target !== null) restores.push(await s.restore(repo, 'target', target));
      const beyond = breaksChain(spec.chainBreak) && reach.beyond !== null ? chooseTarget(truth, reach.beyond, spec.target) : null;
      if (beyond !== null) restores.push(await s.restore(repo, 'beyond-break', beyond));
    }
    const storeRecords = (await s.walRecords()).filter((r) => r.basePointId === s.basePointId).map((r) => ({ id: r.id, atUs: r.atUs }));
    return {
      cellId: spec.cellId, app: s.app, full: { ok: full.ok, appAware: full.appAware, detail: full.detail }, truth, chainBreak: s.chainBreak, nemesisLateUs: s.nemesisLateUs,
      storeRecords, restores, timeline: [...s.timeline].sort((a, b) => a.atUs - b.atUs), endUs: s.nowUs,
    };
  } finally {
    s.hv.dispose();
  }
}
