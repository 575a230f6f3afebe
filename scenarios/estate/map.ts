/**
 * An estate's VMs (an RVTools export or a hand-written YAML, read by cli/evaluate-read.ts)
 * mapped to matrix cells: the guest OS string to a catalog OS, the VMware Tools version to
 * a Tools generation, the VM's knobs (IDE, dynamic disk, EnableUUID, encryption) to the
 * cell's condition variant. Pure: every doubt becomes a one-line warning, never a throw.
 */

import type { AppId, GuestOsId, ToolsId } from '../../core/hypervisor-port.js';
import { APP_IDS, TOOLS_IDS } from '../../core/hypervisor-port.js';
import { assert } from '../../core/assert.js';
import { findCell, type Cell } from '../cells.js';
import { DEFAULT_CONDITIONS, expectedLevel, type CellConditions, type ConditionVariant, type Expectation } from '../matrix/oracle.js';

/** One VM as read from the estate: raw strings, null where the source has no value. */
export interface EstateVmInput {
  readonly name: string;
  /** Where it was read (`file row N`), for warnings. */
  readonly where: string;
  readonly os: string | null;
  readonly tools: string | null;
  readonly apps: readonly string[] | null;
  readonly enableUuid: string | null;
  /** Each disk's controller as printed (`SCSI controller 0`, `IDE 0`, `scsi`, `ide`). */
  readonly controllers: readonly string[];
  readonly dynamic: string | null;
  readonly encrypted: string | null;
  readonly cbt: string | null;
}

export interface AppCell {
  readonly app: AppId;
  /** The oracle's expectation for the VM's own conditions. */
  readonly expected: Expectation;
  /** The matrix cell that is run for it, or null (the combination is unsupported). */
  readonly cell: Cell | null;
  /** The cell's conditions differ from the VM's (no variant of this app for them): the level is capped at `expected`. */
  readonly approximate: boolean;
}

export interface MappedVm {
  readonly vm: string;
  readonly osString: string;
  readonly os: GuestOsId;
  readonly unknownOs: boolean;
  readonly toolsVersion: string;
  readonly tools: ToolsId;
  readonly apps: readonly AppId[];
  readonly conditions: CellConditions;
  readonly cbt: boolean | null;
  readonly cells: readonly AppCell[];
}

/** [pattern, OS id] in order: the first match wins (2008 R2 before 2008, 64-bit told apart). */
const OS_PATTERNS: readonly (readonly [RegExp, GuestOsId | ((s: string) => GuestOsId)])[] = [
  [/windows server 2022|windows 2022/i, 'win2022'],
  [/windows server 2019|windows 2019/i, 'win2019'],
  [/windows server 2016|windows 2016/i, 'win2016'],
  [/windows server 2012|windows 2012/i, 'win2012'],
  [/windows server 2008 r2|windows 2008 r2/i, 'win2008r2'],
  [/windows (server )?(\(r\) )?2008|windows longhorn/i, (s) => (is64(s) ? 'win2008-x64' : 'win2008-x86')],
  [/windows (server )?2003|windows \.net/i, (s) => (is64(s) ? 'win2003-x64' : 'win2003-x86')],
  [/windows vista/i, (s) => (is64(s) ? 'vista-x64' : 'vista-x86')],
  [/windows xp/i, 'winxp'],
  [/windows 2000/i, 'win2000'],
  [/linux|red hat|rhel|centos|ubuntu|debian|suse|sles|rocky|almalinux|photon|fedora/i, 'linux'],
  [/^other \((32|64)-bit\)$/i, 'other'],
];

function is64(s: string): boolean {
  return /64-bit|x64|amd64|64 bit/i.test(s);
}

/** The catalog OS of an OS string as RVTools prints it, or null when it names no OS of the matrix. */
export function mapOs(raw: string): GuestOsId | null {
  const s = raw.trim();
  for (const [re, id] of OS_PATTERNS) if (re.test(s)) return typeof id === 'function' ? id(s) : id;
  return null;
}

/**
 * VMware's Tools version code: (major << 10) + (minor << 5) + revision (vSphere API,
 * Vm_Tools_Info.version_number). The cut points come from VMware's Tools version-mapping
 * file (packages.vmware.com/tools/versions): esx/3.5u2 ships 7302 = 7.4.6 (3.5 GA and U1
 * ship older 7.4.x codes, so anything below 7302 is `esx35u1`); esx/4.0 ships 8192 = 8.0.0
 * and 4.0 U4 8196 (`esx35u2`: the 3.5 U2 - 4.0 column); esx/4.1 ships 8290 = 8.3.2, and
 * 5.0 8384 (8.6.0), 5.1 9216 (9.0.0), later 10.x-12.x are all above it (`esx41`).
 */
export const TOOLS_35U2_CODE = 7302;
export const TOOLS_41_CODE = 8290;

/** A version code from `8290`, `8.3.2`, `12.1.5 build 20735119` or `10.3.10`; null when it is none. */
export function toolsCode(raw: string): number | null {
  const s = raw.trim();
  if (/^\d{4,6}$/.test(s)) return Number(s);
  const m = /^v?(\d{1,2})\.(\d{1,2})(?:\.(\d{1,3}))?(?:[ .,-].*)?$/i.exec(s);
  if (m === null) return null;
  const [major, minor, rev] = [Number(m[1]), Number(m[2]), Number(m[3] ?? '0')];
  if (major < 1 || minor > 31 || rev > 31) return null;
  return (major << 10) + (minor << 5) + rev;
}

/** The Tools generation of a version string (or a generation id itself), or null. */
export function mapTools(raw: string): ToolsId | null {
  const s = raw.trim();
  if ((TOOLS_IDS as readonly string[]).includes(s)) return s as ToolsId;
  const code = toolsCode(s);
  if (code === null || code < 1024) return null;
  if (code < TOOLS_35U2_CODE) return 'esx35u1';
  if (code < TOOLS_41_CODE) return 'esx35u2';
  return 'esx41';
}

const APP_ALIASES: Readonly<Record<string, AppId>> = {
  sqlserver: 'sqlserver', sql: 'sqlserver', mssql: 'sqlserver', 'sql server': 'sqlserver',
  exchange: 'exchange', ntds: 'ntds', ad: 'ntds', dc: 'ntds', 'active directory': 'ntds', sqlite: 'sqlite', files: 'files',
};

/** An application name (id or common alias) as an app id, or null. */
export function mapApp(raw: string): AppId | null {
  const key = raw.trim().toLowerCase();
  return Object.hasOwn(APP_ALIASES, key) ? APP_ALIASES[key] as AppId : null;
}

/** A yes/no value as RVTools or YAML writes it; undefined when it is neither (warned), null when absent. */
export function parseFlag(raw: string | null): boolean | null | undefined {
  if (raw === null || raw.trim() === '') return null;
  const s = raw.trim().toLowerCase();
  if (['true', 'yes', '1', 'on', 'enabled'].includes(s)) return true;
  if (['false', 'no', '0', 'off', 'disabled'].includes(s)) return false;
  return undefined;
}

/** The VM's flags as conditions; a value that is not a yes/no is warned and left at the default. */
function conditionsOf(input: EstateVmInput, warn: (w: string) => void): { conditions: CellConditions; cbt: boolean | null } {
  const flag = (name: string, raw: string | null): boolean | null => {
    const v = parseFlag(raw);
    if (v === undefined) warn(`${input.where}: VM ${input.name}: ${name} '${raw ?? ''}' is not TRUE or FALSE; ignored`);
    return v ?? null;
  };
  const enableUuid = flag('EnableUUID', input.enableUuid);
  const ide = input.controllers.some((c) => /\bide\b/i.test(c));
  return {
    conditions: {
      ...DEFAULT_CONDITIONS,
      controller: ide ? 'ide' : 'scsi',
      dynamicDisk: flag('dynamic', input.dynamic) ?? false,
      enableUuid: enableUuid ?? true,
      encrypted: flag('encrypted', input.encrypted) ?? false,
    },
    cbt: flag('CBT', input.cbt),
  };
}

/** The variants that change something, in the order a cell is chosen for them. */
const KNOB_VARIANTS: readonly [ConditionVariant, (c: CellConditions) => boolean][] = [
  ['ide', (c) => c.controller === 'ide'],
  ['dynamic', (c) => c.dynamicDisk],
  ['no-uuid', (c) => !c.enableUuid],
  ['encrypted', (c) => c.encrypted],
];

/** The cell run for one app of the VM: the variant of the VM's first non-default knob, where the matrix has one. */
export function appCell(os: GuestOsId, tools: ToolsId, app: AppId, conditions: CellConditions): AppCell {
  const expected = expectedLevel(os, tools, app, conditions);
  if (expected.level === 'unsupported') return { app, expected, cell: null, approximate: false };
  const knobs = KNOB_VARIANTS.filter(([, on]) => on(conditions)).map(([v]) => v);
  const variant = knobs.find((v) => findCell(`${os}/${tools}/${app}/${v}`) !== undefined);
  const cell = findCell(`${os}/${tools}/${app}/${variant ?? 'default'}`) ?? null;
  const approximate = cell !== null && knobs.some((v) => v !== variant) && expected.level !== cell.expected.level;
  return { app, expected, cell, approximate };
}

export interface MapOptions {
  /** `--app VM=APPS`: the VM's apps, overriding its `apps` column. */
  readonly apps: ReadonlyMap<string, readonly AppId[]>;
  /** No Tools version in the estate (a vInfo alone): assume this generation (warned once by the caller). */
  readonly assumeTools: ToolsId | null;
}

/** Maps one VM; null (with a warning) when it cannot be (no name, no usable Tools version). */
export function mapVm(input: EstateVmInput, options: MapOptions, warn: (w: string) => void): MappedVm | null {
  assert(typeof input.name === 'string', 'a VM input has a name');
  if (input.name.trim() === '') {
    warn(`${input.where}: no VM name; row skipped`);
    return null;
  }
  const osString = (input.os ?? '').trim();
  const mapped = osString === '' ? null : mapOs(osString);
  if (mapped === null) warn(`${input.where}: VM ${input.name}: unknown guest OS '${osString}'; evaluated as other`);
  const tools = toolsOf(input, options, warn);
  if (tools === null) return null;
  const apps = appsOf(input, options, warn);
  const { conditions, cbt } = conditionsOf(input, warn);
  const os = mapped ?? 'other';
  const cells = apps.map((app) => appCell(os, tools.tools, app, conditions));
  return { vm: input.name, osString, os, unknownOs: mapped === null, toolsVersion: tools.version, tools: tools.tools, apps, conditions, cbt, cells };
}

function toolsOf(input: EstateVmInput, options: MapOptions, warn: (w: string) => void): { tools: ToolsId; version: string } | null {
  const raw = (input.tools ?? '').trim();
  if (raw === '' && options.assumeTools !== null) return { tools: options.assumeTools, version: `unknown (assumed ${options.assumeTools})` };
  const tools = raw === '' ? null : mapTools(raw);
  if (tools === null) {
    warn(`${input.where}: VM ${input.name}: ${raw === '' || raw === '0' ? 'no VMware Tools version (Tools not installed?)' : `Tools version '${raw}' is not a version number`}; VM not evaluated`);
    return null;
  }
  return { tools, version: raw };
}

function appsOf(input: EstateVmInput, options: MapOptions, warn: (w: string) => void): AppId[] {
  const given = options.apps.get(input.name);
  if (given !== undefined) return [...given];
  const apps: AppId[] = [];
  for (const raw of input.apps ?? []) {
    if (raw.trim() === '') continue;
    const app = mapApp(raw);
    if (app === null) warn(`${input.where}: VM ${input.name}: unknown application '${raw.trim()}' (known: ${APP_IDS.join(', ')}); ignored`);
    else if (!apps.includes(app)) apps.push(app);
  }
  return apps.length === 0 ? ['files'] : apps;
}
