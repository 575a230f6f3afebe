/**
 * Every engine mutant, by id (`quiescelab list mutants`, `quiescelab mutants`, replay
 * tokens name them).
 */

import type { Engine } from '../engine-api.js';
import { builtinEngine } from '../engine-builtin.js';
import { BACKUP_MUTANTS } from './backup-mutants.js';
import { DC_MUTANTS } from './dc-mutants.js';
import { JOB_MUTANTS } from './job-mutants.js';
import { LOG_MUTANTS } from './log-mutants.js';
import { REPOSITORY_MUTANTS } from './repository-mutants.js';
import { RESTORE_MUTANTS } from './restore-mutants.js';
import { UNWRITE_MUTANTS } from './unwrite-mutants.js';
import { SESSION_MUTANTS } from './session-mutants.js';
import { GROUP_MUTANTS } from './group-mutants.js';
import { REPLICATION_MUTANTS } from './replication-mutants.js';
import type { Mutant } from './mutant.js';

export const MUTANTS: readonly Mutant[] = [...BACKUP_MUTANTS, ...JOB_MUTANTS, ...LOG_MUTANTS, ...REPOSITORY_MUTANTS, ...DC_MUTANTS, ...UNWRITE_MUTANTS, ...RESTORE_MUTANTS, ...SESSION_MUTANTS, ...REPLICATION_MUTANTS, ...GROUP_MUTANTS];

export function findMutant(id: string): Mutant | undefined {
  return MUTANTS.find((m) => m.id === id);
}

/** The engine a replay token names: quiescelab's for null, else the mutant's. */
export function engineFor(mutant: string | null): Engine | undefined {
  if (mutant === null) return builtinEngine();
  const found = findMutant(mutant);
  return found === undefined ? undefined : mutantEngine(found);
}

/** A mutant as an engine (a fresh instance: its state is its own). */
export function mutantEngine(m: Mutant): Engine {
  const built = builtinEngine(m.engine, m.id);
  return m.wrap === undefined ? built : m.wrap(built);
}
