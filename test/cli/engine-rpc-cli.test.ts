/**
 * `--engine-cmd` on matrix, run and replay: the built-in engine as a process of each worker
 * (`quiescelab engine-stdio`) gives the same cells, the same scenario output and the same
 * replay as in process; results.json names the engine as it named itself at initialize;
 * a command that does not start or needs a shell, or --engine-timeout alone, is one line
 * and exit 2 before anything is written.
 */

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeReplayToken } from '../../scenarios/replay-token.js';
import { cli, expectUsageError } from '../support/cli.js';

const ENGINE = 'node --import tsx cli/main.ts engine-stdio';
const CELL = ['--os', 'linux', '--tools', 'esx41', '--apps', 'files', '--runs', '2', '--seed', '3', '--no-mutants', '--workers', '1'];

function outDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'ql-engine-cmd-')), 'report');
}

interface Results { readonly engine: string; readonly cells: readonly unknown[] }

describe('--engine-cmd', () => {
  it('matrix: the built-in engine in a process per worker gives the same cells; results.json names the engine', async () => {
    const [a, b] = [outDir(), outDir()];
    const direct = await cli('matrix', ...CELL, '--out', a);
    const rpc = await cli('matrix', ...CELL, '--out', b, '--engine-cmd', ENGINE, '--engine-timeout', '120000');
    expect(rpc.exitCode, rpc.stderr).toBe(direct.exitCode);
    const ra = JSON.parse(readFileSync(join(a, 'results.json'), 'utf8')) as Results;
    const rb = JSON.parse(readFileSync(join(b, 'results.json'), 'utf8')) as Results;
    expect(rb.engine).toBe('quiescelab');
    expect(JSON.stringify(rb.cells)).toBe(JSON.stringify(ra.cells));
    expect(rpc.stdout).toBe(direct.stdout.replace(a, b));
  }, 300_000);

  it('run and replay: the same output through the engine process', async () => {
    const args = ['run', '--os', 'linux', '--tools', 'esx41', '--apps', 'sqlite', '--seed', '5'];
    const direct = await cli(...args);
    const rpc = await cli(...args, '--engine-cmd', ENGINE);
    expect([rpc.exitCode, rpc.stderr]).toEqual([direct.exitCode, '']);
    expect(rpc.stdout).toBe(direct.stdout);
    const token = encodeReplayToken({ cell: 'linux/esx41/sqlite/default', suite: 'backup', property: 'P1', seed: 7, runs: 2, path: '1', mutant: null });
    const replayed = await cli('replay', token);
    const replayedRpc = await cli('replay', token, '--engine-cmd', ENGINE);
    expect([replayedRpc.exitCode, replayedRpc.stderr]).toEqual([replayed.exitCode, '']);
    expect(replayedRpc.stdout).toBe(replayed.stdout);
    expect(replayed.stdout).toMatch(/^engine: quiescelab$/m);
  }, 300_000);

  it.each([
    [['matrix', '--engine-cmd', '/nonexistent/engine'], /^quiescelab: --engine-cmd: engine could not start during initialize: .*ENOENT/],
    [['matrix', '--engine-cmd', 'node engine.js | tee log'], /^quiescelab: --engine-cmd: '\|' needs a shell \(quote it, or run a wrapper script\): 'node engine.js \| tee log'$/],
    [['matrix', '--engine-cmd', '"unterminated'], /^quiescelab: --engine-cmd: unterminated double quote/],
    [['matrix', '--engine-timeout', '500'], /^quiescelab: --engine-timeout: only with --engine-cmd or --engine-image$/],
    [['matrix', '--engine-cmd', 'node x.js', '--engine-timeout', '5'], /^quiescelab: --engine-timeout: must be between 100 and 86400000, got 5$/],
    [['run', '--os', 'linux', '--tools', 'esx41', '--apps', 'files', '--engine-cmd', "node -e 'process.exit(4)'"], /^quiescelab: --engine-cmd: engine crashed during initialize \(exit 4\)$/],
    [['replay', encodeReplayToken({ cell: 'linux/esx41/files/default', suite: 'backup', property: 'P1', seed: 1, runs: 1, path: '0', mutant: null }), '--engine-cmd', '/nonexistent/engine'], /^quiescelab: --engine-cmd: engine could not start/],
  ])('%o: one line, exit 2, nothing written', async (args, message) => {
    const out = outDir();
    const r = await cli(...args, ...(args[0] === 'matrix' ? ['--out', out] : []));
    expectUsageError(r, message);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});
