/**
 * docs/ci/: each CI file parses as YAML, has the shape its system needs (a matrix of
 * shards and a merge job; parallel and a merge stage; an Indexed Job and a merge Job), and
 * every quiescelab command in it (`quiescelab ...`, `npx quiescelab ...`, `node
 * dist/cli/main.js ...`) names a command of the CLI with options that command has — read
 * from the commander program cli/main.ts runs (cli/program.ts).
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildProgram } from '../../cli/program.js';
import { ROOT } from '../support/cli.js';

const FILES = ['github-actions.yml', 'gitlab-ci.yml', 'kubernetes.yml'] as const;

function documents(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'docs/ci', file), 'utf8'));
  for (const d of docs) expect(d.errors, `${file}: ${d.errors.map((e) => e.message).join('; ')}`).toEqual([]);
  return docs.map((d) => d.toJSON() as unknown);
}

/** Every string anywhere in a parsed document. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(strings);
  return [];
}

/** The quiescelab invocations in a shell text: each one's words after the program. */
function invocations(text: string): string[][] {
  const found: string[][] = [];
  for (const segment of text.split(/&&|\|\||;|\n|\|/)) {
    const m = /(?:^|\s)(?:npx\s+quiescelab|quiescelab|node\s+dist\/cli\/main\.js)\s+(.*)$/.exec(segment.trim());
    if (m !== null) found.push((m[1] ?? '').trim().split(/\s+/));
  }
  return found;
}

function longOptions(command: Command): Set<string> {
  return new Set(command.options.map((o) => o.long).filter((l): l is string => l !== undefined));
}

const program = buildProgram();

describe('docs/ci', () => {
  it.each(FILES)('%s: every quiescelab command and option exists in the CLI, and it runs shards and a merge', (file) => {
    const calls = documents(file).flatMap(strings).flatMap(invocations);
    expect(calls.length, file).toBeGreaterThanOrEqual(2);
    for (const [name, ...args] of calls) {
      const command = program.commands.find((c) => c.name() === name);
      expect(command, `${file}: quiescelab ${name ?? ''}: no such command`).toBeDefined();
      const known = longOptions(command as Command);
      for (const arg of args.filter((a) => a.startsWith('--'))) expect(known.has(arg.split('=')[0] ?? ''), `${file}: quiescelab ${name ?? ''} ${arg}: no such option`).toBe(true);
    }
    expect(calls.some(([name, ...args]) => name === 'matrix' && args.includes('--shard')), `${file}: a matrix --shard`).toBe(true);
    expect(calls.some(([name]) => name === 'merge'), `${file}: a merge`).toBe(true);
  });

  it('GitHub Actions: a matrix of shards, a merge job after them, the report uploaded, the JUnit published', () => {
    const [wf] = documents('github-actions.yml') as [{ jobs: Record<string, { needs?: string; strategy?: { matrix: { shard: number[] } }; steps: { uses?: string; run?: string }[] }> }];
    const shard = wf.jobs.shard;
    const merge = wf.jobs.merge;
    expect(shard?.strategy?.matrix.shard).toEqual([1, 2, 3, 4]);
    expect(merge?.needs).toBe('shard');
    const uses = merge?.steps.map((s) => s.uses ?? '') ?? [];
    expect(uses).toEqual(expect.arrayContaining(['actions/download-artifact@v4', 'actions/upload-artifact@v4', 'mikepenz/action-junit-report@v5']));
  });

  it('GitLab: parallel shards with --shard auto, a merge stage reading their artifacts, the JUnit as a report', () => {
    const [ci] = documents('gitlab-ci.yml') as [Record<string, { stage?: string; parallel?: number; needs?: string[]; script?: string[]; artifacts?: { reports?: { junit?: string } } }> & { stages: string[] }];
    expect(ci.stages).toEqual(['matrix', 'merge']);
    expect(ci['quiescelab-shard']?.parallel).toBe(4);
    expect(ci['quiescelab-shard']?.script?.join('\n')).toContain('--shard auto');
    expect(ci['quiescelab-merge']).toMatchObject({ stage: 'merge', needs: ['quiescelab-shard'], artifacts: { reports: { junit: 'junit.xml' } } });
  });

  it('Kubernetes: an Indexed Job of 4 shards and a merge Job that waits for them on a shared volume', () => {
    const docs = documents('kubernetes.yml') as { kind: string; metadata: { name: string }; spec: Record<string, unknown> }[];
    const shards = docs.find((d) => d.kind === 'Job' && d.metadata.name === 'quiescelab-shards');
    const merge = docs.find((d) => d.kind === 'Job' && d.metadata.name === 'quiescelab-merge');
    expect(shards?.spec).toMatchObject({ completionMode: 'Indexed', completions: 4, parallelism: 4 });
    expect(JSON.stringify(shards)).toContain('"QUIESCELAB_SHARD_COUNT","value":"4"');
    expect(JSON.stringify(merge)).toContain('initContainers');
    expect(docs.some((d) => d.kind === 'PersistentVolumeClaim')).toBe(true);
  });
});
