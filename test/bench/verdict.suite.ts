/**
 * Time to verdict (issue 19): for each engine mutant, how many runs and how many seconds
 * the hunt takes until its first kill — the survey's first failing run on the cell that
 * kills it, shrinking left out (the counterexample comes after the verdict). First each
 * hunt runs at the default --mutant-runs without shrinking to find that run k; then the
 * hunt is timed again with k + 1 runs on that cell (its cost includes one evaluation of
 * the failing run again: the shrink's start). Runs to kill = k + 1 plus the runs on the
 * mutant's earlier cells. `QL_BENCH_MUTANTS=a,b` hunts only those; the default is all.
 * The smallest margin (default runs minus the most runs any mutant needed) is what says
 * whether the default --mutant-runs still kills every mutant.
 */

import { huntMutant } from '../../scenarios/mutants/hunt.js';
import { MUTANTS } from '../../scenarios/mutants/index.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { DEFAULT_MUTANT_RUNS } from '../../cli/matrix.js';
import type { BenchSuite, Report } from './harness.js';

const SEED = 1;

export const suite: BenchSuite = {
  name: 'verdict',
  async run(report: Report) {
    await prepareDefaultApps();
    const runs = Number(DEFAULT_MUTANT_RUNS);
    const only = process.env.QL_BENCH_MUTANTS?.split(',');
    let worst = 0;
    let survivors = 0;
    for (const mutant of MUTANTS.filter((m) => only === undefined || only.includes(m.id))) {
      const found = await huntMutant(mutant, { runs, seed: SEED, shrinkBudget: 0 });
      const first = found.killer === null ? -1 : Math.min(...found.killer.failedRuns, runs - 1);
      if (!found.killed || found.cell === null) {
        survivors++;
        report(`${mutant.id}: SURVIVED ${runs} runs per cell`, found.runs, 'runs');
        continue;
      }
      const before = found.runs - runs;
      const start = process.hrtime.bigint();
      const timed = await huntMutant(mutant, { runs: first + 1, seed: SEED, shrinkBudget: 0, cells: [found.cell] });
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const toKill = before + first + 1;
      worst = Math.max(worst, first + 1);
      report(`${mutant.id}: runs to first kill`, toKill, 'runs', `${found.killer?.id ?? '?'} on ${found.cell}${timed.killed ? '' : ' (not killed again at k+1 runs)'}`);
      report(`${mutant.id}: seconds to first kill`, seconds, 's', `${first + 1} run(s) on the killing cell, one core, in process`);
    }
    report(`most runs any mutant needed on its killing cell (default --mutant-runs ${runs})`, worst, 'runs', survivors === 0 ? `margin ${runs - worst}` : `${survivors} survived`);
  },
};
