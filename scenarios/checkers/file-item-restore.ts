/**
 * Property 16: file-level and application-item restores give back what the point holds.
 *
 * Judged from scenarios/scenario/item-restore.ts's record: for the first and the last good
 * point the lab could read, a file-level restore of the `files` app's directory must give
 * every file the image holds there, byte for byte, and nothing else, with no entry
 * reported failed; the record ids in the restored files must equal the lab's committed set
 * for `files`. On SQL Server cells, the row item restore must answer the value (and
 * writing transaction) the app acknowledged for it before the point's cut. The first such
 * point's last disk, restored over a scratch VM's disk full of garbage, must equal its image.
 *
 * Unknown (not judged) when no point was stored or the lab could read none: an image the
 * lab found inconsistent may fail to give its files. Does not check: Exchange and AD items
 * (item-restore.ts says why), the restore's duration, renamed entries (the files app's
 * names are all safe), files outside /files.
 */

import type { ScenarioOutcome } from '../scenario/run.js';
import { fail, pass, unknown, type Verdict } from '../verdict.js';

const list = (xs: readonly string[]): string => xs.slice(0, 5).join('; ') + (xs.length > 5 ? ` (+${xs.length - 5} more)` : '');

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
  const wrong = r.items.filter((i) => !i.equal);
  if (wrong.length > 0) {
    const i = wrong[0];
    return fail(`${wrong.length} of ${r.items.length} item restore(s) wrong; point ${i?.pointIndex ?? '?'}: ${i?.what ?? ''} is ${i?.got ?? ''}, the app acknowledged ${i?.expected ?? ''} before the cut`);
  }
  const files = r.files.map((f) => `point ${f.pointIndex}: ${f.equalFiles} files, ${f.idsRestored} records`).join('; ');
  const disks = r.disks.map((d) => `; point ${d.pointIndex}'s last disk restored over a scratch disk equals its image`).join('');
  return pass(`file-level restores equal the images (${files})${disks}${r.items.length === 0 ? '' : `; ${r.items.length} item restore(s) as acknowledged: ${r.items.map((i) => i.what).join(', ')}`}`);
}
