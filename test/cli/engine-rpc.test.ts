/**
 * The engine protocol end to end (cli/engine-rpc/): the built-in engine behind the
 * JSON-RPC client and server gives byte for byte the results it gives in process — at the
 * interface (every host call the engine makes, with the virtual time it was made at), for
 * whole backup scenarios and for suites of cells, a mutant included, bytes as binary frames
 * (the built-in server offers them) and as base64 alike; host exceptions come
 * back as the harness's own objects; references keep identity per session; and engines
 * that crash, hang, print garbage or answer an unknown id fail the call in one line and
 * are restarted by the next initialize. Last, `quiescelab engine-stdio` as a process.
 */

import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcEngine, StdioEngine } from '../../cli/engine-rpc/client.js';
import { memoryTransport } from '../../cli/engine-rpc/memory.js';
import type { ServeOptions } from '../../cli/engine-rpc/server.js';
import { EngineProtocolError } from '../../cli/engine-rpc/protocol.js';
import type { Clock } from '../../core/clock.js';
import type { HypervisorPort } from '../../core/hypervisor-port.js';
import { err, ok, unwrap } from '../../core/result.js';
import { createPrng } from '../../core/prng.js';
import { parentOf } from '../../engine/backup/job.js';
import { MemoryLogStore } from '../../engine/logbackup/sql-job.js';
import { MemorySqliteWalStore } from '../../engine/logbackup/sqlite-shipper.js';
import { MemoryFileWriter } from '../../engine/restore/file-writer.js';
import { CrashError, CrashingStore } from '../../engine/store/crash-store.js';
import type { ByteStore } from '../../engine/store/byte-store.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { findCell } from '../../scenarios/cells.js';
import { PROTOCOL_VERSION, type Engine } from '../../scenarios/engine-api.js';
import { builtinEngine } from '../../scenarios/engine-builtin.js';
import { findMutant } from '../../scenarios/mutants/index.js';
import { runCell, SUITES } from '../../scenarios/runner.js';
import { runScenario } from '../../scenarios/scenario/run.js';
import { PLAIN_JOB, type ScenarioSpec } from '../../scenarios/scenario/spec.js';
import { bootCellWorld, startCellWorkload } from '../../scenarios/scenario/world.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { cli, cliArgs, ROOT } from '../support/cli.js';

beforeAll(async () => { await prepareDefaultApps(); });

const open: RpcEngine[] = [];
/** The built-in engine (or a mutant's) served over in-memory streams. */
function overRpc(engine: Engine = builtinEngine(), timeoutMs = 30_000): RpcEngine {
  const e = new RpcEngine(memoryTransport(engine), { timeoutMs });
  open.push(e);
  return e;
}
afterAll(async () => { await Promise.all(open.map((e) => e.close())); });

interface Traffic { toEngine: number; toHarness: number; binaryToEngine: number; binaryToHarness: number }

/** overRpc with the bytes each way counted, and the binary frames among them (a message is one chunk in memory). */
function countedRpc(options: ServeOptions): { engine: RpcEngine; traffic: Traffic } {
  const traffic: Traffic = { toEngine: 0, toHarness: 0, binaryToEngine: 0, binaryToHarness: 0 };
  const binaryFrames = (d: Buffer): number => d.toString('latin1').split('Content-Type: application/octet-stream\r\n').length - 1;
  const start = memoryTransport(builtinEngine(), options);
  const engine = new RpcEngine(() => {
    const t = start();
    t.input.on('data', (d: Buffer) => { traffic.toHarness += d.length; traffic.binaryToHarness += binaryFrames(d); });
    t.output.on('data', (d: Buffer) => { traffic.toEngine += d.length; traffic.binaryToEngine += binaryFrames(d); });
    return t;
  }, { timeoutMs: 30_000 });
  open.push(engine);
  return { engine, traffic };
}

function cellOf(id: string) {
  const c = findCell(id);
  if (c === undefined) throw new Error(`no cell ${id}`);
  return c;
}

/** Arguments as the record keeps them: bytes as their length and SHA-256. */
function digest(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? `bytes ${v.length} ${createHash('sha256').update(v).digest('hex').slice(0, 16)}` : v));
}

/** Wraps a host object: every call is recorded with the virtual time it was made at. */
function recorded<T extends object>(target: T, name: string, clock: Clock, log: string[]): T {
  return new Proxy(target, {
    get(t, prop) {
      const v: unknown = Reflect.get(t, prop, t);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        log.push(`${clock.nowUs()} ${name}.${String(prop)} ${digest(args)}`);
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

/** One engine's life on a SQL Server VM, every result and every host call kept. */
async function interfaceRun(engine: Engine): Promise<{ results: string[]; calls: string[] }> {
  const world = bootCellWorld(cellOf('win2019/esx41/sqlserver/default'), { seed: 7, disks: 2 });
  startCellWorkload(world, { meanIntervalMs: 5, opsPerTxn: 2, valueBytes: 300 });
  world.hv.runFor(800_000);
  const clock = world.hv.sim.clock;
  const calls: string[] = [];
  const results: string[] = [];
  const keep = <T>(r: T): T => { results.push(`${clock.nowUs()} ${digest(r)}`); return r; };
  const port = recorded<HypervisorPort>(world.hv, 'port', clock, calls);
  const memory = new MemoryStore();
  const store = recorded<ByteStore>(memory, 'store', clock, calls);
  const env = { port, clock };
  keep(await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed: 7 }));
  keep(await engine.initRepository(store, clock, {}));
  const repo = unwrap(keep(await engine.openRepository(store, clock, { writer: 'rpc-test' })));
  const full = unwrap(keep(await engine.backup(env, { repo, vmId: world.vm.vmId, policy: 'try', parent: null })));
  world.hv.runFor(300_000);
  const inc = unwrap(keep(await engine.backup(env, { repo, vmId: world.vm.vmId, policy: 'try', copyOnly: false, parent: parentOf(full) })));
  const points = unwrap(keep(await engine.listPoints(repo)));
  const opened = unwrap(keep(await engine.openPoint(repo, inc.pointId)));
  for (const disk of opened.disks) {
    for (const e of unwrap(keep(await engine.pointExtents(opened.point, disk.diskId)))) keep(await engine.readPoint(opened.point, disk.diskId, e.startBytes, e.lengthBytes));
  }
  keep(await engine.readPoint(opened.point, 'no-such-disk', 0, 10));
  await engine.closePoint(opened.point);
  keep(await engine.readPoint(opened.point, opened.disks[0]?.diskId ?? '', 0, 10));
  const restored = unwrap(keep(await engine.restoreVm(env, { repo, pointId: full.pointId, spec: { name: 'restored', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'], powerOn: false } })));
  keep(await engine.restoreDisk(env, { repo, pointId: inc.pointId, diskId: opened.disks[0]?.diskId ?? '', target: { vmId: restored.vmId, diskId: world.hv.vm(restored.vmId).disks[0]?.info.diskId ?? '' } as never }));
  const writer = new MemoryFileWriter();
  keep(await engine.restoreFiles(recorded(writer, 'files', clock, calls), { repo, pointId: inc.pointId, diskId: opened.disks[0]?.diskId ?? '', selection: { all: true } }));
  keep([...writer.files()].map(([path, data]) => `${path} ${digest(data)}`));
  keep(await engine.findSqlRow(repo, inc.pointId, { table: 'orders', key: 'k-1' }));
  keep(await engine.findMailItem(repo, inc.pointId, { mailbox: 'm', itemId: 'i' }));
  keep(await engine.findAdUser(repo, 'nope', 'someone'));
  const logs = { kind: 'host' as const, sql: recorded(new MemoryLogStore(), 'sql-logs', clock, calls), wal: new MemorySqliteWalStore() };
  keep(await engine.logs.sqlLogBackup(env, logs, { vmId: world.vm.vmId, basePointId: full.pointId, copyOnly: true }));
  const timer = { clock, waitUntil: (t: number) => { world.hv.runFor(Math.max(0, t - clock.nowUs())); return Promise.resolve(); } };
  const schedule = { fullDoneUs: clock.nowUs(), intervalUs: 400_000, nextFullUs: clock.nowUs() + 1_500_000 };
  keep(await engine.logs.runSqlSchedule(env, recorded(timer, 'timer', clock, calls), logs, { vmId: world.vm.vmId, basePointId: full.pointId, schedule, untilUs: schedule.nextFullUs }));
  keep(await engine.logs.nextLogBackupStart(schedule, clock.nowUs(), clock.nowUs() + 10));
  keep(await engine.logs.listSqlLogBackups(logs, world.vm.vmId));
  keep(await engine.logs.listSqlLogBackups({ kind: 'repository', repo: 'repo-99' }, world.vm.vmId));
  keep(await engine.verify(store));
  keep(await engine.forget(repo, { ids: [points[0]?.id ?? ''] }));
  keep(await engine.prune(repo, { keepAll: true }));
  keep(await engine.closeRepository(repo));
  keep(await engine.repair(store, clock, { owner: 'lab:1', attributes: { host: 'lab', pid: 1 } }));
  keep(await engine.verify(store));
  keep(await memory.list(''));
  await engine.shutdown();
  return { results, calls };
}

describe('the built-in engine over JSON-RPC gives what it gives in process, byte for byte', () => {
  it('at the interface: every result, and every host call at the virtual time it was made', async () => {
    const direct = await interfaceRun(builtinEngine());
    const rpc = await interfaceRun(overRpc());
    expect(direct.calls.length).toBeGreaterThan(300);
    expect(direct.results.length).toBeGreaterThan(30);
    expect(rpc.calls).toEqual(direct.calls);
    expect(rpc.results).toEqual(direct.results);
  }, 120_000);

  it('at the interface with bytes as base64 only (a server that does not offer binary frames): the same, but for the capability', async () => {
    const direct = await interfaceRun(builtinEngine());
    const { engine, traffic } = countedRpc({ binaryFrames: false });
    const rpc = await interfaceRun(engine);
    expect(rpc.calls).toEqual(direct.calls);
    expect(rpc.results[0]).toBe((direct.results[0] ?? '').replace(',"binary-frames"', ''));
    expect(rpc.results.slice(1)).toEqual(direct.results.slice(1));
    expect([traffic.binaryToEngine, traffic.binaryToHarness]).toEqual([0, 0]);
  }, 120_000);

  const spec = (cellId: string, seed: number, extra: Partial<ScenarioSpec> = {}): ScenarioSpec => ({
    cellId, seed, workload: { meanIntervalMs: 5, opsPerTxn: 1, valueBytes: 200 }, warmupMs: 1000, backupGapsMs: [100, 200],
    fault: { kind: 'none' }, cbtPageAreas: 1024, disks: 1, unwrite: false, job: PLAIN_JOB, ...extra,
  });

  it.each([
    ['win2019/esx41/sqlserver/default', spec('win2019/esx41/sqlserver/default', 3, { disks: 2 })],
    ['linux/esx41/files/default, un-write, three backups', spec('linux/esx41/files/default', 4, { unwrite: true, backupGapsMs: [100, 100, 100] })],
    ['linux/esx41/sqlite/default, power loss', spec('linux/esx41/sqlite/default', 2, { fault: { kind: 'power-loss', atMs: 200 } } as Partial<ScenarioSpec>)],
  ])('a backup scenario: %s', async (_label, s) => {
    const direct = JSON.stringify(await runScenario(s));
    const rpc = JSON.stringify(await runScenario(s, { engine: overRpc() }));
    expect(rpc).toBe(direct);
  }, 60_000);

  it('bytes go as binary frames both ways once the engine declared binary-frames at initialize, as base64 to an engine that did not: the same scenario, byte for byte', async () => {
    const s = spec('win2019/esx41/sqlserver/default', 3, { disks: 2 });
    const direct = JSON.stringify(await runScenario(s));
    const moved: Record<string, Traffic> = {};
    for (const binary of [true, false]) {
      const { engine, traffic } = countedRpc({ binaryFrames: binary });
      const info = await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed: 3 });
      expect(info.capabilities.includes('binary-frames')).toBe(binary);
      expect(JSON.stringify(await runScenario(s, { engine }))).toBe(direct);
      moved[String(binary)] = { ...traffic };
    }
    const [bin, b64] = [moved['true'] as Traffic, moved['false'] as Traffic];
    expect(bin.binaryToEngine).toBeGreaterThan(5);
    expect(bin.binaryToHarness).toBeGreaterThan(5);
    expect([b64.binaryToEngine, b64.binaryToHarness]).toEqual([0, 0]);
    // The restore writes zeros over the disks' holes: they go as {"$zeros": n}.
    expect(bin.toEngine + bin.toHarness).toBeLessThan((b64.toEngine + b64.toHarness) / 4);
  }, 60_000);

  it.each([
    ['logs', 'win2019/esx41/sqlserver/default'],
    ['logs', 'linux/esx41/sqlite/script'],
    ['repository', 'linux/esx41/files/default'],
    ['backup', 'win2019/esx41/exchange/default'],
  ])('the %s suite on %s', async (suiteId, cellId) => {
    const suites = SUITES.filter((x) => x.id === suiteId);
    const direct = await runCell(cellOf(cellId), { runs: 2, seed: 5, suites });
    const rpc = await runCell(cellOf(cellId), { runs: 2, seed: 5, suites, engine: overRpc() });
    expect(JSON.stringify(rpc)).toBe(JSON.stringify(direct));
  }, 120_000);

  it('a mutant that keeps state per port (snapshot-removed-early) is killed alike', async () => {
    const m = findMutant('snapshot-removed-early');
    if (m === undefined) throw new Error('no mutant');
    const options = { runs: 3, seed: 1, suites: SUITES.filter((x) => x.id === 'backup'), mutant: m.id, shrinkBudget: 4 };
    const direct = await runCell(cellOf(m.cells[0] ?? ''), { ...options, engine: builtinEngine(m.engine, m.id) });
    const rpc = await runCell(cellOf(m.cells[0] ?? ''), { ...options, engine: overRpc(builtinEngine(m.engine, m.id)) });
    expect(direct.pass).toBe(false);
    expect(JSON.stringify(rpc)).toBe(JSON.stringify(direct));
  }, 120_000);
});

describe('host objects across the protocol', () => {
  it('a host exception comes back as the very object the harness threw, also after the engine caught and rethrew it', async () => {
    const world = bootCellWorld(cellOf('linux/esx41/files/default'), { seed: 2 });
    const clock = world.hv.sim.clock;
    const rpc = overRpc();
    await rpc.initialize({ protocolVersion: PROTOCOL_VERSION, seed: 1 });
    const memory = new MemoryStore();
    unwrap(await rpc.initRepository(memory, clock, {}));
    // The 3rd mutating call of the backup crashes the store: the engine process "dies" mid-write.
    const crashing = new CrashingStore(memory, { crashAtCall: 3, prng: createPrng(9) });
    const repo = unwrap(await rpc.openRepository(crashing, clock, { writer: 'w' }));
    const thrown = await rpc.backup({ port: world.hv, clock }, { repo, vmId: world.vm.vmId, policy: 'try', parent: null }).then(() => null, (e: unknown) => e);
    expect(thrown).toBeInstanceOf(CrashError);
    expect(crashing.crashed).toBeDefined();
    // A store that throws one particular object: the rejection is that object.
    const sentinel = new RangeError('the harness pulled the plug');
    const throwing: ByteStore = { description: 'throwing', put: () => { throw sentinel; }, putExclusive: () => { throw sentinel; }, get: () => { throw sentinel; }, getRange: () => { throw sentinel; }, list: () => { throw sentinel; }, delete: () => { throw sentinel; }, exists: () => { throw sentinel; } };
    await expect(rpc.initRepository(throwing, clock, {})).rejects.toBe(sentinel);
    await expect(rpc.verify(throwing)).rejects.toBe(sentinel);
    // The session goes on: the engine is fine, only the store was dead (in process too).
    await expect(rpc.listPoints(repo)).rejects.toBeInstanceOf(CrashError);
    const again = unwrap(await rpc.openRepository(memory, clock, {}));
    expect(unwrap(await rpc.listPoints(again))).toEqual([]);
  }, 60_000);

  it('one proxy per host object per session, clocks as the harness had them, definite and indefinite failures', async () => {
    const seen: unknown[] = [];
    let now = 1000;
    const clock: Clock = { nowUs: () => now };
    const port = { getVm: () => { now += 500; return Promise.resolve(err({ kind: 'unknown-vm', vmId: 'x' })); } } as unknown as HypervisorPort;
    const stub = {
      initialize: () => Promise.resolve({ name: 'stub', version: '1', protocolVersion: PROTOCOL_VERSION, capabilities: [] }),
      backup: async (env: { port: HypervisorPort; clock: Clock }, params: { vmId: string }) => {
        seen.push(env.port, env.clock);
        const before = env.clock.nowUs();
        if (params.vmId === 'throw-first') throw new Error('refused before doing anything');
        const vm = await env.port.getVm(params.vmId as never);
        if (params.vmId === 'throw-after') throw new Error('gave up halfway');
        return ok({ before, after: env.clock.nowUs(), vm });
      },
      listPoints: () => Promise.resolve({ nope: true }),
      shutdown: () => Promise.resolve(),
      logs: {},
    } as unknown as Engine;
    const rpc = overRpc(stub);
    await rpc.initialize({ protocolVersion: PROTOCOL_VERSION, seed: 1 });
    const r1 = await rpc.backup({ port, clock }, { repo: 'r', vmId: 'a' as never, policy: 'try', parent: null });
    expect(r1).toEqual({ ok: true, value: { before: 1000, after: 1500, vm: { ok: false, error: { kind: 'unknown-vm', vmId: 'x' } } } });
    await rpc.backup({ port, clock }, { repo: 'r', vmId: 'b' as never, policy: 'try', parent: null });
    expect(seen[2]).toBe(seen[0]);
    expect(seen[3]).toBe(seen[1]);
    await rpc.initialize({ protocolVersion: PROTOCOL_VERSION, seed: 1 });
    await rpc.backup({ port, clock }, { repo: 'r', vmId: 'c' as never, policy: 'try', parent: null });
    expect(seen[4]).not.toBe(seen[0]);
    const first = await rpc.backup({ port, clock }, { repo: 'r', vmId: 'throw-first' as never, policy: 'try', parent: null }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(EngineProtocolError);
    expect(first).toMatchObject({ method: 'backup', kind: 'refused', definite: true, message: 'engine failed backup (definite: it did nothing): backup: Error: refused before doing anything' });
    const after = await rpc.backup({ port, clock }, { repo: 'r', vmId: 'throw-after' as never, policy: 'try', parent: null }).catch((e: unknown) => e);
    expect(after).toMatchObject({ method: 'backup', kind: 'refused', definite: false });
    await expect(rpc.listPoints('r')).rejects.toThrow('engine answered points/list with {"nope":true}, not a Result {ok, value | error}');
    await expect(rpc.openPoint('r', 'p')).rejects.toThrow(/^engine failed point\/open \(definite: it did nothing\): point\/open: TypeError: /);
  });
});

/**
 * A small engine in plain JavaScript, as one in another language would be: Content-Length
 * framing by hand, initialize, points/list, and verify through store callbacks. The first
 * process misbehaves as `mode` says (a marker file remembers), the ones after behave.
 */
const FAKE_ENGINE = String.raw`
import { existsSync, writeFileSync } from 'node:fs';
const [mode, marker] = process.argv.slice(2);
const first = !existsSync(marker);
if (first) writeFileSync(marker, 'x');
const bad = first ? mode : 'good';
if (bad === 'exit') { process.stderr.write('fake engine: cannot open its license file\n'); process.exit(3); }
const send = (m) => { const b = Buffer.from(JSON.stringify(m)); process.stdout.write('Content-Length: ' + b.length + '\r\n\r\n'); process.stdout.write(b); };
const waiting = new Map();
let next = 1;
const call = (method, params) => { const id = 'e' + next++; send({ jsonrpc: '2.0', id, method, params }); return new Promise((res, rej) => waiting.set(id, { res, rej })); };
const methods = {
  initialize: () => ({ name: 'fake', version: '1', protocolVersion: bad === 'version2' ? 2 : 1, capabilities: ['verify'] }),
  'points/list': () => ({ ok: true, value: [] }),
  verify: async (p) => {
    const names = (await call('store/list', { store: p.store, prefix: '' })).value.value;
    let bytes = 0;
    for (const name of names) bytes += Buffer.from((await call('store/get', { store: p.store, name })).value.value.$bytes, 'base64').length;
    return { ok: true, value: { objects: names.length, bytes } };
  },
  shutdown: () => null,
};
async function handle(m) {
  if (m.method === undefined) { const w = waiting.get(m.id); waiting.delete(m.id); if (m.error) w.rej(m.error); else w.res(m.result); return; }
  if (m.method !== 'initialize' && bad === 'hang') return;
  if (m.method !== 'initialize' && bad === 'garbage') { process.stdout.write('hello from the engine\n'); return; }
  if (m.method !== 'initialize' && bad === 'wrong-id') { send({ jsonrpc: '2.0', id: 9999, result: null }); return; }
  if (m.method !== 'initialize' && bad === 'crash') { process.stderr.write('fake engine: segmentation fault\n'); process.exit(139); }
  try { send({ jsonrpc: '2.0', id: m.id, result: await methods[m.method](m.params) }); }
  catch (e) { send({ jsonrpc: '2.0', id: m.id, error: { code: -32000, message: String(e.message), data: { definite: false, hostException: e.data?.hostException } } }); }
}
let buf = Buffer.alloc(0);
process.stdin.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  for (;;) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const len = Number(/Content-Length: (\d+)/i.exec(buf.subarray(0, end).toString())[1]);
    if (buf.length < end + 4 + len) return;
    const m = JSON.parse(buf.subarray(end + 4, end + 4 + len).toString());
    buf = buf.subarray(end + 4 + len);
    void handle(m);
  }
});
process.stdin.on('end', () => process.exit(0));
`;

describe('engines in other processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ql-engine-rpc-'));
  const script = join(dir, 'fake-engine.mjs');
  writeFileSync(script, FAKE_ENGINE);
  const INIT = { protocolVersion: PROTOCOL_VERSION, seed: 1 };
  const fake = (mode: string): StdioEngine => {
    const e = new StdioEngine(`node ${script} ${mode} ${join(dir, `${mode}.marker`)}`, { timeoutMs: 500 });
    open.push(e);
    return e;
  };

  it.each([
    ['exit', 'initialize', /^engine crashed during initialize \(exit 3\): fake engine: cannot open its license file$/],
    ['crash', 'points/list', /^engine crashed during points\/list \(exit 139\): fake engine: segmentation fault$/],
    ['hang', 'points/list', /^engine hung during points\/list: no message for 500 ms \(killed\)$/],
    ['garbage', 'points/list', /^engine wrote garbage on stdout during points\/list: "hello from the engine\\n" where a Content-Length header was due$/],
    ['wrong-id', 'points/list', /^engine broke the protocol during points\/list: an answer to request id 9999, which the harness did not send or had an answer to$/],
  ])('an engine that misbehaves (%s) fails %s in one line; the next initialize restarts it', async (mode, method, message) => {
    const engine = fake(mode);
    const failed = await (async () => {
      await engine.initialize(INIT);
      await engine.listPoints('r');
    })().then(() => null, (e: unknown) => e);
    expect(failed).toBeInstanceOf(EngineProtocolError);
    expect((failed as EngineProtocolError).method).toBe(method);
    expect((failed as Error).message).toMatch(message);
    if (method !== 'initialize') {
      await expect(engine.listPoints('r')).rejects.toThrow(/^engine unavailable for points\/list: it .* earlier.*; the next initialize restarts it$/);
    }
    expect(await engine.initialize(INIT)).toMatchObject({ name: 'fake' });
    expect(await engine.listPoints('r')).toEqual({ ok: true, value: [] });
  }, 20_000);

  it('an engine in another language calls the harness back; a host exception it passes on is the harness\'s own again', async () => {
    const engine = fake('good');
    await engine.initialize(INIT);
    const store = new MemoryStore();
    unwrap(await store.put('a/b', new Uint8Array(300)));
    unwrap(await store.put('c', new Uint8Array(7)));
    expect(await engine.verify(store)).toEqual({ ok: true, value: { objects: 2, bytes: 307 } });
    const crashing = new CrashingStore(store, { crashAtCall: 1, prng: createPrng(1) });
    await crashing.delete('c').catch(() => undefined);
    await expect(engine.verify(crashing)).rejects.toBeInstanceOf(CrashError);
    expect(await engine.listPoints('r')).toEqual({ ok: true, value: [] });
  }, 20_000);

  it('an engine answering another protocol version is refused at initialize, in one line', async () => {
    const engine = fake('version2');
    await expect(engine.initialize(INIT)).rejects.toThrow(/^engine 'fake' speaks protocol version 2; this harness speaks version 1$/);
    await expect(engine.initialize(INIT)).rejects.toBeInstanceOf(EngineProtocolError);
  }, 20_000);

  it('a program that does not exist fails initialize in one line', async () => {
    const e = new StdioEngine([join(dir, 'no-such-engine')], { timeoutMs: 2000 });
    open.push(e);
    await expect(e.initialize(INIT)).rejects.toThrow(/^engine could not start during initialize: .*ENOENT/);
  });
});

describe('quiescelab engine-stdio', () => {
  it('an unknown --mutant is one line on stderr and exit 2', async () => {
    const r = await cli('engine-stdio', '--mutant', 'nope');
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(["quiescelab: --mutant: unknown mutant 'nope' (see quiescelab list mutants)"]);
    expect(r.stdout).toBe('');
  });

  it('ends with its stdin: exit 0; garbage on stdin is one line on stderr and exit 1', async () => {
    const ended = await execa('node', cliArgs('engine-stdio'), { cwd: ROOT, reject: false, input: '' });
    expect([ended.exitCode, ended.stdout, ended.stderr]).toEqual([0, '', '']);
    const garbage = await execa('node', cliArgs('engine-stdio'), { cwd: ROOT, reject: false, input: 'hello\n' });
    expect(garbage.exitCode).toBe(1);
    expect(garbage.stdout).toBe('');
    expect(garbage.stderr.trim().split('\n')).toEqual(['quiescelab engine-stdio: engine-rpc: "hello\\n" where a Content-Length header was due']);
  }, 30_000);

  it('serves the built-in engine in a process: a backup scenario gives what it gives in process; initialize picks a mutant', async () => {
    const engine = new StdioEngine(['node', ...cliArgs('engine-stdio')], { cwd: ROOT, timeoutMs: 60_000 });
    open.push(engine);
    const s: ScenarioSpec = {
      cellId: 'linux/esx41/sqlite/default', seed: 6, workload: { meanIntervalMs: 5, opsPerTxn: 1, valueBytes: 200 }, warmupMs: 800, backupGapsMs: [100, 100],
      fault: { kind: 'none' }, cbtPageAreas: 1024, disks: 1, unwrite: false, job: PLAIN_JOB,
    };
    expect(await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed: 6 })).toMatchObject({ name: 'quiescelab', protocolVersion: PROTOCOL_VERSION });
    expect(JSON.stringify(await runScenario(s, { engine }))).toBe(JSON.stringify(await runScenario(s)));
    expect(await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed: 6, mutant: 'no-quiesce' })).toMatchObject({ name: 'quiescelab+no-quiesce' });
    await expect(engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed: 6, mutant: 'nope' })).rejects.toThrow(/^engine failed initialize \(definite: it did nothing\): initialize: UnknownMutantError: unknown mutant 'nope'$/);
    await engine.close();
    expect(engine.log()).toBe('');
  }, 120_000);
});
