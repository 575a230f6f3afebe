import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { xorshiftBytes } from '../support/bytes.js';
import { cli } from '../support/cli.js';

const MiB = 1024 * 1024;

/** 6 MiB: 2 MiB random, 1 MiB zeros, 3 MiB text. */
function makeImage(): Buffer {
  const text = Buffer.from(Array.from({ length: 120_000 }, (_, i) => `2024-05-01 INFO job ${i % 977} wrote block ${i * 7}\n`).join(''));
  return Buffer.concat([Buffer.from(xorshiftBytes(1, 2 * MiB)), Buffer.alloc(MiB), text.subarray(0, 3 * MiB)]);
}

const lastLine = (s: string): string => s.trim().split('\n').at(-1) ?? '';
const oneLineError = (r: { stderr: string }): string => {
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return lines[0] ?? '';
};

describe('quiescelab backup-image / restore-image / verify (CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ql-image-'));
  const imagePath = join(dir, 'disk.img');
  const repo = join(dir, 'repo');
  const v1 = makeImage();
  const v2 = Buffer.from(v1);
  v2.fill(0x41, 4 * MiB, 4 * MiB + 4096); // one 4 KiB block of the text changes
  let first = '';
  let second = '';

  it('backs up a raw image (last line: the id), restores it byte for byte, verifies clean', async () => {
    writeFileSync(imagePath, v1);
    const r = await cli('backup-image', imagePath, '--repo', repo);
    expect(r.exitCode, r.stderr).toBe(0);
    first = lastLine(r.stdout);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(r.stdout).toMatch(/\(full\)/);
    const out = join(dir, 'restored-1.img');
    const restore = await cli('restore-image', '--repo', repo, '--point', first.slice(0, 12), '--to', out);
    expect(restore.exitCode, restore.stderr).toBe(0);
    expect(readFileSync(out).equals(v1)).toBe(true);
    const verify = await cli('verify', '--repo', repo);
    expect(verify.exitCode).toBe(0);
    expect(lastLine(verify.stdout)).toMatch(/^no damage: checked 1 points/);
  });

  it('a second backup of the changed file is an incremental that reuses stored chunks (--json details)', async () => {
    writeFileSync(imagePath, v2);
    const r = await cli('backup-image', imagePath, '--repo', repo, '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    second = lines[1] ?? '';
    const details = JSON.parse(lines[0] ?? '') as { id: string; parent: string; stats: { bytesNew: number; bytesReused: number; bytesZero: number } };
    expect(details.id).toBe(second);
    expect(details.parent).toBe(first);
    expect(details.stats.bytesReused).toBeGreaterThan(3 * MiB);
    expect(details.stats.bytesNew).toBeLessThanOrEqual(4 * MiB);
    expect(details.stats.bytesZero).toBe(MiB);
    for (const [id, bytes] of [[first, v1], [second, v2]] as const) {
      const out = join(dir, `restored-${id.slice(0, 8)}.img`);
      const restore = await cli('restore-image', '--repo', repo, '--point', id, '--to', out);
      expect(restore.exitCode, restore.stderr).toBe(0);
      expect(readFileSync(out).equals(bytes)).toBe(true);
    }
  });

  it.each([
    [() => ['backup-image', join(dir, 'nope.img'), '--repo', repo], /^quiescelab: FILE: '.*nope\.img' does not exist$/],
    [() => ['backup-image', imagePath, '--repo', join(dir, 'not-a-repo')], /^quiescelab: --repo: .*not-a-repo is not a quiescelab repository \(no config object\)$/],
    [() => ['backup-image', imagePath, '--repo', join(dir, 'missing', 'deeper')], /^quiescelab: --repo: cannot create '.*deeper'/],
    [() => ['restore-image', '--repo', repo, '--point', 'abcdef12', '--to', join(dir, 'x.img')], /^quiescelab: --point: no recovery point 'abcdef12' in /],
    [() => ['restore-image', '--repo', repo, '--point', 'zz', '--to', join(dir, 'x.img')], /^quiescelab: --point: no recovery point 'zz' in /],
    [() => ['restore-image', '--repo', repo, '--point', first, '--to', imagePath], /^quiescelab: --to: '.*disk\.img' exists \(add --force to replace it\)$/],
    [() => ['restore-image', '--repo', join(dir, 'nowhere'), '--point', first, '--to', join(dir, 'x.img')], /^quiescelab: --repo: '.*nowhere' does not exist$/],
    [() => ['verify', '--repo', join(dir, 'not-a-repo')], /^quiescelab: --repo: '.*not-a-repo' is not a quiescelab repository/],
    [() => ['verify'], /required option '--repo <dir>' not specified/],
  ])('bad input %#: one line naming the option or value, exit 2, nothing stored lost', async (args, message) => {
    mkdirSync(join(dir, 'not-a-repo'), { recursive: true });
    writeFileSync(join(dir, 'not-a-repo', 'precious.txt'), 'keep');
    const before = readdirSync(join(repo, 'points')).sort();
    const r = await cli(...args());
    expect(r.exitCode).toBe(2);
    expect(oneLineError(r)).toMatch(message);
    expect(readdirSync(join(repo, 'points')).sort()).toEqual(before);
    expect(readFileSync(join(dir, 'not-a-repo', 'precious.txt'), 'utf8')).toBe('keep');
    expect(readFileSync(imagePath).equals(v2)).toBe(true);
  });

  it('a repository locked by a live writer refuses a second backup (exit 2, one line)', async () => {
    const lock = { format: 'quiescelab-lock', owner: 'other-job', acquiredAtUs: Date.now() * 1000, refreshedAtUs: Date.now() * 1000, attributes: { host: hostname(), pid: process.pid } };
    mkdirSync(join(repo, 'locks'), { recursive: true });
    writeFileSync(join(repo, 'locks', 'writer'), JSON.stringify(lock));
    const r = await cli('backup-image', imagePath, '--repo', repo);
    expect(r.exitCode).toBe(2);
    expect(oneLineError(r)).toMatch(/^quiescelab: --repo: repository locked by 'other-job'/);
    // The same lock left by a process that is gone is stale at once.
    writeFileSync(join(repo, 'locks', 'writer'), JSON.stringify({ ...lock, attributes: { host: hostname(), pid: 2 ** 22 + 12_345 } }));
    const after = await cli('verify', '--repo', repo);
    expect(after.exitCode).toBe(0);
    const again = await cli('backup-image', imagePath, '--repo', repo);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(existsSync(join(repo, 'locks', 'writer'))).toBe(false);
  });

  it('--force replaces an existing --to', async () => {
    const out = join(dir, 'forced.img');
    writeFileSync(out, 'old');
    const r = await cli('restore-image', '--repo', repo, '--point', first, '--to', out, '--force');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(out).equals(v1)).toBe(true);
  });

  it('verify exits 1 with one line per damage; a restore that meets the damage exits 1 and writes nothing', async () => {
    const packsDir = join(repo, 'packs');
    const pack = readdirSync(packsDir).flatMap((d) => readdirSync(join(packsDir, d)).map((f) => join(packsDir, d, f)))[0] as string;
    const bytes = readFileSync(pack);
    bytes[100] = (bytes[100] as number) ^ 0x55;
    writeFileSync(pack, bytes);
    const verify = await cli('verify', '--repo', repo);
    expect(verify.exitCode).toBe(1);
    const damaged = verify.stdout.split('\n').filter((l) => l.startsWith('damaged: '));
    expect(damaged.length).toBeGreaterThanOrEqual(2);
    expect(damaged[0]).toMatch(/^damaged: packs\/[0-9a-f]{2}\/[0-9a-f]{64}: SHA-256 of the bytes does not match the name$/);
    expect(verify.stdout).toMatch(/^damaged: points\/[0-9a-f]{64}: disk disk0 at \d+: chunk [0-9a-f]{64}: damaged in packs\//m);
    expect(lastLine(verify.stdout)).toMatch(/^\d+ damaged: checked/);
    const out = join(dir, 'from-damaged.img');
    const restore = await cli('restore-image', '--repo', repo, '--point', first, '--to', out);
    expect(restore.exitCode).toBe(1);
    expect(oneLineError(restore)).toMatch(/^quiescelab: restore failed, nothing written to .*: chunk [0-9a-f]{64} .* of manifest points\/[0-9a-f]{64} in packs\/.*: (CRC32|SHA-256|zstd)/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('ql-restore'))).toEqual([]);
  });
});

describe('backup-image: the compression of a new repository', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ql-image-codec-'));
  const imagePath = join(dir, 'disk.img');
  writeFileSync(imagePath, makeImage());
  const configLine = (repo: string): { version: number; compression: string; zstdLevel?: number; brotliQuality?: number } =>
    JSON.parse(readFileSync(join(repo, 'config'), 'utf8').split('\n')[0] ?? '') as { version: number; compression: string };

  it('zstd 4 by default, --zstd-level N, or a brotli repository with --brotli-quality N; both restore', async () => {
    for (const [name, args, expected] of [
      ['default', [], { version: 2, compression: 'zstd', zstdLevel: 4 }],
      ['zstd-1', ['--zstd-level', '1'], { version: 2, compression: 'zstd', zstdLevel: 1 }],
      ['brotli-2', ['--brotli-quality', '2'], { version: 1, compression: 'brotli', brotliQuality: 2 }],
    ] as const) {
      const repo = join(dir, name);
      const r = await cli('backup-image', imagePath, '--repo', repo, ...args);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(configLine(repo)).toMatchObject(expected);
      const out = join(dir, `${name}.img`);
      const restore = await cli('restore-image', '--repo', repo, '--point', lastLine(r.stdout), '--to', out);
      expect(restore.exitCode, restore.stderr).toBe(0);
      expect(readFileSync(out).equals(readFileSync(imagePath))).toBe(true);
    }
  });

  it('both options, or a level out of range, is bad usage (exit 2) and creates nothing', async () => {
    for (const args of [['--zstd-level', '4', '--brotli-quality', '1'], ['--zstd-level', '20'], ['--brotli-quality', '12']]) {
      const repo = join(dir, `bad-${args.join('')}`);
      const r = await cli('backup-image', imagePath, '--repo', repo, ...args);
      expect(r.exitCode).toBe(2);
      expect(oneLineError(r)).toMatch(/^quiescelab: --(zstd-level|brotli-quality)/);
      expect(existsSync(join(repo, 'config'))).toBe(false);
    }
  });
});
