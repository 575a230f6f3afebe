/**
 * The consistency matrix, table-driven over the whole catalog: for every guest OS x Tools
 * x application (and the condition variants: an IDE disk, a dynamic disk, EnableUUID off,
 * vss.disableAppQuiescing, encryption, and on Linux a freeze script), a quiesced snapshot
 * of a running VM reaches exactly the level the matrix gives, judged in the lab from the
 * snapshot's image and the applications' acknowledgements. An application without a
 * writer never exceeds filesystem (unless a freeze script quiesces it).
 *
 * The expected levels are written out here from seed 004 and notes facts 1-8, not derived
 * from sim/guest/catalog.ts, so a wrong catalog shows up as a failure.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import type { AppId, GuestOsId, NewDiskSpec, ToolsId, VmFlags } from '../../../core/hypervisor-port.js';
import { APP_IDS, GUEST_OS_IDS, TOOLS_IDS } from '../../../core/hypervisor-port.js';
import { minLevel, type ConsistencyLevel } from '../../../core/levels.js';
import { defaultApps, prepareDefaultApps } from '../../../sim/hypervisor/default-apps.js';
import { SCRIPTS_DIR, type GuestScript } from '../../../sim/guest/quiesce/scripts.js';
import { runCell } from './helpers.js';

const WINDOWS_SERVER: readonly GuestOsId[] = ['win2000', 'win2003-x86', 'win2003-x64', 'win2008-x86', 'win2008-x64', 'win2008r2', 'win2012', 'win2016', 'win2019', 'win2022'];
const MODERN: readonly GuestOsId[] = ['win2008-x86', 'win2008-x64', 'win2008r2', 'win2012', 'win2016', 'win2019', 'win2022'];
const WITH_WRITER: readonly AppId[] = ['sqlserver', 'exchange', 'ntds'];

/** Which apps run where (the catalog refuses the rest). */
function runs(app: AppId, os: GuestOsId): boolean {
  if (app === 'exchange' || app === 'ntds') return WINDOWS_SERVER.includes(os);
  if (app === 'sqlserver') return os !== 'other';
  return true;
}

function supported(os: GuestOsId, tools: ToolsId): boolean {
  return !(['win2008r2', 'win2012', 'win2016', 'win2019', 'win2022'].includes(os) && tools !== 'esx41');
}

/** Seed 004 at file-system level (see catalog-files.test.ts). */
function fsLevel(os: GuestOsId, tools: ToolsId): ConsistencyLevel {
  if (os === 'other') return 'crash';
  if (os === 'linux') return tools === 'esx41' ? 'filesystem' : 'crash';
  if (os === 'win2000' || os === 'winxp' || os === 'win2003-x86') return 'filesystem';
  return tools === 'esx35u1' ? 'crash' : 'filesystem';
}

type Condition = 'default' | 'ide' | 'dynamic' | 'no-uuid' | 'fs-only' | 'encrypted' | 'script';

/** Does the VSS writer path reach application level here (seed 004 + notes facts 2, 3)? */
function writerApplication(os: GuestOsId, tools: ToolsId, condition: Condition): boolean {
  if (condition === 'fs-only') return false; // fact 3, any VSS guest
  if (os === 'win2003-x86' || os === 'win2003-x64') return tools !== 'esx35u1';
  if (MODERN.includes(os)) return tools === 'esx41' && !['ide', 'dynamic', 'no-uuid', 'encrypted'].includes(condition); // fact 2
  return false; // 2000/XP: SYNC driver; Vista: file-system VSS; Linux/other: no VSS
}

function expected(os: GuestOsId, tools: ToolsId, app: AppId, condition: Condition): ConsistencyLevel {
  const fs = fsLevel(os, tools);
  if (WITH_WRITER.includes(app)) return writerApplication(os, tools, condition) ? 'application' : fs;
  if (app === 'sqlite' && condition === 'script' && os === 'linux' && tools === 'esx41') return 'application';
  return minLevel(fs, 'filesystem');
}

const sqliteScript: GuestScript = {
  path: `${SCRIPTS_DIR}/50-sqlite`,
  on: { freeze: { action: 'sqlite:checkpoint-and-lock' }, thaw: { action: 'sqlite:checkpoint-and-lock' }, freezeFail: { action: 'sqlite:checkpoint-and-lock' } },
};

function setupOf(condition: Condition): { flags?: Partial<VmFlags>; disks?: NewDiskSpec[]; scripts?: GuestScript[] } {
  const MiB = 1024 * 1024;
  switch (condition) {
    case 'default': return {};
    case 'ide': return { disks: [{ capacityBytes: 96 * MiB, controller: 'ide' }] };
    case 'dynamic': return { disks: [{ capacityBytes: 96 * MiB, dynamic: true }] };
    case 'no-uuid': return { flags: { enableUuid: false } };
    case 'fs-only': return { flags: { disableAppQuiescing: true } };
    case 'encrypted': return { flags: { encrypted: true } };
    case 'script': return { scripts: [sqliteScript] };
  }
}

interface Cell { os: GuestOsId; tools: ToolsId; app: AppId; condition: Condition; level: ConsistencyLevel }

const cells: Cell[] = [];
for (const os of GUEST_OS_IDS) {
  for (const tools of TOOLS_IDS) {
    if (!supported(os, tools)) continue;
    for (const app of APP_IDS) {
      if (!runs(app, os)) continue;
      const conditions: Condition[] = ['default'];
      // The condition variants matter for writers; run them with one writer app everywhere.
      if (app === 'sqlserver') conditions.push('ide', 'dynamic', 'no-uuid', 'fs-only', 'encrypted');
      if (app === 'sqlite' && os === 'linux') conditions.push('script');
      for (const condition of conditions) cells.push({ os, tools, app, condition, level: expected(os, tools, app, condition) });
    }
  }
}

describe('the consistency matrix over the whole catalog', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it('covers every OS, every Tools generation and every app', () => {
    expect(new Set(cells.map((c) => c.os)).size).toBe(GUEST_OS_IDS.length);
    expect(new Set(cells.map((c) => c.tools)).size).toBe(TOOLS_IDS.length);
    expect(new Set(cells.map((c) => c.app)).size).toBe(APP_IDS.length);
  });

  it.each(cells)('$os / $tools / $app / $condition -> $level', async (cell: Cell) => {
    const apps: AppId[] = cell.app === 'files' ? ['files'] : [cell.app, 'files'];
    const run = await runCell({ seed: 11, os: cell.os, tools: cell.tools, apps, factories: defaultApps().factories, ...setupOf(cell.condition), warmupUs: 2_000_000 });
    const verdict = run.verdict.apps[cell.app];
    expect(verdict, 'the lab opened the app').toBeDefined();
    expect(verdict?.level, `${verdict?.why ?? ''} | quiesce: ${run.quiesceError ?? run.snapshot.quiesce.mode}`).toBe(cell.level);
    if (!WITH_WRITER.includes(cell.app) && cell.condition !== 'script') expect(['crash', 'filesystem']).toContain(verdict?.level);
    // With an honest disk nothing acknowledged as durable is ever lost, whatever the level.
    expect(verdict?.lostDurable).toEqual([]);
    for (const v of run.hv.vm(run.vmId).guest?.volumes ?? []) expect(v.isFrozen).toBe(false);
  });
});
