/**
 * The real `sqlite3` program (Debian package sqlite3), the oracle for databases the engine
 * restores. Tests skip when it is missing — unless QUIESCELAB_REQUIRE_SQLITE3=1 (CI sets
 * it), where a missing program fails loudly instead of skipping in silence.
 */

import { execFileSync } from 'node:child_process';

function available(): boolean {
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

export const HAVE_SQLITE3 = available();
if (!HAVE_SQLITE3) {
  if (process.env.QUIESCELAB_REQUIRE_SQLITE3 === '1') throw new Error('the sqlite3 program is missing (Debian package sqlite3) and QUIESCELAB_REQUIRE_SQLITE3=1');
  console.warn('the sqlite3 program is missing (Debian package sqlite3): tests that need it are skipped');
}

/** Runs one SQL statement on a database file; stdout, trimmed. */
export function sqlite3(db: string, sql: string): string {
  return execFileSync('sqlite3', [db, sql], { stdio: 'pipe', encoding: 'utf8' }).trim();
}
