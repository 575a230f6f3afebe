/**
 * Acceptance of issue 14's crash safety on real files: `backup-image`, `prune` and
 * `repair` of the built CLI (`node dist/cli/main.js`; run `npm run build` first) are
 * killed with SIGKILL at 20 seeded instants each, spread over the run's measured duration.
 * After each kill: every earlier point is still listed and restores byte for byte
 * (restore-image, compared), every listed point is a known complete one (a backup killed
 * after its commit point shows its whole new point, never a partial one), verify passes
 * (garbage allowed), and the next run of the same command succeeds.
 *
 * The setups between runs (a new point for prune and repair to work on, forgetting old
 * ones) and the verify after each kill run in this process through the engine (the same
 * code as the CLI's; the CLI's verify runs at the end of each command's loop), to keep
 * the test near 2 minutes on two busy cores: each spawn of the CLI costs ~0.4 s to load.
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPrng, type Prng } from '../../core/prng.js';
import { DiskId } from '../../core/ids.js';
import { ok, unwrap } from '../../core/result.js';
import { backupImage } from '../../engine/repository/image-backup.js';
import { Repository } from '../../engine/repository/repository.js';
import { describeDamage, verifyRepository } from '../../engine/repository/verify.js';
import { LocalDirStore } from '../../engine/store/local-dir-store.js';
import { xorshiftBytes } from '../support/bytes.js';
import { ROOT } from '../support/cli.js';

const MAIN = join(ROOT, 'dist/cli/main.js');
const MiB = 1024 * 1024;
const KILLS = 20;

interface Run {
  readonly code: number | null;
  readonly killed: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs the built CLI; with `killAfterMs`, SIGKILLs it then unless it ended before. */
function run(args: readonly string[], killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, killed: signal === 'SIGKILL', stdout, stderr, ms: performance.now() - start });
    });
  });
}

async function runOk(args: readonly string[], codes: readonly number[] = [0]): Promise<Run> {
  const r = await run(args);
  expect(codes, `quiescelab ${args.join(' ')}: exit ${String(r.code)}\n${r.stdout}\n${r.stderr}`).toContain(r.code);
  return r;
}

/** A 3 MiB image: 1 MiB random, 1 MiB zeros, 1 MiB log text. */
function baseImage(): Buffer {
  const text = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `2024-05-01 INFO job ${i % 977} wrote block ${i * 7}\n`).join(''));
  return Buffer.concat([Buffer.from(xorshiftBytes(9, MiB)), Buffer.alloc(MiB), text.subarray(0, MiB)]);
}

/** The image with 64 KiB of new random bytes at a seeded place. */
function changed(image: Buffer, prng: Prng): Buffer {
  const next = Buffer.from(image);
  next.set(prng.fill(new Uint8Array(64 * 1024)), prng.int(0, next.length - 64 * 1024));
  return next;
}

class Lab {
  readonly dir = mkdtempSync(join(tmpdir(), 'ql-repo-crash-'));
  readonly repo = join(this.dir, 'repo');
  readonly imagePath = join(this.dir, 'disk.img');
  /** Every point the test made (or saw appear whole), by id. */
  readonly known = new Map<string, Buffer>();
  image = baseImage();
  restores = 0;

  listed(): string[] {
    return existsSync(join(this.repo, 'points')) ? readdirSync(join(this.repo, 'points')).sort() : [];
  }

  /** A new point through the engine in this process (a setup, not under test). */
  async backupInProcess(prng: Prng): Promise<void> {
    this.image = changed(this.image, prng);
    const store = unwrap(await LocalDirStore.open(this.repo, { create: false, tempTag: 'test-setup' }));
    const clock = { nowUs: () => Date.now() * 1000 };
    const repo = unwrap(await Repository.open(store, { clock, writer: { owner: 'test-setup' } }));
    const image = this.image;
    const source = { capacityBytes: image.length, read: (o: number, n: number) => Promise.resolve(ok(image.subarray(o, o + n))) };
    const meta = { vmId: 'image:disk.img', claimedLevel: 'crash' as const, reasons: ['test setup'], writerStates: {}, timingsUs: {}, attributes: { sourcePath: this.imagePath } };
    const done = unwrap(await backupImage(repo, source, { diskId: DiskId('disk0'), meta }));
    unwrap(await repo.close());
    this.known.set(done.id, image);
  }

  /** Forgets all but the newest `keep` points (unlinks their manifests: what forget does). */
  trim(keep: number): void {
    const order = [...this.known.keys()].filter((id) => this.listed().includes(id));
    for (const id of order.slice(0, Math.max(0, order.length - keep))) {
      unlinkSync(join(this.repo, 'points', id));
      this.known.delete(id);
    }
  }

  /** Takes the points that appeared as holding `candidate` (none may appear without one). */
  register(label: string, candidate: Buffer | undefined): string[] {
    const listed = this.listed();
    for (const id of listed) {
      if (this.known.has(id)) continue;
      expect(candidate, `${label}: point ${id} appeared and is none of the test's`).toBeDefined();
      this.known.set(id, candidate as Buffer);
    }
    return listed;
  }

  /** The checks after a kill (see the header); `candidate`: the image a point that appeared must hold. */
  async check(earlier: readonly string[], label: string, candidate?: Buffer): Promise<void> {
    const listed = this.register(label, candidate);
    for (const id of earlier) expect(listed, `${label}: earlier point ${id} is still listed`).toContain(id);
    const restores = listed.map(async (id) => {
      const out = join(this.dir, `restore-${id.slice(0, 8)}.img`);
      await runOk(['restore-image', '--repo', this.repo, '--point', id, '--to', out, '--force']);
      this.restores += 1;
      expect(readFileSync(out).equals(this.known.get(id) as Buffer), `${label}: point ${id} restores byte for byte`).toBe(true);
    });
    await Promise.all(restores);
    // verify's own code in this process (a spawn per kill would cost ~0.7 s); the CLI's at the end of each loop.
    const store = unwrap(await LocalDirStore.open(this.repo, { create: false, tempTag: 'test-verify' }));
    expect(unwrap(await verifyRepository(store)).damages.map(describeDamage), label).toEqual([]);
  }
}

/** Runs killed, runs that ended first, kills after which the new point was already there (backup-image). */
interface Tally { killed: number; finished: number; appeared: number; ms: number }

/** One command's 20 kills: `setup` before each, the killed run, the checks, the next run. */
async function killLoop(lab: Lab, prng: Prng, args: () => string[], setup: () => Promise<void>, candidate: () => Buffer | undefined): Promise<Tally> {
  const start = performance.now();
  await setup();
  // The kill instants spread over the last unkilled run's duration (it follows the machine's load).
  let expectedMs = (await runOk(args(), [0])).ms;
  await lab.check([], `an unkilled ${args()[0] ?? ''} (its duration sets the kill instants)`, candidate());
  const tally = { killed: 0, finished: 0, appeared: 0, ms: 0 };
  for (let i = 0; i < KILLS; i++) {
    await setup();
    const earlier = lab.listed();
    const delay = prng.int(0, Math.round(expectedMs));
    const r = await run(args(), delay);
    if (r.killed) tally.killed += 1;
    else {
      tally.finished += 1;
      expect(r.code, `${args().join(' ')} ended before its kill at ${delay} ms: ${r.stderr}`).toBe(0);
    }
    const label = `kill ${i + 1} at ${delay} ms of ${args()[0] ?? ''}`;
    await lab.check(earlier, label, candidate());
    if (r.killed && lab.listed().length > earlier.length) tally.appeared += 1;
    expectedMs = (await runOk(args(), [0])).ms;
    lab.register(`${label}, the next run`, candidate());
  }
  await lab.check(lab.listed(), `after the last run of ${args()[0] ?? ''}`, candidate());
  expect((await runOk(['verify', '--repo', lab.repo])).stdout).toMatch(/^no damage: /m);
  return { ...tally, ms: performance.now() - start };
}

describe('kill -9 of backup-image, prune and repair (built CLI)', () => {
  it('at 20 seeded instants each: no earlier point lost, no partial point, the next run succeeds', async () => {
    expect(existsSync(MAIN), 'dist/cli/main.js is missing: run `npm run build` first').toBe(true);
    expect((await run(['repair', '--help'])).code, 'dist/ has no repair command: run `npm run build` first').toBe(0);
    const lab = new Lab();
    const prng = createPrng(14);
    writeFileSync(lab.imagePath, lab.image);
    const first = await runOk(['backup-image', lab.imagePath, '--repo', lab.repo]);
    lab.known.set(first.stdout.trim().split('\n').at(-1) ?? '', lab.image);

    const backup = await killLoop(lab, prng.fork('backup'), () => ['backup-image', lab.imagePath, '--repo', lab.repo], () => {
      lab.trim(2);
      lab.image = changed(lab.image, prng);
      writeFileSync(lab.imagePath, lab.image);
      return Promise.resolve();
    }, () => lab.image);
    const prune = await killLoop(lab, prng.fork('prune'), () => ['prune', '--repo', lab.repo], async () => {
      await lab.backupInProcess(prng);
      lab.trim(1); // the forgotten point's data is what prune removes (and repacks)
    }, () => undefined);
    const repair = await killLoop(lab, prng.fork('repair'), () => ['repair', '--repo', lab.repo], async () => {
      await lab.backupInProcess(prng); // a new index file and pack for repair to merge
      lab.trim(1);
    }, () => undefined);
    const line = (name: string, t: Tally): string => `${name}: ${t.killed} killed (${t.appeared} after the commit point), ${t.finished} finished before the kill, ${(t.ms / 1000).toFixed(1)} s`;
    console.log([line('backup-image', backup), line('prune', prune), line('repair', repair), `${lab.restores} restores compared`].join('\n'));
    expect(backup.killed + prune.killed + repair.killed).toBeGreaterThan(30);
  }, 300_000);
});
