/**
 * `--engine-image IMAGE`: the engine in a container (`docker run -i --rm --network none`).
 * Where a Docker engine is reachable, the built-in engine's image
 * (examples/engines/quiescelab-stdio/Dockerfile) is built and a one-cell matrix through it
 * gives the in-process results.json; elsewhere that test is skipped, saying why. The
 * refusals (no Docker engine, a malformed image reference, both --engine-cmd and
 * --engine-image) are one line and exit 2 everywhere, with nothing written.
 */

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, execaSync } from 'execa';
import { describe, expect, it } from 'vitest';
import { cli, expectUsageError, ROOT } from '../support/cli.js';

/** Why no Docker engine can run containers here, or null when one can. */
function dockerMissing(): string | null {
  try {
    execaSync('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 15_000 });
    return null;
  } catch (e) {
    const stderr = (e as { stderr?: unknown }).stderr;
    return typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim().split('\n')[0] ?? stderr : e instanceof Error ? e.message.split('\n')[0] ?? e.message : String(e);
  }
}

const missing = dockerMissing();
if (missing !== null) console.warn(`--engine-image with a real container skipped: no Docker engine reachable (${missing})`);

const CELL = ['--runs', '2', '--no-mutants', '--os', 'win2019', '--tools', 'esx41', '--apps', 'files', '--workers', '1', '--seed', '3'];

describe('--engine-image', () => {
  it('refuses a malformed image reference, and --engine-cmd with --engine-image, with one line', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'ql-image-')), 'report');
    expectUsageError(await cli('matrix', ...CELL, '--engine-image', 'Not An Image', '--out', out), /^quiescelab: --engine-image: not an image reference: 'Not An Image'$/);
    expectUsageError(await cli('matrix', ...CELL, '--engine-image', 'busybox', '--engine-cmd', 'true', '--out', out), /^quiescelab: --engine-image: give --engine-cmd or --engine-image, not both$/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it.skipIf(missing === null)('without a reachable Docker engine: one line naming why, exit 2, nothing written', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'ql-image-')), 'report');
    expectUsageError(await cli('matrix', ...CELL, '--engine-image', 'quiescelab/engine-stdio', '--out', out), /^quiescelab: --engine-image: no Docker engine is reachable here \(docker info: .+\)$/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it.skipIf(missing !== null)('the built-in engine in a container gives the in-process results.json', async () => {
    const tag = 'quiescelab/engine-stdio:test';
    await execa('docker', ['build', '-q', '-f', 'examples/engines/quiescelab-stdio/Dockerfile', '-t', tag, '.'], { cwd: ROOT, timeout: 900_000 });
    const dir = mkdtempSync(join(tmpdir(), 'ql-image-'));
    const here = await cli('matrix', ...CELL, '--out', join(dir, 'here'));
    const boxed = await cli('matrix', ...CELL, '--engine-image', tag, '--out', join(dir, 'boxed'));
    expect(here.exitCode).toBe(0);
    expect(boxed.exitCode, boxed.stderr).toBe(0);
    expect(readFileSync(join(dir, 'boxed', 'results.json'), 'utf8')).toBe(readFileSync(join(dir, 'here', 'results.json'), 'utf8'));
  }, 1_200_000);
});
