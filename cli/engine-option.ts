/**
 * `--engine-cmd "CMD ARGS"` and `--engine-timeout MS` (matrix, run, replay): judge an engine
 * in another process, speaking the engine protocol on its stdin and stdout
 * (cli/engine-rpc/README.md), instead of the built-in one. The command line is split as a
 * shell splits a simple command and run without a shell (command-line.ts). Before any
 * work the engine is started once and asked who it is (`probeEngine`): a command that
 * does not start, or an engine that does not answer initialize, is one line and exit 2.
 */

import type { Command } from 'commander';
import { execaSync } from 'execa';
import { StdioEngine } from './engine-rpc/client.js';
import { CommandLineError, splitCommandLine } from './engine-rpc/command-line.js';
import { EngineProtocolError } from './engine-rpc/protocol.js';
import { PROTOCOL_VERSION, type EngineInfo } from '../scenarios/engine-api.js';
import { parseIntOption, quote, UsageError } from './errors.js';

/** An engine process to start, per worker. */
export interface EngineCmd {
  readonly argv: readonly string[];
  readonly timeoutMs: number;
}

export interface EngineCmdOptions {
  readonly engineCmd?: string;
  readonly engineImage?: string;
  readonly engineTimeout?: string;
}

/** A Docker image reference: [registry[:port]/]name[/name...][:tag][@digest], lower-case names. */
const IMAGE_REF = /^(?:[a-z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/**
 * `--engine-image IMAGE`: the engine is the image's entrypoint, run with its stdin and stdout
 * attached (`docker run -i --rm --network none IMAGE`), as a process of this harness. Needs a
 * reachable Docker engine: without one, one line and exit 2 before any work.
 */
function imageArgv(image: string): string[] {
  if (!IMAGE_REF.test(image) || image.length > 255) throw new UsageError(`--engine-image: not an image reference: ${quote(image)}`);
  try {
    execaSync('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 15_000 });
  } catch (e) {
    const stderr = (e as { stderr?: unknown }).stderr;
    const text = typeof stderr === 'string' && stderr.trim() !== '' ? stderr : e instanceof Error ? e.message : String(e);
    const why = text.split('\n').find((l) => l.trim() !== '') ?? text;
    throw new UsageError(`--engine-image: no Docker engine is reachable here (docker info: ${why.trim()})`);
  }
  return ['docker', 'run', '-i', '--rm', '--network', 'none', image];
}

export const DEFAULT_ENGINE_TIMEOUT_MS = 60_000;

export function addEngineOptions(command: Command): Command {
  return command
    .option('--engine-cmd <cmd>', 'judge the engine this command starts (JSON-RPC on its stdin/stdout; no shell) instead of the built-in one')
    .option('--engine-image <image>', 'judge the engine this Docker image runs (docker run -i --rm --network none IMAGE; needs a reachable Docker engine)')
    .option('--engine-timeout <ms>', `with --engine-cmd: a call fails when the engine sends nothing for this long (default ${DEFAULT_ENGINE_TIMEOUT_MS})`);
}

/** The engine process the options name, or null for the built-in engine. */
export function parseEngineCmd(options: EngineCmdOptions): EngineCmd | null {
  if (options.engineCmd !== undefined && options.engineImage !== undefined) throw new UsageError('--engine-image: give --engine-cmd or --engine-image, not both');
  const timeoutMs = options.engineTimeout === undefined ? DEFAULT_ENGINE_TIMEOUT_MS : parseIntOption('--engine-timeout', options.engineTimeout, 100, 86_400_000);
  if (options.engineImage !== undefined) return { argv: imageArgv(options.engineImage), timeoutMs };
  if (options.engineCmd === undefined) {
    if (options.engineTimeout !== undefined) throw new UsageError('--engine-timeout: only with --engine-cmd or --engine-image');
    return null;
  }
  let argv: string[];
  try {
    argv = splitCommandLine(options.engineCmd);
  } catch (e) {
    if (e instanceof CommandLineError) throw new UsageError(`--engine-cmd: ${e.message}: ${quote(options.engineCmd)}`);
    throw e;
  }
  return { argv, timeoutMs };
}

export function startEngine(cmd: EngineCmd, mutant: string | null): StdioEngine {
  return new StdioEngine(cmd.argv, { timeoutMs: cmd.timeoutMs, ...mutant === null ? {} : { mutant } });
}

/** Starts the engine once, asks who it is and ends it; exit 2 (a UsageError) when it cannot answer, or lacks `mutants` when one is asked for. */
export async function probeEngine(cmd: EngineCmd, mutant: string | null, seed: number): Promise<EngineInfo> {
  const engine = startEngine(cmd, mutant);
  try {
    const info = await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed });
    if (mutant !== null && !info.capabilities.includes('mutants')) throw new UsageError(`--mutant: the engine '${info.name}' does not declare the 'mutants' capability`);
    return info;
  } catch (e) {
    if (e instanceof EngineProtocolError) throw new UsageError(`--engine-cmd: ${e.message}`);
    throw e;
  } finally {
    await engine.close();
  }
}
