/**
 * The built-in engine's replication (engine/replication/) behind the black-box interface:
 * replicas are session handles (`replica-N`), forgotten at initialize. The source port is
 * the record's (a mutant may wrap it); the DR site's port is used as lent.
 */

import type { HypervisorPort } from '../core/hypervisor-port.js';
import { VmId } from '../core/ids.js';
import { err, ok, type Result } from '../core/result.js';
import { failback } from '../engine/replication/failback.js';
import type { ReplicaState } from '../engine/replication/replica-target.js';
import { failover, replicate, REPLICATION_DEFAULTS, testFailover } from '../engine/replication/replicator.js';
import type { EngineUnderTest } from './scenario/engine.js';
import type { Engine, EngineFailure } from './engine-api.js';
import { Handles } from './engine-builtin.js';

type ReplicationMethods = Pick<Engine, 'replicate' | 'failover' | 'testFailover' | 'failback'>;

export function builtinReplication(eut: EngineUnderTest, portOf: (world: HypervisorPort) => HypervisorPort): { readonly methods: ReplicationMethods; clear(): void } {
  const replicas = new Handles<ReplicaState>('replica');
  const options = eut.replication ?? REPLICATION_DEFAULTS;
  const stateOf = (id: string): Result<ReplicaState, EngineFailure> => {
    const s = replicas.get(id);
    return s === undefined ? err(`unknown replica handle '${id}'`) : ok(s);
  };
  const methods: ReplicationMethods = {
    async replicate(env, dr, timer, params) {
      let state: ReplicaState;
      if (params.replica === null) {
        state = { handle: '', sourceVmId: VmId(params.vmId), replicaVmId: null, parent: null, points: [], cycles: 0, failedOver: null };
        const handle = replicas.add(state);
        state = Object.assign(state, { handle });
      } else {
        const found = stateOf(params.replica);
        if (!found.ok) return found;
        state = found.value;
        if (state.sourceVmId !== params.vmId) return err(`replica '${params.replica}' replicates ${state.sourceVmId}, not ${params.vmId}`);
        if (state.failedOver !== null) return err(`replica '${params.replica}' is failed over: fail back first`);
      }
      const renv = { source: portOf(env.port), dr: dr.port, clock: env.clock, waitUntil: (t: number) => timer.waitUntil(t) };
      const cycles = await replicate(renv, state, params, options);
      return ok({ replica: state.handle, replicaVmId: state.replicaVmId, cycles, points: [...state.points] });
    },
    async failover(dr, params) {
      const s = stateOf(params.replica);
      if (!s.ok) return s;
      return failover(dr.port, dr.clock, s.value, params.pointId, options.failoverReverts);
    },
    async testFailover(dr, params) {
      const s = stateOf(params.replica);
      if (!s.ok) return s;
      return testFailover(dr.port, s.value, params.pointId);
    },
    async failback(env, dr, params) {
      const s = stateOf(params.replica);
      if (!s.ok) return s;
      const renv = { source: portOf(env.port), dr: dr.port, clock: env.clock, waitUntil: () => Promise.resolve() };
      return failback(renv, s.value, { target: params.target }, options.failbackFinalPass);
    },
  };
  return { methods, clear: () => { replicas.clear(); } };
}
