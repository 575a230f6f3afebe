/**
 * Verdicts are data (DESIGN.md, "Style"): a checker answers true, false or unknown with the
 * evidence that made it decide. Merging takes the worst: false > unknown > true. A checker
 * that throws yields unknown with the error, never a crash of the run.
 */

export type Validity = true | false | 'unknown';

export interface Verdict {
  readonly valid: Validity;
  /** One line a person can read: what was checked and what was found. */
  readonly evidence: string;
}

export function pass(evidence: string): Verdict {
  return { valid: true, evidence };
}

export function fail(evidence: string): Verdict {
  return { valid: false, evidence };
}

export function unknown(evidence: string): Verdict {
  return { valid: 'unknown', evidence };
}

function rank(v: Validity): number {
  return v === false ? 2 : v === 'unknown' ? 1 : 0;
}

/** The worst of the verdicts, with the evidence of the first of that kind (true for none). */
export function mergeVerdicts(verdicts: readonly Verdict[]): Verdict {
  let worst: Verdict | null = null;
  for (const v of verdicts) if (worst === null || rank(v.valid) > rank(worst.valid)) worst = v;
  return worst ?? pass('nothing to check');
}

/** Runs a checker; an exception becomes an unknown verdict naming it. */
export function guarded(check: () => Verdict): Verdict {
  try {
    return check();
  } catch (e) {
    return unknown(`the checker threw: ${e instanceof Error ? e.message : String(e)}`);
  }
}
