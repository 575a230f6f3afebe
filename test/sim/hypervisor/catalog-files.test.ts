/**
 * The file-system half of the consistency matrix, for every guest OS x Tools pairing:
 * a quiesced snapshot of a VM writing files (buffered, occasional fsync) reaches exactly
 * the level seed 004 and the notes give, judged from the snapshot's image in the lab.
 * The expected table is written out here from the sources, not derived from the catalog.
 */

import { describe, expect, it } from 'vitest';
import type { GuestOsId, ToolsId } from '../../../core/hypervisor-port.js';
import { GUEST_OS_IDS, TOOLS_IDS } from '../../../core/hypervisor-port.js';
import type { ConsistencyLevel } from '../../../core/levels.js';
import { createFilesApp } from '../../../sim/apps/files/files-app.js';
import { runCell } from './helpers.js';

type Expect = ConsistencyLevel | 'unsupported';

/** Seed 004's matrix (columns esx35u1, esx35u2, esx41) at file-system level. */
const FS_MATRIX: Record<GuestOsId, [Expect, Expect, Expect]> = {
  'win2000': ['filesystem', 'filesystem', 'filesystem'], // SYNC driver in every column
  'winxp': ['filesystem', 'filesystem', 'filesystem'],
  'win2003-x86': ['filesystem', 'filesystem', 'filesystem'], // SYNC, then VSS
  'win2003-x64': ['crash', 'filesystem', 'filesystem'], // no 64-bit SYNC driver
  'vista-x86': ['crash', 'filesystem', 'filesystem'],
  'vista-x64': ['crash', 'filesystem', 'filesystem'],
  'win2008-x86': ['crash', 'filesystem', 'filesystem'],
  'win2008-x64': ['crash', 'filesystem', 'filesystem'],
  'win2008r2': ['unsupported', 'unsupported', 'filesystem'], // "—" in the old columns
  'win2012': ['unsupported', 'unsupported', 'filesystem'],
  'win2016': ['unsupported', 'unsupported', 'filesystem'],
  'win2019': ['unsupported', 'unsupported', 'filesystem'],
  'win2022': ['unsupported', 'unsupported', 'filesystem'],
  // 3.5 U2-4.0: "filesystem at best" = the sync-only driver: no hold, the journal needs replay.
  'linux': ['crash', 'crash', 'filesystem'],
  'other': ['crash', 'crash', 'crash'],
};

const files = { files: createFilesApp };

describe('the file-system level of every OS x Tools cell', () => {
  const cells = GUEST_OS_IDS.flatMap((os) => TOOLS_IDS.map((tools, i) => ({ os, tools, expected: FS_MATRIX[os][i] as Expect })));
  it.each(cells)('$os with $tools -> $expected', async ({ os, tools, expected }: { os: GuestOsId; tools: ToolsId; expected: Expect }) => {
    if (expected === 'unsupported') {
      const { SimHypervisor } = await import('../../../sim/hypervisor/sim-hypervisor.js');
      const { Simulation } = await import('../../../sim/kernel/simulation.js');
      const hv = new SimHypervisor({ sim: new Simulation({ seed: 1 }), apps: files });
      const r = hv.addVm({ name: 'x', guestOs: os, tools, apps: ['files'], disks: [{ capacityBytes: 64 * 1024 * 1024 }] });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatchObject({ kind: 'invalid-argument', field: 'tools' });
      return;
    }
    const run = await runCell({ seed: 7, os, tools, apps: ['files'], factories: files });
    expect(run.verdict.vm, `${run.verdict.why} (quiesce error: ${run.quiesceError ?? 'none'})`).toBe(expected);
    expect(run.verdict.apps.files?.level).toBe(expected);
    // Crash-consistent or not, nothing fsync'ed is ever lost with an honest disk.
    expect(run.verdict.apps.files?.lostDurable).toEqual([]);
    if (expected === 'crash') {
      // The crash level comes from a fallback (no quiescer) or from sync-only (no hold):
      // either way acknowledged writes sat in dirty pages or the journal needs replay.
      expect(run.fellBack || run.snapshot.quiesce.quiescer === 'sync-only').toBe(true);
    } else {
      expect(run.fellBack).toBe(false);
      expect(run.snapshot.quiesce.freezeStartUs).not.toBeNull();
    }
    // The guest is thawed afterwards: the workload keeps writing.
    const before = run.hv.vm(run.vmId).app('files').acknowledged().length;
    run.hv.runFor(1_000_000);
    expect(run.hv.vm(run.vmId).app('files').acknowledged().length).toBeGreaterThan(before);
    for (const v of run.hv.vm(run.vmId).guest?.volumes ?? []) expect(v.isFrozen).toBe(false);
  });
});
