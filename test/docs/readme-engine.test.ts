/**
 * The README's "Plugging in another engine" tutorial works as written: the command in its
 * tested block runs (from source, in a fresh folder instead of /tmp/restic-report) and
 * prints the lines the README shows, the report path aside.
 *
 * Skipped, saying why, when python3 or restic is missing — unless QUIESCELAB_REQUIRE_RESTIC=1
 * (CI installs restic), where a missing tool fails the test instead.
 */

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitCommandLine } from '../../cli/engine-rpc/command-line.js';
import { missingTool, RESTIC_PY_TOOLS } from '../support/tools.js';
import { cli, ROOT } from '../support/cli.js';

const MARKER = '<!-- tested: test/docs/readme-engine.test.ts';

/** The tested command and the output the README shows after it. */
function tutorial(): { readonly command: string; readonly output: readonly string[] } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(MARKER);
  expect(at).toBeGreaterThan(0);
  const blocks = [...readme.slice(at).matchAll(/```(sh|text)\n([\s\S]*?)```/g)].slice(0, 2);
  expect(blocks.map((b) => b[1])).toEqual(['sh', 'text']);
  return { command: (blocks[0]?.[2] ?? '').trim(), output: (blocks[1]?.[2] ?? '').trim().split('\n') };
}

const missing = missingTool(RESTIC_PY_TOOLS);
const required = process.env.QUIESCELAB_REQUIRE_RESTIC === '1';
if (missing !== null && !required) console.warn(`README engine tutorial skipped: ${missing} (set QUIESCELAB_REQUIRE_RESTIC=1 to make this a failure)`);

describe('README: plugging in another engine', () => {
  it('names a command of this CLI and shows its output', () => {
    const { command, output } = tutorial();
    expect(command.startsWith('npx quiescelab matrix ')).toBe(true);
    expect(output.at(-1)).toMatch(/^report: /);
  });

  it.skipIf(missing !== null && !required)('runs as written and prints what the README shows', async () => {
    expect(missing).toBeNull();
    const { command, output } = tutorial();
    const argv = splitCommandLine(command).slice(2);
    const out = join(mkdtempSync(join(tmpdir(), 'ql-readme-engine-')), 'report');
    const at = argv.indexOf('--out');
    expect(at).toBeGreaterThan(0);
    argv[at + 1] = out;
    const r = await cli(...argv);
    expect(r.exitCode, r.stderr).toBe(0);
    const printed = r.stdout.trim().split('\n');
    expect(printed.slice(0, -1)).toEqual(output.slice(0, -1));
    expect(printed.at(-1)).toBe(`report: ${join(out, 'index.html')}`);
  }, 600_000);
});
