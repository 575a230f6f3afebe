/**
 * Engine mutants: small, named engine bugs switched on by id, built by composition — a
 * HypervisorPort wrapped between the engine and the world, or one entry point of the
 * EngineUnderTest substituted — so no engine file carries a test flag. Each names where
 * it shows (the cells the hunt runs it on) and which property is expected to kill it;
 * the hunt (scenarios/mutants/hunt.ts) records which one really did.
 */

import type { HypervisorPort } from '../../core/hypervisor-port.js';
import { wrapPort } from '../scenario/port-wrap.js';
import { QUIESCELAB_ENGINE, type EngineUnderTest } from '../scenario/engine.js';
import type { Engine } from '../engine-api.js';

export interface Mutant {
  readonly id: string;
  readonly description: string;
  /** Where the bug lives: for the report. */
  readonly area: 'quiesce' | 'read' | 'cbt' | 'snapshot' | 'claim' | 'restore' | 'repository' | 'log chain' | 'schedule' | 'ad';
  /** Cells the hunt runs it on, in order (it stops at the first kill). */
  readonly cells: readonly string[];
  /** The property expected to kill it (documentation; the hunt reports the real one). */
  readonly expectedKiller: string;
  readonly engine: EngineUnderTest;
  /** A bug at the black-box interface (state across sessions): wraps the built-in engine made of `engine`. */
  readonly wrap?: (engine: Engine) => Engine;
}

/** The real engine with its port wrapped: `overrides` gets the world's port to call through. */
export function withPort(name: string, overrides: (port: HypervisorPort) => Partial<HypervisorPort>): EngineUnderTest {
  return { ...QUIESCELAB_ENGINE, name, port: (world) => wrapPort(world, overrides(world)) };
}
