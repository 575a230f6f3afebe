/**
 * Verdicts are data (DESIGN.md, "Style"): a checker answers true, false or unknown with the
 * evidence that made it decide. Merging takes the worst: false > unknown > true. A checker
 * that throws yields unknown with the error, never a crash of the run.
 */

import { MAX_EVIDENCE_IDS, type EvidenceData } from '../core/results.js';

export type Validity = true | false | 'unknown';

export interface Verdict {
  readonly valid: Validity;
  /** One line a person can read: what was checked and what was found. */
  readonly evidence: string;
  /** A failure's findings as data: counts, first/worst/last example, every id (Findings builds it). */
  readonly data?: EvidenceData;
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

/**
 * Collects a checker's findings over a whole run instead of stopping at the first: every
 * failing example with a severity (the worst is the highest, the first one seen on a tie),
 * the ids it concerns, and named counts. `verdict` fails with the first example as the
 * evidence line and all of it as data, or passes with the given line.
 */
export class Findings {
  private readonly counts: Record<string, number> = {};
  private readonly examples: { readonly line: string; readonly severity: number }[] = [];
  private readonly ids: string[] = [];
  private readonly seen = new Set<string>();
  private omitted = 0;

  count(name: string, by = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + by;
  }

  /** One failing example: `line` reads alone, `severity` ranks it (e.g. the ids it lost), `ids` are listed. */
  fail(line: string, severity = 1, ids: readonly string[] = []): void {
    this.examples.push({ line, severity });
    for (const id of ids) {
      if (this.seen.has(id)) continue;
      this.seen.add(id);
      if (this.ids.length < MAX_EVIDENCE_IDS) this.ids.push(id);
      else this.omitted++;
    }
  }

  get failed(): boolean {
    return this.examples.length > 0;
  }

  data(): EvidenceData {
    const first = this.examples[0];
    const last = this.examples[this.examples.length - 1];
    const worst = this.examples.reduce<(typeof this.examples)[number] | undefined>((w, e) => (w === undefined || e.severity > w.severity ? e : w), undefined);
    return { counts: { ...this.counts, failing: this.examples.length }, first: first?.line ?? null, worst: worst?.line ?? null, last: last?.line ?? null, ids: [...this.ids], idsOmitted: this.omitted };
  }

  verdict(passEvidence: string): Verdict {
    if (!this.failed) return pass(passEvidence);
    const data = this.data();
    const more = this.examples.length === 1 ? '' : ` (and ${this.examples.length - 1} more failing: worst ${data.worst ?? ''}; last ${data.last ?? ''})`;
    return { valid: false, evidence: `${data.first ?? ''}${more}`, data };
  }
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
