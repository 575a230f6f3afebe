/**
 * The engine protocol's cost (cli/engine-rpc/): backup scenarios per second with the
 * built-in engine in process and with it in a child process speaking the protocol
 * (`quiescelab engine-stdio`, as `--engine-cmd` runs it), bytes as binary frames (what
 * the built-in engine process declares) and as base64 only (QUIESCELAB_ENGINE_RPC_BINARY=0
 * in its environment: what an engine that never declares `binary-frames` gets), and, to
 * tell the protocol's own cost from the process's, over in-memory streams in this process
 * (memoryTransport, binary frames). Same
 * specs for every path (12 on 4 modelled cells, the matrix's arbitrary at a fixed seed),
 * a session (initialize) per scenario as the runner starts one per run, each path warmed
 * up first, then QL_BENCH_PROTOCOL_ROUNDS rounds (default 5) running the paths one after
 * the other, in a rotating order. The ratios are per round (the protocol's rate over the
 * in-process rate of the same round: the goal is >= 0.5); figures are medians, the notes
 * give the spread. CPU is the harness's and the engine process's (Linux /proc), less
 * noisy than wall time on shared cores. Bytes are counted on the child's stdin and stdout.
 *
 * The engine process runs from dist/ when dist/cli/main.js is newer than every source
 * file it is built from, else from source (node --import tsx cli/main.ts).
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { RpcEngine } from '../../cli/engine-rpc/client.js';
import { memoryTransport } from '../../cli/engine-rpc/memory.js';
import { spawnEngine, type EngineTransport } from '../../cli/engine-rpc/process.js';
import { PROTOCOL_VERSION, type Engine } from '../../scenarios/engine-api.js';
import { builtinEngine } from '../../scenarios/engine-builtin.js';
import { scenarioArb } from '../../scenarios/scenario/arbitraries.js';
import { runScenario } from '../../scenarios/scenario/run.js';
import type { ScenarioSpec } from '../../scenarios/scenario/spec.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import type { BenchSuite } from './harness.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CELLS = ['win2019/esx41/sqlserver/default', 'win2019/esx41/exchange/default', 'linux/esx41/files/default', 'win2003-x64/esx35u1/sqlserver/default'];
const PER_CELL = 3;

/** Newest modification time of the .ts files under `dir` (ms). */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** How to start `quiescelab engine-stdio`: from dist when it is fresh, else from source. */
function engineArgv(): { argv: string[]; from: string } {
  const main = join(ROOT, 'dist/cli/main.js');
  const built = statSync(main, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const sources = Math.max(...['cli', 'core', 'engine', 'scenarios', 'sim'].map((d) => newestSource(join(ROOT, d))));
  if (built > sources) return { argv: ['node', main, 'engine-stdio'], from: 'dist/cli/main.js' };
  return { argv: ['node', '--import', 'tsx', join(ROOT, 'cli/main.ts'), 'engine-stdio'], from: 'source via tsx (dist is stale)' };
}

/** CPU time (ms) of this process's children so far (Linux; 0 elsewhere). */
function childrenCpuMs(): number {
  let ms = 0;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields 4 (ppid), 14 and 15 (utime, stime in clock ticks of 10 ms) of proc(5).
      if (Number(f[1]) === process.pid) ms += (Number(f[11]) + Number(f[12])) * 10;
    } catch {
      // The process ended meanwhile.
    }
  }
  return ms;
}

interface Counted {
  toEngine: number;
  toHarness: number;
}

/** StdioEngine's process, with the bytes on its stdin and stdout counted. */
function countedEngine(argv: readonly string[], env: Record<string, string>, counted: Counted): RpcEngine {
  return new RpcEngine((): EngineTransport => {
    const t = spawnEngine(argv, { cwd: ROOT, env });
    t.input.on('data', (d: Buffer) => { counted.toHarness += d.length; });
    const write = t.output.write.bind(t.output) as (chunk: Uint8Array, cb?: (e?: Error | null) => void) => boolean;
    t.output.write = ((chunk: Uint8Array, cb?: (e?: Error | null) => void) => {
      counted.toEngine += chunk.length;
      return write(chunk, cb);
    }) as typeof t.output.write;
    return t;
  }, { timeoutMs: 300_000 });
}

interface Path {
  readonly name: string;
  readonly engine: Engine;
  readonly counted?: Counted;
  readonly wallMs: number[];
  readonly cpuMs: number[];
  readonly ratio: number[];
}

/** One pass over the specs, a session per scenario. */
async function pass(path: Path, specs: readonly ScenarioSpec[]): Promise<{ wallMs: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const children0 = childrenCpuMs();
  const start = process.hrtime.bigint();
  for (const spec of specs) {
    await path.engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed: spec.seed });
    await runScenario(spec, { engine: path.engine });
  }
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 + childrenCpuMs() - children0 };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function spread(values: readonly number[], digits = 2): string {
  return `${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)}`;
}

export const suite: BenchSuite = {
  name: 'protocol',
  async run(report) {
    await prepareDefaultApps();
    const specs = CELLS.flatMap((cellId) => fc.sample(scenarioArb(cellId), { seed: 7, numRuns: PER_CELL }));
    const rounds = Number(process.env.QL_BENCH_PROTOCOL_ROUNDS ?? 5);
    const { argv, from } = engineArgv();
    const binaryBytes: Counted = { toEngine: 0, toHarness: 0 };
    const base64Bytes: Counted = { toEngine: 0, toHarness: 0 };
    const paths: Path[] = [
      { name: 'in process', engine: builtinEngine(), wallMs: [], cpuMs: [], ratio: [] },
      { name: 'binary', engine: countedEngine(argv, {}, binaryBytes), counted: binaryBytes, wallMs: [], cpuMs: [], ratio: [] },
      { name: 'base64', engine: countedEngine(argv, { QUIESCELAB_ENGINE_RPC_BINARY: '0' }, base64Bytes), counted: base64Bytes, wallMs: [], cpuMs: [], ratio: [] },
      { name: 'in memory', engine: new RpcEngine(memoryTransport(builtinEngine()), { timeoutMs: 300_000 }), wallMs: [], cpuMs: [], ratio: [] },
    ];
    const load = loadavg()[0] ?? 0;
    try {
      for (const path of paths) await pass(path, specs); // warm up (and start the processes)
      for (const path of paths) if (path.counted !== undefined) path.counted.toEngine = path.counted.toHarness = 0;
      for (let round = 0; round < rounds; round++) {
        const walls = new Map<Path, number>();
        for (let i = 0; i < paths.length; i++) {
          const path = paths[(round + i) % paths.length] as Path;
          const r = await pass(path, specs);
          path.wallMs.push(r.wallMs);
          path.cpuMs.push(r.cpuMs);
          walls.set(path, r.wallMs);
        }
        const inProcess = walls.get(paths[0] as Path) ?? 0;
        for (const path of paths) path.ratio.push(inProcess / (walls.get(path) ?? 1));
      }
    } finally {
      await Promise.all(paths.map((p) => (p.engine instanceof RpcEngine ? p.engine.close() : Promise.resolve())));
    }
    const n = specs.length;
    const [inProcess, binary, base64, memory] = paths as [Path, Path, Path, Path];
    const rate = (p: Path): number => n / (median(p.wallMs) / 1000);
    const cpu = (p: Path): string => `${(median(p.cpuMs) / n).toFixed(0)} ms CPU per scenario`;
    const scenarios = `${n} scenarios on ${CELLS.length} cells, ${rounds} rounds, load ${load.toFixed(1)} at start`;
    report('backup scenarios/s, built-in engine in process', rate(inProcess), 'scen/s', `${scenarios}; ${cpu(inProcess)}`);
    report('  through the protocol in a child process, binary frames', rate(binary), 'scen/s', `engine-stdio from ${from}; ${cpu(binary)} (harness + engine)`);
    report('    protocol/in-process rate (goal >= 0.5)', median(binary.ratio), 'x', `per round ${spread(binary.ratio)}`);
    report('  through the protocol in a child process, base64 only', rate(base64), 'scen/s', cpu(base64));
    report('    protocol/in-process rate', median(base64.ratio), 'x', `per round ${spread(base64.ratio)}`);
    report('  through the protocol in memory (no process), binary frames', rate(memory), 'scen/s', cpu(memory));
    report('    protocol/in-process rate', median(memory.ratio), 'x', `per round ${spread(memory.ratio)}`);
    for (const path of [binary, base64]) {
      const c = path.counted as Counted;
      const per = (bytes: number): number => bytes / rounds / n / 1e6;
      report(`  bytes moved per scenario, ${path.name}`, per(c.toEngine + c.toHarness), 'MB', `${per(c.toEngine).toFixed(2)} MB to the engine, ${per(c.toHarness).toFixed(2)} MB to the harness`);
    }
  },
};
