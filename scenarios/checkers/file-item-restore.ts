/**
 * Property 16: file-level and application-item restores give back what the point holds.
 *
 * Judged from scenarios/scenario/item-restore.ts's record: for the first and the last good
 * point the lab could read, a file-level restore of the `files` app's directory must give
 * every file the image holds there, byte for byte, and nothing else, with no entry
 * reported failed; the record ids in the restored files must equal the lab's committed set
 * for `files`. On SQL Server cells, the row item restore must answer the value (and
 * writing transaction) the app acknowledged for it before the point's cut. On Exchange
 * cells a mail item, on NTDS cells an AD user (the latest acknowledged before the cut that
 * the lab found) must be restored with every field the simulator's own reading of the
 * image gives it (mailbox, id, subject, body, delivery time; name, RID, every attribute,
 * version, originating stamp, USNs), none missing, wrong or extra. The first such point's
 * last disk, restored over a scratch VM's disk full of garbage, must equal its image.
 *
 * Unknown (not judged) when no point was stored or the lab could read none, or when the
 * cell's app calls for an item kind and no point had one to restore (none acknowledged
 * before the cut that the lab found): an image the lab found inconsistent may fail to give
 * its files. Does not check: items other than the latest per point, the restore's
 * duration, renamed entries (the files app's names are all safe), files outside /files.
 */

import type { ScenarioOutcome } from '../scenario/run.js';
import type { ItemRestoreCheck } from '../scenario/item-restore.js';
import { fail, pass, unknown, type Verdict } from '../verdict.js';

const list = (xs: readonly string[]): string => xs.slice(0, 5).join('; ') + (xs.length > 5 ? ` (+${xs.length - 5} more)` : '');

/** What is wrong with one item restore: its error, or each field missing, differing or extra against the truth. */
export function itemProblems(i: ItemRestoreCheck): string[] {
  if (i.got === null) return [`the restore failed (${i.error ?? 'no error given'}), expected ${JSON.stringify(i.expected)}`];
  const out: string[] = [];
  for (const [field, want] of Object.entries(i.expected)) {
    const got = i.got[field];
    if (got === undefined) out.push(`${field} missing, expected ${want}`);
    else if (got !== want) out.push(`${field} is ${got}, expected ${want}`);
  }
  for (const [field, got] of Object.entries(i.got)) if (!Object.hasOwn(i.expected, field)) out.push(`${field} is ${got}, not a field of the item`);
  if (Object.keys(i.expected).length === 0) out.push('no field to compare (the truth is empty)');
  return out;
}

export function checkFileItemRestore(outcome: ScenarioOutcome): Verdict {
  const r = outcome.fileItemRestore;
  if (r === null) return unknown('no point was stored: nothing to restore');
  if (r.files.length === 0) return unknown(`no point the lab could read: ${list(r.skipped)}`);
  for (const f of r.files) {
    const at = `point ${f.pointIndex}, file-level restore of /files`;
    if (f.error !== null) return fail(`${at}: ${f.error}`);
    if (f.differences.length > 0) return fail(`${at}: ${f.equalFiles} of ${f.labFiles} files equal the image's; ${list(f.differences)}`);
    if (f.idsNotInLab.length > 0 || f.idsNotRestored.length > 0) {
      return fail(`${at}: the restored files hold records the lab did not find (${list(f.idsNotInLab)}) or lack ones it did (${list(f.idsNotRestored)})`);
    }
  }
  for (const d of r.disks) if (d.problem !== null) return fail(`point ${d.pointIndex}, its last disk restored over a scratch VM's disk: ${d.problem}`);
  for (const i of r.items) {
    const bad = itemProblems(i);
    if (bad.length > 0) {
      const wrong = r.items.filter((x) => itemProblems(x).length > 0).length;
      return fail(`${wrong} of ${r.items.length} item restore(s) wrong; point ${i.pointIndex}: ${i.what}: ${list(bad)}`);
    }
  }
  const missing = r.itemKinds.filter((k) => !r.items.some((i) => i.kind === k));
  if (missing.length > 0) return unknown(`no ${missing.join(', ')} to restore: ${list(r.itemsSkipped.length > 0 ? r.itemsSkipped : r.skipped)}`);
  const files = r.files.map((f) => `point ${f.pointIndex}: ${f.equalFiles} files, ${f.idsRestored} records`).join('; ');
  const disks = r.disks.map((d) => `; point ${d.pointIndex}'s last disk restored over a scratch disk equals its image`).join('');
  return pass(`file-level restores equal the images (${files})${disks}${r.items.length === 0 ? '' : `; ${r.items.length} item restore(s) equal to the truth field by field: ${r.items.map((i) => i.what).join(', ')}`}`);
}
