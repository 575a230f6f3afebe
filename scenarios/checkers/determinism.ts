/**
 * Property 11: the same seed gives the same results. The same scenario spec run twice in
 * one process gives outcomes equal as canonical JSON — every point, verdict, timeline
 * event and the simulation's history digest.
 *
 * Before the outcomes, the two runs' engine transcripts (scenarios/transcript.ts): every
 * request of the engine and every hypervisor call it made, with digests of the answers; a
 * difference names the first message that differs.
 *
 * Does not check: determinism across processes or machines (the runner's results.json
 * comparison in the tests does), wall-clock figures (kept out of outcomes).
 */

import { fail, pass, type Verdict } from '../verdict.js';

function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Two runs of one spec sent the engine different messages, or it answered differently: the first such message. */
export function transcriptsDiffer(d: { readonly index: number; readonly first: string | null; readonly second: string | null }): Verdict {
  const evidence = `two runs of the same spec differ at engine message ${d.index + 1}: first run ${d.first ?? '(no message)'} / second run ${d.second ?? '(no message)'}`;
  return { ...fail(evidence), data: { counts: { message: d.index + 1 }, first: d.first, worst: null, last: d.second, ids: [], idsOmitted: 0 } };
}

export function checkDeterminism(first: unknown, second: unknown): Verdict {
  const a = JSON.stringify(first);
  const b = JSON.stringify(second);
  if (a === b) return pass(`two runs of the same spec gave the same outcome (${a.length} bytes of JSON)`);
  const at = firstDifference(a, b);
  return fail(`two runs of the same spec differ at character ${at}: ${a.slice(Math.max(0, at - 40), at + 40)} / ${b.slice(Math.max(0, at - 40), at + 40)}`);
}
