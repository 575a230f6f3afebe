/**
 * Replication mutants (issue 17): one bug per replication property, each a changed
 * ReplicationOptions of the built-in engine (engine/replication/replicator.ts), so no engine
 * file carries a test flag. The hunt runs them on the replication suite's cells.
 */

import { REPLICATION_DEFAULTS, type ReplicationOptions } from '../../engine/replication/replicator.js';
import { QUIESCELAB_ENGINE, type EngineUnderTest } from '../scenario/engine.js';
import type { Mutant } from './mutant.js';

const CELLS = ['win2019/esx41/sqlserver/default', 'linux/esx41/files/default', 'win2003-x64/esx41/sqlserver/default'];

function replicating(name: string, change: Partial<ReplicationOptions>): EngineUnderTest {
  return { ...QUIESCELAB_ENGINE, name, replication: { ...REPLICATION_DEFAULTS, ...change } };
}

export const REPLICATION_MUTANTS: readonly Mutant[] = [
  {
    id: 'replica-reads-live-disk',
    description: 'A replication cycle takes its quiesced snapshot but reads each block from the disk as it is at that moment (a plain snapshot per read): the point mixes instants and is not the snapshot it claims.',
    area: 'read', cells: CELLS, expectedKiller: 'P20',
    engine: replicating('replica-reads-live-disk', { readsLive: true }),
  },
  {
    id: 'abm-skips-allocated-zeros',
    description: 'White-space skipping also skips the all-zero 64 KiB blocks the guest file system uses (a preallocated or shredded file, a zeroed inode table) and reports them as white space.',
    area: 'read', cells: CELLS, expectedKiller: 'P21',
    engine: replicating('abm-skips-allocated-zeros', { whiteSpaceSkipsZeros: true }),
  },
  {
    id: 'abm-ignores-journal',
    description: 'White-space skipping reads only the bitmap on disk: a block a committed but not yet checkpointed journal transaction allocated (its data already in place) looks free and is not sent; the replica\'s first boot replays the journal onto a block that was never copied.',
    // Measured: only the crash-consistent cell's snapshots held live allocating transactions (10 of 20 runs; 0 of 20 on the quiesced cells).
    area: 'read', cells: ['other/esx41/files/default', ...CELLS], expectedKiller: 'P21',
    engine: replicating('abm-ignores-journal', { whiteSpaceReadsJournal: false }),
  },
  {
    id: 'rpo-schedule-drift',
    description: 'Each replication cycle is scheduled an interval after the previous one ended, not on the interval\'s ticks: the schedule drifts by every cycle\'s duration and the RPO exceeds interval plus a cycle.',
    area: 'schedule', cells: CELLS, expectedKiller: 'P22',
    engine: replicating('rpo-schedule-drift', { scheduleFrom: 'end' }),
  },
  {
    id: 'failover-half-applied',
    description: 'Failover powers the replica on as its disk stands, without reverting to the newest restore point: after a cycle that failed midway it boots half-applied data.',
    area: 'restore', cells: CELLS, expectedKiller: 'P23',
    engine: replicating('failover-half-applied', { failoverReverts: false }),
  },
  {
    id: 'failback-skips-final-pass',
    description: 'Failback copies the DR VM\'s changes while it runs, shuts it down, and starts the failed-back VM without the final pass: the DR writes of the last stretch are lost.',
    area: 'restore', cells: CELLS, expectedKiller: 'P24',
    engine: replicating('failback-skips-final-pass', { failbackFinalPass: false }),
  },
];
