/**
 * The replication suite (P20-P24): every property holds for quiescelab's engine on
 * replication cells at --runs 10; each replication mutant is killed by its property with a
 * replay token; the faults really fire inside a cycle (probe) and a failed cycle really
 * leaves the replica half-applied beyond its newest point (what failover must undo); white
 * space is real (most of a cell's disk is free) and the truth counts allocated zero
 * blocks; the protocol carries replicate / failover / testFailover / failback (in memory and
 * through `quiescelab engine-stdio`, byte-identical outcomes); after a failback the replica
 * goes on replicating the failed-back VM (re-protection); `quiescelab run --suite
 * replication` tells one scenario.
 */

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcEngine, StdioEngine } from '../../cli/engine-rpc/client.js';
import { memoryTransport } from '../../cli/engine-rpc/memory.js';
import { findCell, type Cell } from '../../scenarios/cells.js';
import { builtinEngine } from '../../scenarios/engine-builtin.js';
import { PROTOCOL_VERSION, type Engine } from '../../scenarios/engine-api.js';
import { findMutant, mutantEngine } from '../../scenarios/mutants/index.js';
import { runCell } from '../../scenarios/runner.js';
import { decodeReplayToken } from '../../scenarios/replay-token.js';
import { runReplication, type ReplicationSpec } from '../../scenarios/scenario/replication-run.js';
import { REPLICATION_MUTANTS } from '../../scenarios/mutants/replication-mutants.js';
import { REPLICATION_SUITE, replicationArb, replicationForRun } from '../../scenarios/suites/replication-suite.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { cli, cliArgs, ROOT } from '../support/cli.js';

const WIN2019 = 'win2019/esx41/sqlserver/default';

function cell(id: string): Cell {
  const c = findCell(id);
  if (c === undefined) throw new Error(`no cell ${id}`);
  return c;
}

function spec(id: string, seed: number, runIndex: number, set: Partial<ReplicationSpec> = {}): ReplicationSpec {
  const drawn = fc.sample(replicationArb(cell(id)), { seed, numRuns: 1 })[0] as ReplicationSpec;
  return { ...replicationForRun(drawn, runIndex), ...set };
}

async function session(engine: Engine, seed: number): Promise<Engine> {
  await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed });
  return engine;
}

const open: RpcEngine[] = [];
beforeAll(async () => { await prepareDefaultApps(); });
afterAll(async () => { await Promise.all(open.map((e) => e.close())); });

describe('the replication suite', () => {
  it.each([WIN2019, 'linux/esx41/sqlite/default', 'other/esx41/files/default'])('P20-P24 hold for quiescelab on %s (10 runs)', async (id) => {
    const started = performance.now();
    const r = await runCell(cell(id), { runs: 10, seed: 5, suites: [REPLICATION_SUITE] });
    const ms = performance.now() - started;
    console.log(`replication suite on ${id}: 10 runs in ${ms.toFixed(0)} ms (${(ms / 10).toFixed(0)} ms per run)`);
    expect(r.properties.map((p) => p.id)).toEqual(['P20', 'P21', 'P22', 'P23', 'P24']);
    for (const p of r.properties) expect(p.status, `${p.id}: ${p.evidence ?? ''}`).toBe('pass');
  }, 180_000);

  it('a property no run judged is not exercised, never passed: at --runs 1 only the no-fault stratum runs (P20-P22), so P23 and P24 say so', async () => {
    const r = await runCell(cell('other/esx41/files/default'), { runs: 1, seed: 5, suites: [REPLICATION_SUITE] });
    const status = Object.fromEntries(r.properties.map((p) => [p.id, p.status]));
    expect(status).toEqual({ P20: 'pass', P21: 'pass', P22: 'pass', P23: 'not-exercised', P24: 'not-exercised' });
    expect(r.pass).toBe(false);
  }, 60_000);

  it.each(REPLICATION_MUTANTS.map((m) => [m.id, m.expectedKiller] as const))('mutant %s is killed by %s at --runs 10, with a replay token', async (id, killer) => {
    const m = findMutant(id);
    if (m === undefined) throw new Error(`no mutant ${id}`);
    const r = await runCell(cell(m.cells[0] ?? ''), { runs: 10, seed: 1, engine: mutantEngine(m), mutant: id, suites: [REPLICATION_SUITE] });
    const p = r.properties.find((x) => x.id === killer);
    expect(p?.status, p?.evidence ?? '').toBe('fail');
    expect(decodeReplayToken(p?.replay ?? '')).toMatchObject({ ok: true, value: { suite: 'replication', property: killer, mutant: id } });
  }, 180_000);

  it.each(['link-drop', 'source-host-dies', 'dr-full'] as const)('a %s fault fires inside the cycle named, the cycle fails, and failover still boots the newest complete point', async (kind) => {
    const s = spec(WIN2019, 11, 1, { fault: kind === 'link-drop' ? { kind, cycle: 3, nth: 2, forMs: 5_000 } : { kind, cycle: 3, nth: 2 }, cycles: 4, after: 'failover' });
    const o = await runReplication(s, await session(builtinEngine(), s.seed));
    expect(o.faultFiredAtUs).not.toBeNull();
    const third = o.cycles[2];
    expect(third?.ok).toBe(false);
    expect((o.faultFiredAtUs ?? 0) >= (third?.startUs ?? Infinity) && (o.faultFiredAtUs ?? 0) <= (third?.endUs ?? 0)).toBe(true);
    expect(o.failover?.pointId).toBe(o.failover?.newestPointId);
    expect(o.failover?.bootedEqualsPoint?.equal).toBe(true);
  }, 60_000);

  it('a failed cycle leaves the replica half-applied: failover without reverting boots other disks than the point', async () => {
    const s = spec(WIN2019, 12, 1, { fault: { kind: 'link-drop', cycle: 3, nth: 2, forMs: 5_000 }, cycles: 3, after: 'failover', whiteSpace: true });
    const good = await runReplication(s, await session(builtinEngine(), s.seed));
    const bad = await runReplication(s, await session(mutantEngine(findMutant('failover-half-applied') ?? REPLICATION_MUTANTS[0]!), s.seed));
    expect(good.failover?.bootedEqualsPoint?.equal).toBe(true);
    expect(bad.failover?.bootedEqualsPoint?.equal).toBe(false);
    expect(bad.cycles[2]?.bytesSent).toBeGreaterThan(0);
  }, 60_000);

  it.each(['failback-original', 'failback-new'] as const)('after %s the same replica goes on replicating the failed-back VM by CBT (re-protection), its points equal to that VM\'s snapshots', async (after) => {
    const s = spec(WIN2019, 15, 2, { fault: { kind: 'source-host-dies', cycle: 2, nth: 1 }, after });
    const o = await runReplication(s, await session(builtinEngine(), s.seed));
    expect(o.failback?.equalsDr?.equal).toBe(true);
    expect(o.reprotectedCycles.length).toBeGreaterThanOrEqual(1);
    expect(o.reprotectedCycles.every((c) => c.ok && c.kind === 'incremental'), JSON.stringify(o.reprotectedCycles.map((c) => c.error))).toBe(true);
    const ids = new Set(o.reprotectedCycles.map((c) => c.pointId));
    const judged = o.points.filter((p) => ids.has(p.pointId));
    expect(judged).toHaveLength(o.reprotectedCycles.length);
    for (const p of judged) expect(p.equalsSource.equal, p.equalsSource.detail).toBe(true);
  }, 60_000);

  it('white space is most of a cell disk, and the used blocks include all-zero ones', async () => {
    const s = spec('linux/esx41/files/default', 13, 0, { whiteSpace: true });
    const o = await runReplication(s, await session(builtinEngine(), s.seed));
    const ws = o.whiteSpace;
    expect(ws).not.toBeNull();
    expect((ws?.reportedSkipped ?? 0) / (ws?.capacityBytes ?? 1)).toBeGreaterThan(0.5);
    expect(ws?.usedNotSent).toBe(0);
    const mutant = await runReplication(s, await session(mutantEngine(findMutant('abm-skips-allocated-zeros') ?? REPLICATION_MUTANTS[0]!), s.seed));
    expect(mutant.whiteSpace?.usedNotSent).toBeGreaterThan(0);
  }, 60_000);

  it('the engine protocol carries replication: in memory and through engine-stdio, the outcome is byte-identical', async () => {
    const s = spec(WIN2019, 14, 2, { fault: { kind: 'source-host-dies', cycle: 2, nth: 1 }, after: 'failback-original' });
    const direct = JSON.stringify(await runReplication(s, await session(builtinEngine(), s.seed)));
    const memory = new RpcEngine(memoryTransport(builtinEngine()), { timeoutMs: 30_000 });
    open.push(memory);
    expect(JSON.stringify(await runReplication(s, await session(memory, s.seed)))).toBe(direct);
    const stdio = new StdioEngine(['node', ...cliArgs('engine-stdio')], { cwd: ROOT, timeoutMs: 60_000 });
    open.push(stdio);
    const info = await stdio.initialize({ protocolVersion: PROTOCOL_VERSION, seed: s.seed });
    expect(info.capabilities).toEqual(expect.arrayContaining(['replication', 'failback']));
    expect(JSON.stringify(await runReplication(s, stdio))).toBe(direct);
    await stdio.close();
    expect(stdio.log()).toBe('');
  }, 120_000);

  it('quiescelab run --suite replication tells one scenario as a timeline', async () => {
    const r = await cli('run', '--suite', 'replication', '--os', 'win2019', '--tools', 'esx41', '--apps', 'sqlserver', '--seed', '4');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^cell win2019\/esx41\/sqlserver\/default, suite replication$/m);
    expect(r.stdout).toMatch(/cycle 0 \(full\) point /);
    for (const id of ['P20', 'P21', 'P22']) expect(r.stdout).toMatch(new RegExp(`^ {2}${id} .* holds — `, 'm'));
  }, 120_000);
});
