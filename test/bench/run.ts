/**
 * `npm run bench`: runs every suite under test/bench/ and prints their figures.
 * Options: `--only NAME` (a suite), `--json FILE` (write the figures as JSON).
 */

import { writeFileSync } from 'node:fs';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchSuite, Figure } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;

// A suite lives in NAME.suite.ts: with --only, no other suite is even loaded.
const files = readdirSync(here).filter((f) => (only === undefined ? f.endsWith('.suite.ts') : f === `${only}.suite.ts`)).sort();
const figures: Figure[] = [];
for (const file of files) {
  const mod = (await import(join(here, file))) as { suite: BenchSuite };
  if (only !== undefined && mod.suite.name !== only) continue;
  console.log(`\n## ${mod.suite.name}`);
  await mod.suite.run((name, value, unit, note) => {
    const figure: Figure = note === undefined ? { suite: mod.suite.name, name, value, unit } : { suite: mod.suite.name, name, value, unit, note };
    figures.push(figure);
    const shown = value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toPrecision(3);
    console.log(`${name.padEnd(58)} ${shown.padStart(14)} ${unit}${note === undefined ? '' : `  (${note})`}`);
  });
}
if (jsonOut !== undefined) writeFileSync(jsonOut, JSON.stringify(figures, null, 2) + '\n');
