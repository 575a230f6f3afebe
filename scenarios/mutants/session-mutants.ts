/**
 * Session mutants: bugs of an engine's life across sessions, which only the transcript of
 * two runs of one spec shows (property 11 compares the messages, not only the outcomes).
 * They wrap the built-in engine at the black-box interface (`wrap`), keeping their state per
 * engine instance, so a run's results do not depend on what else the process ran.
 */

import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { Engine } from '../engine-api.js';
import { wrapPort } from '../scenario/port-wrap.js';
import { QUIESCELAB_ENGINE } from '../scenario/engine.js';
import type { Mutant } from './mutant.js';

/**
 * Keeps a count from the session before: the VmSnapshots it takes are named after the
 * number of backups the previous session made. Same spec, same seed, other messages.
 */
function leaksSessionState(inner: Engine): Engine {
  let thisSession = 0;
  let carried = 0;
  const ports = new WeakMap<HypervisorPort, HypervisorPort>();
  const named = (port: HypervisorPort): HypervisorPort => {
    let p = ports.get(port);
    if (p === undefined) {
      p = wrapPort(port, { createSnapshot: (vmId, spec) => port.createSnapshot(vmId, { ...spec, name: `${spec.name}-after-${carried}` }) });
      ports.set(port, p);
    }
    return p;
  };
  return {
    ...inner,
    initialize: (params) => {
      carried = thisSession;
      thisSession = 0;
      return inner.initialize(params);
    },
    backup: (env, params) => {
      thisSession++;
      return inner.backup({ ...env, port: named(env.port) }, params);
    },
  };
}

export const SESSION_MUTANTS: readonly Mutant[] = [
  {
    id: 'session-state-leaks',
    description: 'Carries a count from one session into the next (its VmSnapshots are named after the previous session\'s backups): two runs of one spec send the hypervisor different messages, though every outcome may match.',
    area: 'snapshot', cells: ['win2019/esx41/sqlserver/default', 'linux/esx41/sqlite/script'], expectedKiller: 'P11',
    engine: { ...QUIESCELAB_ENGINE, name: 'session-state-leaks' },
    wrap: leaksSessionState,
  },
];
