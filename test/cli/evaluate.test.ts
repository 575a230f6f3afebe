/**
 * `quiescelab evaluate` as a user runs it: the two sample estates (the RVTools CSV folder
 * and the YAML) evaluated per VM, with distinct cells run once; the internal header style
 * with hostile rows (HTML in a name, an unknown OS, a flag that is no flag) warned one line
 * each; malformed input and bad options exit 2 with one line, writing nothing.
 */

import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { EstateEvaluation, VmEvaluation } from '../../scenarios/estate/evaluate.js';
import { mapOs, mapTools } from '../../scenarios/estate/map.js';
import { cli, expectUsageError } from '../support/cli.js';

const SAMPLE = 'examples/estates/rvtools-sample';
const YAML = 'examples/estates/estate.yaml';

/** The sample's three CSV tabs as an RVTools workbook (sheets vInfo, vTools, vDisk). */
async function sampleWorkbook(file: string): Promise<void> {
  const workbook = new ExcelJS.Workbook();
  for (const tab of ['vInfo', 'vTools', 'vDisk']) {
    const rows = parseCsv(readFileSync(join(SAMPLE, `RVTools_tab${tab}.csv`), 'utf8')) as string[][];
    workbook.addWorksheet(tab).addRows(rows.map((r, i) => (i === 0 ? r : r.map((v) => (/^\d+$/.test(v) ? Number(v) : v)))));
  }
  await workbook.xlsx.writeFile(file);
}

function vmOf(e: EstateEvaluation, name: string): VmEvaluation {
  const vm = e.vms.find((v) => v.vm === name);
  if (vm === undefined) throw new Error(`no VM ${name}`);
  return vm;
}

describe('estate mapping', () => {
  it('maps the OS strings RVTools prints and the Tools version codes at VMware\'s cut points', () => {
    expect(mapOs('Microsoft Windows Server 2019 (64-bit)')).toBe('win2019');
    expect(mapOs('Microsoft Windows Server 2003 Standard (64-bit)')).toBe('win2003-x64');
    expect(mapOs('Microsoft Windows Server 2003 Standard (32-bit)')).toBe('win2003-x86');
    expect(mapOs('Microsoft Windows Server 2008 R2 (64-bit)')).toBe('win2008r2');
    expect(mapOs('Microsoft Windows Server 2008 (64-bit)')).toBe('win2008-x64');
    expect(mapOs('Red Hat Enterprise Linux 8 (64-bit)')).toBe('linux');
    expect(mapOs('Ubuntu Linux (64-bit)')).toBe('linux');
    expect(mapOs('CentOS 7 (64-bit)')).toBe('linux');
    expect(mapOs('Other (32-bit)')).toBe('other');
    expect(mapOs('FreeBSD 12 (64-bit)')).toBeNull();
    expect([mapTools('7299'), mapTools('7302'), mapTools('8196'), mapTools('8289'), mapTools('8290'), mapTools('12.1.5'), mapTools('7.4.6')])
      .toEqual(['esx35u1', 'esx35u2', 'esx35u2', 'esx35u2', 'esx41', 'esx41', 'esx35u2']);
    expect([mapTools('0'), mapTools('toolsOk'), mapTools('')]).toEqual([null, null, null]);
  });
});

describe('quiescelab evaluate (CLI)', () => {
  it('evaluates the RVTools CSV sample: per-VM levels, risks with remediations, each distinct cell once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-eval-'));
    const r = await cli('evaluate', SAMPLE, '--runs', '3', '--out', join(dir, 'out'), '--json', join(dir, 'e.json'));
    expect(r.exitCode, r.stderr).toBe(0);
    const e = JSON.parse(readFileSync(join(dir, 'e.json'), 'utf8')) as EstateEvaluation;
    expect(readFileSync(join(dir, 'out', 'evaluation.json'), 'utf8')).toBe(readFileSync(join(dir, 'e.json'), 'utf8'));
    expect(e.summary.vms).toBe(16);
    expect(e.summary.cellsRun).toBeLessThan(e.summary.vms);
    const w2k3 = vmOf(e, 'w2k3-x64-files');
    expect(w2k3.expected.files).toBe('crash');
    expect(w2k3.achieved.files).toBe('crash');
    expect(w2k3.risks.map((x) => x.text)).toContain('Tools 3.5 U1 on Windows 2003 x64: crash-consistent only');
    expect(w2k3.risks.find((x) => x.id === 'old-tools')?.remediation).toMatch(/^upgrade Tools/);
    const legacy = vmOf(e, 'sql2019-legacy');
    expect(legacy.cell.sqlserver).toBe('win2019/esx41/sqlserver/no-uuid');
    expect(legacy.expected.sqlserver).toBe('filesystem');
    expect(legacy.risks).toContainEqual({ id: 'enable-uuid', text: 'disk.EnableUUID is FALSE', remediation: 'set it TRUE to reach application consistency for SQL Server' });
    const prod = vmOf(e, 'sql2019-prod');
    expect(prod.achieved.sqlserver).toBe('application');
    expect(prod.restores).toEqual({ vm: 'works', file: 'works', item: 'works', pointInTime: 'works' });
    expect(prod.rpo.withLogBackups).not.toBeNull();
    expect(prod.risks).toEqual([]);
    expect(vmOf(e, 'w2k8-sql-ide').risks.map((x) => x.id)).toContain('ide');
    expect(vmOf(e, 'bsd-router').os).toBe('other');
    expect(vmOf(e, 'web01').risks.map((x) => x.id)).toEqual(['cbt-off']);
    expect(e.vms.some((v) => v.vm === 'template-w2k19')).toBe(false);
    const warnings = r.stderr.trim().split('\n');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/row 17: VM bsd-router: unknown guest OS 'FreeBSD 12 \(64-bit\)'/);
    expect(r.stdout).toMatch(/^16 VMs, \d+ distinct cells run;/);
    const html = readFileSync(join(dir, 'out', 'index.html'), 'utf8');
    expect(html).toContain('<table id="vms">');
    expect(html).toContain('<option value="enable-uuid">');
    expect(html).not.toMatch(/(src|href)="https?:/);
  }, 240_000);

  it('evaluates the YAML sample (EnableUUID, encryption, old Tools)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-eval-'));
    const r = await cli('evaluate', YAML, '--runs', '2', '--out', join(dir, 'out'));
    expect(r.exitCode, r.stderr).toBe(0);
    const e = JSON.parse(readFileSync(join(dir, 'out', 'evaluation.json'), 'utf8')) as EstateEvaluation;
    expect(vmOf(e, 'sql-nouuid').risks.map((x) => x.remediation)).toContain('set it TRUE to reach application consistency for SQL Server');
    expect(vmOf(e, 'sql-encrypted').cell.sqlserver).toBe('win2019/esx41/sqlserver/encrypted');
    expect(vmOf(e, 'old-2003').achieved.files).toBe('crash');
    expect(vmOf(e, 'sql-prod').achieved).toEqual({ sqlserver: 'application', files: 'filesystem' });
    expect(e.summary.cellsRun).toBeLessThan(7);
    // the folder evaluate wrote may be written again
    expect((await cli('evaluate', YAML, '--runs', '1', '--out', join(dir, 'out'))).exitCode).toBe(0);
  }, 240_000);

  it('reads internal headers and a vInfo alone; hostile rows are one warning each, the rest evaluated; --app sets apps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-eval-'));
    const file = join(dir, 'vinfo.csv');
    writeFileSync(file, [
      'vInfoVMName;vInfoPowerstate;vInfoOSTools;vInfoEnableUUID;vInfoCBT',
      'db1;poweredOn;Microsoft Windows Server 2019 (64-bit);FALSE;True',
      '<img src=x onerror=alert(1)>;poweredOn;Plan 9 (64-bit);maybe;True',
      ';poweredOn;Ubuntu Linux (64-bit);True;True',
    ].join('\n'));
    const r = await cli('evaluate', file, '--runs', '1', '--app', 'db1=sql', '--out', join(dir, 'out'));
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(5);
    for (const w of [/no vTools tab/, /no vDisk tab/, /row 3: .*unknown guest OS 'Plan 9/, /row 3: .*EnableUUID 'maybe'/, /row 4: no VM name/]) expect(lines.some((l) => w.test(l)), String(w)).toBe(true);
    const e = JSON.parse(readFileSync(join(dir, 'out', 'evaluation.json'), 'utf8')) as EstateEvaluation;
    expect(vmOf(e, 'db1').cell.sqlserver).toBe('win2019/esx41/sqlserver/no-uuid');
    expect(readFileSync(join(dir, 'out', 'index.html'), 'utf8')).not.toContain('<img src=x');
  }, 120_000);

  it('the same estate as an xlsx workbook evaluates to the same VMs as the CSV folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-eval-'));
    const book = join(dir, 'RVTools_export_all.xlsx');
    await sampleWorkbook(book);
    const x = await cli('evaluate', book, '--runs', '1', '--out', join(dir, 'x'));
    expect(x.exitCode, x.stderr).toBe(0);
    const c = await cli('evaluate', SAMPLE, '--runs', '1', '--out', join(dir, 'c'));
    expect(c.exitCode, c.stderr).toBe(0);
    const read = (d: string) => JSON.parse(readFileSync(join(dir, d, 'evaluation.json'), 'utf8')) as EstateEvaluation;
    expect(read('x').vms).toEqual(read('c').vms);
    expect(read('x').summary).toEqual(read('c').summary);
    expect(x.stderr.trim().split('\n')).toHaveLength(2);
    const noInfo = new ExcelJS.Workbook();
    noInfo.addWorksheet('vHost').addRow(['Host']);
    await noInfo.xlsx.writeFile(join(dir, 'hosts.xlsx'));
    expectUsageError(await cli('evaluate', join(dir, 'hosts.xlsx'), '--out', join(dir, 'o')), /hosts\.xlsx: no vInfo sheet \(sheets: vHost\)/);
    writeFileSync(join(dir, 'fake.xlsx'), 'VM,OS\n');
    expectUsageError(await cli('evaluate', join(dir, 'fake.xlsx'), '--out', join(dir, 'o')), /fake\.xlsx: not an xlsx workbook/);
    expect(existsSync(join(dir, 'o'))).toBe(false);
  }, 180_000);

  it('malformed input and bad options: one line, exit 2, nothing written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-eval-'));
    const put = (name: string, text: string | Buffer) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const out = join(dir, 'out');
    expectUsageError(await cli('evaluate', put('novm.csv', 'Name,OS\na,Other (32-bit)\n'), '--out', out), /novm\.csv: vInfo row 1: no VM name column/);
    expectUsageError(await cli('evaluate', put('empty.csv', ''), '--out', out), /empty\.csv: row 1: empty file/);
    expectUsageError(await cli('evaluate', put('bin.csv', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 1, 2])), '--out', out), /bin\.csv: row 1: not a CSV file/);
    expectUsageError(await cli('evaluate', put('quote.csv', 'VM,OS\n"a,b\n'), '--out', out), /quote\.csv: row \d+: not a CSV file/);
    mkdirSync(join(dir, 'nofolder'));
    put('nofolder/RVTools_tabvTools.csv', 'VM,Tools Version\na,12325\n');
    expectUsageError(await cli('evaluate', join(dir, 'nofolder'), '--out', out), /no RVTools_tabvInfo\.csv in the folder/);
    expectUsageError(await cli('evaluate', SAMPLE, '--runs', 'many', '--out', out), /^quiescelab: --runs: expected a whole number, got 'many'$/);
    expectUsageError(await cli('evaluate', SAMPLE, '--runs', '0', '--out', out), /--runs: must be between 1/);
    expectUsageError(await cli('evaluate', SAMPLE, '--app', 'sql2019-prod=oracle', '--out', out), /--app: unknown application 'oracle'/);
    expectUsageError(await cli('evaluate', YAML, '--out', put('mine.txt', 'my notes')), /--out: .*mine\.txt' exists and is not a folder/);
    expect(readFileSync(join(dir, 'mine.txt'), 'utf8')).toBe('my notes');
    expectUsageError(await cli('evaluate', put('bad.yaml', 'vms:\n  - os: x\n'), '--out', out), /bad\.yaml: vms\[0\]: name/);
    expectUsageError(await cli('evaluate', join(dir, 'missing.csv'), '--out', out), /missing\.csv: cannot read: ENOENT/);
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});
