/**
 * The consistency matrix, table-driven over the whole catalog: for every guest OS x Tools
 * x application (and the condition variants: an IDE disk, a dynamic disk, EnableUUID off,
 * vss.disableAppQuiescing, encryption, and on Linux a freeze script), a quiesced snapshot
 * of a running VM reaches exactly the level the matrix gives, judged in the lab from the
 * snapshot's image and the applications' acknowledgements. An application without a
 * writer never exceeds filesystem (unless a freeze script quiesces it).
 *
 * The expected levels come from the harness's oracle (scenarios/matrix/oracle.ts), written
 * from seed 004 and notes facts 1-8 and not derived from sim/guest/catalog.ts, so a wrong
 * catalog (or a wrong oracle row) shows up as a failure.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import type { AppId, NewDiskSpec, VmFlags } from '../../../core/hypervisor-port.js';
import { APP_IDS, GUEST_OS_IDS, TOOLS_IDS } from '../../../core/hypervisor-port.js';
import { APPS_WITH_WRITER, expectedLevel, oracleCells, type CellConditions, type OracleCell } from '../../../scenarios/matrix/oracle.js';
import { defaultApps, prepareDefaultApps } from '../../../sim/hypervisor/default-apps.js';
import { SCRIPTS_DIR, type GuestScript } from '../../../sim/guest/quiesce/scripts.js';
import { runCell } from './helpers.js';

const WITH_WRITER: readonly AppId[] = APPS_WITH_WRITER;

const sqliteScript: GuestScript = {
  path: `${SCRIPTS_DIR}/50-sqlite`,
  on: { freeze: { action: 'sqlite:checkpoint-and-lock' }, thaw: { action: 'sqlite:checkpoint-and-lock' }, freezeFail: { action: 'sqlite:checkpoint-and-lock' } },
};

function setupOf(c: CellConditions): { flags?: Partial<VmFlags>; disks?: NewDiskSpec[]; scripts?: GuestScript[] } {
  const MiB = 1024 * 1024;
  const disk: NewDiskSpec = { capacityBytes: 96 * MiB, controller: c.controller, dynamic: c.dynamicDisk };
  return {
    flags: { enableUuid: c.enableUuid, encrypted: c.encrypted, disableAppQuiescing: c.disableAppQuiescing },
    disks: [disk],
    ...c.appFreezeScript ? { scripts: [sqliteScript] } : {},
  };
}

const cells = oracleCells();

describe('the consistency matrix over the whole catalog', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it('covers every OS, every Tools generation and every app', () => {
    expect(new Set(cells.map((c) => c.os)).size).toBe(GUEST_OS_IDS.length);
    expect(new Set(cells.map((c) => c.tools)).size).toBe(TOOLS_IDS.length);
    expect(new Set(cells.map((c) => c.app)).size).toBe(APP_IDS.length);
  });

  it('refuses every unsupported pairing the oracle names', async () => {
    const { SimHypervisor } = await import('../../../sim/hypervisor/sim-hypervisor.js');
    const { Simulation } = await import('../../../sim/kernel/simulation.js');
    const hv = new SimHypervisor({ sim: new Simulation({ seed: 1 }), apps: defaultApps().factories });
    let refused = 0;
    for (const os of GUEST_OS_IDS) {
      for (const tools of TOOLS_IDS) {
        for (const app of APP_IDS) {
          if (expectedLevel(os, tools, app).level !== 'unsupported') continue;
          const r = hv.addVm({ name: 'x', guestOs: os, tools, apps: [app], disks: [{ capacityBytes: 32 * 1024 * 1024 }] });
          expect(r.ok, `${os}/${tools}/${app}`).toBe(false);
          refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it.each(cells.map((c) => ({ ...c, level: c.expected.level })))('$os / $tools / $app / $variant -> $level', async (cell: OracleCell) => {
    const apps: AppId[] = cell.app === 'files' ? ['files'] : [cell.app, 'files'];
    const run = await runCell({ seed: 11, os: cell.os, tools: cell.tools, apps, factories: defaultApps().factories, ...setupOf(cell.conditions), warmupUs: 2_000_000 });
    const verdict = run.verdict.apps[cell.app];
    expect(verdict, 'the lab opened the app').toBeDefined();
    expect(verdict?.level, `${verdict?.why ?? ''} | quiesce: ${run.quiesceError ?? run.snapshot.quiesce.mode} | oracle: ${cell.expected.why}`).toBe(cell.expected.level);
    if (!WITH_WRITER.includes(cell.app) && !cell.conditions.appFreezeScript) expect(['crash', 'filesystem']).toContain(verdict?.level);
    // With an honest disk nothing acknowledged as durable is ever lost, whatever the level.
    expect(verdict?.lostDurable).toEqual([]);
    for (const v of run.hv.vm(run.vmId).guest?.volumes ?? []) expect(v.isFrozen).toBe(false);
  });
});
