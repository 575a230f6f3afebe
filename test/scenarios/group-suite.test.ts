/**
 * The group suite (P25, P26): both properties hold for quiescelab's engine on group cells;
 * each group mutant is killed by its property at --runs 10 with a replay token; the broken
 * references the outcome reports are real (a one-by-one backup captured documents first
 * while the application ran shows orders whose documents the set lacks, all newer than
 * every document it holds; a set quiesced together shows none); the engine protocol
 * carries backupGroup and recoverScope (in memory and through `quiescelab engine-stdio`
 * in a child process, byte-identical outcomes); `quiescelab run --suite group` tells one
 * scenario.
 */

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcEngine, StdioEngine } from '../../cli/engine-rpc/client.js';
import { memoryTransport } from '../../cli/engine-rpc/memory.js';
import { cellId, findCell, selectCells, type Cell } from '../../scenarios/cells.js';
import { builtinEngine } from '../../scenarios/engine-builtin.js';
import { PROTOCOL_VERSION } from '../../scenarios/engine-api.js';
import { findMutant, mutantEngine } from '../../scenarios/mutants/index.js';
import { SCOPE_RECOVERY_MIXES_POINTS } from '../../scenarios/mutants/group-mutants.js';
import { QUIESCELAB_ENGINE, type EngineUnderTest } from '../../scenarios/scenario/engine.js';
import { chooseGroupSet } from '../../engine/restore/scope.js';
import { runCell } from '../../scenarios/runner.js';
import { decodeReplayToken } from '../../scenarios/replay-token.js';
import { runGroupScenario, type GroupSpec } from '../../scenarios/scenario/group-run.js';
import { GROUP_SUITE, groupArb } from '../../scenarios/suites/group-suite.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { cli, cliArgs, expectUsageError, ROOT } from '../support/cli.js';

const WIN2019 = 'win2019/esx41/files/default';
const LINUX = 'linux/esx41/files/default';

function cell(id: string): Cell {
  const c = findCell(id);
  if (c === undefined) throw new Error(`no cell ${id}`);
  return c;
}

function specs(id: string, seed: number, n: number, set: Partial<GroupSpec>): GroupSpec[] {
  return fc.sample(groupArb(id).map((s) => ({ ...s, ...set })), { seed, numRuns: n });
}

const open: RpcEngine[] = [];
beforeAll(async () => { await prepareDefaultApps(); });
afterAll(async () => { await Promise.all(open.map((e) => e.close())); });

describe('the group suite', () => {
  it('applies to the files cells of the default condition with Tools of 4.1 and later', () => {
    const cells = selectCells().filter((c) => GROUP_SUITE.appliesTo(c)).map(cellId);
    expect(cells).toEqual(selectCells({ apps: ['files'], tools: ['esx41'] }).filter((c) => c.variant === 'default').map(cellId));
    expect(cells).toContain(WIN2019);
  });

  it.each([WIN2019, LINUX, 'other/esx41/files/default'])('P25 and P26 hold for quiescelab on %s (10 runs)', async (id) => {
    const started = performance.now();
    const r = await runCell(cell(id), { runs: 10, seed: 5, suites: [GROUP_SUITE] });
    const ms = performance.now() - started;
    // The figure the closing note quotes: milliseconds per run of the suite.
    console.log(`group suite on ${id}: ${r.properties[0]?.runs ?? 0} runs in ${ms.toFixed(0)} ms (${(ms / (r.properties[0]?.runs ?? 1)).toFixed(0)} ms per run)`);
    expect(r.properties.map((p) => p.id)).toEqual(['P25', 'P26']);
    for (const p of r.properties) expect(p.status, `${p.id}: ${p.evidence ?? ''}`).toBe('pass');
  }, 120_000);

  it.each([
    ['group-one-by-one-claims-consistent', 'P25'],
    ['group-incomplete-claims-consistent', 'P25'],
    ['scope-recovery-mixes-points', 'P26'],
  ] as const)('mutant %s is killed by %s at --runs 10, with a replay token', async (id, killer) => {
    const m = findMutant(id);
    expect(m?.expectedKiller).toBe(killer);
    if (m === undefined) return;
    const r = await runCell(cell(m.cells[0] ?? ''), { runs: 10, seed: 1, engine: mutantEngine(m), mutant: id, suites: [GROUP_SUITE] });
    const p = r.properties.find((x) => x.id === killer);
    expect(p?.status, p?.evidence ?? '').toBe('fail');
    expect(decodeReplayToken(p?.replay ?? '')).toMatchObject({ ok: true, value: { suite: 'group', property: killer, mutant: id } });
  }, 180_000);

  it('P26 checks the restored data, not only the point ids the recovery reports: an engine naming the right set while restoring the newest points fails', async () => {
    // Restores as scope-recovery-mixes-points does, and reports the honest set's point ids.
    const lying: EngineUnderTest = {
      ...QUIESCELAB_ENGINE, name: 'lies-about-points',
      group: {
        ...QUIESCELAB_ENGINE.group,
        async recoverScope(deps, request) {
          const r = await SCOPE_RECOVERY_MIXES_POINTS.group.recoverScope(deps, request);
          const listed = await deps.listPoints();
          if (!r.ok || !listed.ok) return r;
          const honest = chooseGroupSet(listed.value, request.vms.map((v) => v.vmId));
          return { ok: true, value: { ...r.value, restored: r.value.restored.map((x) => ({ ...x, pointId: honest?.set.points.get(x.vmId) ?? x.pointId })) } };
        },
      },
    };
    const spec = specs(WIN2019, 4, 1, { together: true, second: 'extra-single', vms: 2, faultVm: 0, scope: 'site' })[0] as GroupSpec;
    const o = await runGroupScenario(spec, builtinEngine(lying));
    expect(o.snapshotsLeft).toEqual([]);
    expect(new Set(o.recovery?.restored.map((r) => r.from))).toEqual(new Set(['group-2']));
    const verdict = GROUP_SUITE.properties[1]?.check(cell(WIN2019), spec, o);
    expect(verdict?.valid).toBe(false);
    expect(verdict?.evidence).toMatch(/does not hold what point \w+ holds/);
    const honest = await runGroupScenario(spec, builtinEngine());
    expect(GROUP_SUITE.properties[1]?.check(cell(WIN2019), spec, honest).valid).toBe(true);
  }, 60_000);

  it('reports real broken references: captured documents first while the application ran, orders newer than every document lack theirs', async () => {
    let broken = 0;
    for (const spec of specs(WIN2019, 3, 4, { together: false, docsFirst: true, second: 'clean' })) {
      const o = await runGroupScenario(spec, builtinEngine());
      for (const b of o.backups) {
        expect(b.report?.consistent).toBe(false);
        const refs = b.refs;
        if (refs === null || refs.brokenTotal === 0) continue;
        broken += refs.brokenTotal;
        // Documents 1..k were captured; the broken orders are k+1.. (acknowledged before the database's capture).
        const ids = refs.broken.map((x) => Number(/^order (\d+) -> \/docs\/doc-\1$/.exec(x)?.[1]));
        expect(ids.every((n) => Number.isInteger(n) && n > (refs.counts.docs ?? Infinity)), refs.broken.join(', ')).toBe(true);
        const docs = b.members.find((m) => m.vmId === o.vms[o.vms.length - 1]?.vmId);
        const orders = b.members.find((m) => m.vmId === o.vms.find((v) => v.roles.includes('orders'))?.vmId);
        expect((docs?.capturedAtUs ?? 0) < (orders?.capturedAtUs ?? 0)).toBe(true);
      }
    }
    expect(broken).toBeGreaterThan(0);
    for (const spec of specs(WIN2019, 3, 3, { together: true, second: 'clean' })) {
      const o = await runGroupScenario(spec, builtinEngine());
      expect(o.snapshotsLeft).toEqual([]);
      for (const b of o.backups) {
        expect(b.report?.consistent, b.report?.reason).toBe(true);
        expect([b.refs?.brokenTotal, b.refs?.halfPresentTotal, b.members.every((m) => m.paused)]).toEqual([0, 0, true]);
      }
    }
  }, 120_000);

  it('the engine protocol carries a group run: in memory and through engine-stdio, the outcome is byte-identical', async () => {
    const spec = specs(WIN2019, 9, 1, { together: true, second: 'vm-fails', vms: 3, scope: 'site' })[0] as GroupSpec;
    const direct = JSON.stringify(await runGroupScenario(spec, builtinEngine()));
    const memory = new RpcEngine(memoryTransport(builtinEngine()), { timeoutMs: 30_000 });
    open.push(memory);
    await memory.initialize({ protocolVersion: PROTOCOL_VERSION, seed: spec.seed });
    expect(JSON.stringify(await runGroupScenario(spec, memory))).toBe(direct);
    const stdio = new StdioEngine(['node', ...cliArgs('engine-stdio')], { cwd: ROOT, timeoutMs: 60_000 });
    open.push(stdio);
    const info = await stdio.initialize({ protocolVersion: PROTOCOL_VERSION, seed: spec.seed });
    expect(info.capabilities).toContain('group-backup');
    expect(JSON.stringify(await runGroupScenario(spec, stdio))).toBe(direct);
    await stdio.close();
    expect(stdio.log()).toBe('');
  }, 120_000);

  it('quiescelab run --suite group tells one scenario as a timeline; an unknown suite or a cell it does not run on is bad usage', async () => {
    const r = await cli('run', '--suite', 'group', '--os', 'linux', '--tools', 'esx41', '--apps', 'files', '--seed', '4');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^cell linux\/esx41\/files\/default, suite group$/m);
    expect(r.stdout).toMatch(/group backup 1: /);
    expect(r.stdout).toMatch(/^ {2}P25 .* holds — /m);
    expect(r.stdout).toMatch(/^ {2}P26 .* holds — /m);
    expectUsageError(await cli('run', '--suite', 'nope', '--os', 'linux', '--tools', 'esx41', '--apps', 'files'), /^quiescelab: --suite: unknown suite 'nope' \(known: .*group/);
    expectUsageError(await cli('run', '--suite', 'group', '--os', 'linux', '--tools', 'esx41', '--apps', 'sqlite'), /^quiescelab: --suite: suite 'group' does not run on cell linux\/esx41\/sqlite\/default$/);
  }, 120_000);
});
