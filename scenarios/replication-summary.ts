/**
 * The replication section's data (issue 17): runCell hands each replication-suite run of
 * its survey (never a shrink's re-run) to a ReplicationSummary, which keeps the cell's
 * totals over every run and the first MAX_REPLICATION_RUNS runs in detail — the RPO over
 * time, each cycle's bytes (sent, and white space skipped), the failover and failback.
 * Only what the hypervisors and the engine's reports measured in virtual time: the same
 * run gives the same record in process and through an engine process.
 */

import { MAX_REPLICATION_RUNS, type CellReplication, type ReplicationRunRecord } from '../core/results.js';
import { rpoSeries } from './checkers/rpo.js';
import type { ReplicationOutcome, ReplicationSpec } from './scenario/replication-run.js';

/** One run as the report draws it. */
export function replicationRunRecord(run: number, spec: ReplicationSpec, o: ReplicationOutcome): ReplicationRunRecord {
  const fo = o.failover;
  const fb = o.failback;
  return {
    run, fault: spec.fault.kind, faultFiredAtUs: o.faultFiredAtUs, after: spec.after, intervalUs: o.intervalUs, whiteSpace: spec.whiteSpace,
    startUs: o.startUs, replicationEndUs: o.replicationEndUs,
    rpo: rpoSeries(o).map((r) => ({ atUs: Math.round(r.atUs), rpoUs: Math.round(r.rpoUs) })),
    cycles: o.cycles.map((c) => ({ cycle: c.cycle, kind: c.kind, ok: c.ok, startUs: c.startUs, endUs: c.endUs, bytesSent: c.bytesSent, bytesSkippedWhiteSpace: c.bytesSkippedWhiteSpace })),
    failover: fo === null ? null : { kind: fo.kind, ok: fo.ok, rtoUs: fo.rtoUs, pointId: fo.pointId },
    failback: fb === null ? null : { ok: fb.ok, target: fb.target, finalAtUs: fb.finalAtUs },
  };
}

export class ReplicationSummary {
  private runs = 0;
  private rpoUsMax = 0;
  private readonly rtos: number[] = [];
  private bytesSent = 0;
  private bytesSkipped = 0;
  private readonly perRun: ReplicationRunRecord[] = [];

  /** A survey run that completed (one that threw is not added). */
  add(run: number, spec: ReplicationSpec, outcome: ReplicationOutcome): void {
    const record = replicationRunRecord(run, spec, outcome);
    this.runs++;
    this.rpoUsMax = Math.max(this.rpoUsMax, ...record.rpo.map((r) => r.rpoUs));
    if (record.failover?.kind === 'failover' && record.failover.ok) this.rtos.push(record.failover.rtoUs);
    for (const c of record.cycles) {
      this.bytesSent += c.bytesSent;
      this.bytesSkipped += c.bytesSkippedWhiteSpace;
    }
    if (this.perRun.length < MAX_REPLICATION_RUNS) this.perRun.push(record);
  }

  /** `{ replication }` for the CellResult, or nothing when no replication run completed (the suite did not run). */
  field(): { replication?: CellReplication } {
    return this.runs === 0 ? {} : { replication: this.result() };
  }

  result(): CellReplication {
    const rtoUsMax = this.rtos.length === 0 ? null : Math.max(...this.rtos);
    const rtoUsMean = this.rtos.length === 0 ? null : Math.round(this.rtos.reduce((a, b) => a + b, 0) / this.rtos.length);
    return { runs: this.runs, rpoUsMax: this.rpoUsMax, rtoUsMean, rtoUsMax, bytesSent: this.bytesSent, bytesSkippedWhiteSpace: this.bytesSkipped, perRun: this.perRun };
  }
}
