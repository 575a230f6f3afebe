/**
 * A test-only application with a VSS writer that logs every phase it is called for and
 * holds its commits while frozen (released by thaw or abort). Each commit appends a
 * record (the files app's format) to /probe/log and fsyncs it. Used to test the VSS
 * requestor and the quiescers without depending on a real application model.
 */

import { assert } from '../../core/assert.js';
import type { AppId } from '../../core/hypervisor-port.js';
import { encodeRecord, parseRecords } from '../../sim/apps/files/files-app.js';
import type { AckRecord, AppFactory, AppHost, GuestApp, OpenReport, ScriptArgument, WorkloadSpec } from '../../sim/apps/types.js';
import type { FileHandle } from '../../sim/guest/file-system.js';
import type { BackupContext, PhaseResult, VssWriter, WriterComponent } from '../../sim/vss/types.js';

export interface ProbeLog {
  readonly calls: string[];
}

const OK: PhaseResult = { durationUs: 1_000, error: null };

class ProbeApp implements GuestApp, VssWriter {
  readonly appId: AppId;
  readonly name: string;
  readonly writer: VssWriter | null;
  readonly programs = {};
  readonly scriptActions: GuestApp['scriptActions'];
  private handle: FileHandle | undefined;
  private size = 0;
  private readonly acks: AckRecord[] = [];
  private nextId = 1;
  private held = false;
  private running = false;
  private spec: WorkloadSpec | undefined;
  private dead = false;
  /** The commit loop stopped at a hold and waits for thaw or abort. */
  private parked = false;

  constructor(private readonly host: AppHost, private readonly log: ProbeLog, appId: AppId) {
    this.appId = appId;
    this.name = `Probe Writer (${appId})`;
    this.writer = host.os.vss ? this : null;
    this.scriptActions = {
      'lock': (arg: ScriptArgument) => {
        this.log.calls.push(`script:${arg}`);
        this.held = arg === 'freeze';
        if (!this.held) this.resume();
        return { exitCode: 0, durationUs: 500 };
      },
    };
  }

  open(): OpenReport {
    const fs = this.host.volumes[0];
    assert(fs !== undefined, 'volume');
    if (!fs.stat('/probe').ok) assert(fs.mkdir('/probe').ok, 'mkdir');
    const h = fs.open('/probe/log', { create: true });
    assert(h.ok, 'open');
    this.handle = h.value;
    const size = fs.size(h.value);
    assert(size.ok, 'size');
    const bytes = fs.read(h.value, 0, size.value);
    assert(bytes.ok, 'read');
    const records = parseRecords(bytes.value);
    const last = records[records.length - 1];
    this.size = last === undefined ? 0 : last.offsetBytes + 16 + last.payload.length;
    this.nextId = (last?.id ?? 0) + 1;
    return { created: records.length === 0, recoveryNeeded: false, ok: true, detail: 'probe' };
  }

  startWorkload(spec: WorkloadSpec): void {
    this.spec = spec;
    this.running = true;
    this.schedule();
  }

  stopWorkload(): void {
    this.running = false;
  }

  committed(): ReadonlySet<string> {
    const fs = this.host.volumes[0];
    assert(fs !== undefined && this.handle !== undefined, 'open');
    const size = fs.size(this.handle);
    assert(size.ok, 'size');
    const bytes = fs.read(this.handle, 0, size.value);
    assert(bytes.ok, 'read');
    return new Set(parseRecords(bytes.value).map((r) => `c${r.id}`));
  }

  acknowledged(): readonly AckRecord[] {
    return this.acks;
  }

  shutdown(): void {
    this.running = false;
    this.dead = true;
  }

  crash(): void {
    this.running = false;
    this.dead = true;
  }

  get isHeld(): boolean {
    return this.held;
  }

  // VssWriter
  identify(): PhaseResult & { readonly components: readonly WriterComponent[] } {
    this.log.calls.push('identify');
    return { ...OK, components: [{ name: 'probe', files: ['/probe/log'] }] };
  }

  prepareForBackup(context: BackupContext): PhaseResult {
    this.log.calls.push(`prepareForBackup:${context.backupType}`);
    return OK;
  }

  prepareForSnapshot(): PhaseResult {
    this.log.calls.push('prepareForSnapshot');
    return OK;
  }

  freeze(): PhaseResult {
    this.log.calls.push('freeze');
    this.held = true;
    return OK;
  }

  thaw(): PhaseResult {
    this.log.calls.push('thaw');
    this.held = false;
    this.resume();
    return OK;
  }

  postSnapshot(): PhaseResult {
    this.log.calls.push('postSnapshot');
    return OK;
  }

  backupComplete(succeeded: boolean): PhaseResult {
    this.log.calls.push(`backupComplete:${String(succeeded)}`);
    return OK;
  }

  abort(): void {
    this.log.calls.push('abort');
    this.held = false;
    this.resume();
  }

  private resume(): void {
    if (!this.parked || !this.running || this.dead) return;
    this.parked = false;
    this.schedule();
  }

  private schedule(): void {
    const spec = this.spec;
    if (spec === undefined) return;
    this.host.queue.after(this.host.prng.int(1, 2 * spec.meanIntervalUs), `${this.host.timerPrefix}:op`, () => { this.step(); });
  }

  private step(): void {
    if (!this.running || this.dead) return;
    const fs = this.host.volumes[0];
    assert(fs !== undefined && this.handle !== undefined, 'open');
    if (this.held) {
      this.parked = true; // resumed by thaw or abort
      return;
    }
    if (fs.isFrozen) {
      fs.onThaw(() => { this.step(); });
      return;
    }
    const id = this.nextId++;
    const record = encodeRecord(id, new Uint8Array(64).fill(id & 0xff));
    assert(fs.write(this.handle, this.size, record).ok, 'write');
    this.size += record.length;
    assert(fs.fsync(this.handle).ok, 'fsync');
    this.acks.push({ app: this.appId, id: `c${id}`, timeUs: this.host.clock.nowUs(), durable: true });
    this.schedule();
  }
}

/** A factory for the probe app standing in for `appId`; `log` collects the writer's calls. */
export function probeFactory(log: ProbeLog, appId: AppId = 'sqlserver'): AppFactory {
  return (host: AppHost) => new ProbeApp(host, log, appId);
}
