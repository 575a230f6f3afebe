/**
 * quiescelab points / forget / prune / repair (cli/repo.ts) as a user runs them: the happy
 * paths (forget by prefix and by keep-last, prune freeing what no point needs, repair of a
 * sound and of a damaged repository) with restores compared byte for byte, and bad usage
 * (exit 2, one stderr line naming the option, nothing stored touched).
 */

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { xorshiftBytes } from '../support/bytes.js';
import { cli, expectUsageError } from '../support/cli.js';

const MiB = 1024 * 1024;
const lastLine = (s: string): string => s.trim().split('\n').at(-1) ?? '';

/** 3 MiB: 1 MiB random (seeded), 1 MiB zeros, 1 MiB text. */
function makeImage(seed: number): Buffer {
  const text = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `2024-05-01 INFO job ${(i * seed) % 977} wrote block ${i * 7}\n`).join(''));
  return Buffer.concat([Buffer.from(xorshiftBytes(seed, MiB)), Buffer.alloc(MiB), text.subarray(0, MiB)]);
}

function packFiles(repo: string): string[] {
  const dir = join(repo, 'packs');
  return readdirSync(dir).flatMap((d) => readdirSync(join(dir, d)).map((f) => join(dir, d, f))).sort();
}

describe('quiescelab points / forget / prune / repair (CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ql-repo-cmds-'));
  const repo = join(dir, 'repo');
  const a = join(dir, 'a.img');
  const b = join(dir, 'b.img');
  const images = new Map<string, Buffer>();

  async function backup(path: string, image: Buffer): Promise<string> {
    writeFileSync(path, image);
    const r = await cli('backup-image', path, '--repo', repo);
    expect(r.exitCode, r.stderr).toBe(0);
    const id = lastLine(r.stdout);
    images.set(id, image);
    return id;
  }

  async function expectRestores(id: string): Promise<void> {
    const out = join(dir, `r-${id.slice(0, 8)}-${Date.now()}.img`);
    const r = await cli('restore-image', '--repo', repo, '--point', id, '--to', out);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(out).equals(images.get(id) as Buffer)).toBe(true);
  }

  const ids: string[] = [];

  it('points lists every point oldest first; forget --point (a prefix) removes a parent, its child restores as before; prune frees its data', async () => {
    const a1 = makeImage(1);
    const a2 = Buffer.from(a1);
    a2.fill(0x42, 0, 300_000); // the random part's first chunk changes
    ids.push(await backup(a, a1), await backup(a, a2), await backup(b, makeImage(2)));
    const listed = await cli('points', '--repo', repo);
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.stdout.trim().split('\n').map((l) => l.split(/\s+/)[1])).toEqual([...ids.map((id) => id.slice(0, 12)), 'points']);
    const json = await cli('points', '--repo', repo, '--json');
    expect(json.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(ids);

    const dry = await cli('forget', '--repo', repo, '--point', ids[0]?.slice(0, 8) ?? '', '--dry-run');
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/would remove 1 point/);
    expect(readdirSync(join(repo, 'points'))).toHaveLength(3);

    const packsBefore = packFiles(repo).length;
    const f = await cli('forget', '--repo', repo, '--point', ids[0]?.slice(0, 8) ?? '');
    expect(f.exitCode, f.stderr).toBe(0);
    expect(f.stdout).toMatch(/^forget .*: removed 1 point, 2 kept$/m);
    expect(f.stdout).toMatch(/named a removed point as parent: every manifest is self-contained, it restores as before/);
    expect(f.stdout).toMatch(/no data was removed: `quiescelab prune --repo .*` frees what no remaining point needs/);
    expect(packFiles(repo)).toHaveLength(packsBefore);
    await expectRestores(ids[1] as string);

    const p = await cli('prune', '--repo', repo);
    expect(p.exitCode, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/^prune .*: 2 points kept$/m);
    expect(p.stdout).toMatch(/removed [1-9]\d* unreferenced blobs?: .* replaced by 1/);
    expect(p.stdout).toMatch(/^freed \d+\.\d MiB$/m);
    for (const id of ids.slice(1)) await expectRestores(id);
    const v = await cli('verify', '--repo', repo);
    expect(v.exitCode, v.stdout).toBe(0);
    expect(v.stdout).not.toMatch(/garbage/);
  });

  it('forget --keep-last N keeps the newest N of each source file; --prune prunes in the same run', async () => {
    const a3 = Buffer.from(images.get(ids[1] as string) as Buffer);
    a3.fill(0x43, 2 * MiB, 2 * MiB + 4096);
    ids.push(await backup(a, a3));
    const r = await cli('forget', '--repo', repo, '--keep-last', '1', '--prune');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/removed 1 point, 2 kept/);
    expect(r.stdout).toMatch(new RegExp(`removed ${ids[1]?.slice(0, 12) ?? ''} \\(#2, .*a\\.img\\)`));
    expect(r.stdout).toMatch(/^prune .*: 2 points kept$/m);
    expect(readdirSync(join(repo, 'points')).sort()).toEqual([ids[2], ids[3]].sort());
    for (const id of [ids[2], ids[3]]) await expectRestores(id as string);
  });

  it('repair of a sound repository: exit 0, no data lost', async () => {
    const r = await cli('repair', '--repo', repo);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^config: intact$/m);
    expect(lastLine(r.stdout)).toBe('no data lost: the repository is sound (verify passes)');
  });

  it('garbage in an index file: prune refuses (exit 1, run repair); repair rebuilds the index from the packs, nothing lost', async () => {
    const index = readdirSync(join(repo, 'index'))[0] as string;
    writeFileSync(join(repo, 'index', index), '{"garbage');
    const p = await cli('prune', '--repo', repo);
    expect(p.exitCode, p.stderr).toBe(1);
    expect(p.stdout).toMatch(/^damaged: index file index\/.*: hash mismatch$/m);
    expect(lastLine(p.stdout)).toMatch(/^prune refused, the repository is damaged \(nothing was removed\): run `quiescelab repair --repo .*`$/);
    const r = await cli('repair', '--repo', repo);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^index: 1 index file \(1 damaged\) replaced by index\/[0-9a-f]{64}: /m);
    for (const id of [ids[2], ids[3]]) await expectRestores(id as string);
  });

  it('a flipped bit in every pack: repair exits 1 naming each point and what it lost; then verify passes and points marks them', async () => {
    for (const pack of packFiles(repo)) {
      const bytes = readFileSync(pack);
      bytes[20] = (bytes[20] as number) ^ 1;
      writeFileSync(pack, bytes);
    }
    const r = await cli('repair', '--repo', repo);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^damaged pack packs\/.*: SHA-256 of the bytes does not match the name; 1 blob lost .*the damaged bytes are in damaged\/packs\//m);
    expect(r.stdout).toMatch(/^point [0-9a-f]{12} \(#\d, image:.*\): DAMAGED: disk disk0 lost \d+ chunks?, \d+ bytes at \[\d+, \d+\).*; rewritten as [0-9a-f]{12}/m);
    expect(lastLine(r.stdout)).toBe('data lost: see the points above; the repository is sound again (verify passes)');
    const v = await cli('verify', '--repo', repo);
    expect(v.exitCode, v.stdout).toBe(0);
    const listed = await cli('points', '--repo', repo);
    expect(listed.stdout).toMatch(/inconsistent .* DAMAGED: repair lost \d+ chunks? \(\d+\.\d MiB now read as zeros; was [0-9a-f]{12}\)/);
    const again = await cli('repair', '--repo', repo);
    expect(again.exitCode, again.stdout).toBe(0);
  });

  it.each([
    [() => ['forget', '--repo', repo], /^quiescelab: --point or --keep-last: say which points to forget$/],
    [() => ['forget', '--repo', repo, '--point', 'abcdef12', '--keep-last', '2'], /^quiescelab: --point and --keep-last: give one of them$/],
    [() => ['forget', '--repo', repo, '--point', 'zz'], /^quiescelab: --point: 'zz' is not a RecoveryPoint id \(6 to 64 hex digits\)$/],
    [() => ['forget', '--repo', repo, '--point', 'abc'], /^quiescelab: --point: 'abc' is not a RecoveryPoint id/],
    // Every id is checked before any point is removed: the listed one stays.
    [() => ['forget', '--repo', repo, '--point', readdirSync(join(repo, 'points'))[0] ?? '', '--point', 'abcdef12'], /^quiescelab: --point: no recovery point 'abcdef12' in /],
    [() => ['forget', '--repo', repo, '--keep-last', '0'], /^quiescelab: --keep-last: must be between 1 and 1000000, got 0$/],
    [() => ['forget', '--repo', repo, '--keep-last', 'two'], /^quiescelab: --keep-last: expected a whole number, got 'two'$/],
    [() => ['forget', '--point', 'abcdef'], /required option '--repo <dir>' not specified/],
    [() => ['prune', '--repo', join(dir, 'nowhere')], /^quiescelab: --repo: '.*nowhere' does not exist$/],
    [() => ['prune', '--repo', a], /^quiescelab: --repo: '.*a\.img' is not a folder$/],
    [() => ['repair', '--repo', join(dir, 'empty')], /^quiescelab: --repo: '.*empty' is not a quiescelab repository \(no config object\)$/],
    [() => ['points', '--repo', join(dir, 'empty')], /^quiescelab: --repo: '.*empty' is not a quiescelab repository/],
  ])('bad usage %#: exit 2, one line naming the option, nothing removed', async (args, message) => {
    mkdirSync(join(dir, 'empty'), { recursive: true });
    const before = readdirSync(join(repo, 'points')).sort();
    const r = await cli(...args());
    expectUsageError(r, message);
    expect(readdirSync(join(repo, 'points')).sort()).toEqual(before);
  });

  it('a repository locked by a live writer: forget, prune and repair refuse (exit 2); garbage in locks/writer is cleared by repair', async () => {
    const now = Date.now() * 1000;
    mkdirSync(join(repo, 'locks'), { recursive: true });
    writeFileSync(join(repo, 'locks', 'writer'), JSON.stringify({ format: 'quiescelab-lock', owner: 'other-job', acquiredAtUs: now, refreshedAtUs: now, attributes: { host: hostname(), pid: process.pid } }));
    for (const args of [['prune'], ['repair'], ['forget', '--keep-last', '1']]) {
      expectUsageError(await cli(...args, '--repo', repo), /^quiescelab: --repo: repository locked by 'other-job'/);
    }
    // bytes that are no lock record were never a live writer's (a lock is published
    // whole): repair clears them, and so does the next writer, breaking it as stale
    writeFileSync(join(repo, 'locks', 'writer'), 'garbage');
    const r = await cli('repair', '--repo', repo);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^lock: locks\/writer did not decode \(.*\): removed$/m);
    writeFileSync(join(repo, 'locks', 'writer'), 'garbage');
    const p = await cli('prune', '--repo', repo);
    expect(p.exitCode, p.stderr).toBe(0);
  });
});
