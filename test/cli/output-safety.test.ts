/**
 * Issue 14, part 4: the CLI never deletes or overwrites what it did not write. Output
 * folders are new, empty or marked by quiescelab (MARKER); output files are never written
 * through a symlink or into a FIFO; --export refuses a symlink or a non-empty folder, and
 * the restore's writer lets nothing land outside its root even when a folder is swapped for
 * a symlink under it. And `report`'s schema check agrees with Ajv on results.schema.json.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../cli/errors.js';
import { checkOutDir, claimOutDir, MARKER, readInputFile, writeOutput } from '../../cli/output.js';
import { LocalDirFileWriter } from '../../engine/restore/file-writer-local.js';
import { resultsProblem, schemaProblem } from '../../reports/results-check.js';
import { cli, expectUsageError, ROOT } from '../support/cli.js';
import { hostileResults, schemaShaped } from '../support/results-fixture.js';


const base = (): string => mkdtempSync(join(tmpdir(), 'ql-out-safety-'));

/** A folder the user owns: a page at the top and one where the report keeps its cell pages. */
function foreignFolder(): string {
  const dir = join(base(), 'mine');
  mkdirSync(join(dir, 'cells'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), 'my index');
  writeFileSync(join(dir, 'cells', 'mine.html'), 'my page');
  return dir;
}

function expectForeignUntouched(dir: string): void {
  expect(readdirSync(dir).sort()).toEqual(['cells', 'index.html']);
  expect(readdirSync(join(dir, 'cells'))).toEqual(['mine.html']);
  expect(readFileSync(join(dir, 'index.html'), 'utf8')).toBe('my index');
  expect(readFileSync(join(dir, 'cells', 'mine.html'), 'utf8')).toBe('my page');
}

const usage = (f: () => unknown): string => {
  try {
    f();
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error('expected a UsageError');
};

describe('the output folder rule: new, empty, or written by quiescelab', () => {
  const results = join(base(), 'results.json');
  writeFileSync(results, JSON.stringify(schemaShaped()));

  it('report into a new folder marks it; again into the same folder replaces its own pages', async () => {
    const out = join(base(), 'a', 'report');
    expect((await cli('report', results, '--out', out)).exitCode).toBe(0);
    expect(JSON.parse(readFileSync(join(out, MARKER), 'utf8'))).toMatchObject({ tool: 'quiescelab' });
    expect(existsSync(join(out, '..', MARKER))).toBe(true); // made for it, so marked too
    writeFileSync(join(out, 'cells', 'stale.html'), 'an earlier report\'s page');
    const again = await cli('report', results, '--out', out);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(existsSync(join(out, 'cells', 'stale.html'))).toBe(false);
  });

  it('report into an empty folder marks it', async () => {
    const out = base();
    expect((await cli('report', results, '--out', out)).exitCode).toBe(0);
    expect(existsSync(join(out, MARKER))).toBe(true);
    expect(existsSync(join(out, 'index.html'))).toBe(true);
  });

  it('report and matrix refuse a folder they did not write, before any work, and leave it as it was', async () => {
    const dir = foreignFolder();
    expectUsageError(await cli('report', results, '--out', dir), /^quiescelab: --out: '.*mine' is not empty and quiescelab did not write it/);
    expectUsageError(await cli('matrix', '--os', 'linux', '--tools', 'esx41', '--apps', 'files', '--runs', '1', '--out', dir), /^quiescelab: --out: /);
    expectForeignUntouched(dir);
  });

  it('a marker that is a symlink, or that names another tool, does not make a folder quiescelab\'s', () => {
    const real = join(base(), MARKER);
    writeFileSync(real, JSON.stringify({ tool: 'quiescelab' }));
    const linked = foreignFolder();
    symlinkSync(real, join(linked, MARKER));
    expect(usage(() => checkOutDir(linked, '--out'))).toMatch(/is not empty and quiescelab did not write it/);
    const other = foreignFolder();
    writeFileSync(join(other, MARKER), JSON.stringify({ tool: 'other' }));
    expect(usage(() => checkOutDir(other, '--out'))).toMatch(/is not empty and quiescelab did not write it/);
    expect(usage(() => checkOutDir('', '--out'))).toBe("--out: expected a folder, got '' (give '.' for the current folder)");
  });

  it('a folder that fills between the check and the claim is not claimed', () => {
    const dir = base();
    expect(checkOutDir(dir, '--out')).toBe(dir);
    writeFileSync(join(dir, 'arrived.txt'), 'late');
    expect(usage(() => { claimOutDir(dir, '--out'); })).toMatch(/is no longer empty/);
    expect(readdirSync(dir)).toEqual(['arrived.txt']);
  });
});

describe('output and input files', () => {
  it('--json that is a symlink is refused before the run; the file it points to is unchanged', async () => {
    const dir = base();
    writeFileSync(join(dir, 'target.json'), 'keep');
    symlinkSync(join(dir, 'target.json'), join(dir, 'link.json'));
    expectUsageError(await cli('storage-matrix', '--runs', '1', '--out', join(dir, 'out'), '--json', join(dir, 'link.json')), /^quiescelab: --json: '.*link\.json' is a symbolic link/);
    expect(readFileSync(join(dir, 'target.json'), 'utf8')).toBe('keep');
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('writeOutput never writes through a symlink nor blocks on a FIFO swapped in after the check', () => {
    const dir = base();
    writeFileSync(join(dir, 'target'), 'keep');
    symlinkSync(join(dir, 'target'), join(dir, 'link'));
    expect(usage(() => { writeOutput(join(dir, 'link'), 'x', '--json'); })).toMatch(/^--json: '.*link' is a symbolic link$/);
    spawnSync('mkfifo', [join(dir, 'fifo')]);
    expect(usage(() => { writeOutput(join(dir, 'fifo'), 'x', '--json'); })).toMatch(/^--json: '.*fifo' is not a regular file$/);
    expect(readFileSync(join(dir, 'target'), 'utf8')).toBe('keep');
    writeOutput(join(dir, 'plain'), 'longer content', '--json');
    writeOutput(join(dir, 'plain'), 'short', '--json');
    expect(readFileSync(join(dir, 'plain'), 'utf8')).toBe('short');
  });

  it('readInputFile refuses a FIFO without opening it, and bounds the size', () => {
    const dir = base();
    spawnSync('mkfifo', [join(dir, 'fifo')]);
    expect(usage(() => readInputFile(join(dir, 'fifo'), 1024, 'a results.json'))).toMatch(/: is a FIFO, not a regular file$/);
    writeFileSync(join(dir, 'two-kib'), Buffer.alloc(2048));
    expect(usage(() => readInputFile(join(dir, 'two-kib'), 1024 * 1024 / 1024, 'a test file'))).toMatch(/is more than the .* MiB a test file may have$/);
    expect(readInputFile(join(dir, 'two-kib'), 4096, 'a test file').length).toBe(2048);
  });
});

describe('run --export', () => {
  const RUN = ['run', '--os', 'linux', '--tools', 'esx41', '--apps', 'files'];

  it('a symlink (even to an empty folder) is refused before the run; nothing is written there', async () => {
    const dir = base();
    mkdirSync(join(dir, 'elsewhere'));
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'link'));
    expectUsageError(await cli(...RUN, '--export', join(dir, 'link')), /^quiescelab: --export: '.*link' is a symbolic link, not a folder$/);
    expect(readdirSync(join(dir, 'elsewhere'))).toEqual([]);
  });

  it('a non-empty folder is refused before the run and left as it was', async () => {
    const dir = foreignFolder();
    expectUsageError(await cli(...RUN, '--export', dir), /^quiescelab: --export: '.*mine' is not empty/);
    expectForeignUntouched(dir);
  });
});

describe('the --export writer under a folder swapped for a symlink', () => {
  async function writerWithOutside(): Promise<{ writer: LocalDirFileWriter; root: string; outside: string }> {
    const dir = base();
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    const created = await LocalDirFileWriter.create(join(dir, 'root'));
    if (!created.ok) throw new Error(created.error.kind);
    return { writer: created.value, root: created.value.root, outside };
  }

  function swap(root: string, name: string, outside: string): void {
    renameSync(join(root, name), join(root, `${name}.moved`));
    symlinkSync(outside, join(root, name));
  }

  it('a folder made by the restore, then swapped for a symlink: no file and no folder lands outside', async () => {
    const { writer, root, outside } = await writerWithOutside();
    expect((await writer.mkdir(['d'])).ok).toBe(true);
    swap(root, 'd', outside);
    const file = await writer.createFile(['d', 'f'], 3);
    expect(file.ok ? null : file.error.kind).toBe('unsafe-name');
    const sub = await writer.mkdir(['d', 'sub']);
    expect(sub.ok ? null : sub.error.kind).not.toBeNull();
    expect(readdirSync(outside)).toEqual([]);
  });

  it('a swap racing the writer (after 0 to 7 turns of the event loop): nothing ever lands outside', async () => {
    for (let turns = 0; turns < 8; turns++) {
      for (let i = 0; i < 5; i++) {
        const { writer, root, outside } = await writerWithOutside();
        expect((await writer.mkdir(['d'])).ok).toBe(true);
        const pending = writer.createFile(['d', 'f'], 3);
        for (let t = 0; t < turns; t++) await new Promise<void>((resolve) => setImmediate(resolve));
        swap(root, 'd', outside);
        const file = await pending;
        if (file.ok) {
          expect((await file.value.write(0, new Uint8Array([1, 2, 3]))).ok).toBe(true);
          expect((await file.value.close()).ok).toBe(true);
          expect(readdirSync(join(root, 'd.moved'))).toEqual(['f']); // it landed inside, before the swap
        }
        expect(readdirSync(outside)).toEqual([]);
      }
    }
  });

  it('a root that is a symlink is refused', async () => {
    const dir = base();
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    const created = await LocalDirFileWriter.create(join(dir, 'link'));
    expect(created.ok ? null : created.error.kind).toBe('exists');
    expect(lstatSync(join(dir, 'link')).isSymbolicLink()).toBe(true);
  });
});

describe('report\'s schema check agrees with Ajv on results.schema.json', () => {
  const schema = JSON.parse(readFileSync(join(ROOT, 'reports/results.schema.json'), 'utf8')) as object;
  const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);
  type R = Record<string, unknown> & { cells: (Record<string, unknown> & { properties: Record<string, unknown>[]; dataLoss: Record<string, unknown> })[]; summary: Record<string, unknown>; mutants: { results: Record<string, unknown>[] } };
  const mutations: [string, (r: R) => void][] = [
    ['unchanged', () => undefined],
    ['an extra top field', (r) => { r.extra = 1; }],
    ['an extra cell field', (r) => { r.cells[0]!.color = 'red'; }],
    ['an extra property field', (r) => { r.cells[0]!.properties[0]!.x = 1; }],
    ['a negative count', (r) => { r.summary.failed = -1; }],
    ['a fractional count', (r) => { r.summary.cells = 1.5; }],
    ['runsPerCell 0', (r) => { r.runsPerCell = 0; }],
    ['seed -1', (r) => { r.seed = -1; }],
    ['a negative rpo', (r) => { r.cells[0]!.dataLoss.rpoUsMax = -5; }],
    ['a fractional rpo (allowed)', (r) => { r.cells[0]!.dataLoss.rpoUsMax = 0.5; }],
    ['an unknown controller', (r) => { (r.cells[0]!.conditions as Record<string, unknown>).controller = 'sata'; }],
    ['a condition missing', (r) => { delete (r.cells[0]!.conditions as Record<string, unknown>).encrypted; }],
    ['a replay token of another format', (r) => { r.cells[1]!.properties[0]!.replay = 'ql2.abc'; }],
    ['a property id', (r) => { r.cells[0]!.properties[0]!.id = 'X1'; }],
    ['an achieved key', (r) => { r.cells[0]!.achieved = { excellent: 1 }; }],
    ['an achieved count', (r) => { r.cells[0]!.achieved = { crash: -1 }; }],
    ['a mutant field', (r) => { r.mutants.results[0]!.extra = true; }],
    ['mutants null (allowed)', (r) => { (r as Record<string, unknown>).mutants = null; }],
    ['a timeline entry at -1', (r) => { ((r.cells[1]!.properties[0]!.timeline as Record<string, unknown>[])[0]!).atUs = -1; }],
    ['tool', (r) => { r.tool = 'other'; }],
  ];

  it.each(mutations)('%s', (_, change) => {
    const r = schemaShaped() as R;
    change(r);
    const ajv = validate(r);
    expect(schemaProblem(r) === null, `${schemaProblem(r)} / ${JSON.stringify(validate.errors?.[0])}`).toBe(ajv);
  });

  it('the report\'s lenient check still renders results beyond the schema (its own tests)', () => {
    const beyond = { ...hostileResults({ beyondSchema: true }), cells: hostileResults({ beyondSchema: true }).cells.map((c, i) => ({ ...c, properties: (schemaShaped().cells[i] as { properties: unknown }).properties })) };
    expect(resultsProblem(beyond)).toBeNull();
    expect(schemaProblem(beyond)).toMatch(/^cells\[2\]\.conditions\./);
    expect(validate(JSON.parse(JSON.stringify(beyond)))).toBe(false);
  });
});
