/**
 * `sqlcmd`: the guest program for native SQL Server operations, as a backup agent in the
 * guest runs them (through the hypervisor's guest operations). Arguments:
 *
 *   backup-log [--to-nul | --copy-only]   stdout: the log backup (format.ts); truncates the
 *                                        log (full recovery). --to-nul truncates and keeps
 *                                        nothing (the "vendor truncation" that breaks the
 *                                        chain); --copy-only truncates nothing, chain unchanged.
 *   backup-history                       stdout: JSON {entries, logChain}
 *   query <table> <key>                  stdout: JSON {table, key, value, txn}; exit 1 if absent
 *   status                               stdout: JSON of the database state
 *   checkpoint                           CHECKPOINT now
 *   restore-database --norecovery        the files (from a writer-frozen snapshot) become a
 *                                        database in RESTORING; refused for any other image
 *   restore-log [--stopat <timeUs> | --stopatlsn <lsn>] [--norecovery | --recovery]
 *                                        stdin: a log backup; applied in LSN order up to and
 *                                        including the target; a chain break is refused
 *   restore-recover                      RESTORE ... WITH RECOVERY: roll back, go online
 *
 * Exit codes: 0 success, 1 an error the database reported (stderr says why, nothing was
 * changed), 2 bad arguments. Durations follow the cost model of database.ts.
 *
 * Leaves out: T-SQL, several databases, backup devices other than stdout, tail-log backups.
 */

import type { TimeUs } from '../../../core/clock.js';
import type { GuestProgramResult } from '../../../core/hypervisor-port.js';
import type { GuestProgram } from '../types.js';
import { COSTS, checkpointCostUs, type RestoreTarget, type SqlDatabase } from './database.js';
import { utf8 } from './format.js';

const USAGE = 'usage: sqlcmd backup-log [--to-nul|--copy-only] | backup-history | query <table> <key> | status | checkpoint'
  + ' | restore-database --norecovery | restore-log [--stopat <timeUs>|--stopatlsn <lsn>] [--norecovery|--recovery] | restore-recover';

function result(exitCode: number, stdout: Uint8Array | string, stderr: string, durationUs: TimeUs): GuestProgramResult {
  return { exitCode, stdout: typeof stdout === 'string' ? utf8(stdout) : stdout, stderr, durationUs };
}

function failure(message: string, durationUs: TimeUs = COSTS.baseUs): GuestProgramResult {
  return result(1, new Uint8Array(0), message, durationUs);
}

function usage(message: string): GuestProgramResult {
  return result(2, new Uint8Array(0), `${message}\n${USAGE}`, 0);
}

function parseNat(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

export interface SqlcmdHooks {
  /** restore-database replaces the database's state: the app stops its workload. */
  readonly onRestoreStart: () => void;
}

export function sqlcmd(db: SqlDatabase, hooks: SqlcmdHooks): GuestProgram {
  return (args, input) => {
    if (db.isDead) return failure('SQL Server is not running');
    const [command, ...rest] = args;
    switch (command) {
      case 'backup-log': {
        if (rest.length > 1 || (rest[0] !== undefined && rest[0] !== '--to-nul' && rest[0] !== '--copy-only')) return usage(`bad backup-log arguments: ${rest.join(' ')}`);
        const kind = rest[0] === '--to-nul' ? 'nul' : rest[0] === '--copy-only' ? 'copy' : 'normal';
        const done = db.backupLog(kind);
        if (!done.ok) return failure(done.error);
        return result(0, done.value.blob, '', done.value.durationUs);
      }
      case 'backup-history':
        return result(0, JSON.stringify({ entries: db.history(), logChain: db.logChain() }), '', COSTS.baseUs);
      case 'query': {
        const [table, key] = rest;
        if (table === undefined || key === undefined || rest.length !== 2) return usage('query needs <table> <key>');
        if (db.mode !== 'online') return failure(`database is ${db.mode}`);
        const row = db.row(table, key);
        if (row === undefined) return result(1, 'null', `no row ${table}/${key}`, COSTS.baseUs);
        return result(0, JSON.stringify({ table: row[0], key: row[1], value: row[2], txn: `t${row[3]}` }), '', COSTS.baseUs);
      }
      case 'status':
        return result(0, JSON.stringify(db.status()), '', COSTS.baseUs);
      case 'checkpoint': {
        if (db.mode !== 'online') return failure(`database is ${db.mode}`);
        if (db.isHeld()) return failure('database I/O is frozen');
        const pages = db.checkpointNow('open', null);
        return result(0, JSON.stringify({ pagesWritten: pages }), '', checkpointCostUs(pages) + 4 * COSTS.fsyncUs);
      }
      case 'restore-database': {
        if (rest.length !== 1 || rest[0] !== '--norecovery') return usage('restore-database needs --norecovery');
        const done = db.restoreDatabase();
        if (!done.ok) return failure(done.error);
        hooks.onRestoreStart();
        return result(0, JSON.stringify({ state: 'RESTORING', ...done.value }), '', 5 * COSTS.baseUs);
      }
      case 'restore-log': {
        let target: RestoreTarget | null = null;
        let recover = false;
        for (let i = 0; i < rest.length; i++) {
          const arg = rest[i];
          if (arg === '--stopat' || arg === '--stopatlsn') {
            const value = parseNat(rest[++i]);
            if (value === undefined || target !== null) return usage(`${arg} needs one non-negative integer`);
            target = { kind: arg === '--stopat' ? 'time' : 'lsn', value };
          } else if (arg === '--recovery') recover = true;
          else if (arg === '--norecovery') recover = false;
          else return usage(`bad restore-log argument: ${arg ?? ''}`);
        }
        if (input === undefined || input.length === 0) return failure('restore-log needs a log backup on stdin');
        const done = db.restoreLog(input, target, recover);
        if (!done.ok) return failure(done.error);
        const { durationUs, ...outcome } = done.value;
        return result(0, JSON.stringify(outcome), done.value.warning ?? '', durationUs);
      }
      case 'restore-recover': {
        if (rest.length !== 0) return usage('restore-recover takes no arguments');
        const done = db.restoreRecover();
        if (!done.ok) return failure(done.error);
        return result(0, JSON.stringify({ state: 'ONLINE', ...done.value }), '', checkpointCostUs(0) + 4 * COSTS.fsyncUs);
      }
      default:
        return usage(`unknown command: ${command ?? '(none)'}`);
    }
  };
}
