/**
 * `quiescelab engine-stdio [--mutant ID]`: the built-in engine (or one of its mutants) as
 * an engine process, speaking the engine protocol (cli/engine-rpc/README.md) on stdin and
 * stdout until stdin ends, then exit 0; exit 1 (one line on stderr) when stdin carries
 * something that is not a frame or stdout breaks. stdout carries protocol frames only: anything the
 * engine's code prints through `console` goes to stderr, which is the engine's log.
 *
 * The mutant can also be chosen per session: `initialize` with `mutant` serves that mutant
 * from then on (the built-in engine declares the `mutants` capability), and without one
 * the `--mutant` given at start (or none). An unknown `--mutant` is one line on stderr and
 * exit 2; an unknown mutant at initialize is an error answer to it.
 */

import type { Command } from 'commander';
import type { Engine } from '../scenarios/engine-api.js';
import { engineFor } from '../scenarios/mutants/index.js';
import { quote, UsageError } from './errors.js';
import { ENGINE_METHODS, LOG_METHODS } from './engine-rpc/protocol.js';
import { serveEngine } from './engine-rpc/server.js';

type AnyFn = (...args: unknown[]) => Promise<unknown>;

export class UnknownMutantError extends Error {
  override readonly name = 'UnknownMutantError';
}

function built(mutant: string | undefined): Engine {
  const engine = engineFor(mutant ?? null);
  if (engine === undefined) throw new UnknownMutantError(`unknown mutant ${quote(mutant ?? '')}`);
  return engine;
}

/** The engine served: the built-in one or a mutant, switched when an initialize names another. */
export function switchingEngine(startMutant: string | undefined): Engine {
  let mutant = startMutant;
  let current = built(mutant);
  const method = (target: () => object, name: string): AnyFn => (...args) => {
    const t = target();
    return ((t as Record<string, AnyFn>)[name] as AnyFn).apply(t, args);
  };
  const logs: Record<string, AnyFn> = {};
  for (const name of Object.keys(LOG_METHODS)) logs[name] = method(() => current.logs, name);
  const engine: Record<string, unknown> = { logs };
  for (const name of Object.keys(ENGINE_METHODS)) engine[name] = method(() => current, name);
  const initialize: Engine['initialize'] = (params) => {
    const wanted = params.mutant ?? startMutant;
    if (wanted !== mutant) {
      current = built(wanted);
      mutant = wanted;
    }
    return current.initialize(params);
  };
  engine['initialize'] = initialize;
  engine['shutdown'] = () => current.shutdown();
  return engine as unknown as Engine;
}

/** Keeps stdout for protocol frames: console output goes to stderr. */
function consoleToStderr(): void {
  const toStderr = (...args: unknown[]): void => {
    console.error(...args);
  };
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
}

export function registerEngineStdio(program: Command): void {
  program
    .command('engine-stdio')
    .description('serve the built-in engine (or a mutant) over JSON-RPC on stdin/stdout, for --engine-cmd and other harnesses')
    .option('--mutant <id>', 'serve this mutant of the engine (quiescelab list mutants)')
    .action(async (options: { mutant?: string }) => {
      let engine: Engine;
      try {
        engine = switchingEngine(options.mutant);
      } catch (e) {
        if (e instanceof UnknownMutantError) throw new UsageError(`--mutant: ${e.message} (see quiescelab list mutants)`);
        throw e;
      }
      consoleToStderr();
      const served = serveEngine(engine, process.stdin, process.stdout, { log: (line) => process.stderr.write(`quiescelab engine-stdio: ${line}\n`) });
      await served.done;
      process.stdin.destroy();
      process.exitCode = served.broken() === null ? 0 : 1;
    });
}
