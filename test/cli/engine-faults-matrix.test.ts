/**
 * A misbehaving engine inside a real matrix run (`--engine-cmd`): the built-in engine served
 * by a small script that, on its third backup, crashes (exit 3, a line on stderr), hangs,
 * or writes garbage on stdout — once (a marker file remembers it across restarts, so the
 * shrink finds no second failure and the test stays short). The run that hit it fails with one line
 * naming the call and the reason (the crash quotes the engine's stderr), the matrix goes on
 * with the next scenario on a restarted engine, and exits 1 with the cell failed.
 */

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli, ROOT } from '../support/cli.js';

type Misdeed = 'crash' | 'hang' | 'garbage';

/** A script serving the built-in engine that misbehaves on its third backup. */
function faultyEngine(dir: string, misdeed: Misdeed): string {
  const path = join(dir, `${misdeed}-engine.mts`);
  const url = (p: string): string => pathToFileURL(join(ROOT, p)).href;
  writeFileSync(path, `
import { serveEngine } from '${url('cli/engine-rpc/server.ts')}';
import { builtinEngine } from '${url('scenarios/engine-builtin.ts')}';
import { existsSync, writeFileSync } from 'node:fs';
const inner = builtinEngine();
const marker = ${JSON.stringify(join(dir, 'misbehaved'))};
let backups = 0;
const engine = { ...inner, backup: (env, params) => {
  if (++backups === 3 && !existsSync(marker)) {
    writeFileSync(marker, '${misdeed}');
    ${misdeed === 'crash' ? "process.stderr.write('fatal: the disk cache ate my pointer\\n'); process.exit(3);" : ''}
    ${misdeed === 'hang' ? 'return new Promise(() => undefined);' : ''}
    ${misdeed === 'garbage' ? "process.stdout.write('hello from a stray print\\n');" : ''}
  }
  return inner.backup(env, params);
} };
serveEngine(engine, process.stdin, process.stdout);
`);
  return path;
}

interface Results {
  readonly cells: readonly { readonly pass: boolean; readonly properties: readonly { readonly id: string; readonly status: string; readonly evidence: string | null; readonly runs: number; readonly failures: number }[] }[];
}

async function matrixWith(misdeed: Misdeed): Promise<{ exitCode: number | undefined; results: Results }> {
  const dir = mkdtempSync(join(tmpdir(), `ql-engine-${misdeed}-`));
  const engine = faultyEngine(dir, misdeed);
  const out = join(dir, 'report');
  const r = await cli('matrix', '--runs', '3', '--no-mutants', '--os', 'win2019', '--tools', 'esx41', '--apps', 'files', '--workers', '1',
    '--engine-cmd', `node --import tsx ${engine}`, '--engine-timeout', '3000', '--out', out);
  return { exitCode: r.exitCode, results: JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results };
}

const EXPECTED: Record<Misdeed, RegExp> = {
  crash: /^the run threw: engine crashed during backup \(exit 3\): fatal: the disk cache ate my pointer$/,
  hang: /^the run threw: engine hung during backup: no message for 3000 ms \(killed\)$/,
  garbage: /^the run threw: engine wrote garbage on stdout during backup: .*hello from a stray print/,
};

describe('a misbehaving engine in a matrix run', () => {
  for (const misdeed of ['crash', 'hang', 'garbage'] as const) {
    it(`${misdeed}: the run fails with one line naming the call, the matrix goes on and exits 1`, async () => {
      const { exitCode, results } = await matrixWith(misdeed);
      expect(exitCode).toBe(1);
      const cell = results.cells[0];
      expect(cell?.pass).toBe(false);
      const p2 = cell?.properties.find((p) => p.id === 'P2');
      expect(p2?.status).toBe('fail');
      expect(p2?.evidence?.split('\n')).toHaveLength(1);
      expect(p2?.evidence).toMatch(EXPECTED[misdeed]);
      // The other runs went on with a restarted engine and were judged: one failure among them.
      expect(p2?.runs).toBe(3);
      expect(p2?.failures).toBe(1);
    }, 180_000);
  }
});
