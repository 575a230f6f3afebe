/**
 * Property 10: the repository's verify finds every injected corruption.
 *
 * Judged from what the scenario recorded (scenarios/suites/repository-suite.ts): verify's
 * report on the repository as the backups left it, the object one byte of which was then
 * flipped (with the objects that depend on it: for a pack the index files that list it
 * and the manifests that need its chunks, for an index file the manifests that need the
 * chunks it lists), and verify's report after the flip. Passes when the clean repository
 * verifies clean and the damaged one has a damage naming the flipped object or one that
 * depends on it.
 *
 * Does not check: damage other than one flipped byte (lost, truncated or swapped
 * objects), the writer's lock object (not repository data: verify does not read it),
 * temporaries (garbage), whether restores refuse the damaged chunks (readChunk checks
 * them; property 9 reads points back), or how verify words the damage.
 */

import { fail, pass, unknown, type Verdict } from '../verdict.js';

export interface NamedDamage {
  readonly object: string;
  readonly text: string;
}

export interface VerifyRun {
  /** verify itself failed (a store error), or null. */
  readonly error: string | null;
  readonly damages: readonly NamedDamage[];
}

export interface CorruptionRecord {
  /** Objects the flip could hit. */
  readonly objects: number;
  readonly target: {
    readonly name: string;
    readonly sizeBytes: number;
    readonly offsetBytes: number;
    readonly xor: number;
    readonly dependents: readonly string[];
  } | null;
  readonly clean: VerifyRun;
  readonly corrupted: VerifyRun;
}

const listed = (damages: readonly NamedDamage[]): string => damages.slice(0, 3).map((d) => d.text).join(' | ') + (damages.length > 3 ? ` (+${damages.length - 3} more)` : '');

export function checkRepositoryVerify(r: CorruptionRecord): Verdict {
  const t = r.target;
  if (t === null) return unknown('the store held no object to corrupt');
  if (r.clean.error !== null) return fail(`verify of the clean repository failed: ${r.clean.error}`);
  if (r.clean.damages.length > 0) return fail(`verify names damage in the clean repository: ${listed(r.clean.damages)}`);
  const what = `byte ${t.offsetBytes} of ${t.name} (${t.sizeBytes} bytes) xor 0x${t.xor.toString(16).padStart(2, '0')}`;
  if (r.corrupted.error !== null) return fail(`after flipping ${what}, verify failed: ${r.corrupted.error}`);
  const accepted = new Set([t.name, ...t.dependents]);
  const named = r.corrupted.damages.filter((d) => accepted.has(d.object));
  if (named.length === 0) {
    return fail(`flipped ${what}; verify ${r.corrupted.damages.length === 0 ? 'found nothing' : `named only other objects: ${listed(r.corrupted.damages)}`}`);
  }
  return pass(`flipped ${what} (one of ${r.objects} objects); verify names it: ${listed(named)}`);
}
