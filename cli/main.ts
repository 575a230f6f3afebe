#!/usr/bin/env node
/**
 * The quiescelab command line: the only place that reads argv, writes stdout, sets exit
 * codes and reads the real clock. Exit codes: 0 all passed, 1 a check failed, 2 bad usage
 * or input (one line naming the offending option or value).
 */

import { CommanderError } from 'commander';
import { UsageError } from './errors.js';
import { buildProgram } from './program.js';

async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length <= 2) {
    // No command is bad usage (exit 2), not help (exit 0): one line on stderr naming the commands.
    process.stderr.write(`quiescelab: expected a command: ${program.commands.map((c) => c.name()).join(', ')} (quiescelab --help)\n`);
    return 2;
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and version exit through here with code 0; anything else is bad usage
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      return 2; // commander already printed its one-line message
    }
    if (error instanceof UsageError) {
      process.stderr.write(`quiescelab: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv);
