/**
 * Runs once per test run, before any worker starts: every temporary folder of the run —
 * the tests' own, those of the CLIs they spawn and the browser's profile — goes under one
 * folder (TMPDIR, which os.tmpdir() reads and child processes inherit), removed when the
 * run ends, passed or failed. Before this, each `npm test` left about 90 folders in /tmp.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'quiescelab-test-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
  };
}
