/**
 * The quiescelab commander program with every command registered, built without running
 * it: cli/main.ts parses argv with it, and a test reads its commands and options (the
 * commands docs/ci/ runs must exist).
 */

import { Command } from 'commander';
import { registerDemo } from './demo.js';
import { registerImage } from './image.js';
import { registerRepo } from './repo.js';
import { registerEngineStdio } from './engine-stdio.js';
import { registerEvaluate } from './evaluate.js';
import { registerHarness } from './harness.js';
import { registerMatrix } from './matrix.js';
import { registerMerge } from './merge.js';
import { registerRun } from './run.js';
import { registerReport } from './report.js';
import { registerServe } from './serve.js';
import { registerStorageMatrix } from './storage-matrix.js';
import { VERSION } from './version.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('quiescelab')
    .description('Consistency test harness and simulator for application-aware VM backup')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError(false);
  registerMatrix(program);
  registerMerge(program);
  registerRun(program);
  registerReport(program);
  registerHarness(program);
  registerStorageMatrix(program);
  registerImage(program);
  registerRepo(program);
  registerServe(program);
  registerDemo(program);
  registerEngineStdio(program);
  registerEvaluate(program);
  return program;
}
