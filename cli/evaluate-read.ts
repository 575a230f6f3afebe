/**
 * Reading an estate for `quiescelab evaluate`: a folder of RVTools per-tab CSV files
 * (`RVTools_tabvInfo.csv`, `RVTools_tabvTools.csv`, `RVTools_tabvDisk.csv`, joined by VM
 * name), a vInfo CSV alone (what it lacks is warned), the RVTools xlsx workbook (exceljs:
 * sheets vInfo, vTools, vDisk), or a YAML estate. Both header styles
 * are accepted: display names (`VM`, `OS according to the VMware Tools`) and internal ones
 * (`vInfoVMName`, `vInfoOSTools`). A file that is no export (no VM column, empty, not CSV
 * or YAML) is one UsageError naming the file, row and column; a bad row is a warning.
 */

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import { parse as parseYaml } from 'yaml';
import type { EstateVmInput } from '../scenarios/estate/map.js';
import { quote, shown, UsageError } from './errors.js';
import { readInputFile } from './output.js';

const MAX_ESTATE_BYTES = 64 * 1024 * 1024;

export interface Estate {
  readonly vms: readonly EstateVmInput[];
  readonly warnings: readonly string[];
  /** The estate has no Tools version at all (a vInfo alone). */
  readonly noToolsVersions: boolean;
}

/** Normalised header: lower case, letters and digits only. */
const norm = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/** Column aliases (display and internal names), normalised. */
const COLUMNS = {
  name: ['VM', 'vInfoVMName', 'vToolsVMName', 'vDiskVMName', 'VM Name'],
  osTools: ['OS according to the VMware Tools', 'vInfoOSTools', 'vToolsOSTools'],
  osConfig: ['OS according to the configuration file', 'vInfoOSConfig', 'OS', 'Guest OS'],
  enableUuid: ['EnableUUID', 'vInfoEnableUUID', 'disk.EnableUUID'],
  cbt: ['CBT', 'vInfoCBT'],
  apps: ['apps', 'Applications'],
  dynamic: ['Dynamic', 'Dynamic disk'],
  encrypted: ['Encrypted', 'Encryption', 'vInfoEncrypted'],
  controller: ['Controller', 'vDiskController'],
  toolsVersion: ['Tools Version', 'vToolsVersion', 'Tools', 'vInfoToolsVersion'],
} as const;

type Column = keyof typeof COLUMNS;

interface Table {
  readonly file: string;
  readonly header: readonly string[];
  readonly rows: readonly string[][];
}

function index(table: Table, column: Column): number {
  const names = COLUMNS[column].map(norm);
  for (const n of names) {
    const i = table.header.findIndex((h) => norm(h) === n);
    if (i >= 0) return i;
  }
  return -1;
}

/** Parses a CSV file into a header and rows; comma or semicolon separated (RVTools uses the locale's). */
export function readCsv(file: string): Table {
  const text = readInputFile(file, MAX_ESTATE_BYTES, 'an estate file').toString('utf8');
  if (text.trim() === '') throw new UsageError(`${file}: row 1: empty file, expected a header row`);
  if (text.includes('\u0000')) throw new UsageError(`${file}: row 1: not a CSV file (binary content)`);
  const first = text.split(/\r?\n/, 1)[0] ?? '';
  const delimiter = (first.match(/;/g)?.length ?? 0) > (first.match(/,/g)?.length ?? 0) ? ';' : ',';
  let records: string[][];
  try {
    records = parseCsv(text, { bom: true, delimiter, skip_empty_lines: true, relax_column_count: true, trim: true }) as string[][];
  } catch (error) {
    const e = error as { message?: string; lines?: number };
    throw new UsageError(`${file}: row ${e.lines ?? '?'}: not a CSV file: ${shown((e.message ?? String(error)).replace(/\s+/g, ' '), 120)}`);
  }
  const [header, ...rows] = records;
  if (header === undefined) throw new UsageError(`${file}: row 1: empty file, expected a header row`);
  return { file, header, rows };
}

function requireName(table: Table, sheet: string): number {
  const i = index(table, 'name');
  if (i < 0) throw new UsageError(`${table.file}: ${sheet} row 1: no VM name column (expected ${COLUMNS.name.slice(0, 2).join(' or ')}), found ${quote(table.header.slice(0, 6).join(', '))}`);
  return i;
}

const cell = (row: readonly string[], i: number): string | null => (i < 0 ? null : (row[i] ?? '').trim() || null);

/** Every row of a tab grouped by VM name. */
function byName(table: Table | null, sheet: string): Map<string, string[][]> {
  const map = new Map<string, string[][]>();
  if (table === null) return map;
  const n = requireName(table, sheet);
  for (const row of table.rows) {
    const name = (row[n] ?? '').trim();
    map.set(name, [...(map.get(name) ?? []), row]);
  }
  return map;
}

/** The estate of a vInfo table, with the vTools and vDisk tables joined to it when given. */
export function estateFromTables(info: Table, tools: Table | null, disks: Table | null): Estate {
  const warnings: string[] = [];
  const n = requireName(info, 'vInfo');
  const toolsRows = byName(tools, 'vTools');
  const diskRows = byName(disks, 'vDisk');
  const tv = tools === null ? index(info, 'toolsVersion') : index(tools, 'toolsVersion');
  if (tools !== null && tv < 0) warnings.push(`${tools.file}: vTools has no Tools Version column; Tools versions unknown`);
  const ctl = disks === null ? -1 : index(disks, 'controller');
  const col = (c: Column) => index(info, c);
  const vms = info.rows.map((row, r): EstateVmInput => {
    const name = (row[n] ?? '').trim();
    const toolsRow = tools === null ? row : toolsRows.get(name)?.[0] ?? null;
    return {
      name, where: `${info.file} row ${r + 2}`,
      os: cell(row, col('osTools')) ?? cell(row, col('osConfig')),
      tools: toolsRow === null ? null : cell(toolsRow, tv),
      apps: cell(row, col('apps'))?.split(/[,;+/]/) ?? null,
      enableUuid: cell(row, col('enableUuid')),
      controllers: (diskRows.get(name) ?? []).map((d) => cell(d, ctl) ?? '').filter((c) => c !== ''),
      dynamic: cell(row, col('dynamic')), encrypted: cell(row, col('encrypted')), cbt: cell(row, col('cbt')),
    };
  });
  return { vms, warnings, noToolsVersions: tv < 0 };
}

/** A folder of RVTools per-tab CSV files: vInfo is required, vTools and vDisk are joined when present. */
export function readRvtoolsFolder(dir: string): Estate {
  const names = readdirSync(dir);
  const find = (tab: string) => names.find((f) => f.toLowerCase().endsWith(`tab${tab}.csv`));
  const info = find('vinfo');
  if (info === undefined) throw new UsageError(`${dir}: no RVTools_tabvInfo.csv in the folder (an RVTools CSV export is RVTools_tabvInfo.csv, RVTools_tabvTools.csv, RVTools_tabvDisk.csv)`);
  const tools = find('vtools');
  const disks = find('vdisk');
  const estate = estateFromTables(readCsv(join(dir, info)), tools === undefined ? null : readCsv(join(dir, tools)), disks === undefined ? null : readCsv(join(dir, disks)));
  return { ...estate, warnings: [...missingTabs(dir, tools === undefined, disks === undefined, estate.noToolsVersions), ...estate.warnings] };
}

function missingTabs(where: string, noTools: boolean, noDisks: boolean, noVersions: boolean): string[] {
  const w: string[] = [];
  if (noTools && noVersions) w.push(`${where}: no vTools tab: Tools versions unknown, every VM assumed to run Tools of 4.1 or later`);
  if (noDisks) w.push(`${where}: no vDisk tab: disk controllers unknown, every disk assumed SCSI (IDE disks not detected)`);
  return w;
}

/** A vInfo CSV alone. */
export function readVinfoFile(file: string): Estate {
  const estate = estateFromTables(readCsv(file), null, null);
  return { ...estate, warnings: [...missingTabs(file, true, true, estate.noToolsVersions), ...estate.warnings] };
}

const str = (v: unknown): string | null => {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
};

/** A YAML estate: `vms: [{ name, os, tools, apps, enableUuid, controller, dynamic, encrypted, cbt }]`. */
export function readYamlEstate(file: string): Estate {
  const text = readInputFile(file, MAX_ESTATE_BYTES, 'an estate file').toString('utf8');
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new UsageError(`${file}: not YAML: ${shown((error as Error).message.replace(/\s+/g, ' '), 120)}`);
  }
  const vms = (doc as { vms?: unknown } | null)?.vms;
  if (!Array.isArray(vms)) throw new UsageError(`${file}: expected a top-level 'vms:' list of VMs`);
  const out = vms.map((v: unknown, i): EstateVmInput => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError(`${file}: vms[${i}]: expected a mapping with a name`);
    const o = v as Record<string, unknown>;
    if (typeof o.name !== 'string' || o.name.trim() === '') throw new UsageError(`${file}: vms[${i}]: name: expected the VM's name`);
    const apps = Array.isArray(o.apps) ? o.apps.map((a) => str(a) ?? '') : str(o.apps)?.split(',') ?? null;
    return {
      name: o.name, where: `${file} vms[${i}]`, os: str(o.os), tools: str(o.tools), apps,
      enableUuid: str(o.enableUuid), controllers: [str(o.controller)].filter((c): c is string => c !== null),
      dynamic: str(o.dynamic), encrypted: str(o.encrypted), cbt: str(o.cbt),
    };
  });
  return { vms: out, warnings: [], noToolsVersions: false };
}

/** A sheet as a table: its first row the header, each cell's text as Excel shows it. */
function sheetTable(file: string, ws: ExcelJS.Worksheet): Table {
  const records: string[][] = [];
  ws.eachRow({ includeEmpty: false }, (row) => {
    const values: string[] = [];
    for (let c = 1; c <= ws.columnCount; c++) values.push(row.getCell(c).text.trim());
    records.push(values);
  });
  const [header, ...rows] = records;
  if (header === undefined) throw new UsageError(`${file}: ${ws.name} row 1: empty sheet, expected a header row`);
  return { file, header, rows };
}

/** The RVTools xlsx workbook: sheets vInfo (required), vTools and vDisk. */
export async function readXlsxEstate(file: string): Promise<Estate> {
  const bytes = readInputFile(file, MAX_ESTATE_BYTES, 'an estate file');
  const workbook = new ExcelJS.Workbook();
  try {
    await workbook.xlsx.load(bytes as unknown as ArrayBuffer);
  } catch (error) {
    throw new UsageError(`${file}: not an xlsx workbook: ${shown(error instanceof Error ? error.message : String(error), 120)}`);
  }
  const sheet = (name: string) => workbook.worksheets.find((w) => w.name.toLowerCase() === name.toLowerCase());
  const info = sheet('vInfo');
  if (info === undefined) throw new UsageError(`${file}: no vInfo sheet (sheets: ${shown(workbook.worksheets.map((w) => w.name).join(', '))})`);
  const tools = sheet('vTools');
  const disks = sheet('vDisk');
  const estate = estateFromTables(sheetTable(file, info), tools === undefined ? null : sheetTable(file, tools), disks === undefined ? null : sheetTable(file, disks));
  return { ...estate, warnings: [...missingTabs(file, tools === undefined, disks === undefined, estate.noToolsVersions), ...estate.warnings] };
}

/** The estate at `path`: a folder of CSV tabs, a YAML file, an xlsx workbook, or a vInfo CSV. */
export async function readEstate(path: string): Promise<Estate> {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (error) {
    throw new UsageError(`${path}: cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (isDir) return readRvtoolsFolder(path);
  if (/\.ya?ml$/i.test(path)) return readYamlEstate(path);
  if (/\.xlsx$/i.test(path)) return readXlsxEstate(path);
  return readVinfoFile(path);
}
