/**
 * Mutants of the restore of a domain controller (the DC suite kills them, property 12):
 * a restore written over the original VM's disks, so the VM keeps its VM-GenerationID and
 * the DC cannot tell it went back in time.
 */

import { err, ok } from '../../core/result.js';
import { restoreDisk } from '../../engine/restore/disk.js';
import { QUIESCELAB_ENGINE, type EngineUnderTest } from '../scenario/engine.js';
import type { Mutant } from './mutant.js';

/** Restores over the original, powered-off VM's disks: the VM keeps its VM-GenerationID. */
export const RESTORE_IN_PLACE: EngineUnderTest = {
  ...QUIESCELAB_ENGINE,
  name: 'restore-in-place',
  async restoreVm(env, source, spec) {
    const startUs = env.clock.nowUs();
    const target = (await env.port.listVms()).find((v) => v.guestOs === spec.guestOs && v.powerState === 'poweredOff');
    if (target === undefined) return err({ kind: 'source', reason: 'no powered-off VM to restore over' });
    let bytes = 0;
    for (const [i, disk] of source.disks().entries()) {
      const onto = target.disks[i];
      if (onto === undefined) return err({ kind: 'source', reason: `the VM has no disk ${i}` });
      const r = await restoreDisk(env, source, disk.diskId, { vmId: target.vmId, diskId: onto.diskId });
      if (!r.ok) return err({ kind: 'source', reason: r.error.kind });
      bytes += r.value.bytesRead;
    }
    const on = await env.port.powerOn(target.vmId);
    if (!on.ok) return err({ kind: 'port', during: 'powerOn', error: on.error });
    const endUs = env.clock.nowUs();
    return ok({ vmId: target.vmId, bytesRead: bytes, bytesWritten: bytes, startUs, endUs, rtoUs: endUs - startUs });
  },
};

export const DC_MUTANTS: readonly Mutant[] = [
  { id: 'restore-keeps-generation-id', description: 'Restores a domain controller over the original VM\'s disks: the VM-GenerationID does not change, so the DC rolls back its USNs unseen.', area: 'ad', cells: ['win2016/esx41/ntds/default', 'win2019/esx41/ntds/default'], expectedKiller: 'P12', engine: RESTORE_IN_PLACE },
];
