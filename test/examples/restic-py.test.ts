/**
 * examples/engines/restic-py: a vendor's engine in Python (stdlib only) storing its points
 * with the real restic, judged through `quiescelab matrix --engine-cmd`. One cell, two
 * runs (run 0 a twin for determinism, run 1 the forced job variant: policy off, a failed
 * read, a CBT reset, a refused removal and an orphan snapshot):
 *
 * - as shipped, the cell passes: every property the engine's capabilities make applicable
 *   passes, the file and item restores it does not declare are 'not applicable';
 * - with one line broken (a crash-consistent snapshot claims application for every app),
 *   the matrix fails the cell on property 2 (no overclaim) and exits 1.
 *
 * Skipped, saying why, when python3 or restic is missing — unless QUIESCELAB_REQUIRE_RESTIC=1
 * (CI with restic installed), where a missing tool fails the test instead.
 */

import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingTool, RESTIC_PY_TOOLS } from '../support/tools.js';
import { cli, ROOT } from '../support/cli.js';

const ENGINE = join(ROOT, 'examples/engines/restic-py/engine.py');
const CELL = ['--os', 'win2019', '--tools', 'esx41', '--apps', 'files', '--no-mutants', '--runs', '2', '--seed', '1', '--workers', '1'];
const TIMEOUT_MS = 600_000;

const missing = missingTool(RESTIC_PY_TOOLS);
const required = process.env.QUIESCELAB_REQUIRE_RESTIC === '1';
if (missing !== null && !required) console.warn(`restic-py example skipped: ${missing} (set QUIESCELAB_REQUIRE_RESTIC=1 to make this a failure)`);

interface Results {
  readonly cells: readonly {
    readonly id: string;
    readonly pass: boolean;
    readonly properties: readonly { readonly id: string; readonly status: string; readonly evidence: string | null }[];
  }[];
}

function results(out: string): Results {
  return JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results;
}

describe.skipIf(missing !== null && !required)('examples/engines/restic-py through quiescelab matrix --engine-cmd', () => {
  it('has python3 and restic (QUIESCELAB_REQUIRE_RESTIC=1)', () => {
    expect(missing).toBeNull();
  });

  it('passes the win2019/esx41/files cell: every property its capabilities make applicable passes, file and item restores are not applicable', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ql-restic-ok-'));
    const r = await cli('matrix', ...CELL, '--engine-cmd', `python3 "${ENGINE}"`, '--out', out);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^pass +win2019\/esx41\/files\/default/m);
    const [cell] = results(out).cells;
    expect(cell?.pass).toBe(true);
    const status = Object.fromEntries((cell?.properties ?? []).map((p) => [p.id, p.status]));
    // The backup suite's core properties judged this engine and passed.
    for (const id of ['P1', 'P2', 'P5', 'P8', 'P11', 'P14', 'P17']) expect(status[id], `${id}: ${JSON.stringify(cell?.properties.find((p) => p.id === id))}`).toBe('pass');
    // File-level and item restores are not declared: not applicable, never a pass.
    expect(status['P16']).toBe('not-applicable');
  }, TIMEOUT_MS);

  it('catches a broken line: a crash-consistent point that claims application fails property 2 (no overclaim), exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-restic-broken-'));
    const broken = join(dir, 'engine.py');
    copyFileSync(ENGINE, broken);
    const source = readFileSync(broken, 'utf8');
    // The first crash claim in claim_for: a snapshot taken without quiescing (policy off, or a fallback).
    const honest = "return {'vm': 'crash', 'apps': every('crash'), 'reasons': reasons}";
    expect(source).toContain(honest);
    writeFileSync(broken, source.replace(honest, "return {'vm': 'crash', 'apps': every('application'), 'reasons': reasons}"));
    const out = mkdtempSync(join(tmpdir(), 'ql-restic-bad-'));
    const r = await cli('matrix', ...CELL, '--engine-cmd', `python3 "${broken}"`, '--out', out);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(1);
    expect(r.stdout).toMatch(/^FAIL +win2019\/esx41\/files\/default/im);
    expect(r.stdout).toMatch(/P2\b/);
    const [cell] = results(out).cells;
    expect(cell?.pass).toBe(false);
    const p2 = cell?.properties.find((p) => p.id === 'P2');
    expect(p2?.status).toBe('fail');
    expect(p2?.evidence).toMatch(/claims application for files/);
  }, TIMEOUT_MS);
});
